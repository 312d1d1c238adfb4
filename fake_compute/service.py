"""``fake-compute``: one fake compute host as an oslo.messaging RPC server.

The concurrency backend is decided on the first line, from the
FAKE_LAB_CONCURRENCY environment variable, as in every entry point of nova.
"""

import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

from fake_service import monkey_patch  # noqa: E402 (must come first)

_BACKEND_ERROR = None
try:
    monkey_patch.patch()
except ValueError as exc:  # reported by main() as one line
    _BACKEND_ERROR = str(exc)

import logging  # noqa: E402

import oslo_messaging as messaging  # noqa: E402
from oslo_config import cfg  # noqa: E402

from fake_compute import manager  # noqa: E402
from fake_service import conf as lab_conf  # noqa: E402
from fake_service import logs, rpc  # noqa: E402

LOG = logging.getLogger("fake_compute")


def main(argv=None):
    if _BACKEND_ERROR:
        print(f"fake-compute: {_BACKEND_ERROR}", file=sys.stderr)
        return 2
    conf = cfg.CONF  # oslo.messaging 18 registers some options only here
    lab_conf.register(conf)
    try:
        conf(argv if argv is not None else sys.argv[1:], project="fake-lab",
             prog="fake-compute")
        executor = conf.compute.executor or (
            "eventlet" if monkey_patch.is_patched() else "threading")
        host, topic = conf.compute.host, conf.compute.topic
    except (cfg.Error, ValueError) as exc:
        print(f"fake-compute: {exc}", file=sys.stderr)
        return 2
    logs.setup("fake-compute", conf.lab.log_file, conf.lab.debug)
    if conf.lab.broker_wait and not rpc.wait_for_broker(conf, conf.lab.broker_wait):
        LOG.warning("no broker answered within %s s; connecting anyway",
                    conf.lab.broker_wait)
    rpc.init(conf)
    target = messaging.Target(topic=topic, server=host)
    server = rpc.get_server(target, [manager.ComputeManager(host)], executor)

    stop = threading.Event()

    def _on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server.start()
    LOG.info("RPC server started: topic=%s host=%s executor=%s "
             "eventlet_patched=%s", topic, host, executor,
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


if __name__ == "__main__":
    sys.exit(main())
