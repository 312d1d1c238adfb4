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
"""

import logging as std_logging
import os

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
    path = log_path(conf)
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    logging.setup(conf, program)
    fields = _LabFields(program)
    for handler in std_logging.getLogger().handlers:
        handler.addFilter(fields)
