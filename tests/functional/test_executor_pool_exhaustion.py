"""executor-pool-exhaustion and its control, for real: eight concurrent 2 s
calls to a threading-mode fake compute, a pool of 2 threads against 8."""


def test_a_small_executor_pool_queues_the_calls_and_times_them_out(lab):
    proc = lab.run("run", "executor-pool-exhaustion", "--expect", "reproduced",
                   timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    details = result["details"]
    # The compute never ran more than its pool, and the rest waited for it.
    assert details["pool"] == 2 and details["at_once"] == 2, result["evidence"]
    assert details["queued"] >= 4, result["evidence"]
    # Latency in steps of the operation: the first ones in about 2 s, the
    # last ones given up at rpc_response_timeout.
    assert min(details["latency"]["each"]) < 3 <= details["latency"]["max"]
    assert details["timeouts"] >= 2, result["evidence"]
    assert details["late_replies"] >= 1, result["evidence"]
    assert details["broker"], "the broker's queue was never sampled"
    assert lab.leftovers() == []


def test_a_pool_sized_for_the_load_answers_every_call_at_once(lab):
    proc = lab.run("run", "executor-pool-exhaustion", "--control", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "not-reproduced", result["evidence"]
    details = result["details"]
    assert details["pool"] == 8 and details["at_once"] == 8, result["evidence"]
    assert details["timeouts"] == 0 and details["queued"] == 0
    assert details["latency"]["max"] < 3, result["evidence"]
    assert lab.leftovers() == []
