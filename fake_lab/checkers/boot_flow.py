"""The ``boot-flow`` checker: did every accepted boot reach ACTIVE, once?

It reads the history (what the client was told) and final-state.json (what
the database held once every service had stopped: the run's final read),
never the database itself, the scenario file or a credentials file.

Each accepted boot (202) is ``active``, ``failed`` (ERROR, or its task
failed) or ``lost`` (still BUILD with its task in progress when the run
settled: it never completes). A boot whose answer never came is ``info``:
unknown outcome. Any boot, answered or not, is also ``duplicated`` when it
was built more than once or has more than one server row (a logical boot
is one history operation, its server named after it, whatever
``[workload] retry`` made of it: a retry without an idempotency key that
created a second server shows as a second row of that name). With retry
on, the boots sent more than once are listed with their attempts. With an ``idle``
step, the boots sent after it are also judged ``slow`` above the recorded
``slow_seconds``.

Verdict: ``reproduced`` when something was lost, duplicated, failed,
unknown or slow; ``not-reproduced`` otherwise; ``unknown`` when the run did
not settle or has no final state. With the option ``cause =
"api-heartbeat-loss"`` the claim is narrower, as ``heartbeat-loss`` makes
it: ``reproduced`` only when the broker closed the API worker's connections
for missed heartbeats during the idle period; slow or lost boots without
that close are ``unknown`` (something else made them slow). With ``cause =
"any-failure"`` (mixed-upgrade) the claim is wider: ``reproduced`` when a
boot went wrong (failed, lost, duplicated, unanswered; slow alone is cited,
not judged) or the broker closed any process's connection for missed
heartbeats during the idle period.
"""

import os

from fake_lab import history
from fake_lab.checkers import evidence
from fake_lab.checkers.verdicts import NOT_REPRODUCED, REPRODUCED, UNKNOWN, Timeline, option, result

BAD = ("failed", "lost", "duplicated", "info", "slow_after_idle")
HEARTBEAT_CAUSE = "api-heartbeat-loss"
# Anything wrong in any process: a bad boot, or any connection (the API's or
# a service's) closed for missed heartbeats while the cloud idled.
ANY_CAUSE = "any-failure"


def check(run):
    records = history.read(run.history)
    config = run.read_json("config.json") or {}
    options = (config.get("checker") or {}).get("options", {})
    t = Timeline(records)
    ops = history.operations(records).values()
    boots = sorted((op for op in ops if op["invoke"]["f"] == "boot"),
                   key=lambda o: o["invoke"]["time"])
    if not boots:
        return result(UNKNOWN, ["no boot was sent"])
    state = run.read_json("final-state.json")
    if state is None:
        return result(UNKNOWN, ["the run recorded no final state of its "
                                "database (final-state.json)"])
    if state.get("error"):
        return result(UNKNOWN, [f"the final database was unreadable: {state['error']}"])
    idle = [op for op in ops if op["invoke"]["f"] == "idle" and op["done"]]
    idle_op = idle[-1] if idle else None
    tally = _tally(boots, state, idle_op, options.get("slow_seconds", 1.0))
    settled = [r for r in records if r.get("f") == "settled"]

    cited = _cite_tally(tally, boots, settled, t)
    closes = None
    if idle_op is not None:
        closes = _heartbeat_closes(run, boots, idle_op)
        cited[1:1] = _cite_closes(closes, idle_op, t)
    details = dict(tally["counts"], **{f"{k}_request_ids": [
        i.split(" ")[0].rstrip(":") for i in v] for k, v in tally["listed"].items()})
    if closes is not None:
        details["api_heartbeat_closes"] = len(closes["api"])
    faults = [op for op in ops if op["invoke"]["f"] == "fault"]
    if faults:
        lines, found = _cite_faults(run, faults, boots, t)
        cited[1:1] = lines
        details.update(found)

    if not settled:
        return result(UNKNOWN, cited + ["the run did not wait for the boots "
                                        "to settle"], **details)
    counts = tally["counts"]
    if counts["accepted"] == 0 and counts["info"] == 0:
        return result(UNKNOWN, cited + ["no boot was accepted"], **details)
    bad = sum(counts[k] for k in BAD)
    if options.get("cause") == HEARTBEAT_CAUSE:
        return _judge_heartbeat_cause(bad, closes, idle_op, config, cited, details)
    if options.get("cause") == ANY_CAUSE:
        return _judge_any(bad - counts["slow_after_idle"],
                          counts["slow_after_idle"], closes, idle_op, config,
                          cited, details)
    return result(REPRODUCED if bad else NOT_REPRODUCED, cited, **details)


def _tally(boots, state, idle_op, slow_limit):
    """Each boot's fate: counts, the request ids of the bad ones (and of
    the retried ones), and the latencies of the boots sent after the idle
    period. With the client's retry on (any boot's invoke says so), the
    counts also have ``retried`` (boots sent more than once), ``attempts``
    (all of them) and ``replayed`` (boots the API answered with the server
    an earlier attempt had created, by its idempotency key)."""
    instances, builds, tasks = state["instances"], state["builds"], state["tasks"]
    idle_end = idle_op["done"]["time"] if idle_op else None
    counts = {"accepted": 0, "active": 0, "failed": 0, "lost": 0, "duplicated": 0,
              "rejected": 0, "info": 0, "slow_after_idle": 0}
    retrying = any(op["invoke"]["value"].get("retry", "off") != "off" for op in boots)
    if retrying:
        counts.update(retried=0, attempts=0, replayed=0)
    listed = {k: [] for k in BAD + (("retried",) if retrying else ())}
    after_idle = []
    extra = _extra_rows(boots, state)
    for op in boots:
        done = op["done"]
        v = (done or {}).get("value", {})
        rid = v.get("request_id") or op["invoke"]["value"].get("name")
        tried = attempts(op)
        if retrying:
            counts["attempts"] += len(tried)
            if len(tried) > 1:
                counts["retried"] += 1
                listed["retried"].append(f"{rid} ({_cite_attempts(op, tried)})")
            if v.get("replayed"):
                counts["replayed"] += 1
        # Duplicated, whatever the client was told: two server rows for one
        # logical boot (a retry without a key after all), or one server
        # built twice (a redelivered cast).
        uuid = v.get("server_id")
        why = _duplicate(op, extra, builds.get(uuid, 0))
        if why:
            counts["duplicated"] += 1
            listed["duplicated"].append(f"{rid} ({why})")
        if done is None or done["type"] == "info":
            counts["info"] += 1
            listed["info"].append(rid + _rows_of(op, extra))
            continue
        if done["type"] == "fail":
            counts["rejected"] += 1
            continue
        counts["accepted"] += 1
        if idle_end is not None and op["invoke"]["time"] >= idle_end:
            after_idle.append(v["latency"])
            if v["latency"] > slow_limit:
                counts["slow_after_idle"] += 1
                listed["slow_after_idle"].append(f"{rid} ({v['latency']:.2f} s)")
        fate, why = _fate(instances.get(uuid), tasks.get(v.get("task_id")), uuid)
        counts[fate] += 1
        if fate != "active":
            listed[fate].append(f"{rid}{why}")
    return {"counts": counts, "listed": listed, "after_idle": after_idle,
            "slow_limit": slow_limit}


def attempts(op):
    """[{n, time, outcome, latency, ...}]: the HTTP attempts of one boot
    operation, as the client listed them; an operation recorded before the
    client retried (or with no answer) is its own one attempt."""
    done = op["done"]
    listed = ((done or {}).get("value") or {}).get("attempts")
    if listed:
        return listed
    v = (done or {}).get("value", {})
    return [{"n": 1, "time": op["invoke"]["time"],
             "outcome": done["type"] if done else None,
             "latency": (done["time"] - op["invoke"]["time"]) if done else None,
             "status": v.get("status"), "request_id": v.get("request_id"),
             "error": v.get("error")}]


def _cite_attempts(op, tried):
    parts = []
    for a in tried:
        how = (f"HTTP {a['status']}" if a.get("status") else a.get("error") or "no answer")
        parts.append(f"{a.get('outcome')} {how}"
                     + (f" {a['request_id']}" if a.get("request_id") else "")
                     + (" replayed" if a.get("replayed") else ""))
    key = op["invoke"]["value"].get("idempotency_key")
    return (f"{op['invoke']['value'].get('name')}: {len(tried)} attempts"
            + (f" with key {key}" if key else " without a key") + ": "
            + "; ".join(parts))


def _extra_rows(boots, state):
    """{boot name: [rows]} of the logical boots with more server rows than
    boot operations of that name. A boot's server is named after it
    (``<step>-<n>``, unique in a scenario), so a retry that created a
    second server shows as a second row of that name; the key of a retry
    with one (the instances table's idempotency_key) is on every row too."""
    ops_by_name = {}
    for op in boots:
        name = op["invoke"]["value"].get("name")
        ops_by_name[name] = ops_by_name.get(name, 0) + 1
    rows = {}
    for inst in state["instances"].values():
        if inst.get("name") in ops_by_name:
            rows.setdefault(inst["name"], []).append(inst)
    return {name: sorted(found, key=lambda r: r.get("created_at") or "")
            for name, found in rows.items() if len(found) > ops_by_name[name]}


def _duplicate(op, extra, builds):
    """Why one boot is duplicated, or None."""
    found = extra.get(op["invoke"]["value"].get("name"))
    if found:
        keys = {r.get("idempotency_key") for r in found} - {None}
        return (f"{len(found)} server rows for one boot"
                + (f", {len(keys)} idempotency key(s)" if keys else ", no idempotency key")
                + ": " + ", ".join(f"{r['uuid']} {r['status']}" for r in found))
    if builds > 1:
        return f"built {builds} times"
    return None


def _rows_of(op, extra):
    """For an unanswered boot: the rows it may have made, when they are
    more than one (one row of that name is the common case: no news)."""
    found = extra.get(op["invoke"]["value"].get("name"))
    return f" ({len(found)} server rows of that name)" if found else ""


def fate(op, state):
    """One boot operation's fate, as ``_tally`` counts it: ``info`` (no
    answer), ``rejected``, or for an accepted boot ``active``, ``failed``
    or ``lost``, with ``duplicated`` when it was built more than once or
    has more than one server row (its name's; one boot operation of that
    name assumed)."""
    done = op["done"]
    v = (done or {}).get("value", {})
    uuid = v.get("server_id")
    if _duplicate(op, _extra_rows([op], state), state["builds"].get(uuid, 0)):
        return "duplicated"
    if done is None or done["type"] == "info":
        return "info"
    if done["type"] == "fail":
        return "rejected"
    return _fate(state["instances"].get(uuid), state["tasks"].get(v.get("task_id")),
                 uuid)[0]


def _fate(inst, task, uuid):
    """('active' | 'failed' | 'lost', why) of one accepted boot."""
    task = task or {}
    if inst is None:
        return "lost", " (no instance row)"
    if inst["status"] == "ACTIVE" and task.get("status") == "completed":
        return "active", ""
    if inst["status"] == "ERROR" or task.get("status") == "failed":
        return "failed", f": {inst.get('fault') or task.get('reason')}"
    return "lost", (f" (server {uuid} still {inst['status']}/{inst['task_state']}, "
                    f"task {task.get('status')}, host {inst['host']})")


def _heartbeat_closes(run, boots, idle_op):
    """The connections the broker closed for missed heartbeats during the
    idle period: all of them, and those of the API worker that served the
    boots before it (matched by the PID in the connection's name)."""
    begin, end = idle_op["invoke"]["time"], idle_op["done"]["time"] + 0.5
    pids = {op["done"]["value"].get("api_pid") for op in boots
            if op["done"] and op["done"]["type"] == "ok"
            and op["done"]["time"] <= begin}
    pids.discard(None)
    # This run's connections only: a matrix cell shares its broker (and its
    # log) with the other cells, each in a vhost of its own.
    vhost = (run.read_json("config.json") or {}).get("vhost", "/")
    closed = [c for c in evidence.broker_connections(run.broker_log)
              if evidence.MISSED_HEARTBEATS in (c["close_reason"] or "")
              and begin <= c["closed"] <= end and c["vhost"] in (vhost, None)]
    return {"all": closed, "api": [c for c in closed if c["pid"] in pids],
            "api_pids": sorted(pids)}


def _cite_faults(run, faults, boots, t):
    """Each fault with its times; the first boot accepted after it began
    and after it ended; what each service's driver said meanwhile."""
    lines, found = [], {}
    for op in faults:
        v, done = op["invoke"]["value"], op["done"]
        began = op["invoke"]["time"]
        if done is None:
            lines.append(f"fault {v['target']} {v['verb']} at {t(began)}: no outcome")
            continue
        d = done["value"]
        pids = (f", node PIDs {d['old_pids']} -> {d['new_pids']}"
                if d.get("old_pids") else "")
        lines.append(f"fault {v['target']} {v['verb']}: {t(began)} to "
                     f"{t(done['time'])} ({done['type']}{pids}"
                     + (f": {d['error']}" if d.get("error") else "") + ")")
        ok_after = sorted(b["done"]["time"] for b in boots if b["done"]
                          and b["done"]["type"] == "ok" and b["invoke"]["time"] >= began)
        failed_during = [b for b in boots if b["done"] and b["done"]["type"] != "ok"
                         and b["invoke"]["time"] >= began]
        if ok_after:
            found["first_boot_after_fault"] = round(ok_after[0] - began, 3)
            lines.append(f"the first boot sent after the fault began was accepted "
                         f"{ok_after[0] - began:.2f} s after it began "
                         f"({ok_after[0] - done['time']:+.2f} s from its end); "
                         f"{len(failed_during)} boot(s) sent after it began failed "
                         "or got no answer")
        for name in _service_logs(run):
            said = [e for e in evidence.client_events(run.log(name))
                    if e["time"] >= began and e["kind"] in ("unreachable", "reconnected",
                                                            "recoverable-error")]
            if said:
                kinds = {}
                for e in said:
                    kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
                reconnected = [e for e in said if e["kind"] == "reconnected"]
                lines.append(f"{name}: " + ", ".join(f"{k} x{n}" for k, n in kinds.items())
                             + (f"; last reconnect {t(reconnected[-1]['time'])}"
                                if reconnected else ""))
                found.setdefault("reconnects", {})[name] = len(reconnected)
    return lines, found


def _service_logs(run):
    """The fake services' own logs (fake-nova-api, fake-compute-N, ...)."""
    return sorted(f[:-4] for f in os.listdir(run.logs)
                  if f.startswith("fake-") and f.endswith(".log")
                  and not f.endswith(".out.log"))


def _cite_closes(closes, idle_op, t):
    begin, end = idle_op["invoke"]["time"], idle_op["done"]["time"]
    lines = ["broker: %d connection(s) closed for missed heartbeats during the "
             "idle period (%s to %s), %d of them the API worker's (PID %s)%s" % (
                 len(closes["all"]), t(begin), t(end), len(closes["api"]),
                 ", ".join(map(str, closes["api_pids"])) or "?",
                 ": " + ", ".join(c["name"] or "?" for c in closes["all"][:6])
                 if closes["all"] else "")]
    for c in (closes["api"] or closes["all"])[:2]:
        lines.append("broker: " + " / ".join(c["lines"][-2:]))
    return lines


def _cite_tally(tally, boots, settled, t):
    counts, listed = tally["counts"], tally["listed"]
    cited = [f"{len(boots)} boot(s) sent from {t(boots[0]['invoke']['time'])}: "
             + ", ".join(f"{k} {n}" for k, n in counts.items())]
    if settled:
        s = settled[-1]["value"]
        cited.append(f"settled at {t(settled[-1]['time'])}: {s.get('in_progress')} "
                     f"task(s) in progress after {s.get('seconds')} s of waiting")
    if tally["after_idle"]:
        cited.append("boots after the idle period: latency %s s (slow above %s s)"
                     % (", ".join(f"{x:.2f}" for x in tally["after_idle"][:10]),
                        tally["slow_limit"]))
    for kind, items in listed.items():
        for item in items[:10]:
            cited.append(f"{kind}: {item}")
        if len(items) > 10:
            cited.append(f"{kind}: ... and {len(items) - 10} more")
    return cited


def _judge_heartbeat_cause(bad, closes, idle_op, config, cited, details):
    """The verdict when the claim is 'heartbeat loss of the API worker'."""
    if closes is None:
        return result(UNKNOWN, cited + ["the scenario has no idle period, so "
                                        "heartbeat loss cannot be told"], **details)
    if closes["api"]:
        return result(REPRODUCED, cited, **details)
    if bad:
        return result(UNKNOWN, cited + [
            f"{bad} boot(s) were slow, lost, failed or unanswered, but the "
            "broker closed none of the API worker's connections for missed "
            "heartbeats: something else caused it"], **details)
    return _nothing_closed(idle_op, config, cited, details)


def _judge_any(bad, slow, closes, idle_op, config, cited, details):
    """The verdict when any failure of any process counts (mixed-upgrade):
    a boot failed, lost, duplicated or unanswered, or a connection closed
    for missed heartbeats. A slow boot alone is no failure of a process (a
    busy machine makes boots slow: a matrix of cells side by side did), so
    it is cited, not judged."""
    if closes is None:
        return result(UNKNOWN, cited + ["the scenario has no idle period"], **details)
    details["heartbeat_closes_by_program"] = _by_program(closes["all"])
    if slow and not bad and not closes["all"]:
        cited.append(f"{slow} boot(s) after the idle period were slow, but none "
                     "failed and no connection was closed for missed "
                     "heartbeats: slowness alone is not a failure")
    if bad or closes["all"]:
        if closes["all"]:
            cited.append("closed for missed heartbeats, by process: " + ", ".join(
                f"{p} {n}" for p, n in details["heartbeat_closes_by_program"].items()))
        return result(REPRODUCED, cited, **details)
    return _nothing_closed(idle_op, config, cited, details)


def _nothing_closed(idle_op, config, cited, details):
    """No close and nothing bad: not-reproduced, if the idle period was long
    enough for the broker to have noticed a missed heartbeat."""
    timeout = option(config, "oslo_messaging_rabbit", "heartbeat_timeout_threshold", 0)
    idle = idle_op["done"]["time"] - idle_op["invoke"]["time"]
    if timeout and idle < 3 * timeout:
        return result(UNKNOWN, cited + [
            "the idle period was shorter than 3 heartbeat timeouts, so a "
            "missed heartbeat might not have been detected yet"], **details)
    return result(NOT_REPRODUCED, cited, **details)


def _by_program(conns):
    """{program: connections} from names ``program:pid:uuid`` (the API's
    program is its container's, e.g. uwsgi)."""
    out = {}
    for c in conns:
        program = (c["name"] or "?").split(":")[0]
        out[program] = out.get(program, 0) + 1
    return out
