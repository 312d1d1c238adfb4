"""report.html: the verdict, its evidence and a timeline of the whole run on
one time axis, written from the run directory alone.

One self-contained file: plotly's JavaScript is inline, so it opens with no
network. The rows, top to bottom: the run's phases (result.json
``timings``), the runner's events, the requests (history.jsonl operations,
invoke to completion, by outcome), the faults, then one band per process
(a connection's name is ``program:pid:uuid``): each AMQP connection's
lifetime and heartbeats both ways (wire.jsonl when the relay ran, else the
in-process observer's ``heartbeat-check`` lines), the broker's closes with
their reason (broker.log), and the driver's unreachable / reconnect lines.
A process that went silent is the band whose client heartbeats stop.

Nothing here may fail a run: what is missing is said on the page, and
``write`` never raises.
"""

import html
import json
import os
import time

from fake_lab import history as history_mod
from fake_lab.checkers import evidence

FILE = "report.html"
PHASES = ("configure", "start", "workload", "cleanup", "judging")
# The service logs' lines worth a marker, and how each is drawn.
DRIVER_KINDS = {
    "unreachable": ("driver: server unreachable", "triangle-down", "#d62728"),
    "recoverable-error": ("driver: recoverable error", "triangle-down-open", "#d62728"),
    "heartbeat-warning": ("driver: heartbeat thread error", "star", "#ff7f0e"),
    "reconnected": ("driver: reconnected", "triangle-up", "#2ca02c"),
    "messaging-timeout": ("driver: MessagingTimeout", "hexagram", "#9467bd"),
}
OUTCOMES = {"ok": ("request ok", "#2ca02c"), "fail": ("request failed", "#d62728"),
            "info": ("request unknown (info)", "#ff7f0e"),
            "pending": ("request never completed", "#7f7f7f")}
_NOT_SERVICE_LOGS = ("broker", "broker-stdout", "relay", "epmd", "uwsgi",
                     "mod_wsgi-express", "apache-error")


def _short(name):
    """``uwsgi:7364:7f95daf8-...`` -> ``uwsgi:7364:7f95daf8``."""
    parts = (name or "?").split(":", 2)
    if len(parts) == 3:
        return f"{parts[0]}:{parts[1]}:{parts[2][:8]}"
    return name or "?"


def _service_logs(run):
    """{service name: path} of the fake services' oslo.log files."""
    found = {}
    try:
        names = sorted(os.listdir(run.logs))
    except OSError:
        return found
    for f in names:
        if not f.endswith(".log") or f.endswith(".out.log"):
            continue
        name = f[:-4]
        if name in _NOT_SERVICE_LOGS or name.endswith("_upgrade"):
            continue
        found[name] = os.path.join(run.logs, f)
    return found


def collect(run, result):
    """The timeline's data, times in seconds since the run started (the
    evidence's ``t=+``): {t0, end, notes, phases, marks, ops, faults,
    events, processes: [{pid, label, api, connections: [...], log: [...]}]}."""
    notes = []
    # A regular file only (a test points the history at /dev/full, which
    # reads as endless zeros).
    records = history_mod.read(run.history) if os.path.isfile(run.history) else []
    t0 = None
    for rec in records:
        if "time" in rec and "t" in rec:
            t0 = rec["time"] - rec["t"]
            break
    if not records:
        notes.append("no history.jsonl: no requests, faults or runner events")

    wire_path = run.file("wire.jsonl")
    wire = evidence.wire_connections(wire_path) if os.path.exists(wire_path) else {}
    if not os.path.exists(wire_path):
        notes.append("no wire.jsonl (the relay did not run): connections from the "
                     "broker log, heartbeats from the in-process observer's lines")
    brokers = evidence.broker_connections(run.broker_log)
    if not os.path.exists(run.broker_log):
        notes.append("no logs/broker.log: no broker closes")
    logs = _service_logs(run)
    if not logs:
        notes.append("no service log: no driver lines nor heartbeat checks")
    client = []
    pid_service = {}
    for service, path in logs.items():
        for e in evidence.client_events(path):
            pid_service.setdefault(e["pid"], service)
            client.append(e)

    # The clock's origin: the history's, else the earliest time seen.
    if t0 is None:
        seen = ([c["opened"] for c in brokers if c["opened"]]
                + [e["time"] for e in client]
                + [t["accept"] for tcps in wire.values() for t in tcps if t["accept"]])
        t0 = min(seen) if seen else time.time()

    def rel(x):
        return None if x is None else round(x - t0, 6)

    model = {"t0": t0, "notes": notes, "phases": [], "marks": [], "ops": [],
             "faults": [], "events": [], "processes": []}

    # Phases, end to end from their durations (they run in this order).
    timings = (result or {}).get("timings") or {}
    at = 0.0
    for phase in PHASES:
        if phase in timings:
            model["phases"].append({"name": phase, "start": round(at, 6),
                                    "end": round(at + timings[phase], 6)})
            if phase == "start":
                for mark in ("broker_boot", "services_up"):
                    if mark in timings:
                        model["marks"].append({"name": mark,
                                               "time": round(at + timings[mark], 6)})
            at += timings[phase]
    if not timings:
        notes.append("no timings in result.json: no phases")

    # Operations: requests, idles, faults...
    for op_id, op in sorted(history_mod.operations(records).items()):
        inv, done = op["invoke"], op["done"]
        value = dict(inv.get("value") or {})
        outcome = done["type"] if done else "pending"
        dvalue = (done or {}).get("value") or {}
        entry = {"id": op_id, "f": inv.get("f"), "process": inv.get("process"),
                 "name": value.get("name") or inv.get("f"),
                 "start": rel(inv["time"]), "end": rel(done["time"]) if done else None,
                 "outcome": outcome}
        for k in ("latency", "status", "error", "api_pid", "request_id"):
            if dvalue.get(k) is not None:
                entry[k] = dvalue[k]
        if inv.get("f") == "fault":
            entry["name"] = " ".join(str(value.get(k)) for k in ("target", "verb")
                                     if value.get(k))
            entry["options"] = {k: v for k, v in value.items()
                                if k not in ("target", "verb")}
            model["faults"].append(entry)
        else:
            model["ops"].append(entry)
    for rec in records:
        if rec.get("type") == "event":
            model["events"].append({"name": rec.get("f"), "time": rec.get("t"),
                                    "value": _brief(rec.get("value"))})

    api_pid = ((result or {}).get("details") or {}).get("api_pid")
    if api_pid is None:
        api_pid = next((o["api_pid"] for o in model["ops"] if o.get("api_pid")), None)

    # Connections, by the process that named them.
    procs = {}

    def process(pid, program=None):
        p = procs.get(pid)
        if p is None:
            service = pid_service.get(pid)
            p = procs[pid] = {"pid": pid, "program": program, "service": service,
                              "api": pid is not None and pid == api_pid,
                              "connections": {}, "log": [], "first": None}
        if program and not p["program"]:
            p["program"] = program
        return p

    def connection(name):
        pid = evidence.connection_pid(name)
        p = process(pid, name.split(":", 1)[0] if name else None)
        c = p["connections"].get(name)
        if c is None:
            c = p["connections"][name] = {
                "name": name, "short": _short(name), "purpose": None, "tcp": [],
                "broker": [], "checks": [], "driver": []}
        return p, c

    for name, tcps in wire.items():
        p, c = connection(name)
        for t in tcps:
            end = t.get("end") or {}
            close = t.get("close") or {}
            c["tcp"].append({
                "conn": t["conn"], "accept": rel(t["accept"]),
                "heartbeat": t.get("heartbeat"),
                "c2s": [rel(x) for x in t["beats"]["c2s"]],
                "s2c": [rel(x) for x in t["beats"]["s2c"]],
                "dropped": len(t["dropped"]["c2s"]) + len(t["dropped"]["s2c"]),
                "close": ({"time": rel(close.get("time")), "by": close.get("by"),
                           "reply_text": close.get("reply_text")} if close else None),
                "end": ({"time": rel(end.get("time")), "how": end.get("how"),
                         "by": end.get("by")} if end else None)})
    for b in brokers:
        if not b.get("name"):
            continue
        p, c = connection(b["name"])
        c["broker"].append({"opened": rel(b["opened"]), "closed": rel(b["closed"]),
                            "reason": b["close_reason"], "id": b["id"],
                            "missed_heartbeats": bool(b["close_reason"]) and
                            evidence.MISSED_HEARTBEATS in b["close_reason"]})
    for e in client:
        if e["kind"] == "heartbeat-check" and e.get("name"):
            p, c = connection(e["name"])
            c["checks"].append(rel(e["time"]))
            c["purpose"] = c["purpose"] or e.get("purpose")
            continue
        if e["kind"] not in DRIVER_KINDS:
            continue
        mark = {"kind": e["kind"], "time": rel(e["time"]), "line": e["line"]}
        p = process(e["pid"])
        # The driver names a connection by its uuid: on that connection's row.
        owner = next((c for c in p["connections"].values()
                      if e.get("uuid") and c["name"].endswith(":" + e["uuid"])), None)
        (owner["driver"] if owner else p["log"]).append(mark)

    for p in procs.values():
        times = []
        for c in p["connections"].values():
            times += [t["accept"] for t in c["tcp"] if t["accept"] is not None]
            times += [b["opened"] for b in c["broker"] if b["opened"] is not None]
            times += c["checks"][:1]
        times += [m["time"] for m in p["log"]]
        p["first"] = min(times) if times else None
        service = p["service"] or p["program"] or "?"
        p["label"] = (f"{service} PID {p['pid']}"
                      + (" (the API worker that served the requests)" if p["api"] else ""))
        p["connections"] = sorted(p["connections"].values(), key=_first_seen)
    model["processes"] = sorted(
        procs.values(), key=lambda p: (not p["api"], p["first"] is None,
                                       p["first"] or 0, str(p["pid"])))
    if not procs:
        notes.append("no AMQP connection found in wire.jsonl, broker.log or the "
                     "service logs")

    ends = [0.0] + [x["end"] for x in model["phases"]]
    ends += [o["end"] or o["start"] for o in model["ops"] + model["faults"]]
    ends += [e["time"] or 0 for e in model["events"]]
    for p in model["processes"]:
        for c in p["connections"]:
            for t in c["tcp"]:
                ends += [x for x in (t["accept"], (t["end"] or {}).get("time")) if x]
                ends += t["c2s"][-1:] + t["s2c"][-1:]
            ends += [b["closed"] for b in c["broker"] if b["closed"]]
            ends += c["checks"][-1:]
    model["end"] = max(ends)
    return model


def _first_seen(c):
    times = ([t["accept"] for t in c["tcp"] if t["accept"] is not None]
             + [b["opened"] for b in c["broker"] if b["opened"] is not None]
             + c["checks"][:1])
    return min(times) if times else float("inf")


def _brief(value, limit=300):
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def _lifetimes(c, end):
    """[(start, stop, hover)] of a connection's lifetime: each TCP connection
    on the wire, else the broker's opening to its close."""
    spans = []
    for t in c["tcp"]:
        if t["accept"] is None:
            continue
        stop = (t["end"] or {}).get("time")
        how = (f"ended {t['end']['how']} by the {t['end']['by']}" if t["end"]
               else "still open at the end of the record")
        spans.append((t["accept"], stop if stop is not None else end,
                      f"{c['name']}<br>TCP connection {t['conn']} on the relay, "
                      f"heartbeat {t['heartbeat']} s<br>{len(t['c2s'])} heartbeat(s) "
                      f"sent by the client, {len(t['s2c'])} by the broker<br>{how}"))
    if not spans:
        for b in c["broker"]:
            if b["opened"] is None:
                continue
            spans.append((b["opened"], b["closed"] if b["closed"] is not None else end,
                          f"{c['name']}<br>in the broker log<br>"
                          + (f"closed: {b['reason']}" if b["closed"] is not None
                             else "not closed in the broker log")))
    if not spans and c["checks"]:
        spans.append((c["checks"][0], c["checks"][-1],
                      f"{c['name']}<br>seen only in the observer's heartbeat checks"))
    return spans


def figure(model, result):
    """The plotly figure of ``model``."""
    import plotly.graph_objects as go

    rows = []  # (y label, kind, payload), top to bottom
    rows.append(("run phases", "phases", None))
    if model["events"]:
        rows.append(("runner events", "events", None))
    for f in dict.fromkeys(o["f"] for o in model["ops"]):
        title = f"requests: {f}" if f == "call" else f"workload: {f}"
        for n_lane, lane in enumerate(_lanes([o for o in model["ops"] if o["f"] == f],
                                             model["end"])):
            rows.append((title + (f" ({n_lane + 1})" if n_lane else ""), "ops", lane))
    if model["faults"]:
        rows.append(("faults", "faults", None))
    bands = []
    for p in model["processes"]:
        first = len(rows)
        rows.append((f"<b>{html.escape(p['label'])}</b>", "process", p))
        for c in p["connections"]:
            label = c["short"] + (f" ({c['purpose']})" if c["purpose"] else "")
            rows.append((label, "conn", c))
        if p["log"]:
            rows.append((f"{p['service'] or p['program']}:{p['pid']} log", "log", p))
        bands.append((p, first, len(rows) - 1))
    n = len(rows)

    def y(i):
        return n - 1 - i

    traces = {}

    def trace(key, factory):
        if key not in traces:
            traces[key] = factory()
        return traces[key]

    def bars(key, name, color, **kw):
        return trace(key, lambda: {"type": "bar", "name": name, "orientation": "h",
                                   "x": [], "base": [], "y": [], "hovertext": [],
                                   "text": [], "marker": {"color": color},
                                   "width": 0.6, **kw})

    def points(key, name, symbol, color, size=9, **kw):
        return trace(key, lambda: {"type": "scatter", "mode": "markers", "name": name,
                                   "x": [], "y": [], "hovertext": [],
                                   "marker": {"symbol": symbol, "color": color,
                                              "size": size}, **kw})

    def bar(t, start, stop, row, hover, text=""):
        t["base"].append(start)
        t["x"].append(max(stop - start, 0.02))
        t["y"].append(y(row))
        t["hovertext"].append(hover)
        t["text"].append(text)

    def point(t, x, row, hover, dy=0.0):
        t["x"].append(x)
        t["y"].append(y(row) + dy)
        t["hovertext"].append(hover)

    end = model["end"]
    for i, (label, kind, payload) in enumerate(rows):
        if kind == "phases":
            for ph in model["phases"]:
                bar(bars("phase", "phase", "#c6dbef", textposition="inside",
                         insidetextanchor="middle"),
                    ph["start"], ph["end"], i,
                    f"{ph['name']}: {ph['end'] - ph['start']:.2f} s "
                    f"(t=+{ph['start']:.2f}s to t=+{ph['end']:.2f}s)", ph["name"])
            for m in model["marks"]:
                point(points("mark", "broker / services ready", "line-ns-open",
                             "#08519c", size=14), m["time"], i,
                      f"{m['name']} at t=+{m['time']:.2f}s")
        elif kind == "events":
            for e in model["events"]:
                point(points("event", "runner event", "diamond", "#636363"),
                      e["time"], i,
                      f"{e['name']} at t=+{e['time']:.2f}s<br>{html.escape(e['value'])}")
        elif kind == "ops":
            for o in payload:
                name, color = OUTCOMES.get(o["outcome"], OUTCOMES["pending"])
                stop = o["end"] if o["end"] is not None else end
                took = (f"{o['latency']:.3f} s" if o.get("latency") is not None
                        else f"{stop - o['start']:.3f} s")
                hover = (f"{o['name']} (op {o['id']}): {o['outcome']}"
                         + (f", HTTP {o['status']}" if o.get("status") else "")
                         + f" in {took}<br>t=+{o['start']:.3f}s to "
                         + (f"t=+{o['end']:.3f}s" if o["end"] is not None
                            else "never completed")
                         + (f"<br>{html.escape(str(o['error']))}" if o.get("error") else "")
                         + (f"<br>{o['request_id']}" if o.get("request_id") else ""))
                bar(bars(("op", o["outcome"]), name, color, textposition="outside",
                         opacity=0.8),
                    o["start"], stop, i, hover, f"{o['name']} {took}")
        elif kind == "faults":
            for o in model["faults"]:
                stop = o["end"] if o["end"] is not None else end
                bar(bars("fault", "fault", "#8c564b", textposition="outside"),
                    o["start"], stop, i,
                    f"fault {o['name']} {o.get('options') or ''}: {o['outcome']}<br>"
                    f"t=+{o['start']:.3f}s to t=+{stop:.3f}s"
                    + (f"<br>{html.escape(str(o['error']))}" if o.get("error") else ""),
                    f"{o['name']} ({o['outcome']})")
        elif kind == "conn":
            c = payload
            for start, stop, hover in _lifetimes(c, end):
                bar(bars("life", "AMQP connection open", "#9ecae1", opacity=0.6),
                    start, stop, i, hover)
            for t in c["tcp"]:
                for x in t["c2s"]:
                    point(points("c2s", "heartbeat client → broker (wire)",
                                 "line-ns-open", "#2171b5", size=8), x, i,
                          f"{c['short']} heartbeat sent at t=+{x:.3f}s", dy=0.18)
                for x in t["s2c"]:
                    point(points("s2c", "heartbeat broker → client (wire)",
                                 "line-ns-open", "#fd8d3c", size=8), x, i,
                          f"{c['short']} heartbeat received at t=+{x:.3f}s", dy=-0.18)
                if t["end"] and t["end"]["time"] is not None:
                    point(points("tcp-end", "TCP end (wire)", "square-open", "#252525"),
                          t["end"]["time"], i,
                          f"{c['short']}: TCP {t['end']['how']} by the {t['end']['by']} "
                          f"at t=+{t['end']['time']:.3f}s")
            for x in c["checks"]:
                point(points("check", "heartbeat check (observer)", "circle-open",
                             "#31a354", size=6,
                             visible="legendonly" if c["tcp"] else True),
                      x, i, f"{c['short']} heartbeat check at t=+{x:.3f}s")
            for b in c["broker"]:
                if b["closed"] is None:
                    continue
                missed = b["missed_heartbeats"]
                reason = (b["reason"] or "no reason given").split(", timeout")[0]
                # Only the heartbeat closes are written on the plot: the
                # others (a client closing, the run's cleanup) are hovers.
                extra = ({"mode": "markers+text", "text": [],
                          "textposition": "middle right",
                          "textfont": {"color": "#d62728"}} if missed else {})
                t = points(("close", missed),
                           "broker closed: missed heartbeats" if missed
                           else "broker closed (other reason)",
                           "x", "#d62728" if missed else "#ff7f0e", size=13, **extra)
                point(t, b["closed"], i,
                      f"broker closed {html.escape(c['name'])} at t=+{b['closed']:.3f}s"
                      f"<br>{html.escape(b['reason'] or 'no reason in the broker log')}")
                if missed:
                    t["text"].append(f"broker closed {c['short']}: {reason}")
            for m in c["driver"]:
                _driver_point(points, point, m, i)
        elif kind == "log":
            for m in payload["log"]:
                _driver_point(points, point, m, i)

    fig = go.Figure()
    for t in traces.values():
        kw = {k: v for k, v in t.items() if k != "type"}
        kw["hovertemplate"] = "%{hovertext}<extra></extra>"
        fig.add_trace(go.Bar(**kw) if t["type"] == "bar" else go.Scatter(**kw))

    shapes = []
    for k, (p, first, last) in enumerate(bands):
        shapes.append({"type": "rect", "xref": "paper", "x0": 0, "x1": 1,
                       "yref": "y", "y0": y(last) - 0.5, "y1": y(first) + 0.5,
                       "fillcolor": "#f0f0f0" if k % 2 == 0 else "#fafafa",
                       "line": {"width": 0}, "layer": "below"})
    for ph in model["phases"][1:]:
        shapes.append({"type": "line", "yref": "paper", "y0": 0, "y1": 1,
                       "x0": ph["start"], "x1": ph["start"],
                       "line": {"dash": "dot", "width": 1, "color": "#9ecae1"}})
    verdict = (result or {}).get("verdict", "?")
    fig.update_layout(
        title={"text": f"{html.escape(str((result or {}).get('scenario', '?')))}: "
                       f"{html.escape(str(verdict))}"},
        barmode="overlay", height=300 + 30 * n, shapes=shapes,
        hovermode="closest", plot_bgcolor="white",
        margin={"l": 10, "r": 10, "t": 60, "b": 190},
        legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom"},
        xaxis={"title": {"text": "seconds since the run started (t=+, as in the evidence)"},
               "range": [-0.2, end * 1.12 + 0.5], "showgrid": True, "gridcolor": "#ddd",
               "zeroline": False},
        yaxis={"tickvals": [y(i) for i in range(n)], "ticktext": [r[0] for r in rows],
               "range": [-0.6, n - 0.4], "showgrid": False, "automargin": True,
               "fixedrange": True})
    return fig


def _lanes(ops, end, most=12):
    """``ops`` in lanes where none overlaps another (concurrent requests
    each get a row of their own), at most ``most`` lanes."""
    lanes, ends = [], []
    gap = 0.1 * end  # room for the previous one's label
    for o in sorted(ops, key=lambda o: o["start"]):
        stop = o["end"] if o["end"] is not None else end
        free = next((k for k, e in enumerate(ends) if e + gap <= o["start"]), None)
        if free is None and len(lanes) < most:
            lanes.append([])
            ends.append(stop)
            free = len(lanes) - 1
        elif free is None:
            free = min(range(len(ends)), key=ends.__getitem__)
        lanes[free].append(o)
        ends[free] = max(ends[free], stop)
    return lanes


def _driver_point(points, point, m, row):
    name, symbol, color = DRIVER_KINDS[m["kind"]]
    point(points(("driver", m["kind"]), name, symbol, color, size=11), m["time"], row,
          f"t=+{m['time']:.3f}s<br>{html.escape(m['line'][:400])}")


_STYLE = """body{font-family:sans-serif;margin:1em 2em;color:#222}
.v-reproduced{color:#b00}.v-not-reproduced{color:#070}.v-unknown{color:#a60}
li{margin:.2em 0;font-family:monospace;font-size:12px;white-space:pre-wrap}
.notes{color:#a60}"""


def render(run, result, model=None, plot=None, problem=None):
    """The page: the verdict, its evidence, what is missing, the timeline."""
    esc = html.escape
    result = result or {}
    verdict = str(result.get("verdict", "?"))
    parts = ["<!doctype html><html><head><meta charset=utf-8>",
             f"<title>{esc(str(result.get('scenario', '?')))}: {esc(verdict)}</title>",
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>{esc(str(result.get('scenario', '?')))}: "
             f"<span class='v-{esc(verdict)}' id=verdict>{esc(verdict)}</span></h1>",
             f"<p>run directory: <code>{esc(run.path)}</code> "
             "(<a href='report.md'>report.md</a>, <a href='result.json'>result.json</a>)</p>"]
    if result.get("reason"):
        parts.append(f"<p><b>Reason:</b> {esc(str(result['reason']))}</p>")
    if result.get("evidence"):
        parts.append("<h2>Evidence</h2><ul id=evidence>"
                     + "".join(f"<li>{esc(str(e))}</li>" for e in result["evidence"])
                     + "</ul>")
    parts.append("<h2>Timeline</h2>")
    notes = list((model or {}).get("notes", []))
    if problem:
        notes.append(problem)
    if notes:
        parts.append("<ul class=notes id=notes>"
                     + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    if plot:
        parts.append("<p>One row per AMQP connection, grouped by the process that "
                     "named it (<code>program:pid:uuid</code>); ticks above a row are "
                     "the client's heartbeats, below it the broker's; a red ✕ is the "
                     "broker closing it. Hover for the lines; click a legend entry to "
                     "hide or show it.</p>")
        parts.append(plot)
    if model is not None:
        data = json.dumps(model, sort_keys=True, default=str).replace("</", "<\\/")
        parts.append(f"<script type=application/json id=timeline-data>{data}</script>")
    parts.append("</body></html>\n")
    return "".join(parts)


# plotly.js is 4.8 MB; gzipped and base64-encoded inline it is about 2 MB,
# and the page unpacks it with the browser's own DecompressionStream, so
# each run's page stays one file that opens with no network.
_PLOTLY_GZ = None
_LOADER = """<script>(async function () {
  try {
    var bin = atob(document.getElementById("plotly-gz").textContent);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var code = await new Response(new Blob([bytes]).stream()
        .pipeThrough(new DecompressionStream("gzip"))).text();
    var lib = document.createElement("script");
    lib.text = code;
    document.head.appendChild(lib);
    document.querySelectorAll("script.plotly-deferred").forEach(function (d) {
      var run = document.createElement("script");
      run.text = d.textContent;
      d.after(run);
    });
  } catch (e) {
    var div = document.getElementById("timeline");
    if (div) div.textContent = "timeline unavailable: " + e;
    console.error(e);
  }
})();</script>"""


def prepare():
    """Import plotly and read its JavaScript ahead of write(), from a thread
    the runner starts when the workload begins: the workload mostly waits
    (the idle period the bug needs), and the report then costs the run
    0.1 s after the cleanup, where it cost 0.3 to 0.5 s. Never raises."""
    try:
        import plotly.graph_objects as go
        import plotly.io  # noqa: F401

        # plotly loads each trace type's and the layout's validators on
        # first use (0.08 s): a throwaway figure of the kinds figure() makes.
        fig = go.Figure([go.Bar(x=[1], y=[0]), go.Scatter(x=[0], y=[0])])
        fig.update_layout(shapes=[{"type": "rect"}], legend={"orientation": "h"})
        _plotly_gz()
    except Exception:
        pass  # write() says what is wrong, in the report itself


def _plotly_gz():
    """plotly.js gzipped and base64-encoded: made once per plotly release
    and kept in the user's cache (0.15 s a run saved), else made here."""
    global _PLOTLY_GZ
    if _PLOTLY_GZ is not None:
        return _PLOTLY_GZ
    import base64
    import gzip

    import plotly
    from plotly.offline import get_plotlyjs

    cache = os.path.join(os.environ.get("XDG_CACHE_HOME")
                         or os.path.expanduser("~/.cache"), "fake-lab",
                         f"plotly-{plotly.__version__}.min.js.gz.b64")
    try:
        with open(cache) as f:
            _PLOTLY_GZ = f.read()
    except OSError:
        _PLOTLY_GZ = base64.b64encode(gzip.compress(get_plotlyjs().encode(), 6)).decode()
        try:
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            with open(cache + f".{os.getpid()}", "w") as f:
                f.write(_PLOTLY_GZ)
            os.replace(cache + f".{os.getpid()}", cache)
        except OSError:
            pass  # a read-only home: made again next time
    return _PLOTLY_GZ


def _deferred(plot):
    """The plot's own script runs once plotly.js is unpacked (see _LOADER)."""
    plot = plot.replace("<script>", '<script type="text/plain" class="plotly-deferred">')
    return (f'<script type="application/octet-stream" id="plotly-gz">{_plotly_gz()}'
            f"</script>{plot}{_LOADER}")


def write(run, result):
    """Write ``report.html`` in the run directory; returns its path, or None
    when it could not be written. Never raises."""
    model = plot = problem = None
    try:
        model = collect(run, result)
    except Exception as exc:  # a torn or odd file must not cost the run its report
        problem = f"timeline unavailable: cannot read the run: {type(exc).__name__}: {exc}"
    if model is not None:
        try:
            import plotly.io as pio

            plot = _deferred(pio.to_html(
                figure(model, result), include_plotlyjs=False, full_html=False,
                div_id="timeline", config={"displaylogo": False, "responsive": True}))
        except Exception as exc:
            problem = f"timeline unavailable: {type(exc).__name__}: {exc}"
    try:
        page = render(run, result, model, plot, problem)
    except Exception as exc:
        page = (f"<!doctype html><meta charset=utf-8><p>report.html unavailable: "
                f"{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</p>")
    path = run.file(FILE)
    try:
        with open(path, "w") as f:
            f.write(page)
    except OSError:
        return None
    return path
