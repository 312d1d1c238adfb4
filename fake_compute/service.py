"""The fake services as oslo.messaging RPC servers, one process each:
``fake-compute`` (topic ``compute``, server ``[compute] host``),
``fake-scheduler`` and ``fake-conductor``.

The concurrency backend is decided on the first line, from the
FAKE_LAB_CONCURRENCY environment variable, as in every entry point of nova,
before anything that creates a lock or a thread is imported. The RPC
server's executor follows it: eventlet when patched, threading otherwise.
"""
from fake_service import monkey_patch; _BACKEND_ERROR = monkey_patch.patch_or_error()  # noqa: E702,I001,E501

import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

import oslo_messaging as messaging  # noqa: E402
from oslo_config import cfg  # noqa: E402
from oslo_log import log as logging  # noqa: E402

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
                                   conf.compute.cast_work)]
    url = conf.database.connection
    if not url:
        raise cfg.RequiredOptError("connection", cfg.OptGroup("database"))
    if role == "scheduler":
        from fake_compute import scheduler

        return rpcapi.SCHEDULER_TOPIC, "scheduler", [scheduler.SchedulerManager(url)]
    from fake_compute import conductor

    return rpcapi.CONDUCTOR_TOPIC, "conductor", [conductor.ConductorManager(url)]


def main(argv=None, role="compute"):
    prog = f"fake-{role}"
    if _BACKEND_ERROR:
        print(f"{prog}: {_BACKEND_ERROR}", file=sys.stderr)
        return 2
    conf = cfg.CONF  # oslo.messaging 18 registers some options only here
    lab_conf.register(conf)
    logs.register_options(conf)
    try:
        conf(argv if argv is not None else sys.argv[1:], project="fake-lab",
             prog=prog)
        executor = "eventlet" if monkey_patch.is_patched() else "threading"
        # A compute host logs under its host name: several run side by side.
        logs.setup(conf, conf.compute.host if role == "compute" else prog)
        topic, server_name, endpoints = _endpoints(role, conf)
    except (cfg.Error, ValueError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    if conf.lab.broker_wait and not rpc.wait_for_broker(conf, conf.lab.broker_wait):
        LOG.warning("no broker answered within %s s; connecting anyway",
                    conf.lab.broker_wait)
    rpc.init(conf, conf.compute.host if role == "compute" else prog)
    target = messaging.Target(topic=topic, server=server_name)
    server = rpc.get_server(target, endpoints, executor)

    stop = threading.Event()

    def _on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server.start()
    if role == "compute" and conf.compute.hub_probe:
        observe.start_lateness_probe(conf.compute.hub_probe, logs.log_path(conf),
                                     conf.compute.host)
    LOG.info("RPC server started: role=%s topic=%s server=%s executor=%s "
             "eventlet_patched=%s", role, topic, server_name, executor,
             monkey_patch.is_patched())
    while not stop.wait(0.5):
        pass
    LOG.info("stopping")
    # A listener stuck reconnecting to a stopped broker would hold stop()
    # forever: the lab needs a service that always ends on SIGTERM.
    watchdog = threading.Timer(5.0, os._exit, (1,))
    watchdog.daemon = True
    watchdog.start()
    server.stop()
    server.wait()
    rpc.cleanup()
    return 0


def scheduler_main(argv=None):
    return main(argv, role="scheduler")


def conductor_main(argv=None):
    return main(argv, role="conductor")


if __name__ == "__main__":
    # python -m fake_compute.service ROLE [oslo.config arguments]
    args = sys.argv[1:]
    role = args.pop(0) if args and args[0] in ROLES else "compute"
    sys.exit(main(args, role=role))
