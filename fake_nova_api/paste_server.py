"""``fake-nova-api`` under paste.httpserver, the threaded server of the Paste
project (seed 002: its thread pool's workers are idle, working, hung, dying
or zombie). The same paste.deploy app as every other container. Monkey-patched
first when the run says eventlet, so the pool's worker threads are then green
threads, as in an API process that patched before importing its server.
"""
from fake_service import monkey_patch; monkey_patch.patch()  # noqa: E702,I001

import argparse  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

from fake_nova_api import wsgi_app  # noqa: E402

# paste.httpserver's own default pool: ten workers, started at once.
WORKERS = 10


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fake-nova-api")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=WORKERS)
    args = parser.parse_args(argv)
    from paste import httpserver

    app = wsgi_app.init_application("fake-nova-api")
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    httpserver.serve(app, host=args.host, port=args.port, use_threadpool=True,
                     threadpool_workers=args.workers, daemon_threads=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
