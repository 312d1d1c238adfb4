"""Watch the rabbit driver's heartbeats from inside a fake service.

The lab's question is whether the driver's heartbeat thread runs while the
process is idle. The driver calls ``Connection._heartbeat_check`` from that
thread (send connections) or from its consume loop (listen connections), in
every oslo.messaging release since 1.9, so wrapping it tells exactly when a
check ran, for which connection, and on what kind of thread. One line each
time, tagged ``heartbeat-check``, which the lab's checkers count.

Observation must not change what it observes. With
``heartbeat_in_pthread=True`` in a patched process the check runs on a
native thread, and the logging module's locks are eventlet-patched there:
taking one from a native thread is the very hang of LP#1934937 / LP#1961402.
So the observer takes no lock at all: it formats the line itself and hands
it to the kernel with one ``write(2)`` on a descriptor opened at start with
O_APPEND (a single write of a short line to a local file is appended whole,
never interleaved with the logging module's lines in the same file).

The send pool is watched the same way (``pool-get``, ``pool-put``,
``pool-expire`` lines): the driver's own pool lines do not say which
connection they are about, and the pool-expiry scenario asks per connection
when it was handed out, given back and expired. Each ``pool-get`` also says
how long that get() waited for a connection (``waited``; and ``opened``,
how long a new one took to open), which send-pool-contention measures.
"""

import os
import posix  # never monkey-patched: eventlet wraps os.write, not posix.write
import sys
import time

MARK = "heartbeat-check"
POOL_MARK = "pool-"
PROBE_MARK = "hub-probe"

_fd = None
_program = None


def _thread_kind():
    """'green' on an eventlet green thread, 'native' otherwise: greenlet's
    getcurrent() is one C call and takes no lock."""
    greenlet = sys.modules.get("greenlet")
    if greenlet is None:
        return "native"
    return "green" if greenlet.getcurrent().parent is not None else "native"


# The last whole second stamped and its text: most lines fall in the same
# second as the one before, and strftime is most of a stamp's cost. One
# tuple, replaced whole: no lock, whatever thread stamps.
_second = (None, "")


def stamp(now):
    """``now`` (epoch seconds) as every lab line starts: UTC, microseconds,
    a final Z (fake_service.logs stamps the logging module's lines with it)."""
    global _second
    whole = int(now)
    second = _second
    if second[0] != whole:
        second = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return "%s.%06dZ" % (second[1], int(now % 1 * 1e6))


def _emit(connection):
    line = "%s %s[%d] INFO fake_service.observe [-] %s connection=%s " \
           "purpose=%s thread=%s\n" % (
               stamp(time.time()), _program, os.getpid(), MARK,
               getattr(connection, "name", "?"),
               getattr(connection, "purpose", "?"), _thread_kind())
    _write(line)  # never raises: a full disk must not break the heartbeat


def _write(line):
    try:
        posix.write(_fd, line.encode("utf-8", "replace"))
    except OSError:
        pass


def _emit_pool(event, connection, fields=""):
    """One ``pool-<event>`` line; ``fields``: its ``key=value`` words after
    the connection's name, each with a leading space (formatted by the
    caller, once: a get or put is on every RPC the process sends)."""
    _write("%s %s[%d] INFO fake_service.observe [-] pool-%s connection=%s%s\n" % (
        stamp(time.time()), _program, os.getpid(), event,
        getattr(connection, "name", "?"), fields))


def _install_pool_observer():
    """Wrap the send pool's get, put and expiry (the class, before any
    transport makes a pool: the pool keeps its ``_on_expire`` bound)."""
    try:
        from oslo_messaging._drivers import pool
    except ImportError:
        return
    cls = pool.ConnectionPool
    if getattr(cls.get, "_fake_lab_observed", False):
        return
    get, put, on_expire = cls.get, cls.put, cls._on_expire
    create = cls.create

    # How long a get() waited for a connection (send-pool-contention): from
    # its call until it was handed an idle connection, or until it was let
    # open a new one (create() began); ``opened``: how long create() took.
    # Clocks only, read outside the pool's lock: nothing the driver takes.
    def observed_create(self, *args, **kwargs):
        started = time.monotonic()
        item = create(self, *args, **kwargs)
        try:
            item._fake_lab_created = (started, time.monotonic())
        except AttributeError:
            pass
        return item

    def observed_get(self, *args, **kwargs):
        called = time.monotonic()
        item = get(self, *args, **kwargs)
        returned = time.monotonic()
        given_back = getattr(item, "_fake_lab_put", None)
        if given_back is None:
            created = getattr(item, "_fake_lab_created", None)
            if created is not None and created[0] >= called:
                _emit_pool("get", item, " reused=no waited=%.6f opened=%.6f" % (
                    created[0] - called, created[1] - created[0]))
            else:
                _emit_pool("get", item, " reused=no")
        else:
            _emit_pool("get", item, " reused=yes idle=%.3f waited=%.6f" % (
                time.time() - given_back, returned - called))
        return item

    def observed_put(self, item):
        item._fake_lab_put = time.time()
        _emit_pool("put", item)
        return put(self, item)

    def observed_on_expire(self, connection):
        _emit_pool("expire", connection)
        return on_expire(self, connection)

    for f in (observed_get, observed_put, observed_on_expire, observed_create):
        f._fake_lab_observed = True
    cls.get, cls.put, cls._on_expire = observed_get, observed_put, observed_on_expire
    cls.create = observed_create


def _open(log_file, program):
    global _fd, _program
    if _fd is None:
        _fd = (os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
               if log_file else sys.stdout.fileno())
    _program = _program or program


def start_lateness_probe(interval, log_file, program):
    """A thread that sleeps ``interval`` seconds over and over and logs, each
    time, how late it woke (``hub-probe late=S thread=green|native``). When
    the process is patched it is a green thread, so its lateness is the
    eventlet hub's: how long a green heartbeat thread would have waited for
    its turn. One short line each wake, written as the heartbeat lines are."""
    import threading

    _open(log_file, program)

    def probe():
        kind = _thread_kind()
        while True:
            started = time.monotonic()
            time.sleep(interval)
            late = time.monotonic() - started - interval
            _write("%s %s[%d] INFO fake_service.observe [-] %s interval=%.3f "
                   "late=%.6f thread=%s\n" % (stamp(time.time()), _program,
                                              os.getpid(), PROBE_MARK, interval,
                                              max(late, 0.0), kind))

    thread = threading.Thread(target=probe, name=PROBE_MARK, daemon=True)
    thread.start()
    return thread


def install_heartbeat_observer(log_file, program, pool=True):
    """Wrap the driver's heartbeat check once, writing to ``log_file`` (the
    file oslo.log writes to; standard output, its default stream, when
    None); with ``pool``, the send pool's get, put and expiry too (two lines
    on every RPC the process sends: only where a checker reads them);
    returns a line to log (why observation is off) or None."""
    try:
        from oslo_messaging._drivers import impl_rabbit
    except ImportError:
        return "heartbeat observation unavailable: no rabbit driver"
    connection = impl_rabbit.Connection
    original = getattr(connection, "_heartbeat_check", None)
    if original is None:
        return ("heartbeat observation unavailable: this oslo.messaging has "
                "no Connection._heartbeat_check")
    if getattr(original, "_fake_lab_observed", False):
        return None
    _open(log_file, program)

    def _heartbeat_check(self, *args, **kwargs):
        _emit(self)
        return original(self, *args, **kwargs)

    _heartbeat_check._fake_lab_observed = True
    connection._heartbeat_check = _heartbeat_check
    if pool:
        _install_pool_observer()
    return None
