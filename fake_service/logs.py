"""One log format for every process of the lab, through oslo.log as in nova.

Each line carries a UTC timestamp with microseconds, the program and PID, and
the request id (``[req-...]``, ``[-]`` when none), so that lines of the broker,
the API and the services can be merged on one time axis and matched to a
connection (whose AMQP name is ``program:pid:uuid``)::

    2026-11-23T20:22:12.249443Z fake-compute-1[6170] INFO fake_service.observe [-] ...

The services log as nova does: ``register_options`` registers oslo.log's
options (``[DEFAULT] log_file``, ``debug``, ``default_log_levels``, ...) and
sets the lab's defaults for them; ``setup`` calls oslo.log's ``setup``, whose
ContextFormatter writes every line:

- ``%(request_id)s`` comes from the oslo.context RequestContext current in the
  thread (see fake_service.context); oslo.log picks
  ``logging_context_format_string`` when there is one and
  ``logging_default_format_string`` (with a literal ``[-]``) otherwise;
- ``%(utc_time)s`` and ``%(program)s`` are set by one small filter on
  oslo.log's handlers: ``%(asctime)s`` is local time from ``time.strftime``,
  which has no microseconds, and oslo.log's ``%(project)s`` (the name given
  to ``setup``) is overwritten by the context's ``project``.

The heartbeat observer (fake_service.observe) writes its own lines, lock-free,
in the same shape with the same timestamp function.

``info(logger, message)`` writes a line per RPC message (the fake compute's
``ping:`` and ``cast N:`` lines, which checkers read) at a fraction of
oslo.log's cost: oslo.log's ContextFormatter spends about 60-80 us of CPU on
a line with a request context (the context's logging values, a local-time
ISO stamp made with dateutil, a dozen option lookups), more than the lab
may add to an RPC call. The line is the one oslo.log would write,
character for character, handed to the kernel in one ``write(2)`` as the
observer's lines are; whenever it could differ (another format or handler,
a logging config file) it is oslo.log's own.
"""

import logging as std_logging
import os
import posix  # never monkey-patched: eventlet wraps os.write, not posix.write
import time
from logging import handlers as std_handlers

from oslo_context import context as _context
from oslo_log import log as logging

from fake_service import observe

_LINE = ("%(utc_time)s %(program)s[%(process)d] %(levelname)s %(name)s "
         "[{request}] %(instance)s%(message)s")
# With a request context (oslo.log fills %(request_id)s from it)...
CONTEXT_FORMAT = _LINE.format(request="%(request_id)s")
# ... and without one.
DEFAULT_FORMAT = _LINE.format(request="-")
# A traceback follows its line as it is, so that the lab's parsers see it as
# the continuation of that line (fake-lab trace quotes it with the line).
EXCEPTION_PREFIX = ""

# oslo.log's defaults keep amqp and stevedore at WARN; kombu joins them. The
# oslo.messaging entries (INFO) are dropped, so that ``debug = true`` shows
# the driver's pool and connection messages: at INFO nothing changes.
DEFAULT_LOG_LEVELS = [
    pair for pair in logging.get_default_log_levels()
    if pair.partition("=")[0] not in ("oslo.messaging", "oslo_messaging")
] + ["kombu=WARN",
       # The send pool's own lines ("Pool creating new connection", "Idle
       # connection has expired and been closed") are DEBUG in every
       # release: one line per connection made or expired, the pool-expiry
       # scenario's evidence (oslo.log names oslo_messaging's loggers "oslo.").
       "oslo.messaging._drivers.pool=DEBUG"]


class _LabFields(std_logging.Filter):
    """Give each record ``%(utc_time)s`` (UTC, microseconds, a final Z) and
    ``%(program)s``. It takes no lock: it runs on whatever thread logs,
    the driver's native heartbeat thread included."""

    def __init__(self, program):
        super().__init__()
        self.program = program

    def filter(self, record):
        record.utc_time = observe.stamp(record.created)
        record.program = self.program
        return True


def register_options(conf):
    """Register oslo.log's options on ``conf`` with the lab's defaults; before
    ``conf`` parses its arguments (some are command-line options)."""
    if "log_file" not in conf:  # a second time would fail once parsed
        logging.register_options(conf)
    conf.set_default("logging_context_format_string", CONTEXT_FORMAT)
    conf.set_default("logging_default_format_string", DEFAULT_FORMAT)
    conf.set_default("logging_exception_prefix", EXCEPTION_PREFIX)
    conf.set_default("default_log_levels", DEFAULT_LOG_LEVELS)


def log_path(conf):
    """The file oslo.log writes to (``[DEFAULT] log_file``, under
    ``log_dir`` when relative), or None when it logs to a stream."""
    if conf.log_file and conf.log_dir:
        return os.path.join(conf.log_dir, conf.log_file)
    return conf.log_file


def setup(conf, program):
    """Set up oslo.log for ``program`` from ``conf`` (already parsed)."""
    global _direct
    path = log_path(conf)
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    logging.setup(conf, program)
    fields = _LabFields(program)
    for handler in std_logging.getLogger().handlers:
        handler.addFilter(fields)
    if _direct is not None:  # set up again: the file may be another
        os.close(_direct[0])
    _direct = _direct_file(conf, path, program)


# (descriptor, program) when ``info`` may write its lines itself, else None.
_direct = None


def _direct_file(conf, path, program):
    """The log file's descriptor (O_APPEND) and the program, when oslo.log
    writes the lab's format to that file alone; None otherwise."""
    handlers = std_logging.getLogger().handlers
    if (not path or conf.log_config_append or len(handlers) != 1
            or getattr(conf, "use_json", False)
            or conf.logging_context_format_string != CONTEXT_FORMAT
            or conf.logging_default_format_string != DEFAULT_FORMAT):
        return None
    handler = handlers[0]
    if (type(handler) not in (std_logging.FileHandler,
                              std_handlers.WatchedFileHandler)
            or handler.baseFilename != os.path.abspath(path)
            or handler.level > std_logging.INFO):
        return None
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644), program
    except OSError:
        return None


def info(logger, message):
    """``logger.info(message)``, ``message`` already formatted: the same line
    in one lock-free write when oslo.log writes the lab's format to one file
    (see the module's docstring), else through oslo.log."""
    direct = _direct
    if direct is None:
        logger.info(message)
        return
    if not logger.isEnabledFor(std_logging.INFO):
        return
    current = _context.get_current()
    request = getattr(current, "request_id", None) or "-"
    line = "%s %s[%d] INFO %s [%s] %s\n" % (
        observe.stamp(time.time()), direct[1], os.getpid(),
        getattr(logger, "logger", logger).name, request, message)
    try:
        posix.write(direct[0], line.encode("utf-8", "replace"))
    except OSError:
        logger.info(message)
