"""The boot-flow checker on recorded runs: every fate of a boot, and the
narrower claim of boot-during-heartbeat-loss (cause = api-heartbeat-loss)."""

import pytest

from fake_lab.checkers import NOT_REPRODUCED, REPRODUCED, UNKNOWN, boot_flow
from tests.unit import runs


def boot_run(tmp_path, cause=None, close=True, slow=True, lost=False):
    """A warm-up boot, an idle period, then three boots (the first slow)."""
    fr = runs.FakeRun(tmp_path)
    fr.config["checker"] = {"name": "boot-flow", "options": {
        "slow_seconds": 0.5, **({"cause": cause} if cause else {})}}
    instances, tasks = {}, {}
    plan = [("warm-up-1", 5.0, 0.05), ("after-idle-1", 9.0, 1.05 if slow else 0.05),
            ("after-idle-2", 10.2, 0.05), ("after-idle-3", 10.4, 0.05)]
    for n, (name, t, latency) in enumerate(plan):
        uuid, task = f"uuid-{n}", f"task-{n}"
        fr.op("boot", name, t, t + latency, "ok", status=202, latency=latency,
              api_pid=runs.API_PID, request_id=f"req-{n}", server_id=uuid,
              task_id=task)
        done = not (lost and n == 3)
        instances[uuid] = {"uuid": uuid, "status": "ACTIVE" if done else "BUILD",
                           "task_state": None if done else "spawning",
                           "host": "fake-compute-1", "fault": None}
        tasks[task] = {"id": task, "status": "completed" if done else "in-progress",
                       "reason": None}
    a = fr.connection(5.01, uid="reply")
    fr.connection(5.02, uid="send")
    fr.op("idle", "idle", 5.1, 8.9, slept=3.8)
    if close:
        fr.missed_heartbeats(a, 8.0)
    fr._rec(12.0, type="event", f="settled", process="runner",
            value={"in_progress": 1 if lost else 0, "seconds": 1.0})
    fr.final_state = {"instances": instances, "tasks": tasks,
                      "builds": {u: 1 for u in instances}}
    return fr


def test_slow_boot_after_idle_is_reproduced(tmp_path):
    verdict = boot_flow.check(boot_run(tmp_path).write())
    assert verdict["verdict"] == REPRODUCED
    assert verdict["details"]["slow_after_idle"] == 1
    assert verdict["details"]["slow_after_idle_request_ids"] == ["req-1"]


def test_nothing_wrong_is_not_reproduced(tmp_path):
    verdict = boot_flow.check(boot_run(tmp_path, slow=False).write())
    assert verdict["verdict"] == NOT_REPRODUCED


def test_a_boot_left_in_build_is_lost_by_request_id(tmp_path):
    verdict = boot_flow.check(boot_run(tmp_path, slow=False, lost=True).write())
    assert verdict["verdict"] == REPRODUCED
    assert verdict["details"]["lost_request_ids"] == ["req-3"]


def test_heartbeat_cause_with_the_api_workers_close_is_reproduced(tmp_path):
    verdict = boot_flow.check(boot_run(tmp_path, cause="api-heartbeat-loss").write())
    assert verdict["verdict"] == REPRODUCED
    assert verdict["details"]["api_heartbeat_closes"] == 1
    assert "1 of them the API worker's (PID 6243)" in "\n".join(verdict["evidence"])


def test_heartbeat_cause_slow_boot_without_a_close_is_unknown(tmp_path):
    run = boot_run(tmp_path, cause="api-heartbeat-loss", close=False).write()
    verdict = boot_flow.check(run)
    assert verdict["verdict"] == UNKNOWN
    assert "something else caused it" in verdict["evidence"][-1]


def test_heartbeat_cause_nothing_slow_nothing_closed_is_not_reproduced(tmp_path):
    run = boot_run(tmp_path, cause="api-heartbeat-loss", close=False, slow=False)
    assert boot_flow.check(run.write())["verdict"] == NOT_REPRODUCED


def test_another_process_closed_connection_is_not_the_api_workers(tmp_path):
    fr = boot_run(tmp_path, cause="api-heartbeat-loss", close=False)
    other = fr.connection(5.03, pid=999, program="fake-compute", uid="c")
    fr.missed_heartbeats(other, 8.1)
    verdict = boot_flow.check(fr.write())
    assert verdict["verdict"] == UNKNOWN
    assert "0 of them the API worker's" in "\n".join(verdict["evidence"])


@pytest.mark.parametrize("state, needle", [
    (None, "no final state"), ({"error": "OperationalError: locked"}, "unreadable")])
def test_without_a_final_state_it_is_unknown(tmp_path, state, needle):
    fr = boot_run(tmp_path)
    fr.final_state = state
    verdict = boot_flow.check(fr.write())
    assert verdict["verdict"] == UNKNOWN and needle in verdict["evidence"][-1]


def test_any_failure_counts_a_services_close_too(tmp_path):
    # mixed-upgrade: a compute's connection closed while the cloud idled.
    fr = boot_run(tmp_path, cause="any-failure", close=False, slow=False)
    compute = fr.connection(5.03, pid=999, program="fake-compute", uid="c")
    fr.missed_heartbeats(compute, 8.1)
    verdict = boot_flow.check(fr.write())
    assert verdict["verdict"] == REPRODUCED
    assert verdict["details"]["heartbeat_closes_by_program"] == {"fake-compute": 1}


def test_any_failure_nothing_closed_nothing_slow_is_not_reproduced(tmp_path):
    run = boot_run(tmp_path, cause="any-failure", close=False, slow=False)
    assert boot_flow.check(run.write())["verdict"] == NOT_REPRODUCED


def test_any_failure_a_slow_boot_alone_is_cited_not_judged(tmp_path):
    # A busy machine (a matrix's cells side by side) made a boot slow; no
    # process failed and nothing was closed.
    run = boot_run(tmp_path, cause="any-failure", close=False, slow=True)
    verdict = boot_flow.check(run.write())
    assert verdict["verdict"] == NOT_REPRODUCED
    assert "slowness alone is not a failure" in verdict["evidence"][-1]


def test_any_failure_a_lost_boot_is_reproduced_without_a_close(tmp_path):
    run = boot_run(tmp_path, cause="any-failure", close=False, slow=True, lost=True)
    assert boot_flow.check(run.write())["verdict"] == REPRODUCED


def test_another_cells_close_on_a_shared_broker_does_not_count(tmp_path):
    # A matrix's cells share one broker log; each cell has its own vhost.
    fr = boot_run(tmp_path, cause="any-failure", close=False, slow=False)
    fr.config["vhost"] = "this-cell"
    other = fr.connection(5.03, pid=998, program="uwsgi", uid="o")
    fr.missed_heartbeats(other, 8.1)
    fr.broker = [line.replace("vhost '/'", "vhost 'other-cell'") for line in fr.broker]
    verdict = boot_flow.check(fr.write())
    assert verdict["verdict"] == NOT_REPRODUCED, verdict["evidence"]


def _named(fr):
    """Name each server row after its boot, as the API does."""
    names = {r["value"]["server_id"]: r["value"]["name"] for r in fr.records
             if r.get("f") == "boot" and r["type"] == "ok"}
    for uuid, inst in fr.final_state["instances"].items():
        inst["name"] = names[uuid]
    return fr


def test_an_unanswered_boot_with_two_server_rows_is_duplicated(tmp_path):
    """A boot retried without a key, no attempt answered, two servers made:
    its outcome stays unknown, and it is duplicated all the same."""
    fr = _named(boot_run(tmp_path, slow=False))
    fr.op("boot", "after-idle-4", 10.6, 11.6, "info", status=None, error="HTTP timeout",
          attempts=[{"n": 1, "time": runs.T0 + 10.6, "outcome": "info", "status": 500,
                     "latency": 0.1, "request_id": "req-x1"},
                    {"n": 2, "time": runs.T0 + 11.2, "outcome": "info", "status": None,
                     "latency": 0.4, "request_id": None, "error": "HTTP timeout"}])
    fr.records[-2]["value"].update(retry="no-key", idempotency_key=None)
    for n in (1, 2):
        fr.final_state["instances"][f"twin-{n}"] = {
            "uuid": f"twin-{n}", "name": "after-idle-4", "status": "ACTIVE",
            "task_state": None, "host": "fake-compute-1", "fault": None,
            "created_at": f"2026-01-01T00:00:0{n}"}
    verdict = boot_flow.check(fr.write())
    assert verdict["verdict"] == REPRODUCED
    d = verdict["details"]
    assert (d["info"], d["duplicated"], d["retried"], d["attempts"]) == (1, 1, 1, 6)
    evidence = "\n".join(verdict["evidence"])
    assert "info: after-idle-4 (2 server rows of that name)" in evidence
    assert ("duplicated: after-idle-4 (2 server rows for one boot, no idempotency "
            "key: twin-1 ACTIVE, twin-2 ACTIVE)") in evidence
    assert "after-idle-4: 2 attempts without a key: info HTTP 500 req-x1; info HTTP " \
           "timeout" in evidence
    boot = [op for op in boot_flow.history.operations(
        boot_flow.history.read(fr.run.history)).values()
        if op["invoke"]["value"]["name"] == "after-idle-4"][0]
    assert boot_flow.fate(boot, fr.final_state) == "duplicated"


def test_two_boot_steps_of_one_name_are_not_each_others_duplicates(tmp_path):
    fr = _named(boot_run(tmp_path, slow=False))
    fr.op("boot", "after-idle-3", 11.0, 11.05, "ok", status=202, latency=0.05,
          request_id="req-9", server_id="uuid-9", task_id="task-9")
    fr.final_state["instances"]["uuid-9"] = {
        "uuid": "uuid-9", "name": "after-idle-3", "status": "ACTIVE",
        "task_state": None, "host": "fake-compute-1", "fault": None}
    fr.final_state["tasks"]["task-9"] = {"id": "task-9", "status": "completed"}
    verdict = boot_flow.check(fr.write())
    assert verdict["verdict"] == NOT_REPRODUCED, verdict["evidence"]
    assert "retried" not in verdict["details"]  # no boot of this run retried
