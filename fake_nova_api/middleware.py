"""Filters of the API pipeline: request ids and faults, as nova has them."""

import logging
import os

import webob.dec

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
