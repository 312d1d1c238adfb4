"""rabbit-node-loss for real: a 3-node cluster loses the node hosting the
compute's queue under a stream of boots. The verdict is checked against
counts made here, from the run's database itself and its history, never
against what the scenario expects; the lost node must have left the
cluster as a surviving node saw it; and nothing the run started may
remain, even when it is interrupted in the middle of the fault."""

import json
import os
import signal
import sqlite3
import time

import pytest

from fake_lab.commands import soak
from fake_lab.daemons import procs
from tests.functional.conftest import read_history

BAD = ("failed", "lost", "duplicated", "info")


def _fates(run_dir):
    """{fate: [request id]} of every boot, from the history (what the client
    was told) and the run's SQLite database (what was built)."""
    records = read_history(run_dir)
    invoked = {r["id"]: r for r in records if r["f"] == "boot" and r["type"] == "invoke"}
    done = {r["id"]: r for r in records if r["f"] == "boot" and r["type"] != "invoke"}
    db = sqlite3.connect(os.path.join(run_dir, "fake-lab.sqlite"))
    try:
        instances = {uuid: status for uuid, status in
                     db.execute("SELECT uuid, status FROM instances")}
        tasks = {rid: status for rid, status in
                 db.execute("SELECT resource_id, status FROM tasks")}
        builds = dict(db.execute("SELECT instance_uuid, count(*) FROM builds "
                                 "GROUP BY instance_uuid"))
    finally:
        db.close()
    fates = {}
    for op_id in invoked:
        d = done.get(op_id)
        if d is None or d["type"] == "info":
            fate = "info"
        elif d["type"] == "fail":
            fate = "rejected"
        else:
            uuid = d["value"]["server_id"]
            if builds.get(uuid, 0) > 1:
                fates.setdefault("duplicated", []).append(d["value"]["request_id"])
            status, task = instances.get(uuid), tasks.get(uuid)
            fate = ("lost" if status is None else
                    "active" if status == "ACTIVE" and task == "completed" else
                    "failed" if status == "ERROR" or task == "failed" else "lost")
        value = (d or {}).get("value", {})
        fates.setdefault(fate, []).append(value.get("request_id") or op_id)
    return fates


def _nothing_left(run_dir):
    ports = json.load(open(os.path.join(run_dir, "ports.json")))
    assert {"amqp_1", "amqp_2", "amqp_3", "epmd"} <= set(ports)
    for _ in range(100):
        if not procs.processes_under(run_dir):
            break
        time.sleep(0.1)
    assert procs.processes_under(run_dir) == []
    assert soak._erlang_processes(run_dir, [ports["epmd"]]) == []
    assert not set(ports.values()) & soak._listening_ports(), ports


def _the_node_left(run_dir):
    records = read_history(run_dir)
    (fault,) = [r for r in records if r["f"] == "fault" and r["type"] == "ok"]
    node = fault["value"]["node"]
    (status,) = [r for r in records if r["f"] == "cluster-status"]
    assert status["time"] >= fault["time"]
    assert status["value"]["asked"] != node
    assert node not in status["value"]["running_nodes"]
    assert len(status["value"]["running_nodes"]) == 2
    assert node in status["value"]["disk_nodes"]  # lost, not removed
    return fault["value"]


@pytest.mark.parametrize("queue_type, node_loss", [("classic", "kill"),
                                                   ("quorum", "drain")])
def test_losing_the_node_of_the_computes_queue(lab, queue_type, node_loss):
    proc = lab.run("run", "rabbit-node-loss", "--queue-type", queue_type,
                   "--node-loss", node_loss, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = lab.latest
    result = lab.result()
    fault = _the_node_left(run_dir)
    assert fault["applied"] == f"{node_loss}-node"
    assert "compute.fake-compute-1" in fault["chosen_by"]

    fates = _fates(run_dir)
    details = result["details"]
    for kind in ("active", "failed", "lost", "duplicated", "info"):
        assert details[kind] == len(fates.get(kind, [])), (kind, fates, details)
        if kind != "active":
            assert sorted(details[f"{kind}_request_ids"]) == sorted(fates.get(kind, []))
    bad = sum(len(fates.get(k, [])) for k in BAD)
    assert result["verdict"] == ("reproduced" if bad else "not-reproduced"), result
    assert result["evidence"][0].startswith(f"claim: with {queue_type} queues")
    assert details["queue_type"] == queue_type
    # No boot sent after the loss may become ACTIVE at all: a service's
    # listener can stay on the lost node longer than the stream of boots
    # lasts (oslo.messaging 18.3.1 with kombu 5.7.0 on 3 nodes moves to the
    # next host three times a failed attempt, so it comes back to the lost
    # one; see the README). The checker must then say so.
    if details["recovered_after"] is None:
        assert ("recovered: no boot sent after the loss became ACTIVE"
                in result["evidence"]), result["evidence"]
    else:
        assert 0 < details["recovered_after"] < 60
    _nothing_left(run_dir)


def test_the_same_boots_with_every_node_up_lose_none(lab):
    proc = lab.run("run", "rabbit-node-loss", "--control", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fates = _fates(lab.latest)
    assert len(fates["active"]) == 63 and set(fates) == {"active"}, fates
    assert lab.result()["verdict"] == "not-reproduced"
    assert not [r for r in read_history(lab.latest) if r["f"] == "fault"]
    _nothing_left(lab.latest)


def test_interrupted_in_the_middle_of_a_drain_leaves_nothing(lab):
    proc = lab.start("run", "rabbit-node-loss", "--node-loss", "drain")
    sent = None
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            path = os.path.join(lab.latest, "history.jsonl")
            if os.path.exists(path) and '"f": "fault"' in open(path).read():
                time.sleep(0.2)  # into the drain (about 1 s, then the stop)
                proc.send_signal(signal.SIGINT)
                sent = time.time()
                break
            time.sleep(0.05)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sent is not None, "the fault never started:\n" + out + err
    assert proc.returncode == 130, out + err
    records = read_history(lab.latest)
    fault = [r for r in records if r["f"] == "fault"]
    assert fault[0]["time"] < sent
    # Mid-fault: the fault had not completed when the interrupt came.
    assert len(fault) == 1 or fault[1]["time"] > sent, fault
    assert "interrupted" in lab.result()["reason"]
    _nothing_left(lab.latest)
