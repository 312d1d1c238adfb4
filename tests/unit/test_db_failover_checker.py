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
