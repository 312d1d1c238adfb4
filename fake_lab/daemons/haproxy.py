"""A private HAProxy for one run: the VIP in front of an active and a
standby fake nova-api (``[api] pair``).

Seed 001's deployment: every client reaches the API through one address,
and the load balancer sends it to the active API, or to the standby once
the active one is down. The lab runs Debian's haproxy (``/usr/sbin/haproxy``,
or ``$FAKE_LAB_HAPROXY``) in the foreground (``-db``), as the lab's user,
from ``etc/haproxy.cfg`` in the run directory:

- the frontend ``vip`` listens on a free 127.0.0.1 port: the run's API URL;
- the backend ``api`` has the server ``active`` and the server ``standby``
  as a ``backup`` (used only while no active server is usable), both
  health-checked every 200 ms (``fall 2 rise 2``: a dead server is DOWN
  about 0.4 s after it died); a TCP check, as deployments' default is
  (kolla's, TripleO's): an HTTP check would add two requests a second to
  every API log for nothing the faults need;
- ``retries 3`` with ``option redispatch``, as those deployments have it:
  a request whose connection was refused is tried again, the last time on
  another usable server; a request already sent to a server that dies is
  never sent again (HAProxy cannot know whether it ran), so its client
  gets a 502;
- its log goes to its standard output (``log stdout format iso``), which is
  ``logs/haproxy.log``: every line dated to the microsecond by HAProxy
  itself, the servers' state changes and one line per request with the
  server that answered and the request id it answered with (see
  fake_lab/checkers/haproxy_log.py);
- its runtime API is the UNIX socket ``haproxy.sock`` in the run directory
  (level admin, mode 0600): ``show stat``, ``set server ... state drain``.

HAProxy binds the socket by a path relative to its working directory (the
run directory), and the lab connects to it through ``/proc/self/fd`` when
the absolute path passes the 108 bytes of a UNIX socket's address.

Lifecycle: ``check_installed()``, ``start(active_port, standby_port,
avoid)``, ``wait_ready()``, ``url``, ``port``, ``runtime(command)``,
``stat()``, ``drain(server)``, ``wait_sessions(server)``,
``wait_state(server, state)``, ``stop()`` (idempotent). The faults are
``fault(lab, verb, options)``: ``kill`` and ``switchover``.
"""

import csv
import io
import os
import shutil
import signal
import socket
import time

from fake_lab.checkers import haproxy_log
from fake_lab.daemons import procs
from fake_lab.errors import LabError, MissingComponent

HOST = "127.0.0.1"
BINARY_ENV = "FAKE_LAB_HAPROXY"
BINARY = "/usr/sbin/haproxy"
SOCKET = "haproxy.sock"
LOG = "haproxy"
BACKEND = "api"
SERVERS = ("active", "standby")
# Health checks: short, so that a failover takes well under a second.
CHECK = "inter 200ms fall 2 rise 2"
# What HAProxy logs of each request (fields parsed by haproxy_log.requests):
# the server that answered (api/active, api/standby, <NOSRV>), the status,
# the total time, HAProxy's retries (a + when it redispatched), its
# termination state (SH--: the server aborted) and the request id the API
# answered with (captured from its response).
LOG_FORMAT = ("request client=%ci:%cp server=%b/%s status=%ST ms=%Ta retries=%rc "
              "term=%tsc method=%HM path=%HPO req=%hs")


def find_binary():
    """haproxy's path, or None."""
    if os.environ.get(BINARY_ENV):
        path = os.environ[BINARY_ENV]
        return path if os.access(path, os.X_OK) else None
    return shutil.which("haproxy") or (BINARY if os.access(BINARY, os.X_OK) else None)


def config(vip_port, active_port, standby_port, server_timeout):
    """The text of haproxy.cfg; ``server_timeout`` (seconds) must outlast
    the longest request the workload waits for."""
    return f"""\
# fake-lab: a private HAProxy, loopback only, written for this run.
global
    log stdout format iso local0 info
    stats socket unix@{SOCKET} mode 600 level admin
    stats timeout 10s
    maxconn 512

defaults
    mode http
    log global
    option dontlognull
    option redispatch
    retries 3
    timeout connect 1s
    timeout client {server_timeout}s
    timeout server {server_timeout}s
    timeout check 1s

frontend vip
    bind {HOST}:{vip_port}
    capture response header X-Openstack-Request-Id len 64
    log-format "{LOG_FORMAT}"
    default_backend {BACKEND}

backend {BACKEND}
    default-server {CHECK}
    server active {HOST}:{active_port} check
    server standby {HOST}:{standby_port} check backup
"""


def parse_stat(text):
    """``show stat``'s CSV as [{column: value}]."""
    text = text.lstrip("# ")
    return [dict(row) for row in csv.DictReader(io.StringIO(text)) if row.get("pxname")]


class HAProxy:
    """One private HAProxy; see the module docstring. ``workdir`` is the run
    directory (config, socket), ``owner`` the processes' mark."""

    def __init__(self, workdir, log_path, owner):
        self.workdir = os.path.abspath(workdir)
        self.log_path = log_path
        self.owner = os.path.abspath(owner)
        self.binary = find_binary()
        self.port = None
        self.ports = {}
        self.daemon = None

    def check_installed(self):
        if not self.binary:
            where = (f"at {os.environ[BINARY_ENV]} (${BINARY_ENV})"
                     if os.environ.get(BINARY_ENV) else "on PATH or in /usr/sbin")
            raise MissingComponent(f"haproxy not found {where}: install Debian's "
                                   "haproxy package (tools/setup.sh does)")

    @property
    def url(self):
        return f"http://{HOST}:{self.port}"

    @property
    def socket_path(self):
        return os.path.join(self.workdir, SOCKET)

    def start(self, active_port, standby_port, avoid=(), server_timeout=60):
        """Write the config and start HAProxy on a free port (the VIP)."""
        self.check_installed()
        self.port = procs.free_port(HOST, avoid=set(avoid) | {active_port, standby_port})
        self.ports = {"vip": self.port, "active": active_port, "standby": standby_port}
        path = os.path.join(self.workdir, "etc", "haproxy.cfg")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(config(self.port, active_port, standby_port,
                           int(server_timeout)))
        try:
            os.unlink(self.socket_path)  # a killed HAProxy's (a re-run dir)
        except FileNotFoundError:
            pass
        self.daemon = procs.spawn("haproxy", [self.binary, "-db", "-f", path],
                                  self.log_path, cwd=self.workdir, owner=self.owner)
        return self.daemon

    def wait_ready(self, timeout=30):
        """Until the VIP listens and both servers were checked UP."""
        def ready():
            if not procs.port_open(self.port):
                return False
            try:
                rows = {r["svname"]: r for r in self.stat()}
            except LabError:
                return False
            return all(rows.get(s, {}).get("status") == "UP"
                       and rows[s].get("check_status", "").startswith("L4OK")
                       for s in SERVERS)
        procs.wait_until(ready, self.daemon, "both API servers checked UP", timeout)

    # -- the runtime API ------------------------------------------------------

    def runtime(self, command, timeout=5):
        """Send one command to the runtime API; its answer as text."""
        path = self.socket_path
        dirfd = None
        if len(path.encode()) >= 100:
            # Too long for sockaddr_un: reach it through an open directory.
            dirfd = os.open(self.workdir, os.O_RDONLY | os.O_DIRECTORY)
            path = f"/proc/self/fd/{dirfd}/{SOCKET}"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(path)
                s.sendall(command.encode() + b"\n")
                chunks = []
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except OSError as exc:
            raise LabError(f"haproxy's runtime API ({SOCKET}): {exc}")
        finally:
            if dirfd is not None:
                os.close(dirfd)
        return b"".join(chunks).decode("utf-8", "replace")

    def stat(self):
        """The backend's servers as ``show stat`` lists them."""
        return [r for r in parse_stat(self.runtime("show stat"))
                if r["pxname"] == BACKEND]

    def server(self, name):
        for row in self.stat():
            if row["svname"] == name:
                return row
        raise LabError(f"haproxy lists no server {BACKEND}/{name}")

    def summary(self):
        """{server: {status, sessions, total, check}} now, for the history."""
        return {r["svname"]: {"status": r.get("status"), "sessions": _int(r.get("scur")),
                              "total": _int(r.get("stot")),
                              "check": r.get("check_status") or None}
                for r in self.stat() if r["svname"] in SERVERS}

    def drain(self, name):
        answer = self.runtime(f"set server {BACKEND}/{name} state drain").strip()
        if answer:  # it answers nothing when it did it
            raise LabError(f"haproxy refused to drain {BACKEND}/{name}: {answer}")

    def wait_sessions(self, name, timeout=30.0):
        """Until ``name`` has no session left (``show stat``'s scur); the
        time it was first seen at 0."""
        deadline = time.monotonic() + timeout
        while _int(self.server(name).get("scur")):
            if time.monotonic() > deadline:
                raise LabError(f"{BACKEND}/{name} still had sessions after {timeout:.0f} s")
            time.sleep(0.02)
        return time.time()

    def wait_state(self, name, state, after, timeout=10.0):
        """The line of HAProxy's log where ``name`` changed to ``state``
        (UP, DOWN, DRAIN) at or after ``after`` (epoch seconds), waiting
        for it; LabError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            found = haproxy_log.first(haproxy_log.state_changes(
                haproxy_log.lines(self.log_path)), name, state, after)
            if found:
                return found
            if time.monotonic() > deadline:
                raise LabError(f"haproxy logged no {state} of {BACKEND}/{name} "
                               f"within {timeout:.0f} s")
            time.sleep(0.05)

    def stop(self):
        """SIGTERM (HAProxy's hard stop: it closes every connection at
        once); idempotent."""
        daemon, self.daemon = self.daemon, None
        if daemon is not None:
            daemon.stop(signal.SIGTERM, grace=5)


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# -- faults (fake_lab/workload/nemesis.py) -----------------------------------

def _pair(lab):
    proxy = getattr(lab, "haproxy", None)
    if proxy is None:
        raise LabError("this run has no API pair behind HAProxy ([api] pair = true)")
    active = lab.container
    if active is None or active.daemon is None or not active.daemon.alive():
        raise LabError("the active API is not running")
    return proxy, active


def kill(lab):
    """The unplanned failover: SIGKILL every process of the active API's
    container at once (as a crashed host leaves it), then wait for HAProxy
    to mark it DOWN and date that from its own log."""
    proxy, active = _pair(lab)
    daemon = active.daemon
    pids = set(procs.tree(daemon.pid)) | {daemon.pid}
    done = {"server": "active", "container": active.name, "port": active.port}
    done["killed_at"] = round(time.time(), 6)
    # kill_tree SIGKILLs the whole tree at once, then waits for it to go.
    procs.kill_tree(daemon.popen, sig=signal.SIGKILL, grace=5)
    active.daemon = None
    done["killed_pids"] = sorted(pids)
    done["dead_at"] = round(time.time(), 6)
    done.update(_marked_down(proxy, done["killed_at"]))
    return done


def switchover(lab, timeout=30.0):
    """The planned switchover: drain the active server through HAProxy's
    runtime API (new requests go to the standby, those under way finish),
    wait until it has no session, stop its container gracefully, and date
    HAProxy's DOWN from its log."""
    proxy, active = _pair(lab)
    done = {"server": "active", "container": active.name, "port": active.port,
            "sessions_at_drain": _int(proxy.server("active").get("scur"))}
    done["drain_at"] = round(time.time(), 6)
    proxy.drain("active")
    drained = proxy.wait_state("active", "DRAIN", done["drain_at"] - 1)
    done.update(drain_logged_at=round(drained["time"], 6), drain_line=drained["line"])
    done["sessions_zero_at"] = round(proxy.wait_sessions("active", timeout), 6)
    done["stopping_at"] = round(time.time(), 6)
    # The container's own stop: SIGINT to uWSGI (it finishes and exits),
    # SIGTERM to Apache, then KILL to what is left after a grace period.
    active.stop(fast=False)
    done["stopped_at"] = round(time.time(), 6)
    done.update(_marked_down(proxy, done["stopping_at"]))
    return done


def _marked_down(proxy, after):
    """When HAProxy marked the active server DOWN, from its log; and what
    its runtime API lists then."""
    line = proxy.wait_state("active", "DOWN", after)
    return {"down_at": round(line["time"], 6), "down_line": line["line"],
            "servers_after": proxy.summary()}


def fault(lab, verb, options):
    """The nemesis' ``api`` verbs on a running lab's pair."""
    if verb == "kill":
        return kill(lab)
    if verb == "switchover":
        return switchover(lab)
    raise LabError(f"unknown api fault {verb!r}")
