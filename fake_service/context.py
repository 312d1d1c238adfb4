"""The request id (nova's ``req-<uuid>``) that follows one API request
through every RPC call and cast, and onto every log line it causes.

As in nova, the request is an oslo.context RequestContext, current in the
thread (a greenlet once eventlet patched the process) that handles it: the
API makes one for each request, ``bind`` one for each RPC message a service
handles, and oslo.log puts its ``request_id`` on every line logged meanwhile.
The RPC context is a plain dict carrying the id.
"""

import functools

from oslo_context import context as _context


def new_request_id():
    return _context.generate_request_id()


def set_request_id(request_id):
    """Make ``request_id`` the current request of this thread; None: no
    request (lines show ``[-]``)."""
    if request_id:
        _context.RequestContext(request_id=request_id)  # overwrite: current
    else:
        # oslo.context has no call to forget the current context: this is
        # what its own ClearRequestContext fixture does.
        try:
            del _context._request_store.context
        except AttributeError:
            pass


def request_id():
    current = _context.get_current()
    return current.request_id if current is not None else None


def rpc_context():
    """The context dict to send with an RPC."""
    return {"request_id": request_id() or "-"}


def bind(method):
    """Endpoint decorator: log the handling under the caller's request id."""
    @functools.wraps(method)
    def wrapper(self, context, *args, **kwargs):
        caller = (context or {}).get("request_id")
        set_request_id(caller if caller != "-" else None)
        try:
            return method(self, context, *args, **kwargs)
        finally:
            set_request_id(None)
    return wrapper
