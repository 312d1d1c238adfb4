"""boot-during-heartbeat-loss and its control, for real, and a run judged
again from its directory alone after the scenario file changed."""

import os
import shutil

from tests.functional.conftest import REPO


def test_boots_after_heartbeat_loss_reproduce_and_rejudge_alike(lab, tmp_path,
                                                                monkeypatch):
    # The run reads its scenario from a copy that is edited afterwards.
    scenarios = tmp_path / "scenarios"
    shutil.copytree(os.path.join(REPO, "scenarios"), scenarios)
    monkeypatch.setenv("FAKE_LAB_SCENARIOS", str(scenarios))
    proc = lab.run("run", "boot-during-heartbeat-loss", "--expect", "reproduced",
                   timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["details"]["api_heartbeat_closes"] >= 1
    evidence = "\n".join(result["evidence"])
    assert "missed heartbeats from client" in evidence
    assert lab.leftovers() == []

    # After the run: a scenario that would judge otherwise (no heartbeat
    # cause, nothing counts as slow), then no scenarios at all, and no
    # credentials file in the run directory.
    path = scenarios / "boot-during-heartbeat-loss.toml"
    path.write_text(path.read_text().replace('cause = "api-heartbeat-loss"', "")
                    .replace("slow_seconds = 0.5", "slow_seconds = 99"))
    os.remove(os.path.join(lab.latest, "etc", "30-lab.conf"))
    again = lab.run("check", lab.latest, "--expect", "reproduced")
    assert again.returncode == 0, again.stdout + again.stderr
    shutil.rmtree(scenarios)
    third = lab.run("check", lab.latest)
    assert third.stdout == again.stdout
    assert again.stdout.splitlines()[1:] == [f"  - {e}" for e in result["evidence"]]


def test_threading_control_does_not_reproduce(lab):
    proc = lab.run("run", "boot-during-heartbeat-loss", "--control", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "not-reproduced", result["evidence"]
    assert result["details"]["api_heartbeat_closes"] == 0
    assert result["details"]["slow_after_idle"] == 0
    assert lab.leftovers() == []
