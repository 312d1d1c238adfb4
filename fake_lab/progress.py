"""A status line for the commands that wait: what they wait for, what is left.

Only on a terminal: the line is drawn on standard error with a carriage
return and erased before any other line is printed, so that a log file, a
pipe or a CI job sees the same line-oriented output as before, and nothing
of the status line.
"""

import os
import shutil
import sys
import threading
import time


class Status:
    """One status line; ``show(text)``, ``clear()``, and ``say(line)`` to
    print a line of output without the status line in its way."""

    def __init__(self, stream=None, enabled=None):
        self.stream = stream or sys.stderr
        self.enabled = (_is_terminal(self.stream) if enabled is None
                        else enabled)
        self._shown = False
        self._lock = threading.Lock()

    def show(self, text):
        if not self.enabled:
            return
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        with self._lock:
            self.stream.write("\r\x1b[K" + text[:width])
            self.stream.flush()
            self._shown = True

    def clear(self):
        if not self.enabled:
            return
        with self._lock:
            if self._shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
                self._shown = False

    def say(self, line, out=None):
        """Print ``line`` (to ``out``, standard output by default)."""
        self.clear()
        print(line, file=out or sys.stdout, flush=True)

    def ticking(self, text_of, interval=0.25):
        """A context in which ``text_of()`` is shown every ``interval`` s."""
        return _Ticker(self, text_of, interval)


class _Ticker:
    def __init__(self, status, text_of, interval):
        self.status, self.text_of, self.interval = status, text_of, interval
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if self.status.enabled:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self.status.show(self.text_of())
            except Exception:  # a status line must never break the command
                pass

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.status.clear()
        return False


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def last_line(path):
    """The last line a command under way wrote to ``path`` (its output
    file), for a status line: "" when there is none yet to read."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 400))
            lines = f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip() if lines else "starting"


def elapsed(since):
    """``12 s`` or ``1 min 05 s`` since the monotonic time ``since``."""
    seconds = int(time.monotonic() - since)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


QUIET = Status(enabled=False)
