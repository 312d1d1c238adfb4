"""The RPC layer, shaped like nova/rpc.py.

``init(conf)`` creates the transport once per process and ``cleanup()``
releases it; clients and servers come from the factory functions below so
that every fake service opens its connections the same way.
"""

import oslo_messaging as messaging
from oslo_log import log as logging

from fake_service import logs, monkey_patch, observe, version_of

LOG = logging.getLogger(__name__)

TRANSPORT = None
# What a run records of the libraries really imported by each service.
# oslo.log too: from 5.0.1 its handlers take a lock native threads may take
# in a patched process (LP#1983863), which decides service-heartbeat-hang.
IMPORTED = ("oslo.messaging", "kombu", "amqp", "eventlet", "oslo.log")


def init(conf, program, observe_pool=False):
    """Create the RPC transport from ``conf`` (its transport_url); ``program``
    names the process on the heartbeat observer's lines. ``observe_pool``:
    the observer also logs the send pool's gets, puts and expiries (the
    API passes ``[lab] observe_pool``, which the pool scenarios set for
    their checkers; the services never do)."""
    global TRANSPORT
    if TRANSPORT is not None:
        return TRANSPORT
    if conf.lab.observe_heartbeats:
        off = observe.install_heartbeat_observer(logs.log_path(conf), program,
                                                 pool=observe_pool)
        if off:
            LOG.warning(off)
    TRANSPORT = messaging.get_rpc_transport(conf)
    rabbit = conf.oslo_messaging_rabbit
    LOG.info("RPC transport ready: %s; eventlet patched=%s, "
             "heartbeat_timeout_threshold=%s heartbeat_rate=%s "
             "heartbeat_in_pthread=%s", ", ".join(
                 f"{d} {version_of(d)}" for d in IMPORTED),
             monkey_patch.is_patched(), rabbit.heartbeat_timeout_threshold,
             rabbit.heartbeat_rate, getattr(rabbit, "heartbeat_in_pthread", "n/a"))
    return TRANSPORT


def wait_for_broker(conf, timeout):
    """Wait until every broker node of ``conf.transport_url`` accepts TCP;
    False if one did not within ``timeout`` seconds (the driver then
    retries itself). Every node, not the first: a cluster's joining node
    opens its AMQP port only once it has joined, and a quorum queue
    declared before that would have fewer members for good."""
    import socket
    import time

    url = messaging.TransportURL.parse(conf, conf.transport_url)
    waiting = [(h.hostname, h.port or 5672) for h in url.hosts]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for host in list(waiting):
            try:
                socket.create_connection(host, timeout=0.5).close()
                waiting.remove(host)
            except OSError:
                pass
        if not waiting:
            return True
        time.sleep(0.1)
    return False


def cleanup():
    global TRANSPORT
    if TRANSPORT is not None:
        TRANSPORT.cleanup()
        TRANSPORT = None


def get_client(target, version_cap=None, timeout=None):
    """An RPC client on the process's transport (``init`` must have run)."""
    assert TRANSPORT is not None, "fake_service.rpc.init() was not called"
    factory = getattr(messaging, "get_rpc_client", None)
    if factory is None:  # oslo.messaging < 14.1 has only the constructor
        factory = messaging.RPCClient
    return factory(TRANSPORT, target, version_cap=version_cap, timeout=timeout)


def get_server(target, endpoints, executor):
    """An RPC server with the given executor ('eventlet' or 'threading')."""
    assert TRANSPORT is not None, "fake_service.rpc.init() was not called"
    access_policy = messaging.rpc.dispatcher.DefaultRPCAccessPolicy
    return messaging.get_rpc_server(TRANSPORT, target, endpoints,
                                    executor=executor,
                                    access_policy=access_policy)


class ClientRouter:
    """Chooses the client for a call, as nova's ClientRouter does per cell.

    The lab has one cell, so every call goes through the default client; the
    class exists so that the API's wiring matches nova's.
    """

    def __init__(self, default_client):
        self.default_client = default_client

    def client(self, context):
        return self.default_client
