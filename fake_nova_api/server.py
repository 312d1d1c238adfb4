"""``fake-nova-api``: the API in a standalone server, as nova's old
``nova-api`` binary ran it: eventlet.wsgi when monkey-patched (the hub runs
all the time, so green heartbeat threads get their turn), a threaded
wsgiref server otherwise.
"""
from fake_service import monkey_patch; monkey_patch.patch()  # noqa: E702,I001

import argparse  # noqa: E402
import signal  # noqa: E402
import socketserver  # noqa: E402
import sys  # noqa: E402
from wsgiref import simple_server  # noqa: E402

from fake_nova_api import wsgi_app  # noqa: E402


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, format, *args):  # the app logs every request
        pass


class _ThreadingServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fake-nova-api")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = wsgi_app.init_application("fake-nova-api")
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    if monkey_patch.is_patched():
        import eventlet
        import eventlet.wsgi

        sock = eventlet.listen((args.host, args.port))
        eventlet.wsgi.server(sock, app, log_output=False)
    else:
        server = simple_server.make_server(args.host, args.port, app,
                                           server_class=_ThreadingServer,
                                           handler_class=_QuietHandler)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
