"""The executor-pool-exhaustion checker on run directories built from
recorded lines: every verdict, and each reason for ``unknown``."""

from fake_lab.checkers import executor_pool_exhaustion as epe
from tests.unit.runs import T0, FakeRun, client_stamp

COMPUTE_PID = 7002
SENT = 5.0


def pool_run(tmp_path, pool=2, workers=None, calls=8, hold=2.0, timeout=5,
             compute_log=True, broker=True, unacked=0, other=None, load=True,
             never_started=False):
    """``calls`` calls sent at t=5, each holding the compute for ``hold`` s;
    the compute runs them ``workers`` at a time (default: ``pool``, the
    configured executor_thread_pool_size), in the order sent. A call whose
    reply would come after ``timeout`` gets HTTP 504 MessagingTimeout at
    ``timeout`` and its reply is logged late by the API."""
    workers = workers or pool
    fr = FakeRun(tmp_path, timeout=30)
    fr.config["checker"]["name"] = "executor-pool-exhaustion"
    fr.config["options"]["DEFAULT"] = {"executor_thread_pool_size": pool,
                                       "rpc_response_timeout": timeout}
    fr.config["options"]["api"] = {"compute_topic": "compute"}
    fr.request("first-request", 4.0)
    lines = [f"{client_stamp(1.0)} fake-compute-1[{COMPUTE_PID}] INFO "
             "fake_compute.service [-] RPC server started: role=compute topic=compute "
             "server=fake-compute-1 executor=threading eventlet_patched=False "
             f"pid={COMPUTE_PID} parent=1"]

    def line(t, msg):
        lines.append(f"{client_stamp(t)} fake-compute-1[{COMPUTE_PID}] INFO "
                     f"fake_compute.manager [-] {msg}")

    slots = [SENT] * workers
    running = []
    for n in range(1, calls + 1 if load else 1):
        name = f"load-{n}"
        k = min(range(workers), key=lambda i: slots[i])
        start = slots[k] + 0.01
        end = start + hold
        slots[k] = end
        running = [e for e in running if e > start] + [end]
        if compute_log and not (never_started and start - SENT > timeout):
            line(start, f"long-op start: name={name} seconds={hold:.3f} "
                 f"running={len(running)} thread=Thread-{k + 6}")
            line(end, f"long-op end: name={name} took={hold:.3f} running=0")
        if other == n:
            fr.op("call", name, SENT, SENT + 0.5, "info", status=500, latency=0.5,
                  body={"computeFault": {"code": 500, "message": "boom"}})
        elif end - SENT <= timeout:
            fr.op("call", name, SENT, end + 0.01, status=200,
                  latency=round(end + 0.01 - SENT, 3), body={"reply": {}})
        else:
            msg_id = f"{n:032x}"
            fr.op("call", name, SENT, SENT + timeout + 0.03, "info", status=504,
                  latency=timeout + 0.03, body={"computeFault": {
                      "code": 504, "message": "MessagingTimeout: Timed out waiting "
                      f"for a reply to message ID {msg_id}"}})
            fr.api_line(end + 0.01, "INFO", "oslo_messaging._drivers.amqpdriver [-]",
                        f"No calling threads waiting for msg_id : {msg_id}")
    if broker:
        for k in range(8):
            t = SENT + k * 0.8
            fr._rec(t + 0.5, type="event", f="queues-listed", process="runner",
                    value={"vhost": "/", "asked": T0 + t,
                           "queues": [{"name": "compute", "ready": 0,
                                       "unacked": unacked if k else 0},
                                      {"name": "compute.fake-compute-1", "ready": 0,
                                       "unacked": 0}]})
    run = fr.write()
    with open(run.log("fake-compute-1"), "w") as f:
        f.write("\n".join(sorted(lines)) + "\n")
    return run


def test_calls_queued_behind_a_full_pool_and_timed_out_are_reproduced(tmp_path):
    res = epe.check(pool_run(tmp_path))
    assert res["verdict"] == "reproduced", res
    d = res["details"]
    assert d["at_once"] == 2 and d["timeouts"] == 4 and d["queued"] == 6
    assert d["late_replies"] == 4 and d["peak_waiting"] == 6
    assert d["latency"]["p50"] > 4
    text = "\n".join(res["evidence"])
    assert "MessagingTimeout: Timed out waiting for a reply" in text
    assert "No calling threads waiting for msg_id" in text
    assert "the backlog is in the compute's executor queue" in text
    assert "6 call(s) queued behind a full pool of 2" in res["evidence"][-1]


def test_queued_without_timeouts_is_reproduced(tmp_path):
    # A pool of 4: latency in two steps (2 s, 4 s), all under the 5 s timeout.
    res = epe.check(pool_run(tmp_path, pool=4))
    assert res["verdict"] == "reproduced", res
    assert res["details"]["timeouts"] == 0 and res["details"]["queued"] == 4


def test_calls_that_never_started_before_their_caller_gave_up_count(tmp_path):
    res = epe.check(pool_run(tmp_path, never_started=True))
    assert res["verdict"] == "reproduced", res
    assert "had not started when their caller gave up" in "\n".join(res["evidence"])
    assert res["details"]["queued"] == 6


def test_the_broker_holding_the_backlog_is_cited(tmp_path):
    res = epe.check(pool_run(tmp_path, unacked=6))
    assert res["verdict"] == "reproduced"
    text = "\n".join(res["evidence"])
    assert "0/6" in text and "the backlog is in the compute's" not in text
    assert res["details"]["broker_peak"] == 6


def test_without_broker_samples_the_verdict_stands_and_says_so(tmp_path):
    res = epe.check(pool_run(tmp_path, broker=False))
    assert res["verdict"] == "reproduced"
    assert any("not witnessed" in line for line in res["evidence"])


def test_a_pool_sized_for_the_load_is_not_reproduced(tmp_path):
    res = epe.check(pool_run(tmp_path, pool=8))
    assert res["verdict"] == "not-reproduced", res
    assert res["details"]["at_once"] == 8 and res["details"]["timeouts"] == 0
    assert res["details"]["peak_waiting"] == 0
    assert "none waited" in res["evidence"][-1]


def test_more_at_once_than_the_pool_is_unknown(tmp_path):
    res = epe.check(pool_run(tmp_path, pool=2, workers=8))
    assert res["verdict"] == "unknown"
    assert "the pool is not what bounds it" in res["evidence"][-1]


def test_waiting_with_the_pool_not_full_is_unknown(tmp_path):
    # One call at a time on a pool of 2: they wait somewhere else.
    res = epe.check(pool_run(tmp_path, pool=2, workers=1))
    assert res["verdict"] == "unknown"
    assert "the queue is elsewhere" in res["evidence"][-1]


def test_timeouts_without_waiting_are_unknown(tmp_path):
    res = epe.check(pool_run(tmp_path, pool=8, hold=6.0))
    assert res["verdict"] == "unknown"
    assert "no call waited" in res["evidence"][-1]


def test_calls_that_never_overlapped_cannot_say(tmp_path):
    res = epe.check(pool_run(tmp_path, pool=8, calls=1))
    assert res["verdict"] == "unknown"
    assert "never overlapped" in res["evidence"][-1]


def test_no_load_is_unknown(tmp_path):
    res = epe.check(pool_run(tmp_path, load=False))
    assert res["verdict"] == "unknown"
    assert "the load did not run" in res["evidence"][-1]


def test_a_compute_that_logged_none_of_the_calls_is_unknown(tmp_path):
    res = epe.check(pool_run(tmp_path, compute_log=False))
    assert res["verdict"] == "unknown"
    assert "never ran them" in res["evidence"][-1]


def test_another_failure_is_unknown(tmp_path):
    res = epe.check(pool_run(tmp_path, other=3))
    assert res["verdict"] == "unknown"
    assert "otherwise than answered or MessagingTimeout" in res["evidence"][-1]


def test_most_at_once():
    assert epe.most_at_once([(0, 2), (1, 3), (2, 4)], 10) == 2
    assert epe.most_at_once([(0, 2), (0, None), (1, 1.5)], 10) == 3
    assert epe.most_at_once([], 10) == 0
