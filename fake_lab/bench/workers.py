"""The bench's measured processes, from the runner's side: each path's
pair of worker processes (``Pair``), the control connection to each
(``Channel``), what a process really ran on, from its own record and the
threads seen at work in it, and what of the lab's observation it had, from
its own record and the lines its log holds.

The workers themselves are fake_service/bench_worker.py (oslo.messaging)
and fake_service/bench_kombu.py (the baseline); fake_service/bench_driver.py
has the protocol.
"""

import json
import os
import re
import select
import time

from fake_lab.daemons import procs
from fake_lab.errors import LabError
from fake_lab.paths import REPO
from fake_service import monkey_patch

PATHS = ("om", "lab", "quiet", "relay")
BASELINE = "kombu"
PATH_TEXT = {"kombu": "raw kombu request/reply (the baseline)",
             "om": "bare oslo.messaging pair", "lab": "the lab's fake services path",
             "quiet": "the lab's fake services path, the lab's observation off",
             "relay": "bare pair through the lab's relay"}
# The paths wired as the fake services are (a config file, a log file).
LAB_WIRED = ("lab", "quiet")
# What of the lab's observation each path's processes have, as they report
# it (fake_service/bench_worker.py ``observation``): the heartbeat
# observer, the send pool's observer (off, as in every scenario but the two
# whose checkers read its lines: ``[lab] observe_pool``), and the service's
# own evidence lines (the fake compute's ``ping: N`` and ``cast N: ...``;
# None: the bare pair has no such logger). ``quiet`` is ``lab`` with all
# of it off.
_NONE = {"heartbeats": False, "pool": False, "evidence_lines": False}
OBSERVATION = {
    "lab": {"server": {"heartbeats": True, "pool": False, "evidence_lines": True},
            "client": {"heartbeats": True, "pool": False, "evidence_lines": True}},
    "quiet": {"server": _NONE, "client": _NONE},
    "om": {role: dict(_NONE, evidence_lines=None) for role in ("server", "client")},
}
OBSERVATION["relay"] = OBSERVATION["om"]
# The kinds of line a lab-wired process's log holds: the observer's
# (heartbeat-check, pool-*), the fake compute's per-message evidence
# (ping, cast), and every other line (oslo.log's own, the startup lines).
LINE_KINDS = ("heartbeat_check", "pool", "ping", "cast", "other")
EVIDENCE_KINDS = LINE_KINDS[:-1]
_LINE = re.compile(r"^\S+ \S+ [A-Z]+ (\S+) \[[^\]]*\] (.*)$")
_CAST = re.compile(r"cast \d+: ")


def line_kind(line):
    """Which of LINE_KINDS a line of a lab-wired process's log is."""
    m = _LINE.match(line)
    if m:
        name, message = m.groups()
        if name == "fake_service.observe":
            if message.startswith("heartbeat-check "):
                return "heartbeat_check"
            if message.startswith("pool-"):
                return "pool"
        elif name == "fake_compute.manager":
            if message.startswith("ping: "):
                return "ping"
            if _CAST.match(message):
                return "cast"
    return "other"


def log_lines(path):
    """{kind: lines} of a lab-wired process's log file, every kind of
    LINE_KINDS; None when it cannot be read."""
    counts = dict.fromkeys(LINE_KINDS, 0)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                counts[line_kind(line)] += 1
    except OSError:
        return None
    return counts


def observation_problem(path, role, record):
    """Why a process's observation, as it reported it, is not its path's
    (OBSERVATION), or None."""
    expected = OBSERVATION.get(path, {}).get(role)
    if expected is None:
        return None
    seen = record.get("observation")
    if not isinstance(seen, dict):
        return "did not say what of the lab's observation it has"
    wrong = [f"{key}={seen.get(key)} (expected {want})" for key, want in expected.items()
             if seen.get(key) != want]
    return ("the lab's observation is not the " + path + " path's: " + ", ".join(wrong)
            if wrong else None)


def evidence_problem(path, role, counts, answered):
    """Why the lines a lab-wired process's log holds (``log_lines``) are not
    what its path writes, or None: the quiet path writes no line of the
    lab's observation at all; the lab path's server writes a ``ping`` line
    for every call answered and a ``cast`` line for every cast received,
    and heartbeat lines; its client heartbeat lines (no pool lines: the
    lab's API writes them only in the pool scenarios, ``[lab] observe_pool``,
    nor does it here).
    ``answered``: figures.answered of the path."""
    if counts is None:
        return "its log cannot be read"
    if path == "quiet":
        written = {k: counts[k] for k in EVIDENCE_KINDS if counts.get(k)}
        return (f"the quiet path wrote lines of the lab's observation: {written}"
                if written else None)
    if path != "lab":
        return None
    if role == "server":
        wanted = {"ping": answered["calls_answered"], "cast": answered["casts_received"],
                  "heartbeat_check": 1}
    else:
        wanted = {"heartbeat_check": 1}
    short = [f"{counts.get(k, 0)} {k} line(s), expected at least {n}"
             for k, n in wanted.items() if counts.get(k, 0) < n]
    if role == "client" and counts.get("pool"):
        short.append(f"{counts['pool']} pool line(s), expected none")
    return "its log holds " + ", ".join(short) if short else None


class WorkerError(LabError):
    """A bench worker failed: its path is marked failed, the bench goes on."""


def really(record, threads=()):
    """What a process really ran on, from its own record and the threads
    seen at work in it (a server's handlers, a client's callers):
    'eventlet', 'threading', or 'mixed: why'."""
    patched = record.get("patched") or {}
    core = [patched.get("thread"), patched.get("socket")]
    if all(core):
        mode = "eventlet"
    elif not any(core):
        mode = "threading"
    else:
        return f"mixed: thread patched={core[0]}, socket patched={core[1]}"
    for t in threads:
        if t is None:
            continue
        if mode == "eventlet" and not t.get("green"):
            return "mixed: patched, but a native thread did the work"
        if mode == "threading" and t.get("green"):
            return "mixed: not patched, but a green thread did the work"
    return mode


class Channel:
    """The runner's end of one worker's control connection."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def send(self, obj):
        try:
            self.sock.sendall((json.dumps(obj) + "\n").encode())
        except OSError as exc:
            raise WorkerError(f"cannot reach it: {exc.strerror or exc}")

    def recv(self, timeout, daemon=None):
        """The next message; WorkerError if none comes within ``timeout``
        seconds, the connection closes or ``daemon`` dies."""
        deadline = time.monotonic() + timeout
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[:end + 1]
                return json.loads(line)
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerError(f"no answer within {timeout:.0f} s")
            readable, _, _ = select.select([self.sock], [], [], min(left, 0.5))
            if readable:
                data = self.sock.recv(1 << 20)
                if not data:
                    raise WorkerError("it closed its control connection")
                self.buf += data
            elif daemon is not None and not daemon.alive():
                raise WorkerError(f"it exited with code {daemon.popen.returncode}")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Pair:
    """One path of one cell: a server and a client process."""

    def __init__(self, pair_id, path, mode, env, cell=None):
        self.id, self.path, self.mode, self.env, self.cell = pair_id, path, mode, env, cell
        self.vhost = f"bench-{pair_id}"
        self.daemons, self.channels, self.records = {}, {}, {}
        self.repeats = []
        self.status, self.reason = "pending", None
        self.threads = {"server": [], "client": []}
        self.samples = {}  # callers -> every latency (ms), all repeats
        self.thread_groups = []  # the client's callers, slice by slice
        self.logs = {}  # role -> its log file (lab-wired paths)
        self.log_lines = {}  # role -> log_lines() of it, once measured

    @property
    def failed(self):
        return self.status == "error"

    def fail(self, role, why):
        if not self.failed:
            self.status = "error"
            daemon = self.daemons.get(role)
            lines = " | ".join(procs.tail(daemon.log_path, 3)) if daemon else ""
            self.reason = f"{role}: {why}" + (f"; its last lines: {lines}" if lines else "")

    def argv(self, role, control_port):
        module = "fake_service.bench_kombu" if self.path == BASELINE else \
            "fake_service.bench_worker"
        argv = [self.env.python, "-m", module, "--role", role, "--id", self.id,
                "--control", f"127.0.0.1:{control_port}"]
        if self.path != BASELINE:
            argv += ["--kind", self.path if self.path in LAB_WIRED else "om"]
        return argv

    def environ(self):
        env = self.env.env(os.environ)
        # The lab's code from this checkout, whatever the venv has installed.
        env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"]
                                    if env.get("PYTHONPATH") else "")
        env[monkey_patch.ENV] = monkey_patch.value_for(self.mode)
        return env

    def entry(self):
        """This path in bench.json."""
        processes = {}
        for role, record in self.records.items():
            processes[role] = dict(record, asked=self.mode,
                                   really=really(record, self.threads[role]),
                                   threads_seen=threads_seen(
                                       self.threads[role],
                                       self.thread_groups if role == "client" else ()))
            if role in self.log_lines:
                processes[role]["log_lines"] = self.log_lines[role]
        return {"pair": self.id, "path": self.path, "what": PATH_TEXT[self.path],
                "mode": self.mode, "vhost": self.vhost, "status": self.status,
                "reason": self.reason, "processes": processes,
                "repeats": self.repeats}


def threads_seen(threads, groups=()):
    """The threads seen at work, folded: how many, how many OS threads,
    green or not, on the main OS thread or not; with ``groups`` (the
    callers of each slice), whether each caller had an OS thread of its
    own while they ran together."""
    threads = [t for t in threads if t]
    if not threads:
        return None
    seen = {"count": len(threads), "native_ids": len({t["native_id"] for t in threads}),
            "green": sum(1 for t in threads if t.get("green")),
            "on_main_native_thread": sum(1 for t in threads
                                         if t["native_id"] == t.get("main_native_id")),
            "types": sorted({t["type"] for t in threads})}
    groups = [g for g in groups if g]
    if groups:
        seen["most_at_once"] = max(len(g) for g in groups)
        seen["own_native_thread_each"] = all(
            len({t["native_id"] for t in g}) == len(g) for g in groups)
    return seen


def tasks_cpu(pid):
    """The CPU seconds of every thread of ``pid`` (/proc schedstat, in
    nanoseconds), or None when it cannot be read."""
    if pid is None:
        return None
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    except OSError:
        return None
    return total / 1e9


def relay_loop(log_path):
    """The relay's own line: which event loop it runs."""
    for line in procs.tail(log_path, 20):
        m = re.search(r"\((\S+) loop\)", line)
        if m:
            return {"loop": m.group(1), "line": line.strip()}
    return {}
