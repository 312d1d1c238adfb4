"""The rabbit-node-loss checker on recorded runs: the claim it states, each
verdict, the time to recover, and the nodes' own lines it quotes."""

import json
import os

from fake_lab.checkers import NOT_REPRODUCED, REPRODUCED, UNKNOWN, rabbit_node_loss
from tests.unit import runs

NODE = "fake-lab-ab12cd34-1@localhost"
OTHERS = ["fake-lab-ab12cd34-2@localhost", "fake-lab-ab12cd34-3@localhost"]


def loss_run(tmp_path, queue_type="classic", verb="kill-node", bad=(), fault="ok",
             still_running=False, fault_step=True, settled=True):
    """Three boots before the loss (t=5), five after (one every 0.2 s from
    t=6); the boots in ``bad`` (indexes) end in ERROR."""
    fr = runs.FakeRun(tmp_path)
    fr.config["scenario"] = "rabbit-node-loss"
    fr.config["checker"] = {"name": "rabbit-node-loss", "options": {}}
    fr.config["options"]["lab"].update(queue_type=queue_type, rabbit_nodes=3)
    instances, tasks = {}, {}
    times = [1.0, 1.2, 1.4] + [6.0 + 0.2 * k for k in range(5)]
    for n, t in enumerate(times):
        uuid, task = f"uuid-{n}", f"task-{n}"
        fr.op("boot", f"boot-{n}", t, t + 0.05, "ok", status=202, latency=0.05,
              api_pid=runs.API_PID, request_id=f"req-{n}", server_id=uuid, task_id=task)
        failed = n in bad
        instances[uuid] = {"uuid": uuid, "status": "ERROR" if failed else "ACTIVE",
                           "task_state": None, "host": "fake-compute-1",
                           "fault": "MessagingTimeout: Timed out" if failed else None}
        tasks[task] = {"id": task, "status": "failed" if failed else "completed",
                       "reason": None}
    fr._rec(2.0, type="event", f="queues-listed", process="runner", value={
        "vhost": "/", "queues": [
            {"name": "compute.fake-compute-1", "type": queue_type, "node": NODE,
             "ready": 0, "unacked": 0, "mirrors": 0,
             "members": [NODE] + OTHERS if queue_type == "quorum" else []},
            {"name": "scheduler", "type": queue_type, "node": OTHERS[0],
             "ready": 0, "unacked": 0, "mirrors": 0, "members": []}]})
    if fault_step:
        fr.ids += 1
        fr._rec(5.0, type="invoke", id=fr.ids, f="fault", process="nemesis",
                value={"target": "cluster", "verb": "lose-node",
                       "node": "queue:compute.fake-compute-1"})
        if fault == "ok":
            value = {"target": "cluster", "verb": "lose-node", "applied": verb,
                     "node": NODE, "index": 1,
                     "chosen_by": f"it hosted the {queue_type} queue "
                                  "compute.fake-compute-1 (the listing before the fault)",
                     "connections_by_node": {"1": 6, "2": 4, "3": 3}}
            if verb == "kill-node":
                value["killed_at"] = runs.T0 + 5.1
            else:
                value.update(drain_began=runs.T0 + 5.1, drained_at=runs.T0 + 6.0,
                             drain_seconds=0.9, stopped_at=runs.T0 + 7.0,
                             stop_seconds=1.0)
            fr._rec(5.5, type="ok", id=fr.ids, f="fault", process="nemesis", value=value)
            running = OTHERS + ([NODE] if still_running else [])
            fr._rec(5.5, type="event", f="cluster-status", process="runner",
                    value={"asked": OTHERS[0], "running_nodes": running,
                           "disk_nodes": [NODE] + OTHERS})
        else:
            fr._rec(5.5, type="info", id=fr.ids, f="fault", process="nemesis",
                    value={"target": "cluster", "verb": "lose-node",
                           "error": "LabError: rabbitmq-upgrade drain timed out"})
    if settled:
        fr._rec(9.0, type="event", f="settled", process="runner",
                value={"in_progress": 0, "seconds": 0.2})
    fr.final_state = {"instances": instances, "tasks": tasks,
                      "builds": {u: 1 for u in instances}}
    fr.node_logs = {
        2: [f"{runs.broker_stamp(5.12)} [info] <0.484.0> rabbit on node '{NODE}' down",
            f"{runs.broker_stamp(5.14)} [info] <0.484.0> 10 transient queues from an "
            f"old incarnation of node '{NODE}' deleted in 0.026998s",
            f"{runs.broker_stamp(5.3)} [notice] <0.843.0> queue 'compute.fake-compute-1' "
            "in vhost '/': candidate -> leader in term: 2 machine version: 2",
            f"{runs.broker_stamp(50.0)} [info] <0.484.0> rabbit on node '{NODE}' down"]}
    return fr


def write(fr):
    run = fr.write()
    for n, lines in fr.node_logs.items():
        os.makedirs(os.path.join(run.logs, f"rabbit-{n}"), exist_ok=True)
        with open(os.path.join(run.logs, f"rabbit-{n}", "broker.log"), "w") as f:
            f.write("\n".join(lines) + "\n")
    return run


def test_a_kill_that_costs_boots_holds_the_claim(tmp_path):
    verdict = rabbit_node_loss.check(write(loss_run(tmp_path, bad=(3, 4))))
    assert verdict["verdict"] == REPRODUCED
    claim = verdict["evidence"][0]
    assert claim.startswith("claim: with classic queues, killing (SIGKILL) the "
                            "RabbitMQ node that hosted the classic queue "
                            "compute.fake-compute-1 costs boots: holds: 2 of 8")
    d = verdict["details"]
    assert d["failed_request_ids"] == ["req-3", "req-4"]
    # The first boot sent after the loss (t=5.1) that became ACTIVE: boot 5,
    # sent at 6.4 and answered at 6.45.
    assert abs(d["recovered_after"] - 1.35) < 1e-6
    assert (d["bad_boots_sent_from"], d["bad_boots_sent_until"]) == (0.9, 1.1)
    text = "\n".join(verdict["evidence"])
    assert f"{NODE} has left the running nodes" in text
    assert f"{NODE} hosted 1 of the 2 queue(s)" in text
    assert f"rabbit on node '{NODE}' down" in text and "transient queues" in text
    assert "quorum queues that elected a new leader: 1" in text
    assert text.count(f"rabbit on node '{NODE}' down") == 1  # t=50 is past the window


def test_a_loss_every_boot_survives_does_not_hold_the_claim(tmp_path):
    verdict = rabbit_node_loss.check(write(loss_run(tmp_path, queue_type="quorum",
                                                    verb="drain-node")))
    assert verdict["verdict"] == NOT_REPRODUCED
    assert verdict["evidence"][0] == (
        "claim: with quorum queues, draining (rabbitmq-upgrade drain) then stopping "
        "the RabbitMQ node that led the quorum queue compute.fake-compute-1 costs "
        "boots: does not hold here: all 8 boot(s) became ACTIVE, once")
    assert "the drain took 0.9 s, then the stop (SIGTERM) 1.0 s" in verdict["evidence"][1]
    assert "3 members" in "\n".join(verdict["evidence"])


def test_a_node_still_running_after_its_loss_is_unknown(tmp_path):
    verdict = rabbit_node_loss.check(write(loss_run(tmp_path, bad=(3,),
                                                    still_running=True)))
    assert verdict["verdict"] == UNKNOWN
    assert "still lists it as running" in verdict["evidence"][0]


def test_a_fault_that_did_not_happen_is_unknown(tmp_path):
    verdict = rabbit_node_loss.check(write(loss_run(tmp_path, fault="info")))
    assert verdict["verdict"] == UNKNOWN
    assert "the node was not lost (LabError: rabbitmq-upgrade drain timed out)" in \
        verdict["evidence"][0]


def test_boots_that_did_not_settle_are_unknown(tmp_path):
    verdict = rabbit_node_loss.check(write(loss_run(tmp_path, settled=False)))
    assert verdict["verdict"] == UNKNOWN
    assert "cannot be told" in verdict["evidence"][0]


def test_the_control_tests_the_baseline_with_every_node_up(tmp_path):
    verdict = rabbit_node_loss.check(write(loss_run(tmp_path, fault_step=False)))
    assert verdict["verdict"] == NOT_REPRODUCED
    assert verdict["evidence"][0].startswith(
        "claim: with classic queues and every node up (the control), boots go "
        "wrong: does not hold here: all 8 boot(s)")
    bad = rabbit_node_loss.check(write(loss_run(tmp_path, fault_step=False, bad=(1,))))
    assert bad["verdict"] == REPRODUCED


def test_the_wire_shows_the_lost_routes_connections_end_and_where_clients_went(tmp_path):
    run = write(loss_run(tmp_path, bad=(3,)))
    run.write_json("ports.json", {"amqp_1": 5001, "amqp_2": 5002, "amqp_3": 5003,
                                  "relay": 6001})
    T = runs.T0
    events = [
        # A port probe (no AMQP; its end written before its accept).
        {"event": "end", "conn": 1, "how": "fin", "by": "client", "time": T + 0.1},
        {"event": "accept", "conn": 1, "upstream": 5001, "time": T + 0.1},
        {"event": "accept", "conn": 2, "upstream": 5001, "time": T + 0.5},
        {"event": "connection-name", "conn": 2, "name": "fake-compute:1:a", "time": T + 0.5},
        {"event": "accept", "conn": 3, "upstream": 5002, "time": T + 0.6},
        {"event": "connection-name", "conn": 3, "name": "fake-compute:1:b", "time": T + 0.6},
        {"event": "end", "conn": 2, "how": "rst", "by": "server", "time": T + 5.1},
        {"event": "accept", "conn": 4, "upstream": 5001, "upstream_error": "refused",
         "time": T + 6.0},
        {"event": "end", "conn": 4, "how": "fin", "by": "client", "time": T + 6.0},
        {"event": "accept", "conn": 5, "upstream": 5003, "time": T + 6.1},
        {"event": "connection-name", "conn": 5, "name": "fake-compute:1:a", "time": T + 6.1},
    ]
    with open(run.file("wire.jsonl"), "w") as f:
        f.write("\n".join(json.dumps(e) for e in events) + "\n")
    text = "\n".join(rabbit_node_loss.check(run)["evidence"])
    assert ("wire: 1 connection(s) on node 1's route at the loss, ended from "
            "t=+5.10s to t=+5.10s (1 rst by server); afterwards the clients opened "
            "1 to node 3, and 1 to node 1's route found it refused") in text


def test_a_run_without_a_relay_cites_no_wire(tmp_path):
    text = "\n".join(rabbit_node_loss.check(write(loss_run(tmp_path, bad=(3,))))["evidence"])
    assert "wire:" not in text
