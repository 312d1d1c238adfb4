"""broker-kill and its control, for real: the node is SIGKILLed and started
again under a stream of boots; the same boots without the fault lose none."""


def test_a_killed_broker_costs_boots_and_says_how_long(lab):
    proc = lab.run("run", "broker-kill", "--expect", "reproduced", timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    details = result["details"]
    assert details["info"] + details["lost"] + details["failed"] >= 1
    assert details["first_boot_after_fault"] is not None
    evidence = "\n".join(result["evidence"])
    assert "fault broker kill:" in evidence and "node PIDs" in evidence
    assert "reconnected x" in evidence
    assert lab.leftovers() == []


def test_the_same_boots_without_the_fault_lose_none(lab):
    proc = lab.run("run", "broker-kill", "--control", timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    details = lab.result()["details"]
    assert (details["accepted"], details["active"]) == (43, 43)
    assert lab.leftovers() == []
