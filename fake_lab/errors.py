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
EXIT_INCOMPLETE = 8    # matrix: a cell gave no evidence (not run, unavailable, crashed)
EXIT_INTERRUPTED = 130

# What each code means, for ``fake-lab --help`` (and the README's table).
MEANINGS = (
    (EXIT_OK, "the command completed (and matched --expect, when given)"),
    (EXIT_EXPECTATION, "the verdict differs from --expect: a regression (matrix: a "
                       "cell DISAGREES; soak: a leftover or an unexpected verdict; "
                       "bisect: no change found)"),
    (EXIT_USAGE, "bad input: unknown scenario, command or option, bad value, "
                 "unreadable config file, not a run directory"),
    (EXIT_MISSING, "a component is missing: rabbitmq-server, epmd, uwsgi, "
                   "mod_wsgi-express, PostgreSQL's server (or its postgres "
                   "user, or psycopg2), haproxy"),
    (EXIT_UNKNOWN, "the verdict is unknown (with --expect; matrix: a cell; "
                   "bisect: inconclusive)"),
    (EXIT_PORT, "a port the run needs is taken (--broker-port, --api-port)"),
    (EXIT_DAEMON, "a daemon failed to start or was not ready in time (its last "
                  "log lines are quoted)"),
    (EXIT_STORAGE, "the run directory cannot be written (not writable, disk full)"),
    (EXIT_INCOMPLETE, "matrix: a cell gave no evidence (not run, unavailable "
                      "release, crashed); bench: a path did not run, or a "
                      "call or cast went unanswered"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C, SIGTERM); everything started was "
                       "stopped"),
)


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


class Incomplete(LabError):
    code = EXIT_INCOMPLETE
