"""broker-freeze and its control, for real, and a run interrupted while the
node is frozen: nothing may be left, the frozen node least of all."""

import signal
import time

from tests.functional.conftest import Output


def test_a_frozen_broker_is_noticed_and_the_worker_reconnects(lab):
    proc = lab.run("run", "broker-freeze", "--expect", "reproduced", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    # Noticed from the missing heartbeats (1 s timeout), during the freeze.
    assert 1.0 <= result["details"]["reconnected_after"] <= 4.0
    assert "Too many heartbeats missed" in "\n".join(result["evidence"])
    assert lab.leftovers() == []


def test_without_the_freeze_nothing_is_noticed(lab):
    proc = lab.run("run", "broker-freeze", "--control", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lab.result()["details"]["reconnected_after"] is None
    assert lab.leftovers() == []


def test_ctrl_c_while_the_node_is_frozen_leaves_nothing(lab):
    proc = lab.start("run", "broker-freeze")
    output = Output(proc)
    output.wait_for("first-request:")
    time.sleep(1.5)  # inside the 4 s freeze
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=90)
    assert proc.returncode == 130, output.text()
    result = lab.result()
    assert result["verdict"] == "unknown" and "interrupted" in result["reason"]
    assert lab.leftovers() == []
