"""The fake nova-api's REST resources (paste.deploy app factories).

``GET /v2.1/lab/ping`` becomes an RPC call to the fake compute and returns
its reply; ``POST /v2.1/lab/casts`` becomes a cast and returns 202 at once.
Every response says which worker process served it, because the lab matches
the broker's connections to that PID.
"""

import json
import os
import time

import oslo_messaging as messaging
import webob
import webob.dec

from fake_nova_api import compute_rpcapi

VERSION = {"id": "v2.1", "status": "CURRENT", "version": "2.1",
           "min_version": "2.1", "links": []}


def _json(status, body):
    return webob.Response(status=status, content_type="application/json",
                          charset="utf-8", body=json.dumps(body).encode())


def fault(status, message):
    """An error in nova's fault format."""
    key = "computeFault" if status >= 500 else "badRequest"
    if status == 404:
        key = "itemNotFound"
    return _json(status, {key: {"code": status, "message": message}})


class Versions:
    """``GET /``: the version document."""

    @classmethod
    def factory(cls, global_conf, **local_conf):
        return cls()

    @webob.dec.wsgify
    def __call__(self, req):
        return _json(200, {"versions": [VERSION]})


class LabAPI:
    """The /v2.1 resources that turn requests into RPC calls and casts."""

    def __init__(self):
        self.compute = compute_rpcapi.ComputeAPI()

    @classmethod
    def factory(cls, global_conf, **local_conf):
        return cls()

    @webob.dec.wsgify
    def __call__(self, req):
        route = (req.method, req.path_info.rstrip("/") or "/")
        if route == ("GET", "/"):
            return _json(200, {"version": VERSION})
        if route == ("GET", "/lab/ping"):
            return self._call(req)
        if route == ("POST", "/lab/casts"):
            return self._cast(req)
        return fault(404, f"{req.method} {req.path_info} is not a resource "
                          "of the fake nova-api")

    def _context(self, req):
        return {"request_id": req.environ.get("fake_lab.request_id", "-")}

    def _call(self, req):
        started = time.monotonic()
        try:
            reply = self.compute.ping(self._context(req),
                                      payload=req.params.get("payload"))
        except messaging.MessagingTimeout as exc:
            return fault(504, f"MessagingTimeout: {exc}")
        return _json(200, {"reply": reply, "api_pid": os.getpid(),
                           "rpc_seconds": time.monotonic() - started})

    def _cast(self, req):
        try:
            payload = json.loads(req.body or b"{}")
        except ValueError:
            return fault(400, "the request body is not JSON")
        started = time.monotonic()
        self.compute.record(self._context(req), payload=payload)
        return _json(202, {"api_pid": os.getpid(),
                           "rpc_seconds": time.monotonic() - started})
