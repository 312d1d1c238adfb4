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
"""

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


def check(run):
    fr = failover.Run(run, "db", "kill-primary")
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
    gone = _committed_lost(run, boots, state, t, window)
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


def _committed_lost(run, boots, state, t, window):
    """The committed boots the final database lacks: {"vanished": [...],
    "rolled_back": [...]}, each with its request id and times."""
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
            if window and window[0] <= done["time"] <= window[1]:
                when = ", while the replica lagged"
            vanished.append({"request_id": rid, "server_id": uuid,
                             "accepted": done["time"], "when": when})
            continue
        task = tasks.get(v.get("task_id")) or {}
        if uuid in active and not (inst["status"] == "ACTIVE"
                                   and task.get("status") == "completed"):
            at, host, line = active[uuid]
            rolled_back.append({
                "request_id": rid, "server_id": uuid, "active_at": at, "host": host,
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
    if d.get("stalled_at"):
        parts.append(f"the replication link stalled at {t(d['stalled_at'])} for "
                     f"{d.get('lag')} s")
    if d.get("killed_at"):
        behind = d.get("behind_bytes")
        parts.append(f"just before the kill the primary's WAL was at {d.get('primary_lsn')}"
                     f" and the replica had received {d.get('replica_received_lsn')}"
                     + (f" ({behind} bytes behind)" if behind is not None else ""))
        parts.append(f"{len(d.get('old_primary_pids', []))} process(es) of the "
                     f"{d.get('old_primary')} SIGKILLed at {t(d['killed_at'])}")
    if d.get("stopped_at"):
        parts.append(f"the {d.get('old_primary')} stopped cleanly at {t(d['stopped_at'])} "
                     f"({d.get('old_state')}); the replica had received "
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
