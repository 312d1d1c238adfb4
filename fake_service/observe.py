"""Watch the rabbit driver's heartbeats from inside a fake service.

The lab's question is whether the driver's heartbeat thread runs while the
process is idle. The driver calls ``Connection._heartbeat_check`` from that
thread (send connections) or from its consume loop (listen connections), in
every oslo.messaging release since 1.9, so wrapping it tells exactly when a
check ran, for which connection, and on what kind of thread. One line each
time, tagged ``heartbeat-check``, which the lab's checkers count.
"""

import logging
import threading

LOG = logging.getLogger("fake_service.observe")

MARK = "heartbeat-check"


def _thread_kind():
    try:
        from eventlet import greenthread, patcher
    except ImportError:  # eventlet is optional for a threading-only lab
        return "native"
    if patcher.is_monkey_patched("thread") and greenthread.getcurrent().parent is not None:
        return "green"
    return "native"


def install_heartbeat_observer():
    """Wrap the driver's heartbeat check once; False when it cannot be found."""
    try:
        from oslo_messaging._drivers import impl_rabbit
    except ImportError:
        LOG.warning("heartbeat observation unavailable: no rabbit driver")
        return False
    connection = impl_rabbit.Connection
    original = getattr(connection, "_heartbeat_check", None)
    if original is None:
        LOG.warning("heartbeat observation unavailable: this oslo.messaging "
                    "has no Connection._heartbeat_check")
        return False
    if getattr(original, "_fake_lab_observed", False):
        return True

    def _heartbeat_check(self, *args, **kwargs):
        LOG.info("%s connection=%s purpose=%s thread=%s(%s)", MARK,
                 getattr(self, "name", "?"), getattr(self, "purpose", "?"),
                 _thread_kind(), threading.current_thread().name)
        return original(self, *args, **kwargs)

    _heartbeat_check._fake_lab_observed = True
    connection._heartbeat_check = _heartbeat_check
    return True
