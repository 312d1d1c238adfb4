"""Decide the concurrency backend once, before anything else is imported.

Mirrors nova/monkey_patch.py: every entry point calls ``patch()`` on its
first line, and one environment variable picks eventlet or plain threads, so
that the lab can run the very same code both ways.
"""

import os

ENV = "FAKE_LAB_CONCURRENCY"
BACKENDS = ("eventlet", "threading")
DEFAULT = "eventlet"

_patched = None


def backend():
    """The backend the environment asks for; ValueError when it is unknown."""
    value = os.environ.get(ENV, DEFAULT).strip().lower() or DEFAULT
    if value not in BACKENDS:
        raise ValueError(
            f"{ENV}={value!r} is not one of {', '.join(BACKENDS)}")
    return value


def patch():
    """Monkey-patch with eventlet when asked to; idempotent."""
    global _patched
    if _patched is not None:
        return _patched
    if backend() == "eventlet":
        import eventlet

        eventlet.monkey_patch()
        _patched = True
    else:
        _patched = False
    return _patched


def patch_or_error():
    """``patch()`` for an entry point's first line: None when done, else the
    one line to report (an unknown backend) once the program can print."""
    try:
        patch()
    except ValueError as exc:
        return str(exc)
    return None


def is_patched():
    """True when this process really runs on eventlet's green threads."""
    try:
        from eventlet import patcher
    except ImportError:
        return False
    return patcher.is_monkey_patched("thread")
