"""Errors that end a lab command with one clear line and a known exit code."""

EXIT_OK = 0
EXIT_EXPECTATION = 1   # the verdict differs from --expect
EXIT_USAGE = 2         # bad command line, option value or scenario name
EXIT_ENVIRONMENT = 3   # a binary is missing, a port is taken, a daemon failed
EXIT_UNKNOWN = 4       # --expect was given and the verdict is unknown
EXIT_INTERRUPTED = 130


class LabError(Exception):
    """A failure the user can act on; ``str()`` is the one line to print."""

    code = EXIT_ENVIRONMENT


class UsageError(LabError):
    code = EXIT_USAGE
