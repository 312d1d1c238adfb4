"""An oslo.messaging process of ``fake-lab bench``: an RPC server or client,
either the bare pair (``--kind om``: oslo.messaging's own factories, an
echo endpoint), the lab's path (``--kind lab``: the fake services' wiring)
or the lab's path with the lab's observation off (``--kind quiet``).

The concurrency mode is decided on the first line, from nova's switch
OS_NOVA_DISABLE_EVENTLET_PATCHING, before oslo.messaging (or anything that
makes a lock or a thread) is imported, as every fake service does: eventlet
monkey-patches and selects oslo.service's eventlet backend; threading
selects the threading backend and poisons eventlet.monkey_patch. The RPC
server's executor follows: eventlet when patched, threading otherwise.
(oslo.messaging's tools/simulator.py patches at import whatever executor
it is given, so its "threading" runs on green threads.)

``--kind lab`` is wired as the fake compute and the fake nova-api wire
their RPC (fake_compute/service.py RPCService.start, fake_nova_api's
compute_rpcapi): oslo.config and oslo.log set up from a config file, the
heartbeat observer installed by ``fake_service.rpc.init`` (the send pool's
only where ``[lab] observe_pool`` asks, as in the API: off by default, as
in every scenario but the pool ones), the server from
``rpc.get_server`` with the fake compute's ComputeManager, the
client ``compute_rpcapi.ComputeAPI`` with a request id per call. Only the
oslo.service launcher is left out (it costs a call nothing). Every kind
counts casts under a lock (the fake compute's own count takes none, and a
threading executor could lose one) and answers ``bench_status``.

``--kind quiet`` is ``lab`` with the lab's observation off, and nothing
else: the runner's config file sets ``[lab] observe_heartbeats = false``
(``rpc.init`` then installs no observer) and the worker raises its
service's logger (``fake_compute`` in the server, ``fake_nova_api`` in the
client) above INFO once its startup
line is written, so that the fake compute's ``ping: N`` and ``cast N: ...``
lines are not written (``fake_service.logs.info`` asks the logger first).
What nova itself would do stays: oslo.log set up from the same options,
the request id and RequestContext per call, ``prepare()`` per call, the
reply naming host and PID. Each process says what observation it has
(``observation`` in its record), and the runner checks it against its path.

    python -m fake_service.bench_worker --kind om|lab|quiet --role server|client \\
        --control 127.0.0.1:PORT --id PAIR
"""
from fake_service import monkey_patch; _BACKEND_ERROR = monkey_patch.patch_or_error()  # noqa: E702,I001,E501

import sys  # noqa: E402
import threading  # noqa: E402

from fake_service import bench_driver  # noqa: E402

TOPIC = "bench"


class BareEndpoint:
    """The bare pair's endpoint: an echo call and a counted cast."""

    def __init__(self):
        self.casts = 0
        self._lock = threading.Lock()

    def ping(self, ctxt, payload=None):
        return payload

    def record(self, ctxt, payload=None):
        with self._lock:
            self.casts += 1


class Status:
    """``bench_status``: the casts counted, and the thread that answers (the
    executor's: a green thread when patched, a pool thread otherwise)."""

    def __init__(self, counter):
        self.counter = counter

    def bench_status(self, ctxt):
        return {"casts": self.counter.casts, "handler": bench_driver.thread_info()}


def _compute_manager():
    from fake_compute import manager

    class BenchComputeManager(manager.ComputeManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.bench_casts = 0
            self._bench_lock = threading.Lock()

        def record(self, ctxt, payload=None):
            super().record(ctxt, payload)
            with self._bench_lock:
                self.bench_casts += 1

    return BenchComputeManager


class _Counted:
    def __init__(self, manager):
        self.manager = manager

    @property
    def casts(self):
        return self.manager.bench_casts


def _executor():
    return "eventlet" if monkey_patch.is_patched() else "threading"


def _server_record(server, extra):
    work = getattr(server, "_work_executor", None)
    return dict(extra, executor=getattr(server, "executor_type", _executor()),
                work_executor=type(work).__name__ if work is not None else None,
                startup_line=monkey_patch.startup_line(f"bench-{extra['kind']}"))


def observation(service_logger=None):
    """What of the lab's observation this process has, read from what is
    installed, not from what was asked: ``heartbeats`` (the driver's
    heartbeat check wrapped by fake_service.observe), ``pool`` (the send
    pool's get and put wrapped), ``evidence_lines`` (``service_logger``,
    the logger of the service's evidence, ``fake_compute.manager`` or
    ``fake_nova_api.compute_rpcapi``, writes INFO lines; None for the bare
    pair, which has none)."""
    import importlib
    import logging

    def wrapped(module, cls, method):
        try:
            owner = getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError):
            return False
        return bool(getattr(getattr(owner, method, None), "_fake_lab_observed", False))

    return {"heartbeats": wrapped("oslo_messaging._drivers.impl_rabbit", "Connection",
                                  "_heartbeat_check"),
            "pool": wrapped("oslo_messaging._drivers.pool", "ConnectionPool", "get"),
            "evidence_lines": None if service_logger is None else
            logging.getLogger(service_logger).isEnabledFor(logging.INFO),
            "evidence_logger": service_logger}


def _quiet(service_logger):
    """The service's own INFO lines off (``--kind quiet``): its logger above
    INFO, in this process only."""
    import logging

    logging.getLogger(service_logger).setLevel(logging.WARNING)


class BareServer:
    def __init__(self, start):
        import oslo_messaging as messaging
        from oslo_config import cfg

        conf = cfg.CONF  # oslo.messaging 18 registers some options here only
        conf([], project="fake-lab-bench")
        self.transport = messaging.get_rpc_transport(conf, url=start["url"])
        self.endpoint = BareEndpoint()
        self.server = messaging.get_rpc_server(
            self.transport, messaging.Target(topic=TOPIC, server="bench-server"),
            [self.endpoint, Status(self.endpoint)], executor=_executor(),
            access_policy=messaging.rpc.dispatcher.DefaultRPCAccessPolicy)
        self.server.start()

    def record(self):
        return _server_record(self.server, {"kind": "om", "observation": observation()})

    def stop(self):
        _stop(self.server, self.transport)


class BareClient:
    def __init__(self, start):
        import oslo_messaging as messaging
        from oslo_config import cfg

        conf = cfg.CONF
        conf([], project="fake-lab-bench")
        self.transport = messaging.get_rpc_transport(conf, url=start["url"])
        factory = getattr(messaging, "get_rpc_client", None) or messaging.RPCClient
        self.client = factory(self.transport, messaging.Target(topic=TOPIC),
                              timeout=start["timeout"])
        _warm(self)

    def record(self):
        return {"kind": "om", "observation": observation()}

    def call(self, i, n):
        return self.client.call({}, "ping", payload=n)

    def cast(self, n):
        self.client.cast({}, "record", payload=n)

    def status(self):
        return self.client.call({}, "bench_status")

    def stop(self):
        self.transport.cleanup()


def _lab_conf(start, program):
    """cfg.CONF as a fake service has it: the lab's options, oslo.log's,
    the config file the runner wrote, oslo.log set up."""
    from oslo_config import cfg

    from fake_service import conf as lab_conf
    from fake_service import logs

    conf = cfg.CONF
    lab_conf.register(conf)
    logs.register_options(conf)
    conf(["--config-file", start["config_file"]], project="fake-lab", prog=program)
    conf.set_override("transport_url", start["url"])
    logs.setup(conf, program)
    return conf


def lab_wiring(start, program, kind, logger, role):
    """A lab-wired process up to its RPC transport: ``_lab_conf``; the
    server's startup line on its service's logger (as the fake compute
    writes it); with ``kind`` quiet, that logger above INFO; ``rpc.init``,
    which installs the observers the config asks for (the pool's only in
    the client, the API's side, and only with ``[lab] observe_pool``, as
    the fake nova-api does)."""
    from oslo_log import log as logging

    from fake_service import rpc

    conf = _lab_conf(start, program)
    if role == "server":
        logging.getLogger(logger).info(monkey_patch.startup_line(program))
    if kind == "quiet":
        _quiet(logger)
    rpc.init(conf, program, observe_pool=role == "client" and conf.lab.observe_pool)
    return conf


class LabServer:
    """The fake compute's RPC server, as RPCService.start wires it."""

    KIND = "lab"
    LOGGER = "fake_compute"
    EVIDENCE = "fake_compute.manager"  # the ping and cast lines' logger

    def __init__(self, start):
        import oslo_messaging as messaging

        from fake_service import rpc

        conf = lab_wiring(start, "fake-compute-bench", self.KIND, self.LOGGER, "server")
        host = conf.compute.host
        self.manager = _compute_manager()(host, conf.compute.step_delay,
                                          conf.compute.cast_work,
                                          conf.default_thread_pool_size)
        self.server = rpc.get_server(messaging.Target(topic=conf.compute.topic, server=host),
                                     [self.manager, Status(_Counted(self.manager))],
                                     _executor())
        self.server.start()

    def record(self):
        return _server_record(self.server, {"kind": self.KIND,
                                            "observation": observation(self.EVIDENCE)})

    def stop(self):
        from fake_service import rpc

        _stop(self.server, None)
        rpc.cleanup()


class LabClient:
    """The fake nova-api's RPC client: compute_rpcapi.ComputeAPI, a request
    id for each call as the API's middleware makes one per request."""

    KIND = "lab"
    LOGGER = "fake_nova_api"
    # No line of its own per call (its pool lines are off, as in the API
    # outside the pool scenarios): only its heartbeat lines.
    EVIDENCE = "fake_nova_api.compute_rpcapi"

    def __init__(self, start):
        import oslo_messaging as messaging

        from fake_nova_api import compute_rpcapi
        from fake_service import context, rpc

        conf = lab_wiring(start, "fake-nova-api-bench", self.KIND, self.LOGGER, "client")
        self.context = context
        self.api = compute_rpcapi.ComputeAPI()
        self.status_client = rpc.get_client(
            messaging.Target(topic=conf.api.compute_topic, version="1.0"))
        _warm(self)

    def record(self):
        return {"kind": self.KIND, "observation": observation(self.EVIDENCE)}

    def _as_request(self, method, n):
        context = self.context
        context.set_request_id(context.new_request_id())
        try:
            return method(context.rpc_context(), payload=n)
        finally:
            context.set_request_id(None)

    def call(self, i, n):
        return self._as_request(self.api.ping, n)

    def cast(self, n):
        self._as_request(self.api.record, n)

    def status(self):
        return self.status_client.call(self.context.rpc_context(), "bench_status")

    def stop(self):
        from fake_service import rpc

        rpc.cleanup()


class QuietServer(LabServer):
    """``LabServer`` with the lab's observation off (the module's docstring)."""

    KIND = "quiet"


class QuietClient(LabClient):
    """``LabClient`` with the lab's observation off (the module's docstring)."""

    KIND = "quiet"


def _warm(client, callers=8):
    """Open the connections before anything is measured: the reply queue,
    and as many send connections as the most callers will use."""
    client.status()
    bench_driver.run_calls(client.call, callers, callers * 2, 30)


def _stop(server, transport):
    # A watchdog: a server stuck in stop() must not keep the bench waiting
    # (the runner would stop it by its tree anyway).
    import os

    watchdog = threading.Timer(5.0, os._exit, (0,))
    watchdog.daemon = True
    watchdog.start()
    server.stop()
    server.wait()
    if transport is not None:
        transport.cleanup()


KINDS = {("om", "server"): BareServer, ("om", "client"): BareClient,
         ("lab", "server"): LabServer, ("lab", "client"): LabClient,
         ("quiet", "server"): QuietServer, ("quiet", "client"): QuietClient}


def main(argv=None):
    parser = bench_driver.parser("fake-lab-bench-worker")
    parser.add_argument("--kind", required=True, choices=("om", "lab", "quiet"))
    args = parser.parse_args(argv)
    setup = KINDS[args.kind, args.role]
    if _BACKEND_ERROR:  # said to the runner, which names this path failed
        print(f"bench worker: {_BACKEND_ERROR}", file=sys.stderr)

        def setup(start):
            raise RuntimeError(_BACKEND_ERROR)
    return bench_driver.serve(args, setup)


if __name__ == "__main__":
    sys.exit(main())
