"""The ``api-failover`` checker: what does a failover of the active/standby
API behind HAProxy (``[api] pair``) cost the boots sent through the VIP?

Its claim is its first line of evidence, as the run's options make it:
"an unplanned API failover with no client retry fails in-flight boots"
(``fault api kill``), "a planned API switchover with no client retry fails
in-flight boots" (``fault api switchover``); with the client's ``[workload]
retry`` on, "... with client retry with an idempotency key (without one),
... fails or duplicates boots".

It reads the history (what the client was told, the fault with its times),
final-state.json (the database once every service had stopped), HAProxy's
own log (``logs/haproxy.log``: when it marked the active server DOWN or
drained it, which server answered each request, the requests it ended
with an error) and the APIs' start-up lines (which worker PID is the
active's, which the standby's), never HAProxy's runtime API, the database
or the scenario file.

Every boot's fate is the boot-flow checker's (active, failed, lost,
duplicated, info: unknown outcome), listed by request id (by the boot's
name when no API answered it: HAProxy's own 502 carries none); a boot no
API answered is shown with what the database holds under its name. It
gives the time from the fault to the first boot request accepted after it
(a retry's attempt counts).

Verdict: ``reproduced`` when, with the fault done, a boot failed, was lost,
duplicated, rejected or got no answer; ``not-reproduced`` when none did,
HAProxy logged the active server DOWN after the fault, the standby answered
requests after it, and boots were in flight when the fault began (or, with
no fault in the workload, the control, when none went wrong); ``unknown``
otherwise (the fault did not happen, HAProxy never marked the server DOWN,
the standby answered nothing, no boot was in flight, or boots went wrong
with no failover at all).
"""

from fake_lab.checkers import boot_flow, concurrency, failover, haproxy_log
from fake_lab.checkers.verdicts import NOT_REPRODUCED, REPRODUCED, UNKNOWN, result

CLAIMS = {"kill": "an unplanned API failover (the active API SIGKILLed behind HAProxy) "
                  "with {retry} {costs}",
          "switchover": "a planned API switchover (the active API drained through "
                        "HAProxy, then stopped) with {retry} {costs}"}
# A boot the client did not get once and ACTIVE.
COSTS = ("failed", "lost", "duplicated", "info", "rejected")
LOG = "haproxy"


def claim(verb, retry="off"):
    """The claim a run tests, in words. With retry a failover may also
    duplicate boots (a retried boot that had been created after all)."""
    costs = "fails in-flight boots" if retry == "off" else "fails or duplicates boots"
    how = ("no client retry" if retry == "off"
           else "client " + failover.RETRIES.get(retry, f"retry {retry}"))
    return CLAIMS.get(verb, CLAIMS["kill"]).format(retry=how, costs=costs)


def check(run):
    fr = failover.Run(run, "api", "kill")
    boots, planned, retry, t, verb = fr.boots, fr.planned, fr.retry, fr.t, fr.verb
    faults = fr.faults
    cited = [fr.claim_line(claim(verb, retry))]
    state, why = fr.final_state(run)
    if why:
        return result(UNKNOWN, cited + [why])
    tally, listed, settled, details = fr.tally(state, cited)
    counts = tally["counts"]
    details["verb"] = verb

    dated = haproxy_log.lines(run.log(LOG))
    changes = haproxy_log.state_changes(dated)
    served = haproxy_log.requests(dated)
    fault = faults[0] if faults else None
    value = (fault["done"] or {}).get("value", {}) if fault else {}
    moment = value.get("killed_at") or value.get("drain_at")
    down = None
    if fault is not None:
        cited.append(_cite_fault(fault, t))
        if moment:
            down = haproxy_log.first(changes, "active", "DOWN", moment - 0.5)
            cited += _cite_haproxy(changes, served, moment, down, t, details)
            cited += _cite_recovery(boots, moment, t, details)
            busy = [b for b in boots if b["invoke"]["time"] <= moment
                    and (b["done"] is None or b["done"]["time"] >= moment)]
            if value.get("drain_at"):  # sent while the active one drained too
                end = value.get("down_at") or value.get("stopped_at") or moment
                busy += [b for b in boots if moment < b["invoke"]["time"] <= end]
            details["in_flight_at_fault"] = len(busy)
            cited.append(f"{len(busy)} boot(s) in flight when the fault began "
                         f"({t(moment)})" + (", or sent while the active API drained"
                                              if value.get("drain_at") else ""))
    cited += _cite_workers(run, boots, moment)
    cited += _cite_unanswered(boots, state, t)
    if "retried" in counts:  # the boots say they were sent with retry on
        cited.append(failover.cite_retry(counts, len(boots), retry))
    cited += listed
    bad = sum(counts[k] for k in COSTS)
    details["cost"] = bad
    costs = ", ".join(f"{counts[k]} {k}" for k in COSTS if counts[k])

    if not settled:
        return result(UNKNOWN, cited + ["the run did not wait for the boots to settle"],
                      **details)
    if not planned:  # the control
        if bad:
            return result(UNKNOWN, cited + [
                f"{costs} with no failover at all: something else did it"], **details)
        return result(NOT_REPRODUCED, cited + [
            "no failover, and every boot is ACTIVE once"], **details)
    if fault is None or fault["done"] is None or fault["done"]["type"] != "ok":
        why = value.get("error") if fault and fault["done"] else None
        return result(UNKNOWN, cited + ["the workload's API fault did not happen"
                                        + (f": {why}" if why else "")], **details)
    if down is None:
        return result(UNKNOWN, cited + [
            "HAProxy's log shows no DOWN of api/active after the fault, so the "
            "failover cannot be told"], **details)
    if not details.get("standby_requests_after"):
        return result(UNKNOWN, cited + [
            "the standby answered no request after the fault: no failover "
            "happened that the boots could have met"], **details)
    if bad:
        return result(REPRODUCED, cited + [f"the failover cost {bad} boot(s): {costs}"],
                      **details)
    if not details.get("in_flight_at_fault"):
        return result(UNKNOWN, cited + [
            "no boot was in flight when the fault began: this run could not have "
            "shown a failed one"], **details)
    return result(NOT_REPRODUCED, cited + [
        "every boot is ACTIVE once: the failover cost none"], **details)


def _cite_fault(op, t):
    v, done = op["invoke"]["value"], op["done"]
    if done is None:
        return f"fault api {v.get('verb')} at {t(op['invoke']['time'])}: no outcome"
    d = done["value"]
    if done["type"] != "ok":
        return (f"fault api {v.get('verb')} at {t(op['invoke']['time'])}: {done['type']}: "
                f"{d.get('error')}")
    parts = [f"fault api {v.get('verb')}: {t(op['invoke']['time'])} to {t(done['time'])}"]
    if d.get("killed_at"):
        parts.append(f"{len(d.get('killed_pids', []))} process(es) of the active API "
                     f"({d.get('container')}, port {d.get('port')}) SIGKILLed at "
                     f"{t(d['killed_at'])}")
    if d.get("drain_at"):
        parts.append(f"api/active drained at {t(d['drain_at'])} with "
                     f"{d.get('sessions_at_drain')} session(s), none left at "
                     f"{t(d['sessions_zero_at'])}; its {d.get('container')} "
                     f"stopped from {t(d['stopping_at'])} to {t(d['stopped_at'])}")
    after = d.get("servers_after") or {}
    if after:
        parts.append("then HAProxy listed " + ", ".join(
            f"api/{name} {s.get('status')}" for name, s in sorted(after.items())))
    return "; ".join(parts)


def _cite_haproxy(changes, served, moment, down, t, details):
    """HAProxy's own lines: the state changes after the fault, the first
    request the standby answered, and the requests it ended in error."""
    lines = []
    for c in changes:
        if c["time"] >= moment - 0.5 and c["server"] in ("active", "standby"):
            lines.append(f"haproxy at {t(c['time'])}: {c['line']}")
    if down is not None:
        details["down_seconds"] = round(down["time"] - moment, 3)
        lines.append(f"HAProxy marked api/active DOWN {down['time'] - moment:.2f} s after "
                     f"the fault began ({t(down['time'])})")
    after = [r for r in served if r["time"] >= moment]
    by_server = {}
    for r in after:
        by_server[r["server"]] = by_server.get(r["server"], 0) + 1
    standby = [r for r in after if r["server"] == "standby" and r["status"]
               and r["status"] < 500]
    details["standby_requests_after"] = len(standby)
    details["requests_after_by_server"] = by_server
    if standby:
        lines.append(f"HAProxy logged {len(after)} request(s) after the fault: "
                     + ", ".join(f"{n} by {s}" for s, n in sorted(by_server.items()))
                     + f"; the standby's first answer logged at {t(standby[0]['time'])}: "
                     + standby[0]["line"])
    errors = [r for r in served if r["time"] >= moment - 0.5
              and ((r["status"] or 0) >= 500 or (r["term"] or "--")[0] != "-")]
    details["haproxy_errors"] = len(errors)
    retried = [r for r in after if r["retries"]]
    details["haproxy_retried"] = len(retried)
    for r in errors[:10]:
        lines.append(f"haproxy ended a request with {r['status']} ({r['term']}) at "
                     f"{t(r['time'])}: {r['line']}")
    if len(errors) > 10:
        lines.append(f"haproxy: ... and {len(errors) - 10} more request(s) in error")
    if retried:
        lines.append(f"haproxy retried {len(retried)} request(s) whose connection "
                     "failed (retries, redispatched to a usable server: a +)")
    return lines


def _cite_recovery(boots, moment, t, details):
    """The time from the fault to the first boot request sent after it
    and accepted (each HTTP attempt counts)."""
    after = [(a["time"], a["outcome"], a["time"] + a["latency"]
              if a.get("latency") is not None else None)
             for op in boots for a in boot_flow.attempts(op) if a["time"] >= moment]
    ok = sorted(end for _, outcome, end in after if outcome == "ok" and end)
    if not ok:
        details["recovery_seconds"] = None
        return [f"no boot request sent after the fault began ({t(moment)}) was accepted"]
    bad = [a for a in after if a[1] != "ok" and (a[2] is None or a[2] <= ok[0])]
    details["recovery_seconds"] = round(ok[0] - moment, 3)
    return [f"recovery: the first boot request sent after the fault began ({t(moment)}) "
            f"was accepted {ok[0] - moment:.2f} s after it ({t(ok[0])}); {len(bad)} "
            "boot request(s) sent after it failed or got no answer before that"]


def _cite_workers(run, boots, moment):
    """Which API answered the boots before and after the fault, by the
    worker PIDs of the answers and the start-up lines of each API's log."""
    instance = {}
    for name, m, _ in concurrency.startup_lines(run):
        if m["program"].startswith("fake-nova-api"):
            instance[int(m["pid"])] = ("standby" if name.startswith("fake-nova-api-standby")
                                       else "active")
    if not instance:
        return []
    before, after = {}, {}
    for op in boots:
        done = op["done"]
        pid = ((done or {}).get("value") or {}).get("api_pid")
        if not pid or done["type"] != "ok":
            continue
        side = before if moment is None or done["time"] < moment else after
        who = instance.get(int(pid), "?")
        side.setdefault(who, set()).add(int(pid))

    def say(found):
        return ", ".join(f"the {who} (worker PID {', '.join(map(str, sorted(p)))})"
                         for who, p in sorted(found.items())) or "none"
    if moment is None:
        return [f"boots answered by {say(before)}"]
    return [f"boots answered before the fault by {say(before)}; after it by {say(after)}"]


def _cite_unanswered(boots, state, t):
    """Each boot no API answered (info), with what the database holds under
    its name: a server created and never scheduled, or nothing."""
    rows = {}
    for inst in state["instances"].values():
        rows.setdefault(inst.get("name"), []).append(inst)
    lines = []
    for op in boots:
        if op["done"] is not None and op["done"]["type"] != "info":
            continue
        name = op["invoke"]["value"].get("name")
        v = (op["done"] or {}).get("value", {})
        how = (f"HTTP {v['status']}" if v.get("status") else v.get("error") or "no answer")
        found = rows.get(name, [])
        held = ("; ".join(f"server {r['uuid']} {r['status']}/{r.get('task_state')} on "
                          f"{r.get('host')}" for r in found)
                if found else "no server of that name")
        lines.append(f"unanswered: {name} sent at {t(op['invoke']['time'])}, {how}: "
                     f"the database holds {held}")
    if len(lines) > 10:
        lines = lines[:10] + [f"unanswered: ... and {len(lines) - 10} more"]
    return lines
