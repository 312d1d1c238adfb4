"""Errors that end a lab command with one clear line and a known exit code.

Each kind of failure has its own code, so that a CI job (or the soak tool)
can tell a regression from a broken machine without reading the text.
"""

EXIT_OK = 0
EXIT_EXPECTATION = 1   # the verdict differs from --expect
EXIT_USAGE = 2         # bad command line, option value, config file, scenario
EXIT_MISSING = 3       # a component is not installed (rabbitmq-server, uwsgi)
EXIT_UNKNOWN = 4       # --expect was given and the verdict is unknown
EXIT_PORT = 5          # a port the run needs is taken
EXIT_DAEMON = 6        # a daemon failed to start or was not ready in time
EXIT_STORAGE = 7       # the run directory cannot be written (permissions, disk full)
EXIT_INTERRUPTED = 130


class LabError(Exception):
    """A failure the user can act on; ``str()`` is the one line to print."""

    code = EXIT_DAEMON


class UsageError(LabError):
    code = EXIT_USAGE


class MissingComponent(LabError):
    code = EXIT_MISSING


class PortTaken(LabError):
    code = EXIT_PORT


class DaemonFailed(LabError):
    code = EXIT_DAEMON


class StorageError(LabError):
    code = EXIT_STORAGE
