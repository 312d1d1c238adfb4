"""One log format for every process of the lab.

Each line carries a UTC timestamp with microseconds, the program and PID, and
the request id (``[req-...]``, ``[-]`` when none), so that lines of the broker, the API and the
services can be merged on one time axis and matched to a connection (whose
AMQP name is ``program:pid:uuid``).
"""

import logging
import os
import sys
import time

from fake_service import context

FORMAT = ("%(asctime)s %(program)s[%(process)d] %(levelname)s %(name)s "
          "[%(request_id)s] %(message)s")


class _Formatter(logging.Formatter):
    converter = time.gmtime

    def formatTime(self, record, datefmt=None):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created))
        return "%s.%06dZ" % (stamp, int(record.created % 1 * 1e6))


class _ProgramFilter(logging.Filter):
    def __init__(self, program):
        super().__init__()
        self.program = program

    def filter(self, record):
        record.program = self.program
        record.request_id = context.request_id() or "-"
        return True


def setup(program, log_file=None, debug=False):
    """Send the root logger to ``log_file`` (or stderr) in the lab's format."""
    if log_file:
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        handler = logging.FileHandler(log_file)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(FORMAT))
    handler.addFilter(_ProgramFilter(program))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # The driver's own chatter at DEBUG is only useful when asked for.
    for noisy in ("amqp", "kombu", "stevedore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)
    return handler
