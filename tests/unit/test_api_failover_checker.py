"""The api-failover checker on recorded runs: the boots a failover of the
API pair behind HAProxy cost, HAProxy's own lines, and every branch of its
verdict."""

import datetime

import pytest

from fake_lab.checkers import NOT_REPRODUCED, REPRODUCED, UNKNOWN, api_failover
from tests.unit import runs

ACTIVE_PID, STANDBY_PID = 100, 200


def stamp(t):
    return datetime.datetime.fromtimestamp(runs.T0 + t, datetime.timezone.utc).isoformat()


def startup(pid):
    return (f"{runs.client_stamp(1.0)} fake-nova-api[{pid}] INFO fake_nova_api.wsgi_app "
            f"[-] concurrency: program=fake-nova-api pid={pid} "
            "OS_NOVA_DISABLE_EVENTLET_PATCHING=true asked=threading "
            "eventlet_patched=False backend=threading oslo.service=4.8.0 "
            "oslo.messaging=18.3.1")


def failover_run(tmp_path, verb="kill", unanswered=(), in_flight=True, down=True,
                 standby_served=True, fault="ok", control=False, settled=True,
                 retry="off"):
    """Six boots, one every 0.5 s from t=5; the fault at t=6.2 (the kill,
    or the drain), HAProxy's DOWN at t=6.5. ``unanswered``: boots (by
    number) that got HAProxy's 502; boot 2 (sent at 5.5) is the one in
    flight at the fault when ``in_flight``."""
    fr = runs.FakeRun(tmp_path)
    step = {"op": "fault", "target": "api", "verb": verb, "at": 1.0}
    fr.config.update(scenario="api-failover",
                     checker={"name": "api-failover", "options": {}},
                     workload=[{"op": "boot", "name": "during", "count": 6}]
                     + ([] if control else [step]))
    fr.config["options"]["workload"] = {"retry": retry}
    instances, tasks, proxy = {}, {}, []
    for n in range(6):
        t = 5.0 + 0.5 * n
        latency = 1.0 if (n == 2 and in_flight) else 0.1
        name, uuid, task = f"during-{n + 1}", f"00000000-0000-4000-8000-00000000000{n}", \
            f"task-{n}"
        after = t + latency > 6.2
        pid = STANDBY_PID if after and not control else ACTIVE_PID
        server = "standby" if pid == STANDBY_PID else "active"
        if n in unanswered:
            fr.op("boot", name, t, t + latency, "info", status=502, latency=latency,
                  request_id=None)
            proxy.append(f"{stamp(t + latency)} request client=127.0.0.1:1 "
                         f"server=api/active status=502 ms=40 retries=0 term=SH-- "
                         "method=POST path=/v2.1/servers req={}")
            # Created by the conductor, never scheduled: the API died.
            instances[uuid] = {"uuid": uuid, "name": name, "status": "BUILD",
                               "task_state": "scheduling", "host": None, "fault": None}
            tasks[task] = {"id": task, "status": "in-progress", "reason": None}
            continue
        fr.op("boot", name, t, t + latency, "ok", status=202, latency=latency,
              request_id=f"req-{n}", server_id=uuid, task_id=task, api_pid=pid)
        if standby_served or server == "active":
            proxy.append(f"{stamp(t + latency)} request client=127.0.0.1:1 "
                         f"server=api/{server} status=202 ms=40 retries=0 term=---- "
                         f"method=POST path=/v2.1/servers req={{req-{n}}}")
        instances[uuid] = {"uuid": uuid, "name": name, "status": "ACTIVE",
                           "task_state": None, "host": "fake-compute-1", "fault": None}
        tasks[task] = {"id": task, "status": "completed", "reason": None}
    if not control:
        fr.ids += 1
        fr._rec(6.2, type="invoke", id=fr.ids, f="fault", process="nemesis",
                value={"target": "api", "verb": verb})
        moment = {"killed_at": runs.T0 + 6.2, "killed_pids": [ACTIVE_PID, 99]} \
            if verb == "kill" else {"drain_at": runs.T0 + 6.2, "sessions_at_drain": 1,
                                    "sessions_zero_at": runs.T0 + 6.3,
                                    "stopping_at": runs.T0 + 6.3,
                                    "stopped_at": runs.T0 + 6.4}
        done = ({"target": "api", "verb": verb, "server": "active", "container": "uwsgi",
                 "port": 20001, **moment, "down_at": runs.T0 + 6.5,
                 "servers_after": {"active": {"status": "DOWN"},
                                   "standby": {"status": "UP"}}}
                if fault == "ok" else
                {"target": "api", "verb": verb, "error": "LabError: the active API is "
                                                        "not running"})
        fr._rec(6.6, type=fault, id=fr.ids, f="fault", process="nemesis", value=done)
        if verb == "switchover":
            proxy.append(f"{stamp(6.2)} Server api/active enters drain state. 0 active "
                         "and 1 backup servers online. Running on backup.")
        if down:
            proxy.append(f"{stamp(6.5)} Server api/active is DOWN, reason: Layer4 "
                         'connection problem, info: "Connection refused", check '
                         "duration: 0ms. 0 active and 1 backup servers left. Running "
                         "on backup.")
    if settled:
        fr._rec(12.0, type="event", f="settled", process="runner",
                value={"in_progress": len(unanswered), "seconds": 1.0})
    fr.final_state = {"instances": instances, "tasks": tasks,
                      "builds": {u: 1 for u, i in instances.items()
                                 if i["status"] == "ACTIVE"}}
    fr.proxy = sorted(proxy)
    return fr


def write(fr):
    run = fr.write()
    with open(run.log("haproxy"), "w") as f:
        f.write("\n".join(fr.proxy) + "\n")
    with open(run.log("fake-nova-api"), "w") as f:
        f.write(startup(ACTIVE_PID) + "\n")
    with open(run.log("fake-nova-api-standby"), "w") as f:
        f.write(startup(STANDBY_PID) + "\n")
    return run


def test_an_in_flight_boot_cut_by_the_kill_is_reproduced(tmp_path):
    verdict = api_failover.check(write(failover_run(tmp_path, unanswered=[2])))
    assert verdict["verdict"] == REPRODUCED
    d = verdict["details"]
    assert (d["info"], d["cost"], d["in_flight_at_fault"]) == (1, 1, 1)
    assert d["info_request_ids"] == ["during-3"]  # no API answered: its name
    assert d["down_seconds"] == pytest.approx(0.3)
    assert d["haproxy_errors"] == 1 and d["standby_requests_after"] == 3
    evidence = "\n".join(verdict["evidence"])
    assert verdict["evidence"][0] == (
        "claim: an unplanned API failover (the active API SIGKILLed behind HAProxy) "
        "with no client retry fails in-flight boots")
    assert "Server api/active is DOWN" in evidence
    assert "HAProxy marked api/active DOWN 0.30 s after the fault began" in evidence
    assert "haproxy ended a request with 502 (SH--)" in evidence
    assert ("unanswered: during-3 sent at t=+6.00s, HTTP 502: the database holds server "
            "00000000-0000-4000-8000-000000000002 BUILD/scheduling") in evidence
    assert (f"before the fault by the active (worker PID {ACTIVE_PID}); after it by "
            f"the standby (worker PID {STANDBY_PID})") in evidence
    assert verdict["evidence"][-1] == "the failover cost 1 boot(s): 1 info"


def test_a_switchover_that_costs_nothing_is_not_reproduced(tmp_path):
    verdict = api_failover.check(write(failover_run(tmp_path, verb="switchover")))
    assert verdict["verdict"] == NOT_REPRODUCED
    d = verdict["details"]
    assert d["cost"] == 0 and d["in_flight_at_fault"] >= 1
    # From the drain at t=6.2 to the boot sent at 6.5 accepted at 6.6.
    assert d["recovery_seconds"] == pytest.approx(0.4)
    assert verdict["evidence"][0].startswith("claim: a planned API switchover")
    assert "enters drain state" in "\n".join(verdict["evidence"])


def test_no_down_in_haproxys_log_is_unknown(tmp_path):
    verdict = api_failover.check(write(failover_run(tmp_path, down=False)))
    assert verdict["verdict"] == UNKNOWN
    assert "no DOWN of api/active" in verdict["evidence"][-1]


def test_a_standby_that_answered_nothing_is_unknown(tmp_path):
    verdict = api_failover.check(write(failover_run(tmp_path, standby_served=False)))
    assert verdict["verdict"] == UNKNOWN
    assert "the standby answered no request" in verdict["evidence"][-1]


def test_no_boot_in_flight_is_unknown(tmp_path):
    verdict = api_failover.check(write(failover_run(tmp_path, in_flight=False)))
    assert verdict["verdict"] == UNKNOWN
    assert "could not have shown a failed one" in verdict["evidence"][-1]


def test_a_fault_that_could_not_act_is_unknown(tmp_path):
    verdict = api_failover.check(write(failover_run(tmp_path, fault="info")))
    assert verdict["verdict"] == UNKNOWN
    assert "did not happen: LabError: the active API is not running" in \
        verdict["evidence"][-1]


def test_the_control_costs_nothing_and_is_not_reproduced(tmp_path):
    verdict = api_failover.check(write(failover_run(tmp_path, control=True)))
    assert verdict["verdict"] == NOT_REPRODUCED
    assert verdict["evidence"][0].endswith("(control: the same boots, no fault)")


def test_a_control_that_lost_a_boot_is_unknown(tmp_path):
    verdict = api_failover.check(write(failover_run(tmp_path, control=True,
                                                    unanswered=[4])))
    assert verdict["verdict"] == UNKNOWN
    assert "with no failover at all" in verdict["evidence"][-1]


def test_a_run_that_did_not_settle_is_unknown(tmp_path):
    verdict = api_failover.check(write(failover_run(tmp_path, settled=False)))
    assert verdict["verdict"] == UNKNOWN
    assert "did not wait for the boots to settle" in verdict["evidence"][-1]


def test_the_claim_says_the_retry(tmp_path):
    verdict = api_failover.check(write(failover_run(tmp_path, retry="key")))
    assert verdict["evidence"][0] == (
        "claim: an unplanned API failover (the active API SIGKILLed behind HAProxy) "
        "with client retry with an idempotency key fails or duplicates boots")
    assert api_failover.claim("switchover", "no-key").endswith(
        "with client retry without an idempotency key fails or duplicates boots")


def test_no_final_state_is_unknown(tmp_path):
    fr = failover_run(tmp_path)
    fr.final_state = None
    verdict = api_failover.check(write(fr))
    assert verdict["verdict"] == UNKNOWN
    assert "final-state.json" in verdict["evidence"][-1]
