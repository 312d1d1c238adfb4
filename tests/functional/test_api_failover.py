"""api-failover and api-switchover for real: an active and a standby fake
nova-api (uWSGI) behind a private HAProxy, boots through its VIP, and the
active one SIGKILLed or drained and stopped. Each test checks the fault took
effect (HAProxy's own log dates the DOWN, the killed processes are gone, the
standby's workers answered afterwards), then counts the boots from the
history and the database, never from the scenario's expectation. Whatever
happens, including a Ctrl-C in the middle of the fault, no HAProxy, API
container, service or port of the run is left."""

import os
import signal
import time

import pytest

from fake_lab.checkers import concurrency, haproxy_log
from fake_lab.daemons import haproxy, procs
from fake_lab.errors import EXIT_INTERRUPTED, EXIT_MISSING
from fake_lab.rundir import RunDir
from tests.functional.conftest import Output, assert_nothing_left, read_history, read_json


@pytest.fixture(scope="module", autouse=True)
def haproxy_installed():
    if not haproxy.find_binary():
        reason = "haproxy not installed (run tools/setup.sh)"
        if os.environ.get("FAKE_LAB_REQUIRE_ALL") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def _boots(records):
    """[(invoke, done)] of the boots, in the order they were sent."""
    ops = {}
    for r in records:
        if r.get("f") == "boot":
            ops.setdefault(r["id"], {})["invoke" if r["type"] == "invoke" else "done"] = r
    return sorted(((o["invoke"], o.get("done")) for o in ops.values()),
                  key=lambda o: o[0]["time"])


def _fault(records):
    done = [r for r in records if r.get("f") == "fault" and r.get("type") != "invoke"]
    assert len(done) == 1, done
    return done[0]


def _haproxy(run_dir):
    dated = haproxy_log.lines(os.path.join(run_dir, "logs", "haproxy.log"))
    return haproxy_log.state_changes(dated), haproxy_log.requests(dated)


def _standby_pids(run_dir):
    """The standby's worker PIDs, from its own log's start-up lines."""
    return {int(m["pid"]) for name, m, _ in concurrency.startup_lines(RunDir(run_dir))
            if name == "fake-nova-api-standby.log"}


def _tally(run_dir):
    """Counts from the history and the final database alone: boots
    unanswered (info), and accepted boots not ACTIVE with their task
    completed."""
    state = read_json(run_dir, "final-state.json")
    boots = _boots(read_history(run_dir))
    info = sorted(i["value"]["name"] for i, d in boots if d is None or d["type"] == "info")
    accepted = [d["value"] for _, d in boots if d and d["type"] == "ok"]
    not_active = sorted(v["request_id"] for v in accepted
                        if (state["instances"].get(v["server_id"]) or {}).get("status")
                        != "ACTIVE"
                        or state["tasks"][v["task_id"]]["status"] != "completed")
    rows = {}
    for inst in state["instances"].values():
        rows.setdefault(inst["name"], []).append(inst)
    twice = sorted(n for n, found in rows.items() if len(found) > 1)
    return {"boots": len(boots), "info": info, "accepted": len(accepted),
            "not_active": not_active, "duplicated": twice}


def test_a_killed_active_api_fails_over_to_the_standby(lab):
    proc = lab.run("run", "api-failover", timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = lab.latest
    records = read_history(run_dir)
    fault = _fault(records)
    assert fault["type"] == "ok", fault
    v = fault["value"]
    # The kill took effect: every process killed is gone, and HAProxy's own
    # log marked the active server DOWN after it, as the fault recorded.
    assert v["killed_pids"] and not procs._still_alive(set(v["killed_pids"]))
    changes, served = _haproxy(run_dir)
    down = haproxy_log.first(changes, "active", "DOWN", v["killed_at"])
    assert down is not None and down["time"] == pytest.approx(v["down_at"])
    assert 0 < down["time"] - v["killed_at"] < 5
    assert v["servers_after"]["active"]["status"].startswith("DOWN")
    # The standby served afterwards: HAProxy says so, and so do the worker
    # PIDs that answered the boots accepted after the DOWN.
    assert any(r["server"] == "standby" and r["status"] == 202
               for r in served if r["time"] > down["time"])
    after = {d["value"]["api_pid"] for _, d in _boots(records)
             if d and d["type"] == "ok" and d["time"] > down["time"]}
    assert after and after <= _standby_pids(run_dir)
    assert not after & set(v["killed_pids"])
    # The checker's counts are the history's and the database's.
    counted = _tally(run_dir)
    details = lab.result()["details"]
    assert details["info"] == len(counted["info"])
    assert sorted(details["info_request_ids"]) == counted["info"]
    assert sorted(details["lost_request_ids"] + details["failed_request_ids"]) == \
        counted["not_active"]
    assert details["accepted"] == counted["accepted"]
    cost = len(counted["info"]) + len(counted["not_active"]) + len(counted["duplicated"])
    assert details["cost"] == cost
    # A kill that cost nothing is judged only if boots were in flight when
    # it came (on a loaded machine it may fall between two boots).
    in_flight = [i for i, d in _boots(records) if i["time"] <= v["killed_at"]
                 and (d is None or d["time"] >= v["killed_at"])]
    assert lab.result()["verdict"] == (
        "reproduced" if cost else "not-reproduced" if in_flight else "unknown")
    assert_nothing_left(run_dir, named={"api", "api_standby", "vip"})


def test_a_switchover_drains_the_active_api_before_stopping_it(lab):
    proc = lab.run("run", "api-switchover", timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = lab.latest
    records = read_history(run_dir)
    fault = _fault(records)
    assert fault["type"] == "ok", fault
    v = fault["value"]
    changes, served = _haproxy(run_dir)
    drained = haproxy_log.first(changes, "active", "DRAIN", v["drain_at"] - 1)
    down = haproxy_log.first(changes, "active", "DOWN", v["drain_at"])
    # Drained (HAProxy's log), no session left, then stopped, then DOWN.
    assert drained is not None and down is not None
    assert drained["time"] <= v["sessions_zero_at"] <= v["stopping_at"] <= down["time"]
    assert down["time"] == pytest.approx(v["down_at"])
    # After the drain no new request went to the active server: every one
    # HAProxy logged as the active's was under way when the drain began.
    late = [r for r in served if r["server"] == "active"
            and r["time"] - (r["ms"] or 0) / 1000 > drained["time"] + 0.05]
    assert late == []
    assert any(r["server"] == "standby" and r["status"] == 202
               for r in served if r["time"] > drained["time"])
    counted = _tally(run_dir)
    details = lab.result()["details"]
    assert details["info"] == len(counted["info"])
    assert details["accepted"] == counted["accepted"]
    cost = len(counted["info"]) + len(counted["not_active"]) + len(counted["duplicated"])
    assert details["cost"] == cost
    assert_nothing_left(run_dir, named={"api", "api_standby", "vip"})


def test_the_same_boots_without_a_fault_stay_on_the_active_api(lab):
    proc = lab.run("run", "api-failover", "--control", timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = lab.latest
    changes, served = _haproxy(run_dir)
    # HAProxy starts beside the containers: a check before one listened may
    # be logged, but nothing may change once the boots are under way.
    first = _boots(read_history(run_dir))[0][0]["time"]
    assert [c for c in changes if c["time"] >= first and c["state"] != "UP"] == []
    assert {r["server"] for r in served if r["path"] == "/v2.1/servers"} == {"active"}
    counted = _tally(run_dir)
    assert counted["accepted"] == counted["boots"] == 43
    assert counted["info"] == counted["not_active"] == counted["duplicated"] == []
    assert_nothing_left(run_dir, named={"api", "api_standby", "vip"})


def test_ctrl_c_in_the_middle_of_the_switchover_leaves_nothing(lab):
    proc = lab.start("run", "api-switchover")
    out = Output(proc)
    out.wait_for("run directory:")
    run_dir = lab.latest
    history = os.path.join(run_dir, "history.jsonl")
    deadline = time.monotonic() + 180
    while True:  # the fault's invoke: the drain is under way
        try:
            with open(history) as f:
                if any('"f": "fault"' in line for line in f):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            out.fail("the fault never began")
        time.sleep(0.05)
    time.sleep(0.3)  # drained, stopping: before the DOWN
    proc.send_signal(signal.SIGINT)
    _, err = out.finish(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, err
    result = read_json(run_dir, "result.json")
    assert result["verdict"] == "unknown" and "interrupted" in result["reason"]
    assert_nothing_left(run_dir, named={"api", "api_standby", "vip"})


def test_missing_haproxy_is_exit_3(lab, monkeypatch):
    nowhere = os.path.join(lab.runs_dir, "nowhere", "haproxy")
    monkeypatch.setenv(haproxy.BINARY_ENV, nowhere)
    proc = lab.run("run", "api-failover", timeout=120)
    assert proc.returncode == EXIT_MISSING, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"fake-lab: haproxy not found at {nowhere} ($FAKE_LAB_HAPROXY): install "
        "Debian's haproxy package (tools/setup.sh does)"]
    assert procs.processes_under(lab.runs_dir) == []
