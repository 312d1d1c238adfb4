"""send-pool-contention and its control, for real: the API worker, on native
threads, casts 16 times at once through a send pool of 2 (reproduced: the
driver's limit lines, gets that waited) and of 16 (not-reproduced). Asserted
from the run directory too, not only the verdict: the driver's own warning
lines in the API's log, and the connections the pool opened."""

from fake_lab.checkers import evidence
from fake_lab.rundir import RunDir


def _api_lines(run_dir, kind):
    run = RunDir(run_dir)
    return [e for e in evidence.client_events(
        run.log("fake-nova-api"), evidence.CLIENT_MARKERS + evidence.POOL_MARKERS)
        if e["kind"] == kind]


def test_threads_wait_for_a_small_send_pool(lab):
    proc = lab.run("run", "send-pool-contention", "--expect", "reproduced",
                   timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    d = lab.result()["details"]
    assert d["api_mode"] == "threading" and d["pool_size"] == 2
    assert d["connections"] == 2 and d["gets"] == 16
    assert d["waited"] >= 1 and d["limit_lines"] >= 1
    limits = _api_lines(lab.latest, "pool-limit")
    assert "surpasses max configured rpc_conn_pool_size 2" in limits[0]["line"]
    assert lab.leftovers() == []


def test_a_pool_sized_for_the_burst_never_waits(lab):
    proc = lab.run("run", "send-pool-contention", "--control", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "not-reproduced", result["evidence"]
    d = result["details"]
    assert d["pool_size"] == 16 and d["waited"] == 0 and d["limit_lines"] == 0
    assert _api_lines(lab.latest, "pool-limit") == []
    assert lab.leftovers() == []
