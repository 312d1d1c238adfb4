"""Client sides of the fake conductor, scheduler and compute RPC APIs, as
nova's ``*/rpcapi.py`` modules: each builds its client on first use."""

import threading

import oslo_messaging as messaging

from fake_service import rpc

CONDUCTOR_TOPIC = "conductor"
SCHEDULER_TOPIC = "scheduler"


class _LazyClient:
    topic = None

    def __init__(self):
        self._client = None
        self._lock = threading.Lock()

    @property
    def client(self):
        with self._lock:
            if self._client is None:
                self._client = rpc.get_client(
                    messaging.Target(topic=self.topic, version="1.0"))
            return self._client


class ConductorAPI(_LazyClient):
    """The only way to the database for the API and the computes."""

    topic = CONDUCTOR_TOPIC

    def __getattr__(self, method):
        if method.startswith("_"):
            raise AttributeError(method)

        def call(context, **kwargs):
            return self.client.prepare().call(context, method, **kwargs)
        return call


class SchedulerAPI(_LazyClient):
    topic = SCHEDULER_TOPIC

    def select_destinations(self, context, flavor, request_id):
        return self.client.prepare().call(context, "select_destinations",
                                          flavor=flavor, request_id=request_id)
