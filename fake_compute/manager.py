"""The fake compute manager: the RPC endpoint of one fake compute host.

``build_and_run_instance`` (a cast) walks nova's task states with fake work
in place of a hypervisor, through the conductor for every database access:
networking -> block_device_mapping -> spawning -> ACTIVE / Running, or ERROR
with a fault.
"""

import concurrent.futures
import os
import threading
import time

import oslo_messaging as messaging
from oslo_log import log as logging

from fake_compute import power, rpcapi
from fake_service import context, logs

LOG = logging.getLogger(__name__)

BUILD_STEPS = ("networking", "block_device_mapping", "spawning")


class ComputeManager(power.PowerActions):
    """RPC API 1.0: ``ping`` and ``long_operation`` (calls), ``record`` and
    ``build_and_run_instance`` (casts); 1.1 adds the server actions (casts,
    power.PowerActions)."""

    # 1.1: the server actions (fake_compute/power.py)
    target = messaging.Target(version="1.1")

    def __init__(self, host, step_delay=0.0, cast_work=0.0, spawn_pool_size=0):
        self.host = host
        # nova's default_thread_pool_size: the pool of utils.spawn (native
        # threads in threading mode, green ones when patched); 0 builds in
        # the RPC handler's own thread, as the lab did before.
        self.spawn_pool_size = spawn_pool_size
        self.spawn_pool = (concurrent.futures.ThreadPoolExecutor(
            spawn_pool_size, thread_name_prefix="default-pool")
            if spawn_pool_size else None)
        self.step_delay = step_delay
        self.cast_work = cast_work
        self.casts = 0
        self.conductor = rpcapi.ConductorAPI()
        # long_operation: how many run at once (the executor's pool bounds it).
        self._running = 0
        self._running_lock = threading.Lock()

    # The lines of ping and record are written by logs.info, which costs a
    # call a few microseconds where oslo.log costs it 60-80 (the bench's
    # lab path): checkers read them (wsgi-threads, service-heartbeat-hang,
    # busy-starvation), so they stay, the same lines, made cheaply.
    @context.bind
    def ping(self, ctxt, payload=None):
        logs.info(LOG, "ping: %s" % (payload,))
        return {"host": self.host, "pid": os.getpid(), "time": time.time(),
                "payload": payload}

    @context.bind
    def long_operation(self, ctxt, seconds=1.0, payload=None):
        """A call that holds one of the RPC server's executor threads for
        ``seconds`` (a sleep: a slow hypervisor or storage operation); logs
        when it started and ended and how many ran at once."""
        seconds = min(max(float(seconds), 0.0), 60.0)
        with self._running_lock:
            self._running += 1
            running = self._running
        started = time.time()
        LOG.info("long-op start: name=%s seconds=%.3f running=%d thread=%s",
                 payload, seconds, running, threading.current_thread().name)
        try:
            time.sleep(seconds)
        finally:
            with self._running_lock:
                self._running -= 1
                running = self._running
            LOG.info("long-op end: name=%s took=%.3f running=%d", payload,
                     time.time() - started, running)
        return {"host": self.host, "pid": os.getpid(), "started": started,
                "ended": time.time(), "payload": payload}

    @context.bind
    def record(self, ctxt, payload=None):
        self.casts += 1
        logs.info(LOG, "cast %d: %s" % (self.casts, payload))
        if self.cast_work:
            # Busy, never yielding: time.monotonic() is no switch point, so
            # a green thread holds the hub for the whole of it.
            end = time.monotonic() + self.cast_work
            while time.monotonic() < end:
                pass

    @context.bind
    def build_and_run_instance(self, ctxt, instance_uuid, task_id):
        """The cast hands the build to the default pool and returns, as
        nova's compute manager does (utils.spawn): the RPC executor's thread
        is free again at once, and builds beyond the pool's size wait."""
        if self.spawn_pool is None:
            return self._build_and_run_instance(ctxt, instance_uuid, task_id)
        LOG.info("build of %s queued in the default pool (size %d)",
                 instance_uuid, self.spawn_pool_size)
        self.spawn_pool.submit(self._build_and_run_instance, ctxt, instance_uuid,
                               task_id)

    @context.bind
    def _build_and_run_instance(self, ctxt, instance_uuid, task_id):
        LOG.info("building instance %s", instance_uuid)
        try:
            instance = self.conductor.instance_get(ctxt, uuid=instance_uuid)
            if instance is None:
                raise RuntimeError(f"instance {instance_uuid} is gone")
            self.conductor.build_started(ctxt, uuid=instance_uuid, host=self.host)
            time.sleep(self.step_delay)  # the claim, still task_state scheduling
            for step in BUILD_STEPS:
                self.conductor.instance_update(
                    ctxt, uuid=instance_uuid, values={"task_state": step})
                time.sleep(self.step_delay)  # the fake work of this step
            self.conductor.instance_update(ctxt, uuid=instance_uuid, values={
                "status": "ACTIVE", "task_state": None, "power_state": "Running"})
            self.conductor.task_finish(ctxt, task_id=task_id, status="completed")
            LOG.info("instance %s ACTIVE on %s", instance_uuid, self.host)
        except Exception as exc:
            LOG.exception("build of %s failed", instance_uuid)
            reason = f"{type(exc).__name__}: {exc}"
            try:
                self.conductor.instance_update(ctxt, uuid=instance_uuid, values={
                    "status": "ERROR", "task_state": None, "fault": reason})
                self.conductor.task_finish(ctxt, task_id=task_id,
                                           status="failed", reason=reason)
            except Exception:
                LOG.exception("could not record the failure of %s", instance_uuid)
