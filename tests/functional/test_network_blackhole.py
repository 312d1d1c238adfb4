"""network-blackhole and its control, for real, through the relay."""


def test_without_heartbeats_the_call_hangs_unnoticed(lab):
    proc = lab.run("run", "network-blackhole", "--expect", "reproduced", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    details = lab.result()["details"]
    assert details["crossed"] == 0 and details["reset"] == []
    assert details["noticed_before_the_call"] is False
    assert lab.leftovers() == []


def test_with_heartbeats_the_worker_notices_and_reconnects(lab):
    proc = lab.run("run", "network-blackhole", "--control", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "not-reproduced", result["evidence"]
    # Noticed within a few heartbeat timeouts (1 s here), not at the call.
    assert 1.0 <= result["details"]["reconnected_after"] <= 5.0
    assert "Too many heartbeats missed" in "\n".join(result["evidence"])
    assert lab.leftovers() == []
