"""The action-flow checker (action-during-heartbeat-loss) on recorded runs:
every verdict, every fate of an action, and the scenario step's checks."""

import pytest

from fake_lab import catalogue
from fake_lab.checkers import NOT_REPRODUCED, REPRODUCED, UNKNOWN, action_flow
from fake_lab.errors import UsageError
from fake_lab.workload import generator
from tests.unit import runs

REBOOT = ("reboot", "warm-up-1", "uuid-1", "reboot-soft", "active")
STOP = ("stop", "warm-up-2", "uuid-2", "stop", "stopped")


def action_run(tmp_path, close=True, slow=True, lost=None, rejected=False,
               settled=True, idle=(5.1, 8.9), wrong=False, final_state=True,
               crash=False):
    """Two boots, an idle period, then a reboot and a stop (the first slow
    when ``slow``); ``lost``: the action whose cast never ran."""
    fr = runs.FakeRun(tmp_path)
    fr.config["checker"] = {"name": "action-flow", "options": {"slow_seconds": 0.5}}
    for n in (1, 2):
        fr.op("boot", f"warm-up-{n}", 4.0 + n / 10, 4.05 + n / 10, "ok", status=202,
              latency=0.05, api_pid=runs.API_PID, request_id=f"req-boot-{n}",
              server_id=f"uuid-{n}", task_id=f"boot-{n}")
    reply = fr.connection(4.11, uid="reply")
    send = fr.connection(4.12, uid="send")
    fr.op("idle", "idle", idle[0], idle[1], slept=idle[1] - idle[0])
    if close:
        fr.missed_heartbeats(reply, 8.0)
        fr.missed_heartbeats(send, 8.01)
    instances, tasks, computes = {}, {}, []
    t = idle[1] + 0.01
    for n, (name, server, uuid, key, vm_state) in enumerate((REBOOT, STOP)):
        latency = 1.03 if slow and n == 0 else 0.02
        fr.ids += 1
        fr._rec(t, type="invoke", id=fr.ids, f="action", process="client",
                value={"name": name, "server": server, "server_id": uuid,
                       "action": key, "expect_vm_state": vm_state})
        rid = f"req-{name}"
        if rejected and n == 1:
            fr._rec(t + latency, type="fail", id=fr.ids, f="action", process="client",
                    value={"name": name, "status": 409, "latency": latency,
                           "request_id": rid, "body": {"conflictingRequest": {
                               "code": 409, "message": "Cannot 'stop' instance "
                               "uuid-2 while it is in vm_state stopped"}}})
        elif crash and n == 0:
            fr._rec(t + latency, type="info", id=fr.ids, f="action", process="client",
                    value={"name": name, "status": 500, "latency": latency,
                           "request_id": rid})
            fr.api_line(t + latency, "ERROR", f"fake_nova_api.middleware [{rid}]",
                        "unexpected error: sqlalchemy.exc.OperationalError: "
                        "(sqlite3.OperationalError) attempt to write a readonly "
                        "database")
        else:
            fr._rec(t + latency, type="ok", id=fr.ids, f="action", process="client",
                    value={"name": name, "status": 202, "latency": latency,
                           "request_id": rid, "task_id": f"task-{name}"})
            fr.api_line(t + latency - 0.001, "INFO", f"fake_nova_api.api [{rid}]",
                        f"server-action {key} of {uuid}: saved by the database in "
                        f"0.004 s, cast to fake-compute-1 in {latency - 0.01:.3f} s")
        if slow and close and n == 0:
            fr.api_line(t + 0.01, "ERROR", f"oslo.messaging._drivers.impl_rabbit [{rid}]",
                        "[send] AMQP server on 127.0.0.1:54491 is unreachable: "
                        "[Errno 104] Connection reset by peer. Trying again in 1 "
                        "seconds.")
            fr.api_line(t + 1.01, "INFO", f"oslo.messaging._drivers.impl_rabbit [{rid}]",
                        "[send] Reconnected to AMQP server on 127.0.0.1:54491 via "
                        "[amqp] client with port 50998.")
        done = lost != name
        status = {"active": "ACTIVE", "stopped": "SHUTOFF"}[vm_state]
        if wrong and n == 1:
            status = "ACTIVE"
        instances[uuid] = {"uuid": uuid, "host": "fake-compute-1",
                           "status": status if done else "ACTIVE",
                           "task_state": None if done else "powering-off",
                           "power_state": "Running", "fault": None}
        tasks[f"task-{name}"] = {"id": f"task-{name}", "reason": None,
                                 "status": "completed" if done else "in-progress"}
        if done:
            computes.append(f"{runs.client_stamp(t + latency)} fake-compute-1[700] "
                            f"INFO fake_compute.power [{rid}] {key} of instance "
                            f"{uuid} on fake-compute-1")
        t += latency + 0.01
    if settled:
        fr._rec(t + 1, type="event", f="settled", process="runner",
                value={"in_progress": 1 if lost else 0, "seconds": 1.0})
    if final_state:
        fr.final_state = {"instances": instances, "tasks": tasks, "builds": {}}
    run = fr.write()
    with open(run.log("fake-compute-1"), "w") as f:
        f.write("\n".join(computes) + "\n")
    return run


def test_a_slow_first_action_after_the_close_is_reproduced(tmp_path):
    verdict = action_flow.check(action_run(tmp_path))
    assert verdict["verdict"] == REPRODUCED, verdict["evidence"]
    details = verdict["details"]
    assert details["api_heartbeat_closes"] == 2
    assert details["actions_slow"] == 1 and details["actions_done"] == 2
    assert details["actions_lost"] == 0
    assert details["action_latencies"] == [1.03, 0.02]
    assert details["cast_seconds"] == [1.02, 0.01]
    assert details["saved_by"] == "database"
    assert details["reconnect_lines_first_action"] == 2
    assert details["first_action_reconnect"] == (
        "waited for its reconnect (rabbit_retry_interval)")
    text = "\n".join(verdict["evidence"])
    assert "missed heartbeats from client" in text
    assert "the cast to the host 1.020 s" in text
    assert "Reconnected to AMQP server" in text
    assert "fake-compute-1 received the cast" in text
    assert ("server warm-up-2 (uuid-2): vm_state stopped, task_state None, "
            "power_state Running; its stop task completed") in text


def test_a_lost_action_is_named_with_its_server_state(tmp_path):
    verdict = action_flow.check(action_run(tmp_path, slow=False, lost="stop"))
    assert verdict["verdict"] == REPRODUCED
    assert verdict["details"]["actions_lost"] == 1
    lost = [e for e in verdict["evidence"] if e.startswith("lost:")]
    assert lost == ["lost: stop (stop of warm-up-2): its task is in-progress: the "
                    "host never finished it (vm_state active, task_state "
                    "powering-off, power_state Running)"]
    assert any("fake-compute-1 never logged receiving the cast" in e
               for e in verdict["evidence"])


def test_nothing_closed_everything_fast_and_done_is_not_reproduced(tmp_path):
    verdict = action_flow.check(action_run(tmp_path, close=False, slow=False))
    assert verdict["verdict"] == NOT_REPRODUCED, verdict["evidence"]
    assert verdict["details"]["actions_done"] == 2
    assert verdict["evidence"][-1] == "every action done, each within 0.5 s"


def test_a_close_no_action_met_is_unknown(tmp_path):
    verdict = action_flow.check(action_run(tmp_path, slow=False))
    assert verdict["verdict"] == UNKNOWN
    assert "the closed connections were not met" in verdict["evidence"][-1]


def test_a_cheap_reconnect_during_the_first_action_is_reproduced(tmp_path):
    """The driver read the broker's close and reconnected at once: the cast
    cost milliseconds, but it met the closed connection all the same."""
    run = action_run(tmp_path, slow=False)
    with open(run.log("fake-nova-api"), "a") as f:
        f.write(f"{runs.client_stamp(8.92)} fake-nova-api[{runs.API_PID}] INFO "
                "oslo.messaging._drivers.impl_rabbit [-] A recoverable "
                "connection/channel error occurred, trying to reconnect: Server "
                "unexpectedly closed connection\n")
    verdict = action_flow.check(run)
    assert verdict["verdict"] == REPRODUCED, verdict["evidence"]
    assert verdict["details"]["first_action_reconnect"] == "reconnected at once"
    assert verdict["evidence"][-1] == (
        "the actions met the closed connections: the first took 0.020 s, its "
        "driver reconnected at once; 0 lost, 0 failed, 0 unanswered")


def test_a_lost_action_without_the_close_is_unknown(tmp_path):
    verdict = action_flow.check(action_run(tmp_path, close=False, slow=False,
                                           lost="reboot"))
    assert verdict["verdict"] == UNKNOWN
    assert "something else caused it" in verdict["evidence"][-1]
    assert verdict["details"]["actions_lost"] == 1


def test_an_action_ending_in_another_state_failed(tmp_path):
    verdict = action_flow.check(action_run(tmp_path, close=False, slow=False,
                                           wrong=True))
    assert verdict["verdict"] == UNKNOWN
    assert verdict["details"]["actions_failed"] == 1
    assert any("not stopped with no task" in e for e in verdict["evidence"])


def test_a_refused_action_is_unknown(tmp_path):
    verdict = action_flow.check(action_run(tmp_path, rejected=True))
    assert verdict["verdict"] == UNKNOWN
    assert "refused" in verdict["evidence"][-1]
    assert any("HTTP 409: Cannot 'stop' instance" in e for e in verdict["evidence"])


@pytest.mark.parametrize("kwargs, why", [
    ({"settled": False}, "did not wait for the actions to settle"),
    ({"final_state": False}, "no final state"),
    ({"close": False, "slow": False, "idle": (5.1, 7.0)}, "shorter than 3 heartbeat"),
])
def test_what_the_run_cannot_tell_is_unknown(tmp_path, kwargs, why):
    verdict = action_flow.check(action_run(tmp_path, **kwargs))
    assert verdict["verdict"] == UNKNOWN
    assert why in verdict["evidence"][-1]


def test_an_action_with_no_server_is_unknown(tmp_path):
    run = action_run(tmp_path)
    with open(run.history, "a") as f:
        f.write('{"type": "event", "f": "action-skipped", "process": "runner", '
                '"time": 1795414000.0, "t": 10.0, "value": {"name": "stop", '
                '"server": "warm-up-9", "reason": "no server of that name was '
                'accepted"}}\n')
    verdict = action_flow.check(run)
    assert verdict["verdict"] == UNKNOWN
    assert "action stop was not sent" in verdict["evidence"][-1]


@pytest.mark.parametrize("step, message", [
    ({"op": "action", "action": "shelve", "server": "a"}, "unknown server action 'shelve'"),
    ({"op": "action", "action": "reboot", "type": "WARM", "server": "a"},
     "reboot type must be SOFT or HARD"),
    ({"op": "action", "action": "os-stop"}, "needs server"),
])
def test_a_bad_action_step_is_refused_before_anything_starts(step, message):
    with pytest.raises(UsageError, match=message):
        catalogue.validate({"name": "x", "summary": "x", "checker": "action-flow",
                            "workload": [step]}, "x.toml")


def test_action_keys_follow_novas_body_keys():
    assert generator.action_key({"action": "reboot", "server": "a"}, "-") == "reboot-soft"
    assert generator.action_key({"action": "reboot", "type": "HARD", "server": "a"},
                                "-") == "reboot-hard"
    assert generator.action_key({"action": "os-stop", "server": "a"}, "-") == "stop"


def test_a_500_of_the_apis_own_making_is_not_blamed_on_the_broker(tmp_path):
    """E.g. www-data (mod_wsgi) could not write the run's SQLite database:
    the broker's close is there, but it did not fail the action."""
    run = action_run(tmp_path, crash=True)
    verdict = action_flow.check(run)
    assert verdict["verdict"] == UNKNOWN, verdict["evidence"]
    assert verdict["details"]["actions_api_error"] == 1
    assert "attempt to write a readonly database" in verdict["evidence"][-1]
    assert "for a reason of its own, not the RPC" in verdict["evidence"][-1]
