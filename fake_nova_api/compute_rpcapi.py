"""Client side of the fake compute RPC API, shaped like nova/compute/rpcapi.py.

The router (and with it the RPC client) is created on first use, under a
lock, so the first request of each worker is the one that opens the RPC
connections, exactly as in nova-api.
"""

import threading

import oslo_messaging as messaging
from oslo_config import cfg

from fake_service import rpc

_ROUTER = None
_ROUTER_LOCK = threading.Lock()


class ComputeAPI:
    """``ping`` is an RPC call (waits for the reply), ``record`` a cast."""

    @property
    def router(self):
        global _ROUTER
        with _ROUTER_LOCK:
            if _ROUTER is None:
                target = messaging.Target(topic=cfg.CONF.api.compute_topic,
                                          version="1.0")
                _ROUTER = rpc.ClientRouter(rpc.get_client(target))
            return _ROUTER

    def ping(self, context, payload=None):
        client = self.router.client(context)
        return client.prepare().call(context, "ping", payload=payload)

    def long_operation(self, context, seconds, payload=None):
        client = self.router.client(context)
        return client.prepare().call(context, "long_operation", seconds=seconds,
                                     payload=payload)

    def record(self, context, payload=None):
        client = self.router.client(context)
        client.prepare().cast(context, "record", payload=payload)

    def build_and_run_instance(self, context, host, instance_uuid, task_id):
        client = self.router.client(context)
        client.prepare(server=host).cast(context, "build_and_run_instance",
                                         instance_uuid=instance_uuid,
                                         task_id=task_id)

    def instance_action(self, context, host, method, instance_uuid, task_id,
                        **kwargs):
        """A server action's cast to the instance's host (RPC API 1.1:
        reboot_instance, stop_instance, start_instance, pause_instance,
        unpause_instance, suspend_instance, resume_instance)."""
        client = self.router.client(context)
        client.prepare(server=host, version="1.1").cast(
            context, method, instance_uuid=instance_uuid, task_id=task_id, **kwargs)


def reset():
    """Forget the router (tests and cleanup)."""
    global _ROUTER
    with _ROUTER_LOCK:
        _ROUTER = None
