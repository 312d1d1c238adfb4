"""The ``db-failover`` checker: did a failover of the PostgreSQL pair lose
boots that had been committed?

Its claim is stated in its first line of evidence, as the run's options make
it: "with async replication and no retry, an unplanned DB failover loses
committed boots" (``fault db kill-primary``), "... a planned DB switchover
loses ..." (``fault db switchover``); with the client's ``[workload] retry``
on, "with async replication and retry with an idempotency key (without
one), an unplanned DB failover loses or duplicates boots". It reads the history (what the client
was told, the fault with its times and WAL positions), final-state.json (the
database read once every service had stopped, from the node that took
writes then, with that node's name and ``pg_is_in_recovery()``) and the
compute hosts' logs, never the database itself nor the scenario file.

A boot is *committed* once the API answered 202: the conductor committed
its instance row and task before the API answered. Of the committed boots:

- ``vanished``: no instance row on the node that took writes at the end:
  the commit is gone;
- ``rolled_back``: a compute host logged the boot ACTIVE (the conductor had
  committed ACTIVE and the task's completion), but the final database shows
  it otherwise.

Every boot's fate is also judged as the boot-flow checker judges it (active,
failed, lost, duplicated, info: unknown outcome), listed by request id, with
the time from the fault to the first boot request accepted after it (a
retry's attempt counts), and with retry each retried boot's attempts.

Verdict: ``reproduced`` when a committed boot vanished or was rolled back
after the fault, or, with retry on, a boot was duplicated (more than one
server row for one logical boot, or built twice); ``not-reproduced`` when
none was, the fault happened (the replica promoted, the final read from it,
no longer in recovery) and boots were in flight while the replica lagged
(the window in which an asynchronous replica misses commits), or, with no
fault in the workload (the control), when none was lost or duplicated;
``unknown`` otherwise (the fault did not happen, the final state was not
read from the promoted node, no boot was in flight while the replica
lagged, or boots were lost or duplicated with no failover at all).

A cycle (seed 001's lifecycle: a workload with more than one DB fault, e.g.
``kill-primary``, ``rejoin``, ``kill-primary`` again) is judged failover by
failover. Its claim adds "at each of its N failovers (the old primary
rejoining as the promoted node's standby in between)"; each fault is cited
(a rejoin with pg_rewind's own lines, where the two nodes diverged and the
time until the rejoined node streamed). A lost boot is counted against the
failover whose promotion came first after its commit was acknowledged (its
202, or the compute host's ACTIVE): the node that acknowledged it was the
one that failover demoted; one acknowledged after the last promotion but
sent before the last kill is the last failover's (committed on the node it
demoted, answered late). Verdict: ``reproduced`` when each failover lost
(or, with retry, duplicated) at least one boot; ``not-reproduced`` when a
failover that had boots in flight while the replica lagged lost none;
``unknown`` when a fault (a rejoin too) did not happen, the final read was
not made on the node promoted last, a failover did not promote the node
that had rejoined, a failover that lost nothing had no boot in flight
while the replica lagged, or a committed boot was lost after the last
failover (no failover explains it).
"""

import bisect
import os
import re

from fake_lab.checkers import boot_flow, evidence, failover
from fake_lab.checkers.verdicts import NOT_REPRODUCED, REPRODUCED, UNKNOWN, result

_ACTIVE = re.compile(r"instance (?P<uuid>[0-9a-f-]{36}) ACTIVE on (?P<host>\S+)")
# With no stall before the kill, the replica lags by what was in flight:
# boots sent in the last second before the kill are the ones at risk.
UNSTALLED_WINDOW = 1.0
CLAIMS = {"kill-primary": "with {r} replication and {retry}, an unplanned DB failover "
                          "{costs}",
          "switchover": "with {r} replication and {retry}, a planned DB switchover "
                        "{costs}"}


def claim(replication, verb, retry="off"):
    """The claim a run tests, in words. With no retry a failover can only
    lose boots; with retry it may also duplicate them (a retried boot that
    had been created after all), and the claim says both."""
    costs = ("loses committed boots" if retry == "off"
             else "loses or duplicates boots")
    return CLAIMS.get(verb, CLAIMS["kill-primary"]).format(
        r=replication, retry=failover.RETRIES.get(retry, f"retry {retry}"), costs=costs)


# The DB faults that promote the standby; a rejoin brings one back.
FAILOVERS = ("kill-primary", "switchover")


def cycle_claim(replication, verb, retry, failovers, rejoins):
    """The claim of a cycle: the one failover's claim, said of each."""
    said = claim(replication, verb, retry)
    if failovers > 1:
        return said + (f", at each of its {failovers} failovers"
                       + (" (the old primary rejoining as the promoted node's "
                          "standby in between)" if rejoins else ""))
    return said + (", and the old primary rejoins as the promoted node's standby"
                   if rejoins else "")


def check(run):
    fr = failover.Run(run, "db", "kill-primary")
    if len(fr.planned) > 1:
        return _check_cycle(run, fr)
    boots, planned, retry, t = fr.boots, fr.planned, fr.retry, fr.t
    replication = (fr.config.get("options", {}).get("postgres") or {}).get(
        "replication", "async")
    cited = [fr.claim_line(claim(replication, fr.verb, retry))]
    state, why = fr.final_state(run)
    if why:
        return result(UNKNOWN, cited + [why])
    # The counts first, the boots listed by request id after the fault's lines.
    tally, listed, settled, details = fr.tally(state, cited)
    details["replication"] = replication

    fault, fault_value = fr.fault, fr.fault_value
    moment = fault_value.get("killed_at") or fault_value.get("stopping_at")
    window = _lag_window(fault_value)
    gone = _committed_lost(run, boots, state, t, [window] if window else [])
    details.update(vanished=len(gone["vanished"]), rolled_back=len(gone["rolled_back"]),
                   vanished_request_ids=[g["request_id"] for g in gone["vanished"]],
                   rolled_back_request_ids=[g["request_id"] for g in gone["rolled_back"]])
    database = state.get("database") or {}
    details["final_read_from"] = database.get("node")
    if fault is not None:
        cited.append(_cite_fault(fault, t))
    cited.append(_cite_final_read(database))
    if window is not None:
        # In flight: sent before the kill, not answered before the stall.
        # With sync replication the boots in flight when the link stalls
        # wait for it, and no other is sent until they end.
        busy = [b for b in boots if b["invoke"]["time"] <= window[1]
                and (b["done"] is None or b["done"]["time"] >= window[0])]
        ok = sum(1 for b in busy if b["done"] and b["done"]["type"] == "ok")
        details["in_flight_while_lagging"] = len(busy)
        cited.append(f"{len(busy)} boot(s) in flight while the replica lagged "
                     f"({t(window[0])} to {t(window[1])}): {ok} accepted (202), "
                     f"{len(busy) - ok} failed or unanswered")
    if moment:
        cited += _cite_recovery(boots, moment, t, details)
    for g in gone["vanished"][:10]:
        cited.append(f"vanished: {g['request_id']} (server {g['server_id']}, accepted "
                     f"at {t(g['accepted'])}{g['when']}): no instance row on the node "
                     "that took writes at the end")
    for g in gone["rolled_back"][:10]:
        cited.append(f"rolled back: {g['request_id']} (server {g['server_id']}) was ACTIVE "
                     f"on {g['host']} at {t(g['active_at'])} ({g['line']}), but is "
                     f"{g['now']} on the node that took writes at the end")
    lost = len(gone["vanished"]) + len(gone["rolled_back"])
    for n, kind in ((len(gone["vanished"]), "vanished"),
                    (len(gone["rolled_back"]), "rolled back")):
        if n > 10:
            cited.append(f"{kind}: ... and {n - 10} more")
    if retry != "off":
        cited.append(failover.cite_retry(tally["counts"], len(boots), retry))
    cited += listed
    # What the claim counts: with retry, a duplicated boot is a cost too.
    duplicated = tally["counts"]["duplicated"] if retry != "off" else 0
    costs = ", ".join(p for p in (
        f"{lost} committed boot(s) lost by the failover: "
        f"{len(gone['vanished'])} vanished, {len(gone['rolled_back'])} rolled back"
        if lost else "", f"{duplicated} boot(s) duplicated by the client's retries"
        if duplicated else "") if p)

    if not settled:
        return result(UNKNOWN, cited + ["the run did not wait for the boots to settle"],
                      **details)
    if not planned:  # the control
        if lost or duplicated:
            return result(UNKNOWN, cited + [
                f"{costs} with no failover at all: something else did it"], **details)
        return result(NOT_REPRODUCED, cited + [
            "no failover, and every committed boot is in the database"
            + (", once" if retry != "off" else "")], **details)
    if fault is None or fault["done"] is None or fault["done"]["type"] != "ok":
        why = (fault_value.get("error") if fault and fault["done"] else None)
        return result(UNKNOWN, cited + [
            "the workload's DB fault did not happen"
            + (f": {why}" if why else "")], **details)
    promoted = fault_value.get("promoted")
    if (database.get("node") != promoted or database.get("in_recovery") is not False):
        return result(UNKNOWN, cited + [
            f"the final state was not read from the promoted node ({promoted}) "
            "taking writes, so what it lacks cannot be told"], **details)
    if lost or duplicated:
        return result(REPRODUCED, cited + [costs], **details)
    if window is not None and not details.get("in_flight_while_lagging"):
        return result(UNKNOWN, cited + [
            "no boot was in flight while the replica lagged: this run could not "
            "have shown a loss"], **details)
    return result(NOT_REPRODUCED, cited + [
        "every committed boot is on the promoted node"
        + (", once" if retry != "off" else "")], **details)


def _lag_window(value):
    """(from, to) epoch seconds in which the replica lagged: the stall
    before the kill, else the last second before it; None for a planned
    switchover (the replica caught up first) or no fault."""
    killed = value.get("killed_at")
    if not killed:
        return None
    return (value.get("stalled_at") or killed - UNSTALLED_WINDOW, killed)


def _acknowledged_active(run):
    """{server uuid: (time, host, line)}: the first 'ACTIVE' each compute
    host logged, once the conductor had committed it."""
    found = {}
    for name in sorted(os.listdir(run.logs)):
        if not (name.startswith("fake-compute-") and name.endswith(".log")
                and not name.endswith(".out.log")):
            continue
        for line in evidence.service_lines(os.path.join(run.logs, name)):
            m = _ACTIVE.search(line["msg"])
            if m and m.group("uuid") not in found:
                found[m.group("uuid")] = (line["time"], m.group("host"), line["line"])
    return found


def _committed_lost(run, boots, state, t, windows):
    """The committed boots the final database lacks: {"vanished": [...],
    "rolled_back": [...]}, each with its request id and times (a vanished
    one accepted in one of the lag ``windows`` says so)."""
    instances, tasks = state["instances"], state["tasks"]
    active = _acknowledged_active(run)
    vanished, rolled_back = [], []
    for op in boots:
        done = op["done"]
        if done is None or done["type"] != "ok":
            continue
        v = done["value"]
        uuid = v.get("server_id")
        rid = v.get("request_id") or op["invoke"]["value"].get("name")
        inst = instances.get(uuid)
        if inst is None:
            when = ""
            if any(w[0] <= done["time"] <= w[1] for w in windows):
                when = ", while the replica lagged"
            vanished.append({"request_id": rid, "server_id": uuid, "sent": _sent(op),
                             "accepted": done["time"], "when": when})
            continue
        task = tasks.get(v.get("task_id")) or {}
        if uuid in active and not (inst["status"] == "ACTIVE"
                                   and task.get("status") == "completed"):
            at, host, line = active[uuid]
            rolled_back.append({
                "request_id": rid, "server_id": uuid, "sent": _sent(op),
                "active_at": at, "host": host,
                "line": line, "now": f"{inst['status']}/{inst.get('task_state')} "
                                     f"with its task {task.get('status')}"})
    return {"vanished": vanished, "rolled_back": rolled_back}


def _cite_fault(op, t):
    v, done = op["invoke"]["value"], op["done"]
    if done is None:
        return f"fault db {v.get('verb')} at {t(op['invoke']['time'])}: no outcome"
    d = done["value"]
    if done["type"] != "ok":
        return (f"fault db {v.get('verb')} at {t(op['invoke']['time'])}: {done['type']}: "
                f"{d.get('error')}")
    parts = [f"fault db {v.get('verb')}: {t(op['invoke']['time'])} to {t(done['time'])}"]
    if v.get("verb") == "rejoin":
        return "; ".join(parts + _cite_rejoin(d, t))
    # The nodes by name: the primary and the replica of a first failover,
    # the other way round once the old primary has rejoined.
    old, new = d.get("old_primary", "primary"), d.get("promoted", "replica")
    if d.get("stalled_at"):
        parts.append(f"the replication link stalled at {t(d['stalled_at'])} for "
                     f"{d.get('lag')} s")
    if d.get("killed_at"):
        behind = d.get("behind_bytes")
        parts.append(f"just before the kill the {old}'s WAL was at {d.get('primary_lsn')}"
                     f" and the {new} had received {d.get('replica_received_lsn')}"
                     + (f" ({behind} bytes behind)" if behind is not None else ""))
        parts.append(f"{len(d.get('old_primary_pids', []))} process(es) of the "
                     f"{d.get('old_primary')} SIGKILLed at {t(d['killed_at'])}")
    if d.get("stopped_at"):
        parts.append(f"the {d.get('old_primary')} stopped cleanly at {t(d['stopped_at'])} "
                     f"({d.get('old_state')}); the {new} had received "
                     f"{d.get('replica_received_lsn')}, past its shutdown checkpoint "
                     f"{d.get('shutdown_checkpoint_lsn')}: "
                     + ("caught up" if d.get("caught_up") else "NOT caught up"))
    if d.get("promoted"):
        parts.append(f"the {d['promoted']} promoted at {t(d['promoted_at'])} "
                     f"({d.get('promote_seconds')} s), having replayed "
                     f"{d.get('replayed_lsn_at_promotion')}; pg_is_in_recovery() "
                     f"{str(d.get('in_recovery_after')).lower()} after it; clients: "
                     f"{d.get('clients')}")
    return "; ".join(parts)


def _cite_rejoin(d, t):
    """A rejoin's parts: the old primary's state, what pg_rewind said
    (its own lines), where it started and when it streamed."""
    node, new = d.get("rejoined"), d.get("new_primary")
    parts = [f"the {node} ({d.get('old_state')}, its last checkpoint "
             f"{d.get('old_checkpoint_lsn')} on timeline {d.get('old_timeline')}) "
             f"rewound by pg_rewind against the {new} (timeline "
             f"{d.get('new_primary_timeline')}, WAL at {d.get('new_primary_lsn_at_rewind')}) "
             f"in {d.get('rewind_seconds')} s: "
             + (f"the two diverged at {d.get('diverged_lsn')} on timeline "
                f"{d.get('diverged_timeline')}, its WAL past that discarded"
                if d.get("rewound") else "no rewind required (it had nothing the "
                f"{new} lacks)")]
    said = [line for line in d.get("rewind_output", []) if line.startswith("pg_rewind:")]
    if said:
        parts.append("pg_rewind said: " + " | ".join(said))
    sees, receiver = d.get("new_primary_sees") or {}, d.get("rejoined_receiver") or {}
    if d.get("streaming_at"):
        parts.append(
            f"started as the {new}'s standby at {t(d['started_at'])} through the "
            f"{d.get('via')}, streaming at {t(d['streaming_at'])} "
            f"({d.get('seconds_to_streaming')} s after the rejoin began, "
            f"{d.get('start_to_streaming_seconds')} s after its start): the {new} "
            f"lists it {sees.get('state')} ({sees.get('sync_state')}), sent "
            f"{sees.get('sent_lsn')}; its WAL receiver is {receiver.get('status')} "
            f"from port {receiver.get('sender_port')} on timeline "
            f"{receiver.get('received_tli')}; pg_is_in_recovery() "
            f"{str(d.get('in_recovery')).lower()}")
    return parts


def _cite_final_read(database):
    if not database:
        return "the final state does not say which node it was read from"
    if database.get("error"):
        return f"the final read could not name its node: {database['error']}"
    return (f"final state read from the {database.get('node')} (port "
            f"{database.get('port')}, timeline {database.get('timeline')}, "
            f"pg_is_in_recovery() {str(database.get('in_recovery')).lower()})")


def _cite_recovery(boots, moment, t, details):
    """The time from the fault to the first boot request accepted after it:
    each HTTP attempt counts (a retry of a boot sent before the fault is a
    request sent after it)."""
    after = [(a["time"], a["outcome"], a["time"] + a["latency"]
              if a.get("latency") is not None else None)
             for op in boots for a in boot_flow.attempts(op) if a["time"] >= moment]
    ok = sorted(end for _, outcome, end in after if outcome == "ok")
    bad = [a for a in after if a[1] != "ok"
           and (a[2] is None or a[2] <= (ok[0] if ok else float("inf")))]
    if not ok:
        details["recovery_seconds"] = None
        return [f"no boot request sent after the primary went down ({t(moment)}) "
                "was accepted"]
    details["recovery_seconds"] = round(ok[0] - moment, 3)
    return [f"recovery: the first boot request sent after the primary went down "
            f"({t(moment)}) was accepted {ok[0] - moment:.2f} s after it ({t(ok[0])}); "
            f"{len(bad)} boot request(s) sent after it failed or got no answer "
            "before that"]


def verb(op):
    return op["invoke"]["value"].get("verb")


def _promoted_at(op):
    """When a failover's promoted node took writes (else its end)."""
    return (op["done"]["value"].get("promoted_at") or op["done"]["time"])


def _sent(op):
    """When the attempt whose server was acknowledged was sent: its commit
    came after. With the client's retry that is the attempt answered 202
    (a later one than the first, perhaps sent after a kill); an answer
    replayed from an earlier attempt's commit (the idempotency key) goes
    back to the boot's first request."""
    ok = [a for a in boot_flow.attempts(op) if a.get("outcome") == "ok"]
    if ok and not ok[-1].get("replayed") and ok[-1].get("time") is not None:
        return ok[-1]["time"]
    return op["invoke"]["time"]


def _down_at(op):
    """When a failover's old primary stopped taking writes: its kill, the
    start of its clean stop, else the fault's start."""
    v = op["done"]["value"]
    return v.get("killed_at") or v.get("stopping_at") or op["invoke"]["time"]


def _failover_of(sent, acked, promotions, downs):
    """The index of the failover that lost a commit made between ``sent``
    and ``acked`` (its 202, or the host's ACTIVE): the first promotion after
    the acknowledgement, since the node that acknowledged it was the one
    that failover demoted. One acknowledged after the last promotion but
    sent before the last primary went down was committed there and
    answered late (a loaded machine can hold a 202 longer than the
    promotion takes): the last failover explains it. Otherwise it is
    ``len(promotions)``: no failover does."""
    k = bisect.bisect_right(promotions, acked)
    if k == len(promotions) and k and sent < downs[k - 1]:
        return k - 1
    return k


def _check_cycle(run, fr):
    """A workload with more than one DB fault (see the module docstring):
    each failover's losses, each rejoin, one verdict."""
    boots, retry, t = fr.boots, fr.retry, fr.t
    replication = (fr.config.get("options", {}).get("postgres") or {}).get(
        "replication", "async")
    faults = sorted(fr.faults, key=lambda o: o["invoke"]["time"])
    planned_failovers = [s for s in fr.planned if s.get("verb") in FAILOVERS]
    planned_rejoins = [s for s in fr.planned if s.get("verb") == "rejoin"]
    verbs = {s.get("verb") for s in planned_failovers}
    cited = [fr.claim_line(cycle_claim(
        replication, verbs.pop() if len(verbs) == 1 else "kill-primary", retry,
        len(planned_failovers), len(planned_rejoins)))]
    state, why = fr.final_state(run)
    if why:
        return result(UNKNOWN, cited + [why])
    tally, listed, settled, details = fr.tally(state, cited)
    details["replication"] = replication
    database = state.get("database") or {}
    details["final_read_from"] = database.get("node")

    happened = [op for op in faults if op["done"] is not None
                and op["done"]["type"] == "ok"]
    failovers = [op for op in happened if verb(op) in FAILOVERS]
    rejoins = [op for op in happened if verb(op) == "rejoin"]
    cited += [_cite_fault(op, t) for op in faults]
    cited.append(_cite_final_read(database))

    windows = [w for w in (_lag_window(op["done"]["value"]) for op in failovers) if w]
    gone = _committed_lost(run, boots, state, t, windows)
    # Each lost boot against the first promotion after its acknowledgement.
    promotions = [_promoted_at(op) for op in failovers]
    downs = [_down_at(op) for op in failovers]
    per = [{"vanished": [], "rolled_back": [], "duplicated": []}
           for _ in range(len(failovers) + 1)]
    for kind, key in (("vanished", "accepted"), ("rolled_back", "active_at")):
        for g in gone[kind]:
            g["failover"] = _failover_of(g["sent"], g[key], promotions, downs)
            g["late"] = g["failover"] < bisect.bisect_right(promotions, g[key])
            per[g["failover"]][kind].append(g)
    duplicated_ids = details.get("duplicated_request_ids", []) if retry != "off" else []
    sent = {((op["done"] or {}).get("value", {}).get("request_id")
             or op["invoke"]["value"].get("name")): op["invoke"]["time"] for op in boots}
    for rid in duplicated_ids:
        per[bisect.bisect_right(promotions, sent.get(rid, float("inf")))][
            "duplicated"].append(rid)

    details.update(vanished=len(gone["vanished"]), rolled_back=len(gone["rolled_back"]),
                   vanished_request_ids=[g["request_id"] for g in gone["vanished"]],
                   rolled_back_request_ids=[g["request_id"] for g in gone["rolled_back"]],
                   failovers=[], rejoins=[_rejoin_details(op) for op in rejoins])
    start = None
    for k, op in enumerate(failovers):
        v, mine = op["done"]["value"], per[k]
        fo = {"verb": verb(op), "old_primary": v.get("old_primary"),
              "promoted": v.get("promoted"),
              "vanished": len(mine["vanished"]), "rolled_back": len(mine["rolled_back"]),
              "vanished_request_ids": [g["request_id"] for g in mine["vanished"]],
              "rolled_back_request_ids": [g["request_id"] for g in mine["rolled_back"]]}
        if retry != "off":
            fo.update(duplicated=len(mine["duplicated"]),
                      duplicated_request_ids=mine["duplicated"])
        fo["lost"] = fo["vanished"] + fo["rolled_back"]
        name = f"failover {k + 1} ({fo['verb']}: the {fo['old_primary']} down, the "
        name += f"{fo['promoted']} promoted at {t(promotions[k])})"
        window = _lag_window(v)
        if window is not None:
            busy = [b for b in boots if b["invoke"]["time"] <= window[1]
                    and (b["done"] is None or b["done"]["time"] >= window[0])]
            ok = sum(1 for b in busy if b["done"] and b["done"]["type"] == "ok")
            fo["in_flight_while_lagging"] = len(busy)
            cited.append(f"{name}: {len(busy)} boot(s) in flight while the "
                         f"{fo['promoted']}, the standby, lagged ({t(window[0])} to "
                         f"{t(window[1])}): "
                         f"{ok} accepted (202), {len(busy) - ok} failed or unanswered")
        moment = v.get("killed_at") or v.get("stopping_at")
        if moment:
            cited += [f"{name}: {line}" for line in _cite_recovery(boots, moment, t, fo)]
        since = ("before its promotion" if start is None else
                 f"between the previous promotion ({t(start)}) and its own")
        late = sum(1 for kind in ("vanished", "rolled_back") for g in mine[kind] if g["late"])
        if late:
            since += (f" ({late} sent before the {fo['old_primary']} went down and "
                      "acknowledged after the promotion)")
        cited.append(
            f"{name}: {fo['lost']} committed boot(s) lost ({fo['vanished']} vanished, "
            f"{fo['rolled_back']} rolled back) of those acknowledged {since}"
            + (f"; {len(mine['duplicated'])} duplicated by the client's retries"
               if retry != "off" else ""))
        details["failovers"].append(fo)
        start = promotions[k]
    for kind, what in (("vanished", "no instance row"), ("rolled_back", None)):
        for g in gone[kind][:10]:
            tag = (f"failover {g['failover'] + 1}" if g["failover"] < len(failovers)
                   else "after the last failover")
            if g["late"]:
                tag += (f": sent at {t(g['sent'])}, before the "
                        f"{failovers[g['failover']]['done']['value'].get('old_primary')} went "
                        "down, and acknowledged after the promotion")
            if what:
                cited.append(f"vanished: {g['request_id']} (server {g['server_id']}, "
                             f"accepted at {t(g['accepted'])}{g['when']}; {tag}): no "
                             "instance row on the node that took writes at the end")
            else:
                cited.append(f"rolled back: {g['request_id']} (server {g['server_id']}; "
                             f"{tag}) was ACTIVE on {g['host']} at {t(g['active_at'])} "
                             f"({g['line']}), but is {g['now']} on the node that took "
                             "writes at the end")
        if len(gone[kind]) > 10:
            cited.append(f"{kind.replace('_', ' ')}: ... and {len(gone[kind]) - 10} more")
    if retry != "off":
        cited.append(failover.cite_retry(tally["counts"], len(boots), retry))
    cited += listed

    if not settled:
        return result(UNKNOWN, cited + ["the run did not wait for the boots to settle"],
                      **details)
    failed = next((op for op in faults if op["done"] is None
                   or op["done"]["type"] != "ok"), None)
    if failed is not None or len(happened) < len(fr.planned):
        why = ((failed["done"] or {}).get("value", {}).get("error")
               if failed is not None and failed["done"] else None)
        what = f"fault db {verb(failed)}" if failed is not None else "a planned fault"
        return result(UNKNOWN, cited + [
            f"the workload's DB faults did not all happen: {what} did not"
            + (f": {why}" if why else "")], **details)
    # The pair's bookkeeping: each rejoined node is the next one promoted.
    for op in rejoins:
        node = op["done"]["value"].get("rejoined")
        later = [f for f in failovers if f["invoke"]["time"] > op["invoke"]["time"]]
        if later and later[0]["done"]["value"].get("promoted") != node:
            return result(UNKNOWN, cited + [
                f"the failover after the rejoin promoted the "
                f"{later[0]['done']['value'].get('promoted')}, not the rejoined "
                f"{node}"], **details)
    promoted = failovers[-1]["done"]["value"].get("promoted") if failovers else None
    if database.get("node") != promoted or database.get("in_recovery") is not False:
        return result(UNKNOWN, cited + [
            f"the final state was not read from the node promoted last ({promoted}) "
            "taking writes, so what it lacks cannot be told"], **details)
    after = per[len(failovers)]
    stray = len(after["vanished"]) + len(after["rolled_back"])
    if stray:
        return result(UNKNOWN, cited + [
            f"{stray} committed boot(s) lost after the last failover's promotion: "
            "no failover explains them"], **details)
    costs = [fo["lost"] + fo.get("duplicated", 0) for fo in details["failovers"]]
    said = "; ".join(
        f"failover {k + 1}: {fo['lost']} committed boot(s) lost ({fo['vanished']} "
        f"vanished, {fo['rolled_back']} rolled back)"
        + (f", {fo['duplicated']} duplicated" if retry != "off" else "")
        for k, fo in enumerate(details["failovers"]))
    if costs and all(costs):
        return result(REPRODUCED, cited + [f"at each failover: {said}"], **details)
    blind = [k + 1 for k, fo in enumerate(details["failovers"])
             if not costs[k] and fo.get("in_flight_while_lagging") == 0]
    if blind:
        return result(UNKNOWN, cited + [
            f"failover {', '.join(map(str, blind))}: no boot was in flight while "
            f"the replica lagged: it could not have shown a loss ({said})"], **details)
    if not any(costs):
        return result(NOT_REPRODUCED, cited + [
            f"no failover lost a committed boot: every one is on the node promoted "
            f"last{', once' if retry != 'off' else ''} ({said})"], **details)
    spared = [str(k + 1) for k, c in enumerate(costs) if not c]
    return result(NOT_REPRODUCED, cited + [
        f"not at each failover: failover {', '.join(spared)} lost none of the boots "
        f"in flight while the replica lagged ({said})"], **details)


def _rejoin_details(op):
    d = op["done"]["value"]
    return {k: d.get(k) for k in (
        "rejoined", "new_primary", "old_state", "rewound", "diverged_lsn",
        "rewind_seconds", "seconds_to_streaming", "start_to_streaming_seconds",
        "through_relay")}
