"""The headline and its control, for real, as a CI job would run them."""

import json
import os
import signal
import socket
import time

import pytest

from tests.functional.conftest import Output


def test_eventlet_under_uwsgi_reproduces_the_heartbeat_loss(lab):
    proc = lab.run("run", "heartbeat-loss", "--expect", "reproduced")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "reproduced"
    evidence = "\n".join(result["evidence"])
    assert "missed heartbeats from client" in evidence
    assert "0 heartbeat check(s)" in evidence
    for phase in ("configure", "start", "workload", "cleanup", "judging"):
        assert phase in result["timings"]
    assert lab.leftovers() == []

    # The wire: the worker's connections sent no heartbeat while idle, and
    # the broker, not the client, ended them.
    beats, ends = _idle_wire(lab.latest, result["details"]["api_pid"])
    assert beats and all(n == 0 for n in beats.values()), beats
    assert all(e["by"] == "server" for e in ends.values()), ends
    assert "wire: uwsgi:" in evidence

    # Judged again from the run directory alone: the same answer.
    again = lab.run("check", lab.latest, "--expect", "reproduced")
    assert again.returncode == 0, again.stdout + again.stderr


def _idle_wire(run_dir, api_pid):
    """From wire.jsonl alone: {connection: client heartbeats during the idle
    period} of the API worker's first connections, and how each ended."""
    with open(os.path.join(run_dir, "history.jsonl")) as f:
        records = [json.loads(line) for line in f]
    idle = [r for r in records if r.get("f") == "idle"]
    begin, end = idle[0]["time"], idle[-1]["time"]
    with open(os.path.join(run_dir, "wire.jsonl")) as f:
        events = [json.loads(line) for line in f]
    mine = {}
    for e in events:
        if e["event"] == "connection-name" and e["name"].startswith(f"uwsgi:{api_pid}:"):
            mine.setdefault(e["name"], e["conn"])  # the first: before the reconnect
    beats = {name: len([e for e in events if e.get("conn") == cid
                        and e["event"] == "heartbeat" and e["dir"] == "c2s"
                        and begin <= e["time"] <= end])
             for name, cid in mine.items()}
    ends = {name: next(e for e in events if e.get("conn") == cid and e["event"] == "end")
            for name, cid in mine.items()}
    return beats, ends


def test_threading_control_does_not_reproduce(lab):
    proc = lab.run("run", "heartbeat-loss", "--control")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    # Under threading the worker kept sending heartbeats while idle (one
    # every 0.5 to 0.6 s with the scenario's 1 s timeout, in the lab's runs).
    beats, _ = _idle_wire(lab.latest, result["details"]["api_pid"])
    idle = result["details"]
    assert beats and all(n >= 4 for n in beats.values()), (beats, idle)
    assert result["verdict"] == "not-reproduced", result
    evidence = "\n".join(result["evidence"])
    assert "(native threads)" in evidence
    assert "2 of the API worker's 2 connection(s) listed" in evidence
    assert lab.leftovers() == []


def test_expect_makes_a_regression_fail_the_job(lab):
    proc = lab.run("run", "heartbeat-loss", "--executor", "threading",
                   "--expect", "reproduced")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "verdict: not-reproduced" in proc.stdout


@pytest.mark.parametrize("phase", ["start", "workload"])
def test_ctrl_c_leaves_nothing_behind(lab, phase):
    # Lab.start gives the runner a default SIGINT: a Ctrl-C even when this
    # suite runs as a background job, where SIGINT is inherited ignored.
    proc = lab.start("run", "heartbeat-loss")
    output = Output(proc)
    marker = {"start": "run directory:", "workload": "first-request:"}[phase]
    output.wait_for(marker, timeout=60)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = output.finish(timeout=60)
    assert proc.returncode == 130, out + err
    assert "interrupted" in err
    result = lab.result()
    assert result["verdict"] == "unknown"
    assert "interrupted" in result["reason"]
    assert lab.leftovers() == []


@pytest.mark.parametrize("option", ["--broker-port", "--api-port"])
def test_a_taken_port_is_one_clear_line(lab, option):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = lab.run("run", "heartbeat-loss", option, str(port))
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert f"127.0.0.1:{port} is not available" in proc.stderr
    assert lab.leftovers() == []


def test_nova_switch_per_process_decides_the_headline(lab):
    # The API alone on native threads (nova 2026.1's default), the compute
    # still on eventlet: each process gets its own OS_NOVA_DISABLE_EVENTLET_PATCHING
    # and says on start how it really runs; the idle API keeps its heartbeats.
    proc = lab.run("run", "heartbeat-loss", "--api-executor", "threading")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "not-reproduced", result
    with open(os.path.join(lab.latest, "report.md")) as f:
        report = f.read()
    assert ("- fake-nova-api: native threads (asked threading by "
            "OS_NOVA_DISABLE_EVENTLET_PATCHING=true; oslo.service") in report
    assert ("- fake-compute-1: eventlet-patched (asked eventlet by "
            "OS_NOVA_DISABLE_EVENTLET_PATCHING=false; oslo.service") in report
    # What each process cost, sampled while it ran.
    with open(os.path.join(lab.latest, "resources.jsonl")) as f:
        sampled = {json.loads(line)["name"] for line in f}
    assert {"fake-nova-api", "fake-compute-1"} <= sampled
    assert "## Memory and threads" in report
