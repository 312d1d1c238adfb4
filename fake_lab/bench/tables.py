"""The bench's output: the tables printed on stdout and kept in bench.txt,
and bench.html (the same tables, plotly figures inline, bench.json's data).
Everything here reads the summary only (``Bench.summary``).
"""

import html
import json

from fake_lab.bench import figures
from fake_lab.bench.workers import BASELINE, LAB_WIRED, LINE_KINDS, PATHS


def num(value, digits=None):
    if value is None:
        return "-"
    if digits is None:
        digits = 0 if abs(value) >= 100 else 2 if abs(value) < 10 else 1
    return f"{value:.{digits}f}"


def _fig(value_spread, ratio_spread=None, digits=None, unit=""):
    """'523 [510-530] x0.36': median [min-max] and the median ratio."""
    if not value_spread:
        return "-"
    med = num(value_spread["median"], digits) + unit
    text = med if value_spread["n"] < 2 else (
        f"{med} [{num(value_spread['min'], digits)}-{num(value_spread['max'], digits)}]")
    if ratio_spread:
        text += f" x{ratio_spread['median']:.2f}"
    return text


def _pct(value_spread):
    if not value_spread:
        return "-"
    med = f"{value_spread['median']:+.1f} %"
    if value_spread["n"] < 2:
        return med
    return f"{med} [{value_spread['min']:+.1f}..{value_spread['max']:+.1f}]"


def _table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    out = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in rows]
    return out


def _release(cell):
    version = (cell.get("versions") or {}).get("oslo.messaging")
    release = cell["axes"]["release"]
    return f"{release} ({version})" if version and version != release else release


def _cell_columns(summary):
    """The cell's axes shown: deps only when it varies or is not latest."""
    deps = summary["options"]["axes"].get("deps", ["latest"])
    return ["release", "deps", "executor"] if deps != ["latest"] else ["release", "executor"]


def _cell_values(cell, columns):
    values = {"release": _release(cell), "deps": cell["axes"].get("deps"),
              "executor": cell["axes"].get("executor")}
    return [values[c] for c in columns]


def _rows(summary):
    """(cell values, path, entry) for the baseline, then each cell's paths;
    an entry is None for a cell that did not run (its reason instead)."""
    columns = _cell_columns(summary)
    if summary.get("baseline"):
        yield ["-"] * (len(columns) - 1) + ["native"], BASELINE, summary["baseline"]
    for cell in summary["cells"]:
        if not cell.get("paths"):
            yield _cell_values(cell, columns), cell.get("status", "-"), None
        for path in PATHS:
            if path in cell.get("paths", {}):
                yield _cell_values(cell, columns), path, cell["paths"][path]


def _process_rows(summary, paths=None):
    """(cell values, path, role, record) of each measured process that
    reported itself, path by path as ``_rows`` gives them (only ``paths``,
    when given)."""
    for values, path, entry in _rows(summary):
        if entry is None or (paths is not None and path not in paths):
            continue
        for role in ("server", "client"):
            p = (entry.get("processes") or {}).get(role)
            if p:
                yield values, path, role, p


def _answered(entry, section):
    sent = got = 0
    for r in entry.get("repeats") or []:
        block = r.get("casts") if section == "casts" else (r.get("calls") or {}).get(section)
        if block:
            sent += block.get("sent", 0)
            got += block.get("received" if section == "casts" else "answered", 0)
    return f"{got}/{sent}" + ("" if got >= sent else " LOST")


def threads_text(role, seen):
    if not seen:
        return "-"
    kind = ("green" if seen["green"] == seen["count"] else
            "native" if not seen["green"] else "green and native")
    if seen["on_main_native_thread"] == seen["count"]:
        where = "all on the main OS thread"
    elif role == "client" and seen.get("own_native_thread_each"):
        where = f"each on its own OS thread (up to {seen['most_at_once']} at once)"
    elif not seen["on_main_native_thread"]:
        where = f"on {seen['native_ids']} OS thread(s), not the main one"
    else:
        where = (f"on {seen['native_ids']} OS thread(s), {seen['on_main_native_thread']} "
                 "of them on the main one")
    return f"{'handlers' if role == 'server' else 'callers'} {kind}, {where}"


def render_text(summary):
    """The tables printed on stdout and written to bench.txt."""
    opts = summary["options"]
    columns = _cell_columns(summary)
    cells = summary["cells"]
    load = summary["machine"]["load_average"]
    paths = opts.get("paths") or PATHS
    lines = [f"fake-lab bench: {len(cells)} cell(s) x {len(paths)} paths "
             f"({', '.join(paths)}) + the {BASELINE} baseline, {opts['repeat']} repeat(s); "
             f"each block {opts['calls']} calls (at most {opts['duration']:g} s), "
             f"{opts['casts']} casts; {summary['seconds']} s; {summary['status']}",
             f"machine: {summary['machine']['cores']} cores, load average "
             f"{load.get('before', ['?'])[0]} before, {load.get('after', ['?'])[0]} after",
             "figures: median [min-max] over the repeats; xN: the median, over the "
             "repeats, of the figure's ratio to the kombu baseline's in the same repeat"]
    for callers in opts["callers"]:
        section = str(callers)
        rows = []
        for values, path, entry in _rows(summary):
            if entry is None:
                rows.append(values + [path] + ["-"] * 5)
                continue
            figs = (entry.get("summary") or {}).get(section) or {}
            vs = (entry.get("vs_baseline") or {}).get(section) or {}
            rows.append(values + [path] + [_fig(figs.get(k), vs.get(k)) for k, _, _ in
                                           figures.CALL_METRICS] + [_answered(entry, section)])
        lines += ["", f"RPC calls, {callers} concurrent caller(s)"]
        lines += _table(columns + ["path"] + [label for _, label, _ in figures.CALL_METRICS]
                        + ["answered"], rows)
    rows = []
    for values, path, entry in _rows(summary):
        if entry is None:
            rows.append(values + [path, "-", "-"])
            continue
        figs = (entry.get("summary") or {}).get("casts") or {}
        vs = (entry.get("vs_baseline") or {}).get("casts") or {}
        rows.append(values + [path, _fig(figs.get("casts_per_s"), vs.get("casts_per_s")),
                              _answered(entry, "casts")])
    lines += ["", "casts from one sender, until the server has counted them all"]
    lines += _table(columns + ["path", "casts/s", "received"], rows)
    lines += render_overheads(summary)
    lines += render_processes(summary)
    lines += render_observation(summary)
    lines += ["", "How the processes run: " + summary["how"]]
    problems = [f"{c['id']}: {c['status']}: {c.get('reason')}" for c in cells
                if c.get("status") != "ran"]
    base = summary.get("baseline")
    if base and base.get("status") != "ran":
        problems.insert(0, f"baseline: {base.get('status')}: {base.get('reason')}")
    if problems:
        lines += ["", "problems:"] + [f"  {p}" for p in problems]
    return lines


def render_overheads(summary):
    opts = summary["options"]
    low, high = str(min(opts["callers"])), str(max(opts["callers"]))
    picks = [(low, "p50_ms", f"p50 @{low}")]
    if high != low:
        picks.append((high, "calls_per_s", f"calls/s @{high}"))
    picks += [("casts", "casts_per_s", "casts/s"), (low, "cpu_us", f"CPU/call @{low}"),
              ("casts", "cpu_us", "CPU/cast")]
    columns = _cell_columns(summary)
    rows = []
    split = False
    for cell in summary["cells"]:
        for key, _, _, what, judged in figures.OVERHEADS:
            pcts = (cell.get("overhead") or {}).get(key)
            if not pcts:
                continue
            split = split or key == "observation"
            rows.append(_cell_values(cell, columns) + [what]
                        + [_pct((pcts.get(section) or {}).get(key)) for section, key, _ in picks]
                        + [figures.target_verdict(pcts.get(low, {}).get(key), summary["target_pct"])
                           if judged else "not judged" for key in ("p50_ms", "cpu_us")])
    if not rows:
        return []
    head = [f"the lab's own overhead: extra time (or CPU) per call or cast over the "
            f"bare oslo.messaging pair of the same process mode and repeat (target under "
            f"{summary['target_pct']:g} %, judged by the median p50 @{low}, and by the CPU "
            "a call costs its processes, which a busy machine inflates less)"]
    if split:
        head.append("split, repeat by repeat: observation = lab over quiet (the same wiring, "
                    "the lab's observation off: what watching costs, held to the same "
                    "target); nova's wiring = quiet over om (what the lab imitates of nova: "
                    "not judged); per repeat (1 + lab) = (1 + observation) x (1 + wiring)")
    return ([""] + head + _table(columns + ["what"] + [label for _, _, label in picks]
                                 + ["p50 verdict", "CPU verdict"], rows))


def render_processes(summary):
    columns = _cell_columns(summary)
    rows = []
    for values, path, role, p in _process_rows(summary):
        patched = p.get("patched") or {}
        executor = p.get("executor") or "-"
        if p.get("work_executor"):
            executor += f" ({p['work_executor']})"
        rows.append(values + [path, role, p.get("pid"), p.get("asked"), p.get("really"),
                              f"{_yes(patched.get('thread'))}/{_yes(patched.get('socket'))}",
                              "poisoned" if p.get("eventlet_poisoned") else
                              "imported" if p.get("eventlet_imported") else "never imported",
                              p.get("oslo_service_backend") or "-", executor,
                              threads_text(role, p.get("threads_seen"))])
    if not rows:
        return []
    return (["", "processes, as each reported from inside itself"]
            + _table(columns + ["path", "role", "pid", "asked", "really",
                                "patched thread/socket", "eventlet", "oslo.service",
                                "executor", "threads at work"], rows))


def render_observation(summary):
    """The lab's observation in each lab-wired process: what it reported
    having, and the lines its log holds, kind by kind."""
    columns = _cell_columns(summary)
    rows = []
    for values, path, role, p in _process_rows(summary, LAB_WIRED):
        seen = p.get("observation") or {}
        has = [name for name, key in (("heartbeats", "heartbeats"), ("pool", "pool"),
                                      (f"{seen.get('evidence_logger')} INFO",
                                       "evidence_lines"))
               if seen.get(key)]
        counts = p.get("log_lines") or {}
        rows.append(values + [path, role, ", ".join(has) or "none"]
                    + [counts.get(kind, "-") for kind in LINE_KINDS])
    if not rows:
        return []
    return (["", "the lab's observation in its processes: what each reported having "
             "(the heartbeat observer, the send pool's, its service's logger at INFO: the "
             "fake compute's ping and cast lines), and the lines its log holds"]
            + _table(columns + ["path", "role", "observation"]
                     + [kind.replace("_", "-") for kind in LINE_KINDS], rows))


def _yes(flag):
    return {True: "yes", False: "no"}.get(flag, "?")


def _label(values, path):
    return " ".join(str(v) for v in values if v not in (None, "-")) + f" {path}"


def plot_figures(summary, samples):
    """The plotly figures of bench.html."""
    import plotly.graph_objects as go

    rows = [(values, path, entry) for values, path, entry in _rows(summary)
            if entry is not None]
    figs = []
    bars = go.Figure()
    for callers in summary["options"]["callers"]:
        x, y, lo, hi = [], [], [], []
        for values, path, entry in rows:
            s = ((entry.get("summary") or {}).get(str(callers)) or {}).get("calls_per_s")
            if s:
                x.append(_label(values, path))
                y.append(s["median"])
                lo.append(s["median"] - s["min"])
                hi.append(s["max"] - s["median"])
        bars.add_bar(name=f"{callers} caller(s)", x=x, y=y,
                     error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo))
    bars.update_layout(title="RPC calls per second (median, bars: min to max over the "
                       "repeats)", barmode="group", yaxis_title="calls/s")
    figs.append(("calls", bars))
    for callers in summary["options"]["callers"]:
        box = go.Figure()
        for values, path, entry in rows:
            ms = (samples.get(entry.get("pair")) or {}).get(str(callers))
            if ms:
                box.add_box(y=ms, name=_label(values, path), boxpoints=False)
        box.update_layout(title=f"latency of every call, {callers} concurrent caller(s), "
                          "all repeats", yaxis_title="ms", yaxis_type="log", showlegend=False)
        figs.append((f"latency-{callers}", box))
    casts = go.Figure()
    x, y, lo, hi = [], [], [], []
    for values, path, entry in rows:
        s = ((entry.get("summary") or {}).get("casts") or {}).get("casts_per_s")
        if s:
            x.append(_label(values, path))
            y.append(s["median"])
            lo.append(s["median"] - s["min"])
            hi.append(s["max"] - s["median"])
    casts.add_bar(x=x, y=y, error_y=dict(type="data", symmetric=False, array=hi,
                                         arrayminus=lo))
    casts.update_layout(title="casts per second until all are received", yaxis_title="casts/s")
    figs.append(("casts", casts))
    low = str(min(summary["options"]["callers"]))
    over = go.Figure()
    columns = _cell_columns(summary)
    for which, what, key in [(which, f"{what}: {name}", key)
                             for which, _, _, what, _ in figures.OVERHEADS
                             for name, key in (("p50", "p50_ms"), ("CPU/call", "cpu_us"))]:
        x, y, lo, hi = [], [], [], []
        for cell in summary["cells"]:
            s = (((cell.get("overhead") or {}).get(which) or {}).get(low) or {}).get(key)
            if s:
                x.append(" ".join(str(v) for v in _cell_values(cell, columns)))
                y.append(s["median"])
                lo.append(s["median"] - s["min"])
                hi.append(s["max"] - s["median"])
        if x:
            over.add_bar(name=what, x=x, y=y, error_y=dict(type="data", symmetric=False,
                                                           array=hi, arrayminus=lo))
    over.add_hline(y=summary["target_pct"], line_dash="dash", line_color="#d62728",
                   annotation_text=f"target {summary['target_pct']:g} %")
    over.update_layout(title=f"the lab's own overhead at {low} caller(s): p50 latency and "
                       "CPU per call (median, bars: min to max over the repeats); "
                       "observation: lab over quiet, nova's wiring: quiet over om",
                       barmode="group", yaxis_title="% over its reference")
    figs.append(("overhead", over))
    return figs


def render_html(summary, plots="", problem=None):
    esc = html.escape
    parts = ["<!doctype html><html><head><meta charset=utf-8>",
             "<title>fake-lab bench</title><style>body{font-family:sans-serif;"
             "margin:1em 2em}pre{font-size:12px;overflow-x:auto}.note{color:#a60}"
             "</style></head><body>",
             f"<h1>fake-lab bench <span id=status>{esc(summary['status'])}</span></h1>",
             f"<p>{esc(summary['how'])}</p>",
             "<p>(<a href='bench.json'>bench.json</a>, <a href='samples.json'>"
             "samples.json</a>, <a href='bench.txt'>bench.txt</a>)</p>",
             f"<pre id=tables>{esc(chr(10).join(render_text(summary)))}</pre>"]
    if problem:
        parts.append(f"<p class=note id=problem>{esc(problem)}</p>")
    parts.append(plots)
    data = json.dumps(summary, sort_keys=True, default=str).replace("</", "<\\/")
    parts.append(f"<script type=application/json id=bench-data>{data}</script>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_html(rundir, summary, samples):
    """bench.html: the tables and the plots, plotly.js inline (timeline.py's
    loader: no network). Never raises; the page says what went wrong."""
    plots, problem = "", None
    try:
        import plotly.io as pio

        from fake_lab import timeline

        config = {"displaylogo": False, "responsive": True}
        plots = timeline._deferred("".join(
            pio.to_html(fig, include_plotlyjs=False, full_html=False,
                        div_id=f"bench-{name}", config=config)
            for name, fig in plot_figures(summary, samples)))
    except Exception as exc:  # the figures are a convenience: bench.json has them
        problem = f"plots unavailable: {type(exc).__name__}: {exc}"
    try:
        with open(rundir.file("bench.html"), "w") as f:
            f.write(render_html(summary, plots, problem))
    except OSError:
        return None
    return rundir.file("bench.html")
