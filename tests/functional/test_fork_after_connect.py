"""fork-after-connect for real: oslo.service's ProcessLauncher forks three
workers from a parent that opened an RPC connection; the claim is checked
here against the processes themselves (/proc's sockets, recorded in the
history, and the broker's connections by PID), then the spawn control."""

import json
import os


def _inspected(run_dir):
    with open(os.path.join(run_dir, "history.jsonl")) as f:
        events = [json.loads(line) for line in f]
    (event,) = [e for e in events if e.get("f") == "processes-inspected"]
    return event["value"]["services"]["fake-compute-1"]


def test_forked_workers_share_the_parents_socket_spawned_ones_do_not(lab):
    proc = lab.run("run", "fork-after-connect", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "reproduced", result
    procs = _inspected(lab.latest)
    master = result["details"]["master"]
    workers = result["details"]["worker_pids"]
    assert len(workers) == 3 and all(p["ppid"] == master for p in procs
                                     if p["pid"] in workers)
    # One socket inode open in the master and in every worker.
    holders = {}
    for p in procs:
        for s in p["sockets"]:
            holders.setdefault(s["inode"], set()).add(p["pid"])
    assert any(pids >= {master, *workers} for pids in holders.values()), holders
    # The broker knows that connection by the master's PID only; each worker
    # also opened its own (its listener).
    per_pid = result["details"]["broker_connections_per_pid"]
    assert per_pid.get(str(master), 0) >= 1 and all(
        per_pid.get(str(w), 0) >= 1 for w in workers), per_pid
    # oslo.messaging itself noticed, in the workers.
    with open(os.path.join(lab.latest, "logs", "fake-compute-1.log")) as f:
        assert "Process forked after connection established" in f.read()

    control = lab.run("run", "fork-after-connect", "--control", timeout=180)
    assert control.returncode == 0, control.stdout + control.stderr
    result = lab.result()
    assert result["verdict"] == "not-reproduced", result
    procs = {p["pid"]: p for p in _inspected(lab.latest)}
    inodes = [{s["inode"] for s in procs[w]["sockets"]}
              for w in result["details"]["worker_pids"]]
    master_inodes = {s["inode"] for s in procs[result["details"]["master"]]["sockets"]}
    assert all(i and not (i & master_inodes) for i in inodes), (inodes, master_inodes)
