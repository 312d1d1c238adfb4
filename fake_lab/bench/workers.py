"""The bench's measured processes, from the runner's side: each path's
pair of worker processes (``Pair``), the control connection to each
(``Channel``), and what a process really ran on, from its own record and
the threads seen at work in it.

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

PATHS = ("om", "lab", "relay")
BASELINE = "kombu"
PATH_TEXT = {"kombu": "raw kombu request/reply (the baseline)",
             "om": "bare oslo.messaging pair", "lab": "the lab's fake services path",
             "relay": "bare pair through the lab's relay"}


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
            argv += ["--kind", "lab" if self.path == "lab" else "om"]
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
