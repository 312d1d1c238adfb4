"""The uwsgi-lazy-apps checker on recorded runs: connections made by the
master and used by the workers (the driver's fork warning), what broke,
and the controls' shape."""

from fake_lab import checkers
from fake_lab.checkers import uwsgi_lazy_apps
from tests.unit import runs

MASTER, W1, W2 = 6240, 6243, 6244
FORKED = ("Process forked after connection established! This can result in "
          "unpredictable behavior. See: https://docs.openstack.org/"
          "oslo.messaging/latest/reference/transport.html")


def _uwsgi_log(loaded_by, served=(), no_mercy=()):
    lines = ["*** Starting uWSGI 2.0.31 (64bit) on [Mon Nov 23 23:20:25 2026] ***",
             "python threads support enabled"]
    lines += [f"WSGI app 0 (mountpoint='') ready in 1 seconds on interpreter 0x7f "
              f"pid: {pid} (default app)" for pid in loaded_by if pid == MASTER]
    lines += [f"spawned uWSGI master process (pid: {MASTER})",
              f"spawned uWSGI worker 1 (pid: {W1}, cores: 1)",
              f"spawned uWSGI worker 2 (pid: {W2}, cores: 1)"]
    lines += [f"WSGI app 0 (mountpoint='') ready in 1 seconds on interpreter 0x7f "
              f"pid: {pid} (default app)" for pid in loaded_by if pid != MASTER]
    lines += [f"[pid: {pid}|app: 0|req: 1/1] 127.0.0.1 () {{28 vars in 349 bytes}} "
              "[Mon Nov 23 23:20:32 2026] GET /v2.1/lab/ping => generated 140 bytes "
              "in 2004 msecs (HTTP/1.1 504) 8 headers in 330 bytes (1 switches on "
              "core 0)" for pid in served]
    lines += ["SIGINT/SIGTERM received...killing workers..."]
    lines += [f"Mon Nov 23 23:24:45 2026 - worker 2 (pid: {pid}) is taking too much "
              "time to die...NO MERCY !!!" for pid in no_mercy]
    return "\n".join(lines) + "\n"


def _fake(tmp_path, lazy):
    fr = runs.FakeRun(tmp_path)
    fr.config["checker"] = {"name": "uwsgi-lazy-apps", "options": {}}
    fr.config["options"]["lab"]["executor"] = "threading"
    fr.config["options"]["uwsgi"] = {"processes": 2, "lazy_apps": lazy}
    return fr


def _call(fr, name, t, worker, ok=True, msg_id=None):
    value = {"status": 200 if ok else 504, "latency": 0.01 if ok else 2.0,
             "worker_pid": str(worker), "api_pid": worker if ok else None,
             "request_id": f"req-{name}",
             "body": {"api_pid": worker} if ok else {"computeFault": {
                 "code": 504, "message": "MessagingTimeout: Timed out waiting for "
                 f"a reply to message ID {msg_id}"}}}
    fr.op("call", name, t, t + value["latency"], "ok" if ok else "info", **value)


def _write(fr, uwsgi_log):
    run = fr.write()
    if uwsgi_log is not None:
        with open(run.log("uwsgi"), "w") as f:
            f.write(uwsgi_log)
    return run


def _preloaded(tmp_path):
    """The master made both connections; each worker warned and lost its
    calls, whose replies the master's poller received."""
    fr = _fake(tmp_path, lazy=False)
    listen = fr.connection(4.0, pid=MASTER, uid="listen")
    send = fr.connection(4.01, pid=MASTER, uid="5e4d0000-0000-0000-0000-000000000001")
    fr.connection(7.5, pid=MASTER, uid=send[2].rsplit(":", 1)[-1])  # reopened
    fr.api_line(4.05, "INFO", "fake_nova_api.wsgi_app [-]",
                f"call on load: pid={MASTER} answered: {{'host': 'fake-compute-1'}}")
    t = 4.1
    while t < 9.0:
        fr.api_line(t, "INFO", "fake_service.observe [-]",
                    f"heartbeat-check connection={listen[2]} purpose=listen "
                    "thread=native", pid=MASTER)
        t += 0.3
    for n, (worker, msg) in enumerate(((W1, "aa11"), (W2, "bb22")), 1):
        at = 5.0 + n
        fr.api_line(at + 0.001, "WARNING", "oslo.messaging._drivers.impl_rabbit",
                    f"[req-c{n}] {FORKED}", pid=worker)
        fr.api_line(at + 0.01, "INFO", "oslo_messaging._drivers.amqpdriver [-]",
                    f"No calling threads waiting for msg_id : {msg}", pid=MASTER)
        _call(fr, f"concurrent-{n}", at, worker, ok=False, msg_id=msg)
    for worker in (W1, W2):  # one socket, two processes
        fr.api_line(7.4, "ERROR", "oslo.messaging._drivers.impl_rabbit",
                    f"[req-x] [{send[2].rsplit(':', 1)[-1]}] AMQP server on "
                    "127.0.0.1:42865 is unreachable: timed out. Trying again in 1 "
                    "seconds.: TimeoutError: timed out", pid=worker)
    fr.missed_heartbeats(listen, 8.5)
    return fr


def test_workers_warning_and_losing_their_calls_reproduce(tmp_path):
    fr = _preloaded(tmp_path)
    verdict = uwsgi_lazy_apps.check(_write(fr, _uwsgi_log([MASTER], served=[W1, W2])))
    assert verdict["verdict"] == checkers.REPRODUCED
    text = "\n".join(verdict["evidence"])
    assert f"the app was loaded by PID {MASTER} (the master, before it forked)" in text
    assert f"API log, worker PID {W1}: " in text and FORKED in text
    assert f"PID {MASTER} (master): 2 connection name(s)" in text
    assert ("concurrent-1: info (HTTP 504) in 2.000 s, sent at t=+6.00s from "
            f"worker PID {W1}, message ID aa11; its reply reached PID {MASTER} "
            "(the master) at t=+6.01s, which had no caller waiting for it") in text
    assert f"PID {MASTER} (master): 17, PID {W1} (worker): 0, PID {W2} (worker): 0" \
        in text
    assert "missed heartbeats from client" in text
    assert (f"connection uwsgi:{MASTER}:5e4d… (made by the master) used by 2 "
            f"worker(s): {W1}, {W2}; the broker saw it reopened 1 time(s) under "
            "the master's name") in text
    assert "2 of 2 worker(s) logged the driver's warning); 2 call(s) were lost" \
        in verdict["evidence"][-1]
    assert verdict["details"]["forked_warnings"] == [W1, W2]


def test_a_hung_worker_is_cited(tmp_path):
    fr = _preloaded(tmp_path)
    verdict = uwsgi_lazy_apps.check(
        _write(fr, _uwsgi_log([MASTER], served=[W1], no_mercy=[W2])))
    assert verdict["verdict"] == checkers.REPRODUCED
    assert verdict["details"]["hung_workers"] == [W2]
    assert any(line.startswith(f"worker PID {W2} served no request and did not stop "
                               "when asked: uwsgi.log:") for line in verdict["evidence"])


def test_each_worker_with_its_own_connections_is_not_reproduced(tmp_path):
    fr = _fake(tmp_path, lazy=True)
    for n, worker in enumerate((W1, W2), 1):
        fr.connection(4.0 + n / 10, pid=worker, uid=f"listen{n}")
        fr.connection(4.0 + n / 10, pid=worker, uid=f"send{n}")
        _call(fr, f"concurrent-{n}", 5.0 + n, worker)
    verdict = uwsgi_lazy_apps.check(_write(fr, _uwsgi_log([W1, W2], served=[W1, W2])))
    assert verdict["verdict"] == checkers.NOT_REPRODUCED
    text = "\n".join(verdict["evidence"])
    assert f"the app was loaded by PID {W1}, {W2} (the worker(s), after the fork)" in text
    assert "2 call(s): 2 answered, 0 lost" in text


def test_lost_calls_without_the_warning_are_unknown(tmp_path):
    fr = _fake(tmp_path, lazy=True)
    fr.connection(4.1, pid=W1, uid="listen")
    _call(fr, "concurrent-1", 5.0, W1, ok=False, msg_id="cc33")
    verdict = uwsgi_lazy_apps.check(_write(fr, _uwsgi_log([W1, W2])))
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "something else lost them" in verdict["evidence"][-1]


def test_master_connections_without_the_warning_are_unknown(tmp_path):
    fr = _fake(tmp_path, lazy=False)
    fr.connection(4.1, pid=MASTER, uid="listen")
    _call(fr, "concurrent-1", 5.0, W1)
    verdict = uwsgi_lazy_apps.check(_write(fr, _uwsgi_log([MASTER])))
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "cannot tell whether they crossed the fork" in verdict["evidence"][-1]


def test_without_uwsgis_process_list_or_calls_it_is_unknown(tmp_path):
    fr = _preloaded(tmp_path / "a")
    verdict = uwsgi_lazy_apps.check(_write(fr, None))
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "names no uWSGI master and workers" in verdict["evidence"][-1]
    fr = _fake(tmp_path / "b", lazy=False)
    verdict = uwsgi_lazy_apps.check(_write(fr, _uwsgi_log([MASTER])))
    assert verdict["verdict"] == checkers.UNKNOWN
    assert verdict["evidence"][-1] == "no call was made"
