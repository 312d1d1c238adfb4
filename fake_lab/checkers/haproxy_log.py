"""HAProxy's own log (``logs/haproxy.log``), as the lab's private HAProxy
writes it (fake_lab/daemons/haproxy.py): ``log stdout format iso``, so
every line it logs begins with its own ISO 8601 time in microseconds. Two
kinds of line matter:

- a server's state change, e.g. ``Server api/active is DOWN, reason:
  Layer4 connection problem, info: "Connection refused", ... Running on
  backup.`` or ``Server api/active enters drain state. ...``;
- one line per HTTP request, in the lab's own ``log-format``
  (``request client=... server=api/standby status=202 ms=41 retries=0
  term=---- method=POST path=/v2.1/servers req={req-...}``): which server
  answered, HAProxy's termination state (``SH--``: the server aborted)
  and the request id the API answered with, when it answered.

Lines without a time (HAProxy's own warnings on standard error, the same
events again) are skipped. Used by the daemon (to date a fault from the
log) and by the api-failover checker, both reading the run directory only.
"""

import datetime
import re

_LINE = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)) "
                   r"(?P<msg>.*)$")
_STATE = re.compile(r"^(?:Backup )?Server (?P<backend>[\w.-]+)/(?P<server>[\w.-]+) "
                    r"(?:is (?P<state>UP|DOWN)\b|(?P<drain>enters drain state)"
                    r"|(?P<maint>is going DOWN for maintenance))")
_REQUEST = re.compile(r"^request (?P<fields>.*)$")
_FIELD = re.compile(r"(\w+)=(\{[^}]*\}|\S*)")


def parse_time(stamp):
    """Epoch seconds from HAProxy's ISO time (``2026-11-24T08:56:37.587375+00:00``)."""
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def lines(path, since=0):
    """[{time, msg, line}] of the dated lines of ``path`` from byte
    ``since``; [] when it cannot be read."""
    try:
        with open(path, errors="replace") as f:
            f.seek(since)
            return lines_of(f)
    except OSError:
        return []


def lines_of(raw_lines):
    """[{time, msg, line}] of the lines HAProxy dated among ``raw_lines``."""
    found = []
    for raw in raw_lines:
        m = _LINE.match(raw.strip())
        if m:
            found.append({"time": parse_time(m["ts"]), "msg": m["msg"],
                          "line": raw.strip()})
    return found


def state_changes(dated):
    """[{time, backend, server, state, line}] of the servers' state
    changes: ``state`` is UP, DOWN, DRAIN or MAINT."""
    out = []
    for entry in dated:
        m = _STATE.match(entry["msg"])
        if not m:
            continue
        state = m["state"] or ("DRAIN" if m["drain"] else "MAINT")
        out.append({"time": entry["time"], "backend": m["backend"],
                    "server": m["server"], "state": state, "line": entry["line"]})
    return out


def requests(dated):
    """[{time, server, status, ms, retries, term, method, path,
    request_id, line}] of the requests HAProxy logged (``time``: when it
    logged them, at their end). ``server`` is ``<NOSRV>`` when none was
    reached; ``request_id`` is None when no API answered."""
    out = []
    for entry in dated:
        m = _REQUEST.match(entry["msg"])
        if not m:
            continue
        fields = dict(_FIELD.findall(m["fields"]))
        backend_server = fields.get("server", "")
        rid = fields.get("req", "").strip("{}") or None

        def number(key):
            try:
                return int(fields.get(key, ""))
            except ValueError:
                return None
        out.append({"time": entry["time"],
                    "server": backend_server.split("/", 1)[-1] or None,
                    "status": number("status"), "ms": number("ms"),
                    "retries": number("retries"), "term": fields.get("term"),
                    "method": fields.get("method"), "path": fields.get("path"),
                    "request_id": rid, "line": entry["line"]})
    return out


def first(changes, server, state, after=0):
    """The first change of ``server`` to ``state`` at or after ``after``."""
    for c in changes:
        if c["server"] == server and c["state"] == state and c["time"] >= after:
            return c
    return None
