"""The services log through oslo.log in the one format the lab's parsers read:
UTC with microseconds, program[pid], level, logger, [request id or -]."""

import datetime
import os
import subprocess
import sys
import textwrap
import time

import pytest

from fake_lab.checkers import evidence
from fake_service import monkey_patch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A fake service in miniature: the entry point's first line, oslo.log set up
# from a config file naming [DEFAULT] log_file, lines in and out of a request,
# the driver's chatter, a traceback and the heartbeat observer's own line.
SERVICE = textwrap.dedent("""
    from fake_service import monkey_patch; monkey_patch.patch()  # noqa
    import logging as std_logging
    import sys

    from oslo_config import cfg
    from oslo_log import log as logging

    from fake_service import context, logs, observe

    conf = cfg.ConfigOpts()
    logs.register_options(conf)
    logs.register_options(conf)  # a second time is harmless
    conf(["--config-file", sys.argv[1]])
    logs.setup(conf, "fake-test-1")
    LOG = logging.getLogger("fake_service.test")
    LOG.info("before any request")
    context.set_request_id("req-1111")
    LOG.info("in the request")
    try:
        raise ValueError("boom")
    except ValueError:
        LOG.exception("failed")

    class Endpoint:
        @context.bind
        def handle(self, ctxt):
            LOG.info("handling %s", context.rpc_context())
            return context.request_id()

    assert Endpoint().handle({"request_id": "req-2222"}) == "req-2222"
    assert context.request_id() is None
    assert Endpoint().handle({"request_id": "-"}) is None
    LOG.info("after the request")
    for name in ("kombu.connection", "amqp.connection", "stevedore.extension"):
        std_logging.getLogger(name).info("chatter of %s", name)
    std_logging.getLogger("oslo_messaging._drivers.impl_rabbit").debug(
        "driver debug")

    class Connection:
        name = "fake-test-1:42:uuid"
        purpose = "send"

    observe.install_heartbeat_observer(logs.log_path(conf), "fake-test-1")
    observe._emit(Connection())
""")


def _run(tmp_path, backend, debug=False):
    log = tmp_path / "logs" / "fake-test-1.log"
    conf = tmp_path / "service.conf"
    conf.write_text(f"[DEFAULT]\nlog_file = {log}\ndebug = {debug}\n")
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    env = dict(os.environ, PYTHONPATH=REPO,
               OS_NOVA_DISABLE_EVENTLET_PATCHING=monkey_patch.value_for(backend))
    started = time.time()
    out = subprocess.run([sys.executable, "-W", "ignore", str(script), str(conf)],
                         capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""  # everything went to the log file
    return started, out, log.read_text().splitlines()


def _parsed(lines):
    return [(evidence._CLIENT_LINE.match(raw), raw) for raw in lines]


@pytest.mark.parametrize("backend", ["eventlet", "threading"])
def test_every_line_in_the_lab_format(tmp_path, backend):
    started, _, lines = _run(tmp_path, backend)
    parsed = [(m, raw) for m, raw in _parsed(lines) if m]
    by_msg = {m.group("msg"): m for m, _ in parsed}
    # (oslo.service may add its own lines on importing oslo.messaging.)
    assert set(by_msg) >= {
        "before any request", "in the request", "failed: ValueError: boom",
        "handling {'request_id': 'req-2222'}", "handling {'request_id': '-'}",
        "after the request",
        "heartbeat-check connection=fake-test-1:42:uuid purpose=send "
        "thread=native"}
    pids = {m.group("pid") for m, _ in parsed}
    assert len(pids) == 1 and pids != {str(os.getpid())}
    for m, raw in parsed:
        assert m.group("program") == "fake-test-1", raw
        # UTC, microseconds, a final Z: the moment it was written.
        assert m.group("ts").endswith("Z") and len(m.group("ts")) == 27, raw
        assert started - 1 < evidence._epoch(m.group("ts")) < time.time() + 1
    assert by_msg["before any request"].group("request_id") == "-"
    assert by_msg["in the request"].group("request_id") == "req-1111"
    assert by_msg["failed: ValueError: boom"].group("level") == "ERROR"
    assert by_msg["handling {'request_id': 'req-2222'}"].group("request_id") == "req-2222"
    assert by_msg["handling {'request_id': '-'}"].group("request_id") == "-"
    assert by_msg["after the request"].group("request_id") == "-"
    check = by_msg["heartbeat-check connection=fake-test-1:42:uuid purpose=send "
                   "thread=native"]
    assert check.group("logger") == "fake_service.observe"
    assert check.group("request_id") == "-"
    assert [e["kind"] for e in evidence.client_events(
        str(tmp_path / "logs" / "fake-test-1.log"))] == ["heartbeat-check"]


def test_a_traceback_follows_its_line_unprefixed(tmp_path):
    _, _, lines = _run(tmp_path, "eventlet")
    at = next(i for i, raw in enumerate(lines) if "failed: ValueError" in raw)
    assert lines[at + 1] == "Traceback (most recent call last):"
    rest = []
    for raw in lines[at + 1:]:
        if evidence._CLIENT_LINE.match(raw):
            break
        rest.append(raw)
    assert "ValueError: boom" in rest
    assert not any(evidence._CLIENT_LINE.match(raw) for raw in rest)


def test_the_driver_chatter_is_quiet_at_info(tmp_path):
    _, _, lines = _run(tmp_path, "eventlet")
    text = "\n".join(lines)
    assert "chatter of" not in text
    assert "driver debug" not in text


def test_debug_shows_the_driver_not_its_libraries(tmp_path):
    _, _, lines = _run(tmp_path, "eventlet", debug=True)
    parsed = [m for m, _ in _parsed(lines) if m]
    debug = [m for m in parsed if m.group("msg").startswith("driver debug")]
    assert len(debug) == 1 and debug[0].group("level") == "DEBUG"
    assert "chatter of" not in "\n".join(lines)


def test_the_observer_and_the_formatter_stamp_alike():
    from fake_service import observe

    when = datetime.datetime(2026, 11, 23, 20, 22, 12, 249443,
                             tzinfo=datetime.timezone.utc).timestamp()
    assert observe.stamp(when) == "2026-11-23T20:22:12.249443Z"


# logs.info: the fake compute's per-call lines, written without oslo.log's
# formatter, must be the very lines oslo.log writes.
DIRECT = textwrap.dedent("""
    from fake_service import monkey_patch; monkey_patch.patch()  # noqa
    import sys

    from oslo_config import cfg
    from oslo_log import log as logging

    from fake_service import context, logs

    conf = cfg.ConfigOpts()
    logs.register_options(conf)
    conf(["--config-file", sys.argv[1]])
    logs.setup(conf, "fake-compute-9")
    print("direct" if logs._direct else "oslo.log")
    LOG = logging.getLogger("fake_compute.manager")
    for request in (None, "req-3333"):
        context.set_request_id(request)
        LOG.info("ping: %s", {"n": 1})
        logs.info(LOG, "ping: %s" % ({"n": 1},))
        LOG.info("cast %d: %s", 7, "100%")
        logs.info(LOG, "cast %d: %s" % (7, "100%"))
    context.set_request_id(None)
    logs.info(logging.getLogger("fake_compute.quiet"), "not at INFO")
""")


def _direct(tmp_path, backend, extra=""):
    log = tmp_path / "logs" / "fake-compute-9.log"
    conf = tmp_path / "service.conf"
    conf.write_text(f"[DEFAULT]\nlog_file = {log}\n"
                    "default_log_levels = fake_compute.quiet=WARN\n" + extra)
    script = tmp_path / "direct.py"
    script.write_text(DIRECT)
    env = dict(os.environ, PYTHONPATH=REPO,
               OS_NOVA_DISABLE_EVENTLET_PATCHING=monkey_patch.value_for(backend))
    out = subprocess.run([sys.executable, "-W", "ignore", str(script), str(conf)],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip(), log.read_text().splitlines()


@pytest.mark.parametrize("backend", ["eventlet", "threading"])
def test_logs_info_writes_the_line_oslo_log_writes(tmp_path, backend):
    how, lines = _direct(tmp_path, backend)
    assert how == "direct"
    lines = [raw for raw in lines if "fake_compute" in raw]
    assert len(lines) == 8  # the quiet logger's line is not written
    for by_oslo_log, by_logs_info in zip(lines[::2], lines[1::2]):
        # The same line but for the moment it was written.
        assert by_oslo_log.split(" ", 1)[1] == by_logs_info.split(" ", 1)[1]
        assert evidence._CLIENT_LINE.match(by_logs_info)
    assert lines[1].endswith(" INFO fake_compute.manager [-] ping: {'n': 1}")
    assert lines[7].endswith(" INFO fake_compute.manager [req-3333] cast 7: 100%")


def test_logs_info_is_oslo_logs_own_under_another_format(tmp_path):
    how, lines = _direct(tmp_path, "threading",
                         "logging_context_format_string = CTX %(request_id)s %(message)s\n")
    assert how == "oslo.log"
    assert "CTX req-3333 cast 7: 100%" in lines


def test_a_stamp_reuses_its_second_and_moves_with_time():
    from fake_service import observe

    base = datetime.datetime(2026, 11, 23, 20, 22, 12,
                             tzinfo=datetime.timezone.utc).timestamp()
    assert observe.stamp(base + 0.5) == "2026-11-23T20:22:12.500000Z"
    assert observe.stamp(base + 0.75) == "2026-11-23T20:22:12.750000Z"
    assert observe.stamp(base + 1.25) == "2026-11-23T20:22:13.250000Z"
    assert observe.stamp(base - 0.5) == "2026-11-23T20:22:11.500000Z"


def test_the_send_pool_is_observed_only_where_asked():
    """The API observes its send pool (the pool checkers read those lines);
    a service passes pool=False, and its replies cost no pool lines."""
    code = textwrap.dedent("""
        from fake_service import monkey_patch; monkey_patch.patch()  # noqa
        import sys
        from oslo_messaging._drivers import impl_rabbit, pool
        from fake_service import observe

        observed = lambda: getattr(pool.ConnectionPool.get, "_fake_lab_observed", False)
        assert observe.install_heartbeat_observer(None, "svc", pool=False) is None
        assert getattr(impl_rabbit.Connection._heartbeat_check, "_fake_lab_observed")
        print(observed())
        observe._install_pool_observer()
        print(observed())
    """)
    env = dict(os.environ, PYTHONPATH=REPO, OS_NOVA_DISABLE_EVENTLET_PATCHING="true")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                         text=True, env=env, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]
