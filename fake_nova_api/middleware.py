"""Filters of the API pipeline: request ids and faults, as nova has them."""

import os
import threading

import webob.dec
from oslo_log import log as logging

from fake_nova_api import api
from fake_service import context

LOG = logging.getLogger(__name__)


class RequestId:
    """Give every request nova's ``req-<uuid>`` id and log it in and out."""

    def __init__(self, app):
        self.app = app

    @classmethod
    def factory(cls, global_conf, **local_conf):
        return cls

    @webob.dec.wsgify
    def __call__(self, req):
        request_id = context.new_request_id()
        req.environ["fake_lab.request_id"] = request_id
        context.set_request_id(request_id)
        LOG.info("%s %s %s", request_id, req.method, req.path_qs)
        resp = req.get_response(self.app)
        resp.headers["x-openstack-request-id"] = request_id
        resp.headers["x-fake-lab-worker-pid"] = str(os.getpid())
        # The OS thread that served it (never patched by eventlet): a WSGI
        # container's threads each run their own eventlet hub.
        resp.headers["x-fake-lab-worker-thread"] = str(threading.get_native_id())
        LOG.info("%s %s %s -> %s", request_id, req.method, req.path_qs,
                 resp.status_int)
        context.set_request_id(None)
        return resp


class FaultWrapper:
    """Turn any unexpected exception into nova's 500 fault, logged."""

    def __init__(self, app):
        self.app = app

    @classmethod
    def factory(cls, global_conf, **local_conf):
        return cls

    @webob.dec.wsgify
    def __call__(self, req):
        try:
            return req.get_response(self.app)
        except Exception as exc:
            LOG.exception("unexpected error")
            return api.fault(500, f"{type(exc).__name__}: {exc}")


class Microversion:
    """Compute API microversions as nova negotiates them: the request's
    ``OpenStack-API-Version: compute X.Y`` (or the legacy
    ``X-OpenStack-Nova-API-Version``), ``latest`` for the maximum, 2.1 when
    absent; one outside [min, max] is refused with 406. The response says
    which version served it."""

    def __init__(self, app):
        self.app = app

    @classmethod
    def factory(cls, global_conf, **local_conf):
        return cls

    @staticmethod
    def requested(req):
        header = req.headers.get("OpenStack-API-Version", "")
        for part in header.split(","):
            service, _, value = part.strip().partition(" ")
            if service.lower() == "compute" and value.strip():
                return value.strip()
        return req.headers.get("X-OpenStack-Nova-API-Version", "").strip() or None

    @webob.dec.wsgify
    def __call__(self, req):
        text = self.requested(req)
        low, high = api.MIN_VERSION, api.MAX_VERSION
        if text is None:
            version = low
        elif text.lower() == "latest":
            version = high
        else:
            try:
                major, minor = (int(p) for p in text.split("."))
                version = (major, minor)
            except ValueError:
                return api.fault(400, f"Invalid format of the requested API "
                                      f"version: {text}")
            if not low <= version <= high:
                return api.fault(406, "Version %s is not supported by the API. "
                                      "Minimum is %d.%d and maximum is %d.%d."
                                 % ((text,) + low + high))
        req.environ["fake_lab.microversion"] = version
        resp = req.get_response(self.app)
        served = "%d.%d" % version
        resp.headers["OpenStack-API-Version"] = f"compute {served}"
        resp.headers["X-OpenStack-Nova-API-Version"] = served
        resp.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        return resp
