"""Read the run's logs into evidence: the broker's connections, the clients'
reconnects and heartbeat checks, each with its time and its raw line.

Everything a checker cites comes from here, quoted as it stands in the log,
so a verdict can be checked by opening the file it names.
"""

import datetime
import re

_BROKER_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d) "
    r"\[(?P<level>\w+)\] <(?P<proc>[\d.]+)> (?P<msg>.*)$")
_ACCEPT = re.compile(r"accepting AMQP connection <(?P<conn>[\d.]+)> "
                     r"\((?P<peer>[^ ]+) -> (?P<local>[^)]+)\)")
_AUTH = re.compile(r"connection <(?P<conn>[\d.]+)> \((?P<peer>[^ ]+) -> "
                   r"(?P<local>[^ ]+) - (?P<name>[^)]+)\): user '(?P<user>[^']*)'"
                   r" authenticated(?: and granted access to vhost "
                   r"'(?P<vhost>[^']*)')?")
_CLOSE = re.compile(r"closing AMQP connection <(?P<conn>[\d.]+)> "
                    r"\((?P<peer>[^ ]+) -> (?P<local>[^ ),]+)"
                    r"(?: - (?P<name>[^,)]+))?[^)]*\):?\s*(?P<reason>.*)$")

MISSED_HEARTBEATS = "missed heartbeats from client"

_CLIENT_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z) (?P<program>[^\[ ]+)"
    r"\[(?P<pid>\d+)\] (?P<level>[A-Z]+) (?P<logger>\S+) "
    r"(?:\[(?P<request_id>[^\]]*)\] )?(?P<msg>.*)$")

# What the rabbit driver logs when a connection dies and comes back; the
# heartbeat warning was spelled "heartbeart" before oslo.messaging 9.8.0.
CLIENT_MARKERS = (
    ("heartbeat-warning", re.compile(r"Unexpected error during heartbear?t "
                                     r"thread processing")),
    ("recoverable-error", re.compile(r"A recoverable connection/channel error "
                                     r"occurred")),
    ("unreachable", re.compile(r"AMQP server on \S+ is unreachable")),
    ("reconnected", re.compile(r"Reconnected to AMQP server")),
    ("heartbeat-check", re.compile(r"heartbeat-check connection=")),
    ("messaging-timeout", re.compile(r"MessagingTimeout|Timed out waiting for a reply")),
)
# The send pool's lines, which only the pool-expiry checker reads (the
# others would quote them as client lines): the observer's, and the driver's
# own expiry line.
POOL_MARKERS = (
    ("pool", re.compile(r"pool-(?:get|put|expire) connection=")),
    ("pool-expired", re.compile(r"Idle connection has expired and been closed")),
    # The driver's own line when every connection is taken (pool.py's get()
    # logs it each time a caller finds none and waits on the condition).
    ("pool-limit", re.compile(r"Connection pool limit exceeded")),
)
_CHECK = re.compile(r"connection=(?P<name>\S+) purpose=(?P<purpose>\S+) "
                    r"thread=(?P<thread>\w+)")
# The observer's send-pool lines (fake_service/observe.py).
_POOL = re.compile(r"pool-(?P<action>get|put|expire) connection=(?P<name>\S+)"
                   r"(?: reused=(?P<reused>\w+))?(?: idle=(?P<idle>[\d.]+))?"
                   r"(?: waited=(?P<waited>[\d.]+))?(?: opened=(?P<opened>[\d.]+))?")
# The driver's own reconnect lines name the connection by its uuid.
_UUID = re.compile(r"\[(?P<uuid>[0-9a-f]{8}-[0-9a-f-]{27})\]")


def _epoch(stamp):
    stamp = stamp.replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(stamp).timestamp()


def read_lines(path):
    """A log file's lines; none when it cannot be read."""
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []


def connection_pid(name):
    """The PID in an oslo.messaging connection name ``program:pid:uuid``."""
    parts = (name or "").split(":")
    if len(parts) >= 3 and parts[1].isdigit():
        return int(parts[1])
    return None


_IMPORTED = re.compile(r"RPC transport ready: (?P<libs>[^;]+);")


def imported_versions(path):
    """{distribution: version} as the service logged them at start-up."""
    for raw in read_lines(path):
        m = _IMPORTED.search(raw)
        if m:
            return dict(part.strip().rsplit(" ", 1)
                        for part in m.group("libs").split(","))
    return {}


_UWSGI_START = re.compile(r"\*\*\* Starting uWSGI (?P<version>\S+)")


def uwsgi_version(path):
    """The uWSGI release that wrote ``path`` (uwsgi.log), or None."""
    for raw in read_lines(path)[:5]:
        m = _UWSGI_START.search(raw)
        if m:
            return m.group("version")
    return None


def broker_connections(path):
    """The connections the broker log tells of, in order of acceptance.

    Each is a dict: ``id`` (Erlang pid), ``peer``, ``name`` (the client's
    connection_name, once authenticated), ``pid`` (from the name),
    ``vhost`` (once authenticated; a matrix's cells share one broker),
    ``opened``/``closed`` (epoch), ``close_reason``, ``lines`` (raw).
    """
    conns = {}
    order = []
    pending = None  # a close whose reason is on the following lines
    for raw in read_lines(path):
        m = _BROKER_LINE.match(raw)
        if not m:
            continue
        msg, when = m.group("msg"), _epoch(m.group("ts"))
        if pending is not None:
            if m.group("proc") == pending["id"] and not _CLOSE.search(msg):
                pending["close_reason"] = (
                    (pending["close_reason"] + " " + msg.strip()).strip())
                pending["lines"].append(raw)
                continue
            pending = None
        for pattern, kind in ((_ACCEPT, "accept"), (_AUTH, "auth"),
                              (_CLOSE, "close")):
            hit = pattern.search(msg)
            if hit:
                break
        else:
            continue
        conn = conns.get(hit.group("conn"))
        if conn is None:
            conn = {"id": hit.group("conn"), "peer": hit.group("peer"),
                    "name": None, "pid": None, "vhost": None, "opened": when,
                    "closed": None,
                    "close_reason": None, "lines": []}
            conns[conn["id"]] = conn
            order.append(conn)
        conn["lines"].append(raw)
        if kind == "auth" and hit.group("vhost") is not None:
            conn["vhost"] = hit.group("vhost")
        if kind in ("auth", "close") and hit.group("name"):
            conn["name"] = hit.group("name").strip()
            conn["pid"] = connection_pid(conn["name"])
        if kind == "close":
            conn["closed"] = when
            conn["close_reason"] = hit.group("reason").strip()
            pending = conn
    return order


def broker_lines(path):
    """Every line of a broker log with its time: [{time, level, msg, line}]
    (a multi-line entry's continuation lines each carry its time)."""
    lines = []
    for raw in read_lines(path):
        m = _BROKER_LINE.match(raw)
        if m:
            lines.append({"time": _epoch(m.group("ts")), "level": m.group("level"),
                          "msg": m.group("msg"), "line": raw})
    return lines


def client_events(path, markers=CLIENT_MARKERS):
    """Marked lines of a fake service's log: [{kind, time, pid, line, ...}];
    ``markers``: (kind, pattern) pairs, the first that matches a line wins."""
    events = []
    for raw in read_lines(path):
        m = _CLIENT_LINE.match(raw)
        if not m:
            continue
        msg = m.group("msg")
        for kind, pattern in markers:
            if pattern.search(msg):
                event = {"kind": kind, "time": _epoch(m.group("ts")),
                         "pid": int(m.group("pid")),
                         "level": m.group("level"), "line": raw}
                check = (_CHECK.search(msg) if kind == "heartbeat-check" else
                         _POOL.search(msg) if kind == "pool" else None)
                if check:
                    event.update(check.groupdict())
                uuid = _UUID.search(msg)
                if uuid:
                    event["uuid"] = uuid.group("uuid")
                event["request_id"] = m.group("request_id")
                events.append(event)
                break
    return events


def service_lines(path):
    """Every line of a fake service's log: [{time, pid, logger, msg, line}]."""
    lines = []
    for raw in read_lines(path):
        m = _CLIENT_LINE.match(raw)
        if m:
            lines.append({"time": _epoch(m.group("ts")), "pid": int(m.group("pid")),
                          "logger": m.group("logger"), "msg": m.group("msg"),
                          "line": raw})
    return lines


_PROBE = re.compile(r"hub-probe interval=(?P<interval>[\d.]+) late=(?P<late>[\d.]+) "
                    r"thread=(?P<thread>\w+)")


def server_pid(lines):
    """The PID of the process that started the RPC server (its "RPC server
    started" line): the service itself, or the worker oslo.service's
    launcher forked; else the first line's PID, else None."""
    for e in lines:
        if e["msg"].startswith("RPC server started"):
            return e["pid"]
    return lines[0]["pid"] if lines else None


def probe_samples(lines):
    """The lateness probe's wakes among ``service_lines``: [{time, late,
    interval, thread}] (fake_service/observe.py writes them)."""
    samples = []
    for e in lines:
        m = _PROBE.search(e["msg"])
        if m:
            samples.append({"time": e["time"], "late": float(m.group("late")),
                            "interval": float(m.group("interval")),
                            "thread": m.group("thread")})
    return samples


def longest_silence(conn, start, end):
    """(seconds, since): the longest stretch in [start, end] with nothing
    from the client on a TCP connection of ``wire_connections`` (heartbeats
    are timed exactly, other frames by the last of each second)."""
    marks = sorted(x for x in conn["beats"]["c2s"] + conn["frames"]["c2s"]
                   if x <= end)
    last, longest, since = start, 0.0, start
    for x in marks + [end]:
        if x - last > longest:
            longest, since = x - last, last
        last = max(last, x)
    return longest, since


def wire_connections(path):
    """What the relay's wire.jsonl says of each named connection:
    {connection_name: [{conn, accept, heartbeat (negotiated), beats {c2s,
    s2c: [times]}, frames {c2s, s2c: [times of the last frame of each
    second with other frames]}, dropped {c2s, s2c: [times of what a
    blackhole swallowed]}, close, end}, ...]}, one entry per TCP
    connection in order (a reconnect keeps its connection_name); {} when
    there is no wire."""
    import json

    by_id, named = {}, {}
    try:
        f = open(path)
    except OSError:
        return named
    with f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue  # a torn last line
            cid = e.get("conn")
            if cid is None:
                continue
            c = by_id.setdefault(cid, {"conn": cid, "accept": None, "heartbeat": None,
                                       "beats": {"c2s": [], "s2c": []},
                                       "frames": {"c2s": [], "s2c": []},
                                       "dropped": {"c2s": [], "s2c": []},
                                       "close": None, "end": None})
            kind = e["event"]
            if kind == "accept":
                c["accept"] = e["time"]
            elif kind == "connection-name":
                named.setdefault(e["name"], []).append(c)
            elif kind == "tune-ok":
                c["heartbeat"] = e.get("heartbeat")
            elif kind in ("heartbeat", "traffic") and e.get("dropped"):
                # Seen by the relay during a blackhole, and not forwarded.
                c["dropped"][e["dir"]].append(e.get("last") or e["time"])
            elif kind == "heartbeat":
                c["beats"][e["dir"]].append(e["time"])
            elif kind == "traffic":
                c["frames"][e["dir"]].append(e.get("last") or e["time"])
            elif kind == "close":
                c["close"] = e
            elif kind == "end":
                c["end"] = e
    return named
