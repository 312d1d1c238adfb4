"""The wsgi-threads checker on recorded runs: each verdict, and the lines
it rests on (the container's log, each call's thread, the compute's log)."""

from fake_lab import checkers
from fake_lab.checkers import container_logs, wsgi_threads
from tests.unit import runs

HOME, OTHER, THIRD = "7001", "7002", "7003"

# Shaped as uWSGI 2.0.31 wrote them in a real run (eventlet 0.41.3,
# greenlet 3.5.6): the hub's traceback on the worker's standard error.
UWSGI_ERROR = """Traceback (most recent call last):
  File "/work/main/.venv/lib/python3.11/site-packages/eventlet/queue.py", line 117, in switch
    self.greenlet.switch(value)
greenlet.error: Cannot switch to a different thread
\tCurrent:  <greenlet.greenlet object at 0x7fdd35df3680 (otid=0x7fdd2c000d30) suspended>
\tExpected: <greenlet.greenlet object at 0x7fdd3434d340 (otid=0x7fdd24000d30) suspended>
"""
APACHE_ERROR = ("[Mon Nov 23 23:10:51.156685 2026] [wsgi:error] [pid 6243:tid {tid}] "
                "[remote 127.0.0.1:39796] [script /x/apache/htdocs/v2.1] "
                "greenlet.error: Cannot switch to a different thread\n")


def _call(fr, name, t, thread, ok=True, latency=0.01, msg_id="5a98"):
    value = {"status": 200 if ok else 504, "latency": latency,
             "api_thread": thread, "worker_pid": str(runs.API_PID),
             "request_id": f"req-{name}",
             "api_pid": runs.API_PID if ok else None,
             "body": {"api_pid": runs.API_PID} if ok else {"computeFault": {
                 "code": 504, "message": "MessagingTimeout: Timed out waiting "
                 f"for a reply to message ID {msg_id}"}}}
    fr.op("call", name, t, t + latency, "ok" if ok else "info", **value)


def _run(tmp_path, container="uwsgi", threads=4):
    fr = runs.FakeRun(tmp_path)
    fr.config["checker"] = {"name": "wsgi-threads", "options": {}}
    fr.config["options"]["lab"].update(container=container, executor="eventlet")
    fr.config["options"]["uwsgi"] = {"processes": 1, "threads": threads}
    _call(fr, "first-request", 5.0, HOME, latency=0.03)
    fr.compute = [f"{runs.client_stamp(5.01)} fake-compute-1[99] INFO "
                  "fake_compute.manager [req-first-request] ping: None"]
    return fr


def _write(fr, container_log=None, name="uwsgi"):
    run = fr.write()
    if container_log is not None:
        with open(run.log(name), "w") as f:
            f.write(container_log)
    with open(run.log("fake-compute-1"), "w") as f:
        f.write("\n".join(fr.compute) + "\n")
    return run


def _lost(fr, name, t, thread):
    _call(fr, name, t, thread, ok=False, latency=3.01)
    fr.compute.append(f"{runs.client_stamp(t + 0.004)} fake-compute-1[99] INFO "
                      f"fake_compute.manager [req-{name}] ping: None")


def test_hub_errors_and_lost_calls_reproduce(tmp_path):
    fr = _run(tmp_path)
    for n in range(1, 7):
        _call(fr, f"concurrent-{n}", 5.1 + n / 100, HOME)
    _lost(fr, "concurrent-7", 5.2, OTHER)
    _lost(fr, "concurrent-8", 5.2, THIRD)
    verdict = wsgi_threads.check(_write(fr, "spawned uWSGI worker 1\n" + UWSGI_ERROR * 2))
    assert verdict["verdict"] == checkers.REPRODUCED
    text = "\n".join(verdict["evidence"])
    assert "uwsgi.log: 2 hub/greenlet error(s): 2 x 'greenlet.error: Cannot switch " \
        "to a different thread'" in text
    assert "uwsgi.log:5: greenlet.error" in text
    assert f"thread {HOME} (the first request): 6 answered, 0 lost" in text
    assert f"thread {OTHER}: 0 answered, 1 lost" in text
    assert "served on 3 worker thread(s) (4 configured, uwsgi)" in text
    # The compute answered the lost call 4 ms after it was sent.
    assert "concurrent-7: info (HTTP 504) in 3.010 s" in text
    assert "the compute answered it at t=+5.20s, 0.004 s after it was sent" in text
    assert "2 call(s) were lost" in text
    assert verdict["details"]["hub_errors"] == 2 and verdict["details"]["lost"] == 2


def test_mod_wsgi_errors_are_dated_on_the_pollers_thread(tmp_path):
    fr = _run(tmp_path, container="mod_wsgi")
    _call(fr, "concurrent-1", 5.1, HOME)
    _lost(fr, "concurrent-2", 5.1, OTHER)
    verdict = wsgi_threads.check(_write(fr, APACHE_ERROR.format(tid=HOME),
                                        name="apache-error"))
    assert verdict["verdict"] == checkers.REPRODUCED
    text = "\n".join(verdict["evidence"])
    assert f"printed on thread(s) {HOME} (the first request's, where the poller " \
        "runs)" in text
    assert "apache-error.log:1: [Mon Nov 23 23:10:51.156685 2026]" in text


def test_one_thread_answering_everything_is_not_reproduced(tmp_path):
    fr = _run(tmp_path, threads=1)
    for n in range(1, 9):
        _call(fr, f"concurrent-{n}", 5.1, HOME)
    verdict = wsgi_threads.check(_write(fr, "spawned uWSGI worker 1\n"))
    assert verdict["verdict"] == checkers.NOT_REPRODUCED
    text = "\n".join(verdict["evidence"])
    assert "8 concurrent call(s), at most 8 in flight, served on 1 worker thread(s) " \
        "(1 configured, uwsgi)" in text
    assert "uwsgi.log: no hub or greenlet error; every call answered" in text


def test_threads_without_errors_are_not_reproduced(tmp_path):
    fr = _run(tmp_path)
    for n, thread in enumerate((HOME, OTHER, THIRD, OTHER), 1):
        _call(fr, f"concurrent-{n}", 5.1, thread)
    verdict = wsgi_threads.check(_write(fr, ""))
    assert verdict["verdict"] == checkers.NOT_REPRODUCED


def test_four_threads_that_served_on_one_cannot_say(tmp_path):
    fr = _run(tmp_path)
    for n in range(1, 5):
        _call(fr, f"concurrent-{n}", 5.1, HOME)
    verdict = wsgi_threads.check(_write(fr, ""))
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "did not test more than one thread" in verdict["evidence"][-1]


def test_lost_calls_without_hub_errors_are_unknown(tmp_path):
    fr = _run(tmp_path)
    _call(fr, "concurrent-1", 5.1, HOME)
    _lost(fr, "concurrent-2", 5.1, OTHER)
    verdict = wsgi_threads.check(_write(fr, "nothing to see\n"))
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "something else lost them" in verdict["evidence"][-1]


def test_a_missing_container_log_is_unknown(tmp_path):
    fr = _run(tmp_path)
    _call(fr, "concurrent-1", 5.1, OTHER)
    verdict = wsgi_threads.check(_write(fr, None))
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "uwsgi.log is missing" in verdict["evidence"][-1]


def test_a_failed_first_request_or_no_calls_is_unknown(tmp_path):
    fr = runs.FakeRun(tmp_path / "a")
    fr.config["checker"] = {"name": "wsgi-threads", "options": {}}
    fr.request("first-request", 5.0, outcome="info", status=504)
    assert wsgi_threads.check(fr.write())["verdict"] == checkers.UNKNOWN
    fr = _run(tmp_path / "b")
    verdict = wsgi_threads.check(_write(fr, ""))
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "no concurrent call" in verdict["evidence"][-1]


def test_judge_finds_the_checker_by_its_name(tmp_path):
    fr = _run(tmp_path, threads=1)
    _call(fr, "concurrent-1", 5.1, HOME)
    assert checkers.judge(_write(fr, ""))["verdict"] == checkers.NOT_REPRODUCED


def test_hub_errors_parser_reads_dates_pids_and_threads(tmp_path):
    path = tmp_path / "apache-error.log"
    path.write_text("[Mon Nov 23 23:10:51.156486 2026] [wsgi:error] [pid 5340:tid "
                    "5371] [remote x] Traceback (most recent call last):\n"
                    + APACHE_ERROR.format(tid=5371)
                    + "[Mon Nov 23 23:10:52.000000 2026] [wsgi:error] [pid 5340:tid "
                    "5372] RuntimeError: Second simultaneous read on fileno 12 "
                    "detected.\n")
    errors = container_logs.hub_errors(str(path))
    assert [(e["number"], e["pid"], e["tid"]) for e in errors] == [
        (2, 6243, 5371), (3, 5340, 5372)]
    assert errors[0]["what"] == "greenlet.error: Cannot switch to a different thread"
    assert errors[1]["what"].startswith("RuntimeError: Second simultaneous read")
    assert errors[0]["time"] is not None
