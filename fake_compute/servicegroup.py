"""Service state as nova's servicegroup DB driver keeps it
(nova/servicegroup/drivers/db.py).

Every fake RPC service reports its state every ``[DEFAULT] report_interval``
seconds: its ``services`` row gets report_count + 1 and a fresh updated_at.
The computes and the scheduler report through the conductor (an RPC call,
as nova's ``service_ref.save()`` goes through the conductor's indirection
API); the conductor writes the database itself. The loop runs as nova's
FixedIntervalLoopingCall does (run, then sleep what is left of the
interval) on a ``threading.Thread``: a green thread when the process is
monkey-patched, a native one otherwise, the same concurrency as the
service.

A service is up when ``abs(now - last report) <= service_down_time`` and no
one forced it down (the driver's ``is_up``); the API's ``GET
/os-services`` and the scheduler judge it so. Each report writes one line,
which the ``service-flap`` checker reads back:

    report-state host=fake-compute-1 binary=nova-compute report_count=7
    late=0.001 took=0.012 thread=green   (one line)
"""

import datetime
import threading
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

BINARIES = {"compute": "nova-compute", "scheduler": "nova-scheduler",
            "conductor": "nova-conductor"}
REPORT_MARK = "report-state"


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _when(value):
    """A datetime (naive UTC) from a row's value or its ISO form."""
    if value is None or isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.fromisoformat(str(value).rstrip("Z"))


def last_heartbeat(record):
    """The last report of a services row (updated_at, else created_at)."""
    return _when(record.get("updated_at")) or _when(record.get("created_at"))


def is_up(record, service_down_time, now=None):
    """nova's DbDriver.is_up: not forced down, and the last report at most
    ``service_down_time`` seconds away."""
    if record.get("forced_down"):
        return False
    last = last_heartbeat(record)
    if last is None:
        return False
    now = now or utcnow()
    return abs((now - last).total_seconds()) <= service_down_time


class Reporter:
    """The periodic report of one service: ``report(timeout)`` is called
    every ``interval`` seconds (FixedIntervalLoopingCall's timing) on a
    thread of the service's own kind; a failed report is logged once, as
    nova's "Lost connection to nova-conductor for reporting service status",
    and its recovery too.

    The first report is the service joining: retried every ``join_timeout``
    seconds until the conductor answers, as nova's services wait for the
    conductor at start (``wait_until_ready``): a call sent before the
    conductor's RPC server consumes its topic is lost, and would hold the
    loop for a whole rpc_response_timeout."""

    def __init__(self, report, interval, host, binary, thread_kind,
                 join_timeout=1.0):
        self.report, self.interval = report, interval
        self.host, self.binary, self.thread_kind = host, binary, thread_kind
        self.join_timeout = join_timeout
        self._stop = threading.Event()
        self._thread = None
        self.lost = False

    def start(self):
        self._thread = threading.Thread(target=self._loop, name=REPORT_MARK,
                                        daemon=True)
        self._thread.start()
        return self._thread

    def stop(self):
        self._stop.set()

    def join(self):
        """The first report, retried until the conductor answers; False if
        the service stopped first."""
        warned = False
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                record = self.report(self.join_timeout)
            except Exception as exc:
                if not warned:
                    LOG.warning("Timed out waiting for nova-conductor. Is it "
                                "running? Or did this service start before "
                                "nova-conductor? Reattempting establishment of "
                                "nova-conductor connection... (%s)",
                                type(exc).__name__)
                    warned = True
                self._stop.wait(max(self.join_timeout -
                                    (time.monotonic() - started), 0.0))
                continue
            self._log(record, 0.0, started)
            return True
        return False

    def _loop(self):
        if not self.join():
            return
        delay = self.interval
        while True:
            due = time.monotonic() + delay
            if self._stop.wait(delay):
                return
            started = time.monotonic()
            self.report_once(late=max(started - due, 0.0))
            # As FixedIntervalLoopingCall: what is left of the interval,
            # counted from the start of the run (none if it outlasted it).
            delay = max(self.interval - (time.monotonic() - started), 0.0)

    def report_once(self, late=0.0):
        started = time.monotonic()
        try:
            record = self.report(None)
        except Exception as exc:
            if not self.lost:
                LOG.warning("Lost connection to nova-conductor for reporting "
                            "service status: %s: %s", type(exc).__name__,
                            str(exc).splitlines()[0] if str(exc) else "")
            self.lost = True
            return None
        if self.lost:
            LOG.info("Recovered from being unable to report status.")
            self.lost = False
        self._log(record, late, started)
        return record

    def _log(self, record, late, started):
        LOG.info("%s host=%s binary=%s report_count=%s late=%.3f took=%.3f "
                 "thread=%s", REPORT_MARK, self.host, self.binary,
                 (record or {}).get("report_count"), late,
                 time.monotonic() - started, self.thread_kind)
