"""action-during-heartbeat-loss and its control, for real, and a run whose
host is gone, to show the checker names lost actions."""

import os
import shutil

from tests.functional.conftest import REPO


def test_the_first_action_after_heartbeat_loss_pays_the_reconnect(lab):
    proc = lab.run("run", "action-during-heartbeat-loss", "--expect", "reproduced",
                   timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    details, evidence = result["details"], "\n".join(result["evidence"])
    assert details["api_heartbeat_closes"] >= 1, evidence
    # The save went to the database (as nova-api's), so the cast met the
    # closed connection: either it found the socket reset and waited
    # rabbit_retry_interval (1 s), or it read the close and reconnected at
    # once (one run in three here).
    assert details["saved_by"] == "database"
    assert details["reconnect_lines_first_action"] >= 1, evidence
    if details["first_action_reconnect"] == "reconnected at once":
        assert details["action_latencies"][0] <= 0.5, evidence
    else:
        assert details["first_action_reconnect"] == (
            "waited for its reconnect (rabbit_retry_interval)"), evidence
        assert details["cast_seconds"][0] > 0.5, evidence
    assert "missed heartbeats from client" in evidence
    # Slow, but nothing lost: both servers ended as nova would have them.
    assert details["actions_lost"] == details["actions_failed"] == 0, evidence
    assert "vm_state active, task_state None" in evidence
    assert "vm_state stopped, task_state None" in evidence
    assert lab.leftovers() == []


def test_threading_control_does_not_reproduce(lab):
    proc = lab.run("run", "action-during-heartbeat-loss", "--control", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    details = result["details"]
    assert result["verdict"] == "not-reproduced", result["evidence"]
    assert details["api_heartbeat_closes"] == 0
    assert details["actions_done"] == 2 and details["actions_slow"] == 0
    assert max(details["action_latencies"]) < 0.5, result["evidence"]
    assert lab.leftovers() == []


def test_actions_whose_host_is_gone_are_named_lost(lab, tmp_path, monkeypatch):
    """The same run on native threads with its one host stopped before the
    actions: both are accepted (202) and never done. The checker names
    them lost and, with no close for missed heartbeats, blames nothing."""
    scenarios = tmp_path / "scenarios"
    shutil.copytree(os.path.join(REPO, "scenarios"), scenarios)
    path = scenarios / "action-during-heartbeat-loss.toml"
    text = path.read_text().replace("compute_hosts = 2", "compute_hosts = 1")
    stop = ('[[workload]]\nop = "fault"\ntarget = "service"\nverb = "stop"\n'
            'service = "fake-compute-1"\n\n')
    first = text.index('[[workload]]\nop = "action"')
    path.write_text(text[:first] + stop + text[first:].replace(
        "seconds = 20", "seconds = 3"))
    monkeypatch.setenv("FAKE_LAB_SCENARIOS", str(scenarios))
    proc = lab.run("run", "action-during-heartbeat-loss", "--executor", "threading",
                   timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "unknown", result["evidence"]
    assert result["details"]["actions_lost"] == 2, result["evidence"]
    lost = [e for e in result["evidence"] if e.startswith("lost: ")]
    assert len(lost) == 2 and all("its task is in-progress" in e for e in lost), lost
    assert "something else caused it" in result["evidence"][-1]
    assert lab.leftovers() == []
