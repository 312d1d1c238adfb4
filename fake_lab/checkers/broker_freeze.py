"""The ``broker-freeze`` checker: did the API worker notice a broker that
stopped answering without closing anything, and when?

It reads history.jsonl (the requests, the freeze with its thaw),
config.json, wire.jsonl and the API's log.

- ``reproduced``: during or right after the freeze, the worker's driver
  gave up on its connections (the wire shows it opening new ones after the
  freeze began; its log says why), and the second request's outcome is
  cited with the times.
- ``not-reproduced``: no freeze happened (the control) or the worker kept
  every connection, and the second request was answered.
- ``unknown`` otherwise.
"""

from fake_lab import history
from fake_lab.checkers import evidence
from fake_lab.checkers.verdicts import (
    NOT_REPRODUCED,
    REPRODUCED,
    UNKNOWN,
    Timeline,
    describe_request,
    named_ops,
    option,
    result,
    short_name,
)


def check(run):
    records = history.read(run.history)
    config = run.read_json("config.json") or {}
    t = Timeline(records)
    ops = list(history.operations(records).values())
    named = named_ops(records)
    first, second = named.get("first-request"), named.get("second-request")
    freezes = [op for op in ops if op["invoke"]["f"] == "fault"
               and op["invoke"]["value"].get("verb") == "freeze"]
    timeout = option(config, "oslo_messaging_rabbit", "heartbeat_timeout_threshold", 0)
    if first is None or first["done"] is None or first["done"]["type"] != "ok":
        return result(UNKNOWN, [describe_request("first-request", first, t),
                                "no connection was opened to watch"])
    api_pid = first["done"]["value"].get("api_pid")
    cited = [describe_request("first-request", first, t) + f", served by API worker PID {api_pid}"]
    wire = {n: c for n, c in evidence.wire_connections(run.file("wire.jsonl")).items()
            if evidence.connection_pid(n) == api_pid}
    if not wire:
        return result(UNKNOWN, cited + ["wire.jsonl names no connection of the API "
                                        "worker"])
    done = second["done"] if second else None
    if not freezes:
        began = first["done"]["time"]
    else:
        f = freezes[0]
        if f["done"] is None or f["done"]["type"] != "ok":
            return result(UNKNOWN, cited + ["the freeze did not take effect: "
                                            + str(f["done"])])
        began = f["invoke"]["time"]
        thawed = f["done"]["time"]
        cited.append(f"fault broker freeze: {t(began)} to {t(thawed)} "
                     f"({thawed - began:.1f} s, {(thawed - began) / timeout:.1f} x the "
                     f"{timeout} s heartbeat timeout), node PIDs "
                     f"{f['done']['value'].get('pids')}")
    reconnects = []
    end_time = done["time"] if done else None
    for name, conns in sorted(wire.items()):
        held = [c for c in conns if c["accept"] and c["accept"] <= began]
        later = [c["accept"] for c in conns if c["accept"] and c["accept"] > began]
        if not held:
            continue
        c = held[-1]
        ended = c["end"]
        until = began if freezes else (end_time or began)
        label = "before the freeze" if freezes else "before the second request"
        beats = [x for x in c["beats"]["s2c"] if x <= until]
        cited.append("wire: %s: the broker's last heartbeat %s at %s; %s%s" % (
            short_name(name),
            label, t(max(beats)) if beats else "?",
            f"the {ended['by']} ended it ({ended['how'].upper()}) at "
            f"{t(ended['time'])}" if ended else "never ended",
            f"; new connection(s) from {t(min(later))}, "
            f"{min(later) - began:.2f} s after the freeze began" if later else ""))
        if later:
            reconnects.append(min(later))
    end = done["time"] if done else None
    lines = [e for e in evidence.client_events(run.log("fake-nova-api"))
             if e["pid"] == api_pid and e["time"] >= began and e["kind"] != "heartbeat-check"
             and (end is None or e["time"] <= end)]
    for e in lines[:4]:
        cited.append(f"client log: {e['line']}")
    cited.append(describe_request("second-request", second, t))
    details = {"api_pid": api_pid, "froze": bool(freezes),
               "reconnected_after": round(min(reconnects) - began, 3) if reconnects else None,
               "driver_lines": len(lines)}
    if done is None:
        return result(UNKNOWN, cited + ["the second request has no outcome"], **details)
    if freezes and reconnects:
        noticed = [e for e in lines if e["kind"] in ("heartbeat-warning", "unreachable",
                                                     "recoverable-error")]
        when = (f"; the driver first said so at {t(noticed[0]['time'])}, "
                f"{noticed[0]['time'] - began:.2f} s into the freeze" if noticed else "")
        return result(REPRODUCED, cited + [
            f"the worker noticed the silent broker and reconnected {min(reconnects) - began:.2f}"
            f" s after the freeze began{when}"], **details)
    if not reconnects and done["type"] == "ok":
        return result(NOT_REPRODUCED, cited + [
            "the worker kept every connection and the second request was answered"],
            **details)
    return result(UNKNOWN, cited + ["neither a reconnect after the freeze nor an "
                                    "untroubled second request"], **details)
