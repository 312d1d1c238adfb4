"""The request id (nova's ``req-<uuid>``) that follows one API request
through every RPC call and cast, and onto every log line it causes.

The id lives in a thread-local (a greenlet-local once eventlet patched the
process), set by the API for each request and by ``bind`` for each RPC
message a service handles; the RPC context is a plain dict carrying it.
"""

import functools
import threading
import uuid

_local = threading.local()


def new_request_id():
    return "req-" + str(uuid.uuid4())


def set_request_id(request_id):
    _local.request_id = request_id


def request_id():
    return getattr(_local, "request_id", None)


def rpc_context():
    """The context dict to send with an RPC."""
    return {"request_id": request_id() or "-"}


def bind(method):
    """Endpoint decorator: log the handling under the caller's request id."""
    @functools.wraps(method)
    def wrapper(self, context, *args, **kwargs):
        set_request_id((context or {}).get("request_id"))
        try:
            return method(self, context, *args, **kwargs)
        finally:
            set_request_id(None)
    return wrapper
