"""busy-starvation and its control, for real: a flood of CPU-bound casts to
the fake compute, eventlet against native threads."""


def test_eventlet_compute_starves_its_own_heartbeats_while_busy(lab):
    proc = lab.run("run", "busy-starvation", "--expect", "reproduced", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    details = lab.result()["details"]
    assert details["closed"] and all(n.startswith("fake-compute:") for n in details["closed"])
    assert details["longest_silence"] >= 1.0
    # The hub let the probe sleep for seconds, not milliseconds.
    assert details["probe"]["max"] > 1.0
    assert lab.leftovers() == []


def test_threading_compute_keeps_its_heartbeats_while_busy(lab):
    proc = lab.run("run", "busy-starvation", "--control", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "not-reproduced", result["evidence"]
    details = result["details"]
    # Busy for real (the checker itself says unknown under half the casts).
    assert details["closed"] == [], result["evidence"]
    assert details["casts_run"] >= 0.5 * details["casts_sent"], result["evidence"]
    assert details["probe"]["max"] < 1.0, result["evidence"]
    assert lab.leftovers() == []
