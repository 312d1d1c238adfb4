"""The fake services as oslo.messaging RPC servers, run as nova runs its
own: ``fake-compute`` (topic ``compute``, server ``[compute] host``),
``fake-scheduler`` and ``fake-conductor``.

The concurrency mode is decided on the first line, from nova's per-process
switch OS_NOVA_DISABLE_EVENTLET_PATCHING (fake_service/monkey_patch.py),
before anything that creates a lock or a thread is imported; it selects
oslo.service's backend too. The service is an ``oslo_service.service.Service``
started by ``oslo_service.service.launch`` as nova's ``service.serve`` does:
one worker is a ServiceLauncher (in threading mode a cotyledon master with
one child process, in eventlet mode the process itself), ``[service]
workers`` more is a ProcessLauncher. The RPC server's executor follows the
mode: eventlet when patched, threading otherwise.
"""
from fake_service import monkey_patch; _BACKEND_ERROR = monkey_patch.patch_or_error()  # noqa: E702,I001,E501

import os  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

import oslo_messaging as messaging  # noqa: E402
from oslo_config import cfg  # noqa: E402
from oslo_log import log as logging  # noqa: E402
from oslo_service import service as os_service  # noqa: E402

from fake_service import conf as lab_conf  # noqa: E402
from fake_service import logs, observe, rpc  # noqa: E402

LOG = logging.getLogger("fake_compute")

ROLES = ("compute", "scheduler", "conductor")


def _endpoints(role, conf):
    """(topic, server, endpoints) of a role."""
    from fake_compute import rpcapi

    if role == "compute":
        from fake_compute import manager

        host = conf.compute.host
        return conf.compute.topic, host, [
            manager.ComputeManager(host, conf.compute.step_delay,
                                   conf.compute.cast_work,
                                   conf.default_thread_pool_size)]
    url = conf.database.connection
    if not url:
        raise cfg.RequiredOptError("connection", cfg.OptGroup("database"))
    if role == "scheduler":
        from fake_compute import scheduler

        return rpcapi.SCHEDULER_TOPIC, "scheduler", [scheduler.SchedulerManager(
            url, conf.service_down_time)]
    from fake_compute import conductor

    return rpcapi.CONDUCTOR_TOPIC, "conductor", [conductor.ConductorManager(url)]


class RPCService(os_service.Service):
    """One RPC server, started in the worker (after any fork), stopped on
    the launcher's signal, as nova.service.Service is."""

    def __init__(self, role, conf, program, argv):
        super().__init__()
        self.role, self.conf, self.program, self.argv = role, conf, program, argv
        self.server = None
        self._stopped = threading.Event()

    # A spawned worker (``[service] start_method = spawn``) gets the service
    # pickled: what holds locks stays behind, and the fresh interpreter
    # parses its configuration and sets up its log again, from the argv.
    def __getstate__(self):
        state = dict(super().__getstate__())
        for name in ("conf", "server", "_stopped", "reporter"):
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.conf = _configure(self.role, self.argv)
        self.server = None
        self._stopped = threading.Event()
        LOG.info(monkey_patch.startup_line(self.program) + " (spawned)")

    def start(self):
        conf = self.conf
        topic, server_name, endpoints = _endpoints(self.role, conf)
        if conf.lab.broker_wait and not rpc.wait_for_broker(conf, conf.lab.broker_wait):
            LOG.warning("no broker answered within %s s; connecting anyway",
                        conf.lab.broker_wait)
        # The send pool's lines are the API's evidence (pool-expiry,
        # send-pool-contention): a service's would cost each reply two
        # writes that no checker reads.
        rpc.init(conf, self.program)
        executor = "eventlet" if monkey_patch.is_patched() else "threading"
        self.server = rpc.get_server(messaging.Target(topic=topic, server=server_name),
                                     endpoints, executor)
        self.server.start()
        self.reporter = _reporter(self.role, conf, server_name, topic)
        if self.reporter is not None:
            self.reporter.start()
        if self.role == "compute" and conf.compute.hub_probe:
            observe.start_lateness_probe(conf.compute.hub_probe, logs.log_path(conf),
                                         conf.compute.host)
        LOG.info("RPC server started: role=%s topic=%s server=%s executor=%s "
                 "eventlet_patched=%s pid=%s parent=%s", self.role, topic,
                 server_name, executor, monkey_patch.is_patched(), os.getpid(),
                 os.getppid())

    def stop(self, graceful=False):
        LOG.info("stopping")
        # A listener stuck reconnecting to a stopped broker would hold stop()
        # forever: the lab needs a service that always ends on SIGTERM.
        watchdog = threading.Timer(5.0, os._exit, (1,))
        watchdog.daemon = True
        watchdog.start()
        if getattr(self, "reporter", None) is not None:
            self.reporter.stop()
        if self.server is not None:
            self.server.stop()
            self.server.wait()
        rpc.cleanup()
        self._stopped.set()
        super().stop(graceful)

    def wait(self):
        # The threading backend's worker ends when wait() returns; it must
        # last as long as the service.
        self._stopped.wait()
        super().wait()


def _reporter(role, conf, server_name, topic):
    """The service's periodic state report (fake_compute/servicegroup.py),
    as nova's servicegroup DB driver joins a service: every ``[DEFAULT]
    report_interval`` seconds, through the conductor (the conductor itself
    straight to the database). None when the interval is 0 or the run has
    no conductor to report to."""
    from fake_compute import servicegroup

    if not conf.report_interval or "conductor" not in conf.lab.services:
        return None
    host = conf.compute.host if role == "compute" else socket.gethostname()
    binary = servicegroup.BINARIES[role]
    if role == "conductor":
        from fake_compute import conductor
        from fake_service import db

        engine = db.engine(conf.database.connection)

        def report(timeout):
            return conductor.report_state(engine, host, binary, topic)
    else:
        from fake_compute import rpcapi
        from fake_service import context

        api = rpcapi.ConductorAPI()

        def report(timeout):
            # The join's calls time out sooner than rpc_response_timeout.
            client = api.client.prepare(**({"timeout": timeout} if timeout else {}))
            return client.call(context.rpc_context(), "service_report", host=host,
                               binary=binary, topic=topic)
    kind = "green" if monkey_patch.is_patched() else "native"
    return servicegroup.Reporter(report, conf.report_interval, host, binary, kind)


def main(argv=None, role="compute"):
    prog = f"fake-{role}"
    if _BACKEND_ERROR:
        print(f"{prog}: {_BACKEND_ERROR}", file=sys.stderr)
        return 2
    argv = list(argv if argv is not None else sys.argv[1:])
    try:
        conf = _configure(role, argv)
    except (cfg.Error, ValueError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    program = _program(role, conf)
    LOG.info(monkey_patch.startup_line(program))
    if conf.service.connect_before_fork:
        _connect_before_fork(role, conf, program)
    launcher = os_service.launch(conf, RPCService(role, conf, program, argv),
                                 workers=conf.service.workers,
                                 restart_method="mutate",
                                 **_start_method(conf))
    status = launcher.wait()
    return status if isinstance(status, int) else 0


def _configure(role, argv):
    """cfg.CONF parsed from ``argv``, the log set up; raises cfg.Error."""
    conf = cfg.CONF  # oslo.messaging 18 registers some options only here
    if "lab" not in conf:
        lab_conf.register(conf)
        logs.register_options(conf)
    conf(argv, project="fake-lab", prog=f"fake-{role}")
    logs.setup(conf, _program(role, conf))
    if role != "compute" and not conf.database.connection:
        raise cfg.RequiredOptError("connection", cfg.OptGroup("database"))
    return conf


def _connect_before_fork(role, conf, program):
    """What a service that does RPC in its parent does: the transport, and
    one pooled send connection, exist before the launcher forks."""
    topic, server_name, _ = _endpoints(role, conf)
    rpc.init(conf, program)  # as RPCService.start
    client = rpc.get_client(messaging.Target(topic=topic, server=server_name))
    client.cast({}, "record", payload={"sent_by": "parent-before-fork",
                                       "pid": os.getpid()})
    LOG.info("connected before fork: pid=%s cast to %s.%s", os.getpid(), topic,
             server_name)


def _program(role, conf):
    # A compute host logs under its host name: several run side by side.
    return conf.compute.host if role == "compute" else f"fake-{role}"


def _start_method(conf):
    """The launcher's start method, where this oslo.service has the choice
    (the threading backend since 4.8: fork by default, spawn on request)."""
    import inspect

    if conf.service.start_method == "default":
        return {}
    if "start_method" not in inspect.signature(os_service.launch).parameters:
        LOG.warning("this oslo.service has no start_method: %s ignored",
                    conf.service.start_method)
        return {}
    return {"start_method": conf.service.start_method}


def scheduler_main(argv=None):
    return main(argv, role="scheduler")


def conductor_main(argv=None):
    return main(argv, role="conductor")


if __name__ == "__main__":
    # python -m fake_compute.service ROLE [oslo.config arguments]
    args = sys.argv[1:]
    role = args.pop(0) if args and args[0] in ROLES else "compute"
    sys.exit(main(args, role=role))
