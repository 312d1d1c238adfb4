"""The fake compute manager: the RPC endpoint the fake nova-api talks to."""

import logging
import os
import time

import oslo_messaging as messaging

LOG = logging.getLogger(__name__)


class ComputeManager:
    """RPC API 1.0: ``ping`` (answered by call) and ``record`` (a cast)."""

    target = messaging.Target(version="1.0")

    def __init__(self, host):
        self.host = host
        self.casts = 0

    def ping(self, context, payload=None):
        LOG.info("ping from %s: %s", context.get("request_id", "-"), payload)
        return {"host": self.host, "pid": os.getpid(), "time": time.time(),
                "payload": payload}

    def record(self, context, payload=None):
        self.casts += 1
        LOG.info("cast %d from %s: %s", self.casts,
                 context.get("request_id", "-"), payload)
