"""The WSGI containers' own logs, read into evidence.

- uWSGI's log (logs/uwsgi.log): which release ran, whether it turned Python
  threads on, the master's and the workers' PIDs, and which process loaded
  the app (the master, before it forks, unless lazy-apps; each worker after
  the fork with it);
- the errors eventlet's hub printed to the container's standard error:
  uwsgi.log, Apache's error log for mod_wsgi (each line dated, with the
  daemon's PID and thread), the standalone server's output.

Every item keeps its raw line and line number, so a verdict can be checked
by opening the file at that line.
"""

import datetime
import re

from fake_lab.checkers import evidence

# The file (under logs/) where each container's standard error ends up.
ERROR_LOGS = {"uwsgi": "uwsgi", "mod_wsgi": "apache-error",
              "eventlet-wsgi": "fake-nova-api.out"}

_STARTING = re.compile(r"\*\*\* Starting uWSGI (?P<version>\S+)")
_BINARY = re.compile(r"detected binary path: (?P<path>\S+)")
# uWSGI <= 2.0.26 says the first without enable-threads (or threads); every
# release says the second when threads are on (always, from 2.0.27).
THREADS_OFF = "*** Python threads support is disabled"
THREADS_ON = "python threads support enabled"
_MASTER = re.compile(r"spawned uWSGI master process \(pid: (?P<pid>\d+)\)")
_WORKER = re.compile(r"spawned uWSGI worker (?P<n>\d+) \(pid: (?P<pid>\d+), "
                     r"cores: (?P<cores>\d+)\)")
_SERVED = re.compile(r"^\[pid: (?P<pid>\d+)\|app: ")
_NO_MERCY = re.compile(r"worker \d+ \(pid: (?P<pid>\d+)\) is taking too much "
                       r"time to die")
_APP = re.compile(r"WSGI app \d+ \(mountpoint='[^']*'\) ready in \d+ seconds on "
                  r"interpreter \S+ pid: (?P<pid>\d+)")

# What eventlet's hub (and greenlet under it) print when a green thread is
# woken from another OS thread, or two green threads share a socket.
HUB_ERRORS = (
    re.compile(r"greenlet\.error: .+"),
    re.compile(r"RuntimeError: Second simultaneous (?:read|write) on fileno \d+.*"),
    re.compile(r"[Cc]annot switch to a different thread"),
)
# Apache's error log: "[Mon Nov 23 23:10:51.156486 2026] [wsgi:error]
# [pid 5340:tid 5371] ..." (local time).
_APACHE = re.compile(r"^\[(?P<ts>\w{3} \w{3} +\d+ [\d:.]+ \d{4})\] \[[^\]]*\] "
                     r"\[pid (?P<pid>\d+)(?::tid (?P<tid>\d+))?\]")


def uwsgi_log(path):
    """What uWSGI said of itself: {version, binary, python_threads ('on',
    'off' or None), threads_line, master, workers [pids], app_loaded_by
    [pids], served {pid: requests logged}, no_mercy {pid: (number, raw)}:
    workers that did not stop when asked, lines {key: (number, raw)}}."""
    found = {"version": None, "binary": None, "python_threads": None,
             "threads_line": None, "master": None, "workers": [],
             "app_loaded_by": [], "served": {}, "no_mercy": {}, "lines": {}}
    for n, raw in enumerate(evidence.read_lines(path), 1):
        m = _SERVED.match(raw)
        if m:
            pid = int(m.group("pid"))
            found["served"][pid] = found["served"].get(pid, 0) + 1
            continue
        m = _NO_MERCY.search(raw)
        if m:
            found["no_mercy"][int(m.group("pid"))] = (n, raw.strip())
        m = _STARTING.search(raw)
        if m and found["version"] is None:
            found["version"] = m.group("version")
            found["lines"]["version"] = (n, raw)
        m = _BINARY.search(raw)
        if m and found["binary"] is None:
            found["binary"] = m.group("path")
        if THREADS_OFF in raw or THREADS_ON in raw:
            found["python_threads"] = "off" if THREADS_OFF in raw else "on"
            found["threads_line"] = (n, raw.strip())
        m = _MASTER.search(raw)
        if m:
            found["master"] = int(m.group("pid"))
            found["lines"]["master"] = (n, raw)
        m = _WORKER.search(raw)
        if m:
            found["workers"].append(int(m.group("pid")))
        m = _APP.search(raw)
        if m:
            found["app_loaded_by"].append(int(m.group("pid")))
            found["lines"].setdefault("app", (n, raw))
    return found


def _apache_time(stamp):
    try:
        return datetime.datetime.strptime(stamp, "%a %b %d %H:%M:%S.%f %Y").timestamp()
    except ValueError:
        return None


def hub_errors(path):
    """The hub and greenlet errors in a container's error log: [{number,
    line, what (the error as printed), time, pid, tid (None when the log
    does not say)}]."""
    errors = []
    for n, raw in enumerate(evidence.read_lines(path), 1):
        for pattern in HUB_ERRORS:
            m = pattern.search(raw)
            if m:
                apache = _APACHE.match(raw)
                errors.append({
                    "number": n, "line": raw.strip(), "what": m.group(0).strip(),
                    "time": _apache_time(apache.group("ts")) if apache else None,
                    "pid": int(apache.group("pid")) if apache else None,
                    "tid": int(apache.group("tid")) if apache and apache.group("tid")
                    else None})
                break
    return errors
