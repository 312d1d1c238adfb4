"""uwsgi-without-lazy-apps and its control, for real: connections made in
the master before the fork break the workers' calls; with lazy-apps each
worker makes its own and every call is answered."""


def test_connections_made_before_the_fork_break_the_workers(lab):
    proc = lab.run("run", "uwsgi-without-lazy-apps", "--expect", "reproduced")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    details = result["details"]
    assert details["forked_warnings"], details
    evidence = "\n".join(result["evidence"])
    assert "Process forked after connection established!" in evidence
    assert "(the master, before it forked)" in evidence
    # What broke: calls whose replies the master's poller received.
    assert details["lost"] >= 1, details
    assert "(the master)" in evidence and "no caller waiting for it" in evidence
    assert lab.leftovers() == []


def test_lazy_apps_gives_each_worker_its_own(lab):
    proc = lab.run("run", "uwsgi-without-lazy-apps", "--control")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "not-reproduced", result
    assert result["details"]["forked_warnings"] == []
    assert result["details"]["lost"] == 0
    assert lab.leftovers() == []
