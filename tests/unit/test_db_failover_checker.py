"""The db-failover checker on recorded runs: committed boots that vanished
or were rolled back by the failover, and every branch of its verdict."""

import pytest

from fake_lab.checkers import NOT_REPRODUCED, REPRODUCED, UNKNOWN, db_failover
from tests.unit import runs

FAULT = {"op": "fault", "target": "db", "verb": "kill-primary", "lag": 2.0, "at": 1.0}


def failover_run(tmp_path, vanished=(), rolled_back=(), lagging=True,
                 read_from="replica", fault="ok", control=False, replication="async"):
    """Six boots a second apart from t=5; the replication link stalls at
    t=7, the primary is killed at t=9 and the replica promoted at t=9.2.
    ``vanished``: boots (by number) without a row at the end;
    ``rolled_back``: boots a compute logged ACTIVE but left in BUILD."""
    fr = runs.FakeRun(tmp_path)
    fr.config.update(scenario="db-failover",
                     checker={"name": "db-failover", "options": {}},
                     workload=[{"op": "boot", "name": "during", "count": 6}]
                     + ([] if control else [FAULT]))
    fr.config["options"]["postgres"] = {"pair": True, "replication": replication}
    instances, tasks = {}, {}
    compute = []
    times = [5.0, 6.0, 7.5, 8.0, 9.5, 10.5] if lagging else [5.0, 6.0, 9.5, 10.0, 10.5, 11.0]
    for n, t in enumerate(times):
        uuid, task = f"00000000-0000-4000-8000-00000000000{n}", f"task-{n}"
        fr.op("boot", f"during-{n + 1}", t, t + 0.1, "ok", status=202, latency=0.1,
              request_id=f"req-{n}", server_id=uuid, task_id=task)
        compute.append(f"{runs.client_stamp(t + 0.3)} fake-compute-1[4242] INFO "
                       f"fake_compute.manager [req-{n}] instance {uuid} ACTIVE on "
                       "fake-compute-1")
        if n in vanished:
            continue
        back = n in rolled_back
        instances[uuid] = {"uuid": uuid, "status": "BUILD" if back else "ACTIVE",
                           "task_state": "spawning" if back else None,
                           "host": "fake-compute-1", "fault": None}
        tasks[task] = {"id": task, "status": "in-progress" if back else "completed",
                       "reason": None}
    if not control:
        fr.ids += 1
        fr._rec(7.0, type="invoke", id=fr.ids, f="fault", process="nemesis",
                value={"target": "db", "verb": "kill-primary", "lag": 2.0})
        done = ({"target": "db", "verb": "kill-primary", "lag": 2.0,
                 "stalled_at": runs.T0 + 7.0, "killed_at": runs.T0 + 9.0,
                 "primary_lsn": "0/3058CC8", "replica_received_lsn": "0/304B9D8",
                 "behind_bytes": 54000, "old_primary": "primary",
                 "old_primary_pids": [11, 12, 13], "promoted": "replica",
                 "promoted_at": runs.T0 + 9.2, "promote_seconds": 0.2,
                 "replayed_lsn_at_promotion": "0/304B9D8", "in_recovery_after": False,
                 "clients": "multi-host URL, target_session_attrs=read-write"}
                if fault == "ok" else
                {"target": "db", "verb": "kill-primary",
                 "error": "LabError: no standby is left to promote"})
        fr._rec(9.2, type=fault, id=fr.ids, f="fault", process="nemesis", value=done)
    fr._rec(14.0, type="event", f="settled", process="runner",
            value={"in_progress": len(rolled_back), "seconds": 1.0})
    fr.final_state = {"instances": instances, "tasks": tasks,
                      "builds": {u: 1 for u in instances},
                      "database": {"node": read_from, "port": 5433,
                                   "in_recovery": False, "timeline": 2}}
    fr.compute = compute
    return fr


def write(fr):
    run = fr.write()
    with open(run.log("fake-compute-1"), "w") as f:
        f.write("\n".join(fr.compute) + "\n")
    return run


def test_a_committed_boot_without_a_row_vanished_and_is_reproduced(tmp_path):
    verdict = db_failover.check(write(failover_run(tmp_path, vanished=[2, 3])))
    assert verdict["verdict"] == REPRODUCED
    d = verdict["details"]
    assert (d["vanished"], d["rolled_back"]) == (2, 0)
    assert d["vanished_request_ids"] == ["req-2", "req-3"]
    evidence = "\n".join(verdict["evidence"])
    assert verdict["evidence"][0] == ("claim: with async replication and no retry, an "
                                      "unplanned DB failover loses committed boots")
    assert "vanished: req-2" in evidence and "while the replica lagged" in evidence
    assert "54000 bytes behind" in evidence and "the replica promoted" in evidence
    assert "2 committed boot(s) lost by the failover" in verdict["evidence"][-1]


def test_an_acknowledged_active_left_in_build_is_rolled_back(tmp_path):
    verdict = db_failover.check(write(failover_run(tmp_path, rolled_back=[3])))
    assert verdict["verdict"] == REPRODUCED
    assert verdict["details"]["rolled_back_request_ids"] == ["req-3"]
    assert "was ACTIVE on fake-compute-1" in "\n".join(verdict["evidence"])


def test_nothing_lost_with_writes_during_the_stall_is_not_reproduced(tmp_path):
    verdict = db_failover.check(write(failover_run(tmp_path, replication="sync")))
    assert verdict["verdict"] == NOT_REPRODUCED
    d = verdict["details"]
    assert d["in_flight_while_lagging"] == 2 and d["vanished"] == 0
    assert d["final_read_from"] == "replica"
    # From the kill at t=9 to the boot sent at 9.5 accepted at 9.6.
    assert d["recovery_seconds"] == pytest.approx(0.6)
    assert verdict["evidence"][0].startswith("claim: with sync replication")


def test_nothing_written_while_the_replica_lagged_is_unknown(tmp_path):
    verdict = db_failover.check(write(failover_run(tmp_path, lagging=False)))
    assert verdict["verdict"] == UNKNOWN
    assert "could not have shown a loss" in verdict["evidence"][-1]


def test_a_final_read_from_the_old_primary_is_unknown(tmp_path):
    verdict = db_failover.check(write(failover_run(tmp_path, vanished=[2],
                                                   read_from="primary")))
    assert verdict["verdict"] == UNKNOWN
    assert "not read from the promoted node" in verdict["evidence"][-1]


def test_a_fault_that_could_not_act_is_unknown(tmp_path):
    verdict = db_failover.check(write(failover_run(tmp_path, fault="info")))
    assert verdict["verdict"] == UNKNOWN
    assert "did not happen: LabError: no standby" in verdict["evidence"][-1]


def test_the_control_with_every_boot_in_place_is_not_reproduced(tmp_path):
    verdict = db_failover.check(write(failover_run(tmp_path, control=True,
                                                   read_from="primary")))
    assert verdict["verdict"] == NOT_REPRODUCED
    assert "(control: the same boots, no fault)" in verdict["evidence"][0]


def test_a_loss_with_no_failover_is_unknown(tmp_path):
    verdict = db_failover.check(write(failover_run(tmp_path, control=True, vanished=[1],
                                                   read_from="primary")))
    assert verdict["verdict"] == UNKNOWN
    assert "with no failover at all" in verdict["evidence"][-1]


def test_an_unreadable_final_state_is_unknown(tmp_path):
    fr = failover_run(tmp_path)
    fr.final_state = {"error": "OperationalError: connection refused"}
    verdict = db_failover.check(write(fr))
    assert verdict["verdict"] == UNKNOWN and "unreadable" in verdict["evidence"][-1]


# -- the client's retry (``[workload] retry``) -----------------------------------

def retry_run(tmp_path, retry, retried=(), extra_row=(), vanished=(), control=False,
              replication="sync", replayed=False):
    """``failover_run`` with the client's retry: every boot's invoke says the
    mode (and its key); each boot in ``retried`` (by number) got an HTTP
    500 at t-0.45 s and was accepted on its second attempt (``replayed``:
    the API answered with the server the first had created); each boot in
    ``extra_row`` has a second server row of its name (the first attempt's
    server, made after all: a duplicate)."""
    fr = failover_run(tmp_path, vanished=vanished, control=control,
                      read_from="primary" if control else "replica",
                      replication=replication)
    fr.config["options"]["workload"] = {"retry": retry}
    boots = {r["id"]: r for r in fr.records if r.get("f") == "boot"
             and r["type"] == "invoke"}
    for n, (op_id, invoke) in enumerate(sorted(boots.items())):
        key = f"key-{n}" if retry == "key" else None
        invoke["value"].update(retry=retry, idempotency_key=key)
        done = next(r for r in fr.records if r.get("id") == op_id and r["type"] == "ok")
        v = done["value"]
        uuid = v["server_id"]
        if uuid in fr.final_state["instances"]:
            fr.final_state["instances"][uuid].update(name=invoke["value"]["name"],
                                                     idempotency_key=key)
        first = {"n": 1, "time": invoke["time"], "outcome": "ok", "status": 202,
                 "latency": 0.1, "request_id": v["request_id"], "server_id": uuid,
                 "task_id": v["task_id"], "replayed": False}
        if n not in retried:
            v["attempts"] = [first]
            continue
        invoke["time"] -= 0.45
        invoke["t"] -= 0.45
        v["replayed"] = replayed
        v["attempts"] = [
            {"n": 1, "time": invoke["time"], "outcome": "info", "status": 500,
             "latency": 0.05, "request_id": f"req-{n}-1", "error": None},
            dict(first, n=2, replayed=replayed)]
        if n in extra_row:
            fr.final_state["instances"][uuid]["created_at"] = "2026-01-01T00:00:01"
            twin = f"11111111-0000-4000-8000-00000000000{n}"
            fr.final_state["instances"][twin] = {
                "uuid": twin, "name": invoke["value"]["name"], "status": "ERROR",
                "task_state": None, "host": None, "fault": "OperationalError",
                "idempotency_key": None, "created_at": "2026-01-01T00:00:00"}
    return fr


def test_with_a_key_and_nothing_lost_or_twice_the_claim_holds_not(tmp_path):
    verdict = db_failover.check(write(retry_run(tmp_path, "key", retried=[4],
                                                replayed=True)))
    assert verdict["verdict"] == NOT_REPRODUCED
    d = verdict["details"]
    assert (d["retry"], d["retried"], d["attempts"], d["replayed"]) == ("key", 1, 7, 1)
    assert d["duplicated"] == 0 and d["retried_request_ids"] == ["req-4"]
    assert verdict["evidence"][0] == (
        "claim: with sync replication and retry with an idempotency key, an "
        "unplanned DB failover loses or duplicates boots")
    evidence = "\n".join(verdict["evidence"])
    assert ("retried: req-4 (during-5: 2 attempts with key key-4: info HTTP 500 "
            "req-4-1; ok HTTP 202 req-4 replayed)") in evidence
    assert verdict["evidence"][-1].endswith("on the promoted node, once")
    # The retry's first attempt (t=9.05, after the kill at 9) failed; its
    # second (9.5, accepted at 9.6) is the recovery.
    assert d["recovery_seconds"] == pytest.approx(0.6)
    assert "1 boot request(s) sent after it failed" in evidence


def test_without_a_key_a_second_server_for_one_boot_is_reproduced(tmp_path):
    verdict = db_failover.check(write(retry_run(tmp_path, "no-key", retried=[4],
                                                extra_row=[4])))
    assert verdict["verdict"] == REPRODUCED
    d = verdict["details"]
    assert d["vanished"] == d["rolled_back"] == 0
    assert d["duplicated"] == 1 and d["duplicated_request_ids"] == ["req-4"]
    evidence = "\n".join(verdict["evidence"])
    assert "claim: with sync replication and retry without an idempotency key" in evidence
    assert ("duplicated: req-4 (2 server rows for one boot, no idempotency key: "
            "11111111-0000-4000-8000-000000000004 ERROR, "
            "00000000-0000-4000-8000-000000000004 ACTIVE)") in evidence
    assert verdict["evidence"][-1] == "1 boot(s) duplicated by the client's retries"


def test_with_a_key_a_committed_boot_lost_is_still_reproduced(tmp_path):
    verdict = db_failover.check(write(retry_run(tmp_path, "key", retried=[4],
                                                vanished=[2], replication="async")))
    assert verdict["verdict"] == REPRODUCED
    assert verdict["details"]["vanished_request_ids"] == ["req-2"]
    assert verdict["evidence"][-1] == ("1 committed boot(s) lost by the failover: "
                                       "1 vanished, 0 rolled back")


def test_a_duplicate_with_no_failover_is_unknown(tmp_path):
    verdict = db_failover.check(write(retry_run(tmp_path, "no-key", retried=[4],
                                                extra_row=[4], control=True)))
    assert verdict["verdict"] == UNKNOWN
    assert verdict["evidence"][-1] == ("1 boot(s) duplicated by the client's retries "
                                       "with no failover at all: something else did it")


def test_with_retry_off_the_claim_and_counts_are_as_before(tmp_path):
    verdict = db_failover.check(write(retry_run(tmp_path, "off")))
    assert verdict["verdict"] == NOT_REPRODUCED
    assert "retried" not in verdict["details"]
    assert verdict["evidence"][0].startswith("claim: with sync replication and no retry,")


# -- a cycle: kill-primary, rejoin, kill-primary again (db-failover-cycle) ------

REJOIN = {"op": "fault", "target": "db", "verb": "rejoin"}
REWIND = ["pg_rewind: executing \"/usr/lib/postgresql/15/bin/postgres\" for target "
          "server to complete crash recovery",
          "2026-11-24 10:00:00.000 UTC [4242] LOG:  database system was interrupted",
          "pg_rewind: servers diverged at WAL location 0/304B9D8 on timeline 1",
          "pg_rewind: rewinding from last common checkpoint at 0/2000060 on timeline 1",
          "pg_rewind: Done!"]
CYCLE_TIMES = [5.0, 7.5, 8.0, 9.5, 10.5, 12.0, 15.0, 16.0, 17.5, 18.0, 19.5, 20.5]


def _kill(fr, at, old, new, stalled=True):
    fr.ids += 1
    fr._rec(at, type="invoke", id=fr.ids, f="fault", process="nemesis",
            value={"target": "db", "verb": "kill-primary", "lag": 2.0})
    fr._rec(at + 2.2, type="ok", id=fr.ids, f="fault", process="nemesis", value={
        "target": "db", "verb": "kill-primary", "lag": 2.0,
        **({"stalled_at": runs.T0 + at} if stalled else {}),
        "killed_at": runs.T0 + at + 2.0, "primary_lsn": "0/3058CC8",
        "replica_received_lsn": "0/304B9D8", "behind_bytes": 54000,
        "old_primary": old, "old_primary_pids": [11, 12], "promoted": new,
        "promoted_at": runs.T0 + at + 2.2, "promote_seconds": 0.2,
        "replayed_lsn_at_promotion": "0/304B9D8", "in_recovery_after": False,
        "clients": "multi-host URL, target_session_attrs=read-write"})


def cycle_run(tmp_path, vanished=(), rolled_back=(), rejoin="ok", second="primary",
              read_from="primary", second_lagging=True, rewound=True,
              replication="async", answered=None, sent=None, active=None):
    """Twelve boots (CYCLE_TIMES, each accepted 0.1 s later); the link
    stalls at t=7, the primary is killed at 9 and the replica promoted at
    9.2; the primary rejoins from t=12.5 to 14 (streaming at 13.8); the
    link stalls at 17, the replica is killed at 19 and ``second`` promoted
    at 19.2. ``second_lagging``: boots 8 and 9 (t=17.5, 18) are sent
    during the second stall, else at 21.5 and 22. ``answered``: {boot:
    time} of a 202 held later than 0.1 s; ``sent``: {boot: time} instead of
    CYCLE_TIMES'; ``active``: {boot: time} of the host's ACTIVE line (else
    0.3 s after the boot was sent)."""
    answered, active = answered or {}, active or {}
    fr = runs.FakeRun(tmp_path)
    fr.config.update(scenario="db-failover-cycle",
                     checker={"name": "db-failover", "options": {}},
                     workload=[{"op": "boot", "name": "b", "count": 12},
                               FAULT, REJOIN, FAULT])
    fr.config["options"]["postgres"] = {"pair": True, "replication": replication}
    times = list(CYCLE_TIMES)
    if not second_lagging:
        times[8:10] = [21.5, 22.0]
    for n, t in (sent or {}).items():
        times[n] = t
    instances, tasks, compute = {}, {}, []
    for n, t in enumerate(times):
        uuid, task = f"00000000-0000-4000-8000-0000000000{n:02d}", f"task-{n}"
        fr.op("boot", f"b-{n + 1}", t, answered.get(n, t + 0.1), "ok", status=202,
              latency=round(answered.get(n, t + 0.1) - t, 3),
              request_id=f"req-{n}", server_id=uuid, task_id=task)
        compute.append(f"{runs.client_stamp(active.get(n, t + 0.3))} "
                       "fake-compute-1[4242] INFO "
                       f"fake_compute.manager [req-{n}] instance {uuid} ACTIVE on "
                       "fake-compute-1")
        if n in vanished:
            continue
        back = n in rolled_back
        instances[uuid] = {"uuid": uuid, "status": "BUILD" if back else "ACTIVE",
                           "task_state": "spawning" if back else None,
                           "host": "fake-compute-1", "fault": None}
        tasks[task] = {"id": task, "status": "in-progress" if back else "completed",
                       "reason": None}
    _kill(fr, 7.0, "primary", "replica")
    fr.ids += 1
    fr._rec(12.5, type="invoke", id=fr.ids, f="fault", process="nemesis",
            value={"target": "db", "verb": "rejoin"})
    fr._rec(14.0, type=rejoin, id=fr.ids, f="fault", process="nemesis", value={
        "target": "db", "verb": "rejoin", "rejoined": "primary", "new_primary": "replica",
        "old_state": "in production", "old_checkpoint_lsn": "0/2000060",
        "old_timeline": 1, "new_primary_timeline": 2,
        "new_primary_lsn_at_rewind": "0/3100000", "rewind_seconds": 0.6,
        "rewound": rewound, "diverged_lsn": "0/304B9D8", "diverged_timeline": 1,
        "rewind_output": REWIND if rewound else ["pg_rewind: source and target "
                                                 "cluster are on the same timeline",
                                                 "pg_rewind: no rewind required"],
        "via": "relay 127.0.0.1:5004 -> 127.0.0.1:5002",
        "started_at": runs.T0 + 13.2, "ready_at": runs.T0 + 13.6,
        "streaming_at": runs.T0 + 13.8, "seconds_to_streaming": 1.3,
        "start_to_streaming_seconds": 0.6, "through_relay": True,
        "new_primary_sees": {"state": "streaming", "sync_state": "async",
                             "sent_lsn": "0/3100100", "replay_lsn": "0/3100100"},
        "rejoined_receiver": {"status": "streaming", "sender_port": 5004,
                              "received_tli": 2, "flushed_lsn": "0/3100100"},
        "in_recovery": True} if rejoin == "ok" else {
        "target": "db", "verb": "rejoin",
        "error": "DaemonFailed: pg_rewind failed (exit 1): could not connect"})
    if rejoin == "ok":
        _kill(fr, 17.0, "replica", second)
    fr._rec(24.0, type="event", f="settled", process="runner",
            value={"in_progress": len(rolled_back), "seconds": 1.0})
    fr.final_state = {"instances": instances, "tasks": tasks,
                      "builds": {u: 1 for u in instances},
                      "database": {"node": read_from, "port": 5001,
                                   "in_recovery": False, "timeline": 3}}
    fr.compute = compute
    return fr


def test_a_loss_at_each_failover_of_the_cycle_is_reproduced(tmp_path):
    # Boot 2 (accepted at 8.1, in the first stall) and boot 8 (17.6, in the
    # second): each lost by the failover whose promotion came next.
    verdict = db_failover.check(write(cycle_run(tmp_path, vanished=[2, 8],
                                                rolled_back=[9])))
    assert verdict["verdict"] == REPRODUCED
    assert verdict["evidence"][0] == (
        "claim: with async replication and no retry, an unplanned DB failover loses "
        "committed boots, at each of its 2 failovers (the old primary rejoining as "
        "the promoted node's standby in between)")
    d = verdict["details"]
    assert (d["vanished"], d["rolled_back"]) == (2, 1)
    first, second = d["failovers"]
    assert (first["promoted"], second["promoted"]) == ("replica", "primary")
    assert first["vanished_request_ids"] == ["req-2"] and first["lost"] == 1
    assert second["vanished_request_ids"] == ["req-8"]
    assert second["rolled_back_request_ids"] == ["req-9"] and second["lost"] == 2
    assert first["in_flight_while_lagging"] == second["in_flight_while_lagging"] == 2
    assert d["rejoins"][0]["rewound"] and d["rejoins"][0]["seconds_to_streaming"] == 1.3
    evidence = "\n".join(verdict["evidence"])
    assert "the replica's WAL was at 0/3058CC8 and the primary had received" in evidence
    assert ("pg_rewind said: pg_rewind: executing" in evidence
            and "pg_rewind: servers diverged at WAL location 0/304B9D8 on timeline 1 | "
            "pg_rewind: rewinding from last common checkpoint" in evidence)
    assert "LOG:  database system was interrupted" not in evidence
    assert "the two diverged at 0/304B9D8 on timeline 1" in evidence
    assert "streaming at t=+13.80s (1.3 s after the rejoin began" in evidence
    assert "from port 5004 on timeline 2" in evidence
    assert "vanished: req-8 (server 00000000-0000-4000-8000-000000000008" in evidence
    assert "while the replica lagged; failover 2)" in evidence
    assert verdict["evidence"][-1] == (
        "at each failover: failover 1: 1 committed boot(s) lost (1 vanished, 0 rolled "
        "back); failover 2: 2 committed boot(s) lost (1 vanished, 1 rolled back)")


def test_a_cycle_whose_second_failover_loses_nothing_is_not_reproduced(tmp_path):
    verdict = db_failover.check(write(cycle_run(tmp_path, vanished=[2])))
    assert verdict["verdict"] == NOT_REPRODUCED
    assert verdict["evidence"][-1].startswith(
        "not at each failover: failover 2 lost none of the boots in flight")


def test_a_cycle_that_loses_nothing_is_not_reproduced(tmp_path):
    verdict = db_failover.check(write(cycle_run(tmp_path, replication="sync",
                                                rewound=False)))
    assert verdict["verdict"] == NOT_REPRODUCED
    assert verdict["evidence"][0].startswith("claim: with sync replication")
    assert "no rewind required (it had nothing the replica lacks)" in "\n".join(
        verdict["evidence"])
    assert verdict["evidence"][-1].startswith("no failover lost a committed boot")


def test_a_second_failover_with_nothing_in_flight_is_unknown(tmp_path):
    verdict = db_failover.check(write(cycle_run(tmp_path, vanished=[2],
                                                second_lagging=False)))
    assert verdict["verdict"] == UNKNOWN
    assert verdict["evidence"][-1].startswith(
        "failover 2: no boot was in flight while the replica lagged")


def test_a_rejoin_that_could_not_act_is_unknown(tmp_path):
    verdict = db_failover.check(write(cycle_run(tmp_path, vanished=[2], rejoin="info")))
    assert verdict["verdict"] == UNKNOWN
    assert verdict["evidence"][-1] == (
        "the workload's DB faults did not all happen: fault db rejoin did not: "
        "DaemonFailed: pg_rewind failed (exit 1): could not connect")


def test_a_second_failover_that_promotes_another_node_is_unknown(tmp_path):
    verdict = db_failover.check(write(cycle_run(tmp_path, vanished=[2, 8],
                                                second="replica", read_from="replica")))
    assert verdict["verdict"] == UNKNOWN
    assert verdict["evidence"][-1] == ("the failover after the rejoin promoted the "
                                       "replica, not the rejoined primary")


def test_a_cycle_read_from_the_first_promoted_node_is_unknown(tmp_path):
    verdict = db_failover.check(write(cycle_run(tmp_path, vanished=[2, 8],
                                                read_from="replica")))
    assert verdict["verdict"] == UNKNOWN
    assert "not read from the node promoted last (primary)" in verdict["evidence"][-1]


def test_a_loss_after_the_last_failover_is_unknown(tmp_path):
    verdict = db_failover.check(write(cycle_run(tmp_path, vanished=[2, 8, 11])))
    assert verdict["verdict"] == UNKNOWN
    assert verdict["evidence"][-1] == ("1 committed boot(s) lost after the last "
                                       "failover's promotion: no failover explains them")
    assert "failover's promotion" in verdict["evidence"][-1]
    assert "; after the last failover)" in "\n".join(verdict["evidence"])


def test_a_boot_sent_before_the_last_kill_and_answered_after_its_promotion_is_its_loss(
        tmp_path):
    # Boot 9, sent at 18 in the second stall, committed on the replica before
    # its kill at 19 but answered only at 19.4, after the promotion at 19.2
    # (a loaded machine): the last failover lost it, not "no failover".
    verdict = db_failover.check(write(cycle_run(tmp_path, vanished=[2, 9],
                                                answered={9: 19.4})))
    assert verdict["verdict"] == REPRODUCED, verdict["evidence"][-1]
    assert verdict["details"]["failovers"][1]["vanished_request_ids"] == ["req-9"]
    cited = "\n".join(verdict["evidence"])
    assert ("failover 2: sent at t=+18.00s, before the replica went down, and "
            "acknowledged after the promotion)") in cited
    assert ("(1 sent before the replica went down and acknowledged after the "
            "promotion)") in cited


def test_a_boot_rolled_back_after_the_last_promotion_but_sent_before_the_kill_is_its_loss(
        tmp_path):
    # Boot 9 was ACTIVE on its host only at 19.5, after the promotion at 19.2,
    # but sent at 18, before the kill at 19: committed on the replica.
    verdict = db_failover.check(write(cycle_run(tmp_path, vanished=[2], rolled_back=[9],
                                                active={9: 19.5})))
    assert verdict["verdict"] == REPRODUCED, verdict["evidence"][-1]
    assert verdict["details"]["failovers"][1]["rolled_back_request_ids"] == ["req-9"]
    assert "failover 2: sent at t=+18.00s, before the replica went down" in "\n".join(
        verdict["evidence"])


def test_a_boot_sent_at_the_kill_itself_and_lost_after_the_promotion_is_unexplained(
        tmp_path):
    # Sent when the replica was killed (19.0), not before: it cannot have
    # been committed there, so no failover explains its loss.
    verdict = db_failover.check(write(cycle_run(tmp_path, vanished=[2, 8, 9],
                                                sent={9: 19.0}, answered={9: 19.4})))
    assert verdict["verdict"] == UNKNOWN
    assert verdict["evidence"][-1].startswith("1 committed boot(s) lost after the last")


def test_a_late_answer_at_an_earlier_failover_is_the_next_failovers_loss(tmp_path):
    # Boot 2 was sent at 8.0, before the first kill at 9, and answered at 9.4,
    # after the first promotion: it is counted against the next promotion
    # (the node promoted at 9.2 may have committed it), not flagged late.
    verdict = db_failover.check(write(cycle_run(tmp_path, vanished=[2, 8],
                                                answered={2: 9.4})))
    failovers = verdict["details"]["failovers"]
    assert failovers[0]["vanished_request_ids"] == []
    assert sorted(failovers[1]["vanished_request_ids"]) == ["req-2", "req-8"]
    assert "acknowledged after the promotion" not in "\n".join(verdict["evidence"])


def test_a_retried_boot_is_dated_by_the_attempt_that_was_answered():
    op = {"invoke": {"time": 10.0, "value": {}},
          "done": {"type": "ok", "time": 12.5, "value": {"attempts": [
              {"n": 1, "time": 10.0, "outcome": "fail"},
              {"n": 2, "time": 12.0, "outcome": "ok", "replayed": False}]}}}
    assert db_failover._sent(op) == 12.0
    op["done"]["value"]["attempts"][1]["replayed"] = True  # the first one's commit
    assert db_failover._sent(op) == 10.0
    del op["done"]["value"]["attempts"]  # recorded before the client retried
    assert db_failover._sent(op) == 10.0
