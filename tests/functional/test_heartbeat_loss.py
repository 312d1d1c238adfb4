"""The headline and its control, for real, as a CI job would run them."""

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

    # Judged again from the run directory alone: the same answer.
    again = lab.run("check", lab.latest, "--expect", "reproduced")
    assert again.returncode == 0, again.stdout + again.stderr


def test_threading_control_does_not_reproduce(lab):
    proc = lab.run("run", "heartbeat-loss", "--control")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
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
