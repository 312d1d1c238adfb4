"""``fake-lab bench``: how fast oslo.messaging answers here, and what the
lab itself costs.

For each cell (an oslo.messaging ``release`` x ``deps`` x ``executor``) the
bench runs three paths, each an RPC server process and a client process:

- ``om``: a bare oslo.messaging pair (its own factories, an echo endpoint);
- ``lab``: the lab's fake services path (the fake compute's server and the
  fake nova-api's compute_rpcapi client, wired as the lab wires them:
  oslo.log, the heartbeat and pool observer, a request id per call);
- ``relay``: the bare pair through the lab's relay (fake_lab/daemons/relay.py)
  instead of straight to the broker;

plus, once, a raw kombu baseline (request/reply and casts straight over
kombu, no oslo.messaging). Every figure is also given as a ratio to the
baseline measured in the same repeat, and the lab's own overhead as a
percentage: ``lab`` against ``om``, and ``relay`` against ``om``.

What is measured, per path and repeat: RPC calls per second with p50, p99
and max latency for 1 and 8 concurrent callers (``--callers``), each block
``--calls`` calls or ``--duration`` seconds, whichever ends first; and casts
per second from one sender until the server has counted them all.

How the processes run: each decides eventlet or native threads on its first
line, before oslo.messaging is imported, from nova's per-process switch
OS_NOVA_DISABLE_EVENTLET_PATCHING set by the bench: ``eventlet`` is
monkey-patched with the eventlet executor, ``threading`` is never patched
(eventlet.monkey_patch poisoned, oslo.service's threading backend, the
threading executor). oslo.messaging's tools/simulator.py monkey-patches when
it is imported, so its "threading" runs are really green; here each process
says from inside what it really ran on (patched modules, socket class,
oslo.service backend, the threads that handled the calls), bench.json keeps
it, and a process that runs otherwise than asked fails its path.

All processes share one private broker (a vhost per pair) and stay up for
the whole bench. The paths take turns: each block (every path's 1-caller
calls, then every path's 8-caller calls, then the casts) is cut in slices,
and the paths run slice by slice in a rotated order, so that a burst of
other work on a shared machine falls on every path alike; a repeat's
figures join a path's slices, and the overheads are computed repeat by
repeat between figures measured side by side. The run directory
``runs/bench-<time>/`` holds bench.json, samples.json (every latency),
bench.txt (the tables), bench.html (tables and plots, plotly inline, no
network) and the workers' logs.

``--headline`` runs the headline-speed benchmark instead
(fake_lab/commands/headline_bench.py, when present).
"""

import contextlib
import html
import itertools
import json
import os
import re
import select
import signal
import socket
import statistics
import sys
import threading
import time

from fake_lab import runner
from fake_lab import settings as settings_mod
from fake_lab.daemons import candidates, procs, pyenvs
from fake_lab.daemons import rabbitmq as broker_mod
from fake_lab.daemons import relay as relay_mod
from fake_lab.errors import LabError, MissingComponent, UsageError
from fake_lab.paths import REPO
from fake_service import monkey_patch

PATHS = ("om", "lab", "relay")
BASELINE = "kombu"
PATH_TEXT = {"kombu": "raw kombu request/reply (the baseline)",
             "om": "bare oslo.messaging pair", "lab": "the lab's fake services path",
             "relay": "bare pair through the lab's relay"}
AXES = ("release", "deps", "executor")
EXECUTORS = ("eventlet", "threading")
DEFAULT_AXES = {"release": ["installed"], "deps": ["latest"],
                "executor": list(EXECUTORS)}
TARGET_PCT = 5.0
# Each block is cut in this many slices, and the paths take turns slice by
# slice: on a shared, busy machine a burst of someone else's work then
# falls on every path alike, not on one path's whole block.
SLICES = 4
RPC_TIMEOUT = 10
HOW = ("Each measured process decides eventlet or native threads on its first "
       "line, before oslo.messaging is imported (nova's "
       "OS_NOVA_DISABLE_EVENTLET_PATCHING, set per process by the bench): "
       "eventlet processes are monkey-patched and use the eventlet executor; "
       "threading processes are never patched (eventlet.monkey_patch "
       "poisoned, oslo.service's threading backend, the threading executor). "
       "oslo.messaging's tools/simulator.py monkey-patches at import, so its "
       "'threading' runs on green threads; here every process reports from "
       "inside what it really ran on, and a process that ran otherwise than "
       "asked fails its path.")
# (key, label, kind): a "time" is better lower, a "rate" higher.
CALL_METRICS = (("calls_per_s", "calls/s", "rate"), ("p50_ms", "p50 ms", "time"),
                ("p99_ms", "p99 ms", "time"), ("max_ms", "max ms", "time"),
                ("cpu_us", "CPU us/call", "time"))
CAST_METRICS = (("casts_per_s", "casts/s", "rate"), ("cpu_us", "CPU us/cast", "time"))


class WorkerError(LabError):
    """A bench worker failed: its path is marked failed, the bench goes on."""


# ---------------------------------------------------------------- input


def parse_axes(specs):
    """['name=v1,v2', ...] -> {release, deps, executor: [values]} with the
    defaults filled in; UsageError on bad input."""
    axes = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values.strip():
            raise UsageError(f"--axis {spec!r}: expected NAME=V1,V2")
        if name not in AXES:
            raise UsageError(f"unknown bench axis {name!r}; axes: {', '.join(AXES)}")
        if name in axes:
            raise UsageError(f"axis {name} is given twice")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if len(set(vals)) != len(vals):
            raise UsageError(f"axis {name}: a value is given twice")
        choices = {"executor": EXECUTORS, "deps": pyenvs.DEPS}.get(name)
        for v in vals:
            if choices and v not in choices:
                raise UsageError(f"axis {name}: {v!r} is not one of {', '.join(choices)}")
        axes[name] = vals
    return {name: axes.get(name, DEFAULT_AXES[name]) for name in AXES}


def parse_callers(text):
    """'1,8' -> [1, 8]; UsageError unless positive, distinct, at most 64."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--callers {text!r}: expected whole numbers, e.g. 1,8")
    if not values or any(v < 1 or v > 64 for v in values) or len(set(values)) != len(values):
        raise UsageError(f"--callers {text!r}: distinct numbers from 1 to 64, e.g. 1,8")
    return values


# ---------------------------------------------------------------- figures


def percentile(values, p):
    """The nearest-rank percentile (no interpolation: always a measured
    value); None for no values."""
    if not values:
        return None
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} is not in (0, 100]")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil without floats' error
    return ordered[int(rank) - 1]


def cpu_total(cpu):
    """The CPU seconds of a block's processes (client, server, relay), or
    None when none was measured."""
    parts = [v for v in (cpu or {}).values() if v is not None]
    return sum(parts) if parts else None


def _per_op_us(cpu, n):
    total = cpu_total(cpu)
    return round(total / n * 1e6, 1) if total is not None and n else None


def call_stats(block):
    """A calls block as the worker sent it -> its figures (ms, calls/s, the
    CPU microseconds a call cost its processes)."""
    lat = block.get("latencies") or []
    seconds = block.get("seconds") or 0

    def ms(value):
        return None if value is None else round(value * 1000, 4)

    return {"sent": block.get("sent", 0), "answered": len(lat),
            "errors": block.get("errors") or {}, "seconds": seconds,
            "slices": block.get("slices", 1),
            "calls_per_s": round(len(lat) / seconds, 2) if seconds and lat else None,
            "p50_ms": ms(percentile(lat, 50)), "p99_ms": ms(percentile(lat, 99)),
            "max_ms": ms(max(lat) if lat else None),
            "mean_ms": ms(statistics.fmean(lat) if lat else None),
            "cpu_s": block.get("cpu_s"), "cpu_us": _per_op_us(block.get("cpu_s"), len(lat))}


def cast_stats(block):
    seconds = block.get("seconds") or 0
    received = block.get("received", 0)
    return {"sent": block.get("sent", 0), "received": received,
            "errors": block.get("errors") or {}, "seconds": seconds,
            "send_seconds": block.get("send_seconds"), "slices": block.get("slices", 1),
            "casts_per_s": round(received / seconds, 2) if seconds and received else None,
            "cpu_s": block.get("cpu_s"), "cpu_us": _per_op_us(block.get("cpu_s"), received)}


def split(total, slices):
    """``total`` in at most ``slices`` near-equal positive parts."""
    n = max(1, min(slices, total))
    base, extra = divmod(total, n)
    return [base + 1] * extra + [base] * (n - extra)


def _merge_cpu(parts):
    """The slices' CPU seconds, added process by process."""
    cpu = {}
    for part in parts:
        for name, value in (part.get("cpu_s") or {}).items():
            if value is not None:
                cpu[name] = round(cpu.get(name, 0) + value, 6)
    return cpu or None


def _merge_errors(parts):
    errors = {}
    for part in parts:
        for name, n in (part.get("errors") or {}).items():
            errors[name] = errors.get(name, 0) + n
    return errors


def merge_calls(parts):
    """The slices of one calls block, as one block: latencies joined, sent
    and seconds (the time spent calling) added."""
    return {"latencies": [x for p in parts for x in p.get("latencies") or []],
            "sent": sum(p.get("sent", 0) for p in parts),
            "seconds": sum(p.get("seconds") or 0 for p in parts),
            "errors": _merge_errors(parts),
            "threads": [t for p in parts for t in p.get("threads") or []],
            "thread_groups": [p.get("threads") or [] for p in parts],
            "cpu_s": _merge_cpu(parts), "slices": len(parts)}


def merge_casts(parts):
    """The slices of one casts block, as one block."""
    return {"sent": sum(p.get("sent", 0) for p in parts),
            "received": sum(p.get("received", 0) for p in parts),
            "seconds": sum(p.get("seconds") or 0 for p in parts),
            "send_seconds": sum(p.get("send_seconds") or 0 for p in parts),
            "errors": _merge_errors(parts),
            "servers": [p["server"] for p in parts if p.get("server")],
            "cpu_s": _merge_cpu(parts), "slices": len(parts)}


def spread(values):
    """{min, median, max, n} of the values that are not None; None if none."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values),
            "max": max(values), "n": len(values)}


def ratio(value, reference):
    if value is None or not reference:
        return None
    return value / reference


def overhead_pct(value, reference, kind):
    """The extra time a path costs over its reference, in percent: for a
    time, value/reference - 1; for a rate, reference/value - 1 (the time
    per operation), so that both read the same way."""
    if value is None or reference is None or not value or not reference:
        return None
    return ((value / reference) if kind == "time" else (reference / value)) * 100 - 100


def _metric_value(repeat, section, key):
    """The value of ``key`` in one repeat's figures: section is a callers
    count (str) or 'casts'."""
    if repeat is None:
        return None
    block = repeat.get("casts") if section == "casts" else (repeat.get("calls") or {}).get(section)
    return (block or {}).get(key)


def _metrics(callers):
    """[(section, key, kind)] every figure of a path."""
    return ([(str(c), key, kind) for c in callers for key, _, kind in CALL_METRICS]
            + [("casts", key, kind) for key, _, kind in CAST_METRICS])


def summarize_path(entry, callers, baseline=None):
    """Add ``summary`` (each figure's spread over the repeats), ``answered``
    and ``vs_baseline`` (each figure's ratio to the baseline's in the same
    repeat) to a path entry; returns it."""
    repeats = entry.get("repeats") or []
    summary, versus = {}, {}
    for section, key, _ in _metrics(callers):
        values = [_metric_value(r, section, key) for r in repeats]
        summary.setdefault(section, {})[key] = spread(values)
        if baseline is not None:
            base = baseline.get("repeats") or []
            ratios = [ratio(v, _metric_value(base[i] if i < len(base) else None, section, key))
                      for i, v in enumerate(values)]
            versus.setdefault(section, {})[key] = spread(ratios)
    entry["summary"] = summary
    if baseline is not None:
        entry["vs_baseline"] = versus
    entry["answered"] = answered(entry)
    return entry


def answered(entry):
    """Calls sent and answered, casts sent and received, over every repeat."""
    total = {"calls_sent": 0, "calls_answered": 0, "casts_sent": 0, "casts_received": 0}
    for r in entry.get("repeats") or []:
        for block in (r.get("calls") or {}).values():
            total["calls_sent"] += block.get("sent", 0)
            total["calls_answered"] += block.get("answered", 0)
        if r.get("casts"):
            total["casts_sent"] += r["casts"].get("sent", 0)
            total["casts_received"] += r["casts"].get("received", 0)
    total["all"] = (total["calls_answered"] == total["calls_sent"]
                    and total["casts_received"] >= total["casts_sent"])
    return total


def overheads(path_entry, reference, callers):
    """{section: {key: spread of percent}}: the path's overhead over its
    reference, repeat by repeat (both measured in the same repeat)."""
    out = {}
    mine, theirs = path_entry.get("repeats") or [], reference.get("repeats") or []
    for section, key, kind in _metrics(callers):
        pcts = [overhead_pct(_metric_value(m, section, key), _metric_value(t, section, key), kind)
                for m, t in zip(mine, theirs)]
        s = spread([round(p, 3) if p is not None else None for p in pcts])
        out.setdefault(section, {})[key] = s
    return out


def target_verdict(pct_spread, target=TARGET_PCT):
    """'under 5 %' / 'over 5 %' by the median; 'unmeasured' without one."""
    if not pct_spread:
        return "unmeasured"
    return (f"under {target:g} %" if pct_spread["median"] < target
            else f"over {target:g} %")


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


# ---------------------------------------------------------------- the runner's side


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
                                   threads_seen=_threads_seen(
                                       self.threads[role],
                                       self.thread_groups if role == "client" else ()))
        return {"pair": self.id, "path": self.path, "what": PATH_TEXT[self.path],
                "mode": self.mode, "vhost": self.vhost, "status": self.status,
                "reason": self.reason, "processes": processes,
                "repeats": self.repeats}


def _threads_seen(threads, groups=()):
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


class Bench:
    """One ``fake-lab bench`` run; ``run()`` returns (summary, RunDir)."""

    def __init__(self, axes, callers, calls, casts, duration, repeat, runs_dir, say):
        self.axes, self.callers = axes, callers
        self.calls, self.casts, self.duration, self.repeat = calls, casts, duration, repeat
        self.runs_dir, self.say = runs_dir, say
        self.cells, self.pairs = [], []
        self.baseline = None
        self.relay_info = {}
        self.relay_pid = None

    # -- planning: releases and their venvs, before any run directory

    def plan(self):
        releases = {}
        for text in self.axes["release"]:
            if candidates.looks_like_one(text):
                candidate = candidates.parse(text)
                releases[text] = (candidate.label, candidate)
            else:
                releases[text] = (_resolve_release(text, self.axes["deps"]), None)
        n = 0
        for release, deps, executor in itertools.product(*(self.axes[a] for a in AXES)):
            label, candidate = releases[release]
            n += 1
            cell = {"id": f"release={label}-deps={deps}-executor={executor}",
                    "n": n, "axes": {"release": label, "deps": deps, "executor": executor},
                    "status": "pending", "paths": {}}
            try:
                env = pyenvs.get(label, deps, say=self.say, candidate=candidate)
                cell["versions"] = env.probe()["versions"]
                cell["env"] = env.label
            except pyenvs.Unavailable as exc:
                cell.update(status="unavailable", reason=str(exc))
                self.cells.append(cell)
                continue
            self.cells.append(cell)
            for path in PATHS:
                self.pairs.append(Pair(f"c{n}-{path}", path, executor, env, cell))
        self.baseline = Pair(BASELINE, BASELINE, "threading", pyenvs.LAB)
        self.pairs.insert(0, self.baseline)

    # -- the run

    def run(self):
        self.plan()
        self.started, self.wall = time.time(), time.monotonic()
        self.load = {"before": os.getloadavg()}
        self.status = "incomplete"
        with runner.prepared(self.runs_dir, "bench", self.say) as rundir:
            self.rundir = rundir
            self.say(f"run directory: {rundir.path}")
            try:
                with self._lab(rundir) as (broker, relay, control):
                    self._start_workers(rundir, broker, relay, control)
                    self._measure()
                self.status = "complete"
            except (KeyboardInterrupt, runner.Interrupted):
                self.status = "interrupted"
                raise
            finally:
                self.load["after"] = os.getloadavg()
                summary = self.write(rundir)
        return summary, rundir

    @contextlib.contextmanager
    def _lab(self, rundir):
        """The private broker (a vhost per pair), the relay, the control
        listener; everything the bench started is stopped on the way out."""
        broker = broker_mod.PrivateBroker(rundir.file("broker"), log_dir=rundir.logs,
                                          vhosts=[p.vhost for p in self.pairs])
        relay = relay_mod.RelayDaemon(rundir.path, rundir.log("relay"), 0)
        control = socket.create_server(("127.0.0.1", 0))
        try:
            broker.launch()
            relay.upstream_port = broker.port
            relay.launch(avoid={broker.port, broker.dist_port, broker.epmd_port})
            yield broker, relay, control
        finally:
            with runner.signals_deferred():
                self._stop_workers()
                control.close()
                stoppers = [threading.Thread(target=d.stop) for d in (relay, broker)]
                for t in stoppers:
                    t.start()
                for t in stoppers:
                    t.join()

    def _start_workers(self, rundir, broker, relay, control):
        port = control.getsockname()[1]
        for pair in self.pairs:
            for role in ("server", "client"):
                pair.daemons[role] = procs.spawn(
                    f"bench-{pair.id}-{role}", pair.argv(role, port),
                    rundir.log(f"{pair.id}-{role}.out"), env=pair.environ(),
                    cwd=rundir.path, owner=rundir.path)
        self.say(f"{len(self.pairs) * 2} worker processes started; waiting for the broker")
        broker.wait_ready()
        relay.wait_ready()
        self.relay_info = _relay_loop(rundir.log("relay"))
        self.relay_pid = relay.daemon.pid
        self._accept(control, timeout=120)
        for role in ("server", "client"):
            # Servers first: a client's warm-up calls need its server.
            live = [p for p in self.pairs if not p.failed]
            for pair in live:
                start = {"cmd": "start", "timeout": RPC_TIMEOUT,
                         "url": broker.url_for(pair.vhost,
                                               relay.port if pair.path == "relay" else None)}
                if pair.path == "lab":
                    start["config_file"] = settings_mod.write_ini(
                        rundir.file("etc", f"{pair.id}-{role}.conf"),
                        {"DEFAULT": {"log_file": rundir.log(f"{pair.id}-{role}"),
                                     "rpc_response_timeout": RPC_TIMEOUT}})
                self._send(pair, role, start)
            for pair in live:
                reply = self._recv(pair, role, 120)
                if reply is None:
                    continue
                if "ready" not in reply:
                    pair.fail(role, reply.get("error", f"unexpected answer {reply}"))
                    continue
                pair.records[role] = reply["ready"]
        for pair in self.pairs:
            if not pair.failed:
                pair.status = "ran"
        ready = sum(1 for p in self.pairs if not p.failed)
        self.say(f"{ready} of {len(self.pairs)} path(s) ready")

    def _accept(self, control, timeout):
        """Each worker's hello, matched to its pair by id, role and PID."""
        expected = {(p.id, role): p for p in self.pairs for role in ("server", "client")}
        deadline = time.monotonic() + timeout
        while expected and time.monotonic() < deadline:
            readable, _, _ = select.select([control], [], [], 0.2)
            if readable:
                sock, _ = control.accept()
                channel = Channel(sock)
                try:
                    hello = channel.recv(10).get("hello") or {}
                except (WorkerError, ValueError):
                    channel.close()
                    continue
                key = (hello.get("id"), hello.get("role"))
                pair = expected.get(key)
                if pair is None or pair.daemons[key[1]].pid != hello.get("pid"):
                    channel.close()  # not one of ours
                    continue
                pair.channels[key[1]] = channel
                del expected[key]
            for key, pair in list(expected.items()):
                daemon = pair.daemons[key[1]]
                if not daemon.alive():
                    pair.fail(key[1], f"exited with code {daemon.popen.returncode} "
                              "before it connected")
                    del expected[key]
        for (pair_id, role), pair in expected.items():
            pair.fail(role, f"did not connect within {timeout} s")

    def _send(self, pair, role, message):
        try:
            pair.channels[role].send(message)
        except WorkerError as exc:
            pair.fail(role, str(exc))

    def _recv(self, pair, role, timeout):
        if pair.failed:
            return None
        try:
            return pair.channels[role].recv(timeout, pair.daemons[role])
        except WorkerError as exc:
            pair.fail(role, str(exc))
            return None

    def _ask(self, pair, message, timeout):
        """One command to a pair's client; its answer, or None (failed)."""
        self._send(pair, "client", message)
        reply = self._recv(pair, "client", timeout)
        if reply is not None and "error" in reply:
            pair.fail("client", reply["error"])
            return None
        return reply

    def _measure(self):
        """Every block of every repeat, interleaved (see the module's
        docstring); each path's figures per repeat into ``pair.repeats``."""
        live = [p for p in self.pairs if not p.failed]
        phases = [("calls", c) for c in self.callers] + [("casts", None)]
        for r in range(self.repeat):
            for pair in live:
                pair.repeats.append({"calls": {}})
            for kind, callers in phases:
                total = self.calls if kind == "calls" else self.casts
                sizes = split(total, SLICES)
                parts = {pair.id: [] for pair in live}
                for k, size in enumerate(sizes):
                    offset = (r * len(sizes) + k) % len(live)
                    for pair in live[offset:] + live[:offset]:
                        if not pair.failed:
                            block = self._block(pair, kind, callers, size, len(sizes))
                            if block is not None:
                                parts[pair.id].append(block)
                for pair in live:
                    if not pair.failed and parts[pair.id]:
                        self._record(pair, r, kind, callers, parts[pair.id])
        for pair in live:
            for role in ("server", "client"):
                if pair.records.get(role):
                    mode = really(pair.records[role], pair.threads[role])
                    if pair.path != BASELINE and mode != pair.mode:
                        pair.fail(role, f"asked for {pair.mode} but really ran {mode}")

    def _block(self, pair, kind, callers, size, slices):
        """One slice of a block on one pair: the worker's answer, with the
        CPU seconds it cost the client, the server and (on its path) the
        relay; None if the pair failed."""
        server = self._cpu(pair)
        relay = _tasks_cpu(self.relay_pid) if pair.path == "relay" else None
        if kind == "calls":
            duration = self.duration / slices
            reply = self._ask(pair, {"cmd": "calls", "callers": callers, "calls": size,
                                     "duration": duration}, duration + 3 * RPC_TIMEOUT + 30)
        else:
            wait = max(2 * self.duration / slices, 10.0)
            reply = self._ask(pair, {"cmd": "casts", "casts": size, "duration": wait},
                              wait + 3 * RPC_TIMEOUT + 30)
        if reply is None:
            return None
        block = reply.get(kind)
        after = self._cpu(pair)
        block["cpu_s"] = {"client": block.get("cpu"),
                          "server": None if server is None or after is None else after - server}
        if relay is not None:
            after = _tasks_cpu(self.relay_pid)
            block["cpu_s"]["relay"] = None if after is None else after - relay
        return block

    def _cpu(self, pair):
        """The server's CPU seconds so far, as it reads them itself."""
        self._send(pair, "server", {"cmd": "cpu"})
        reply = self._recv(pair, "server", 30)
        return None if reply is None else reply.get("cpu")

    def _record(self, pair, r, kind, callers, parts):
        """A block's slices, merged, as the repeat's figures of the pair."""
        if kind == "calls":
            block = merge_calls(parts)
            pair.threads["client"] += block["threads"]
            pair.thread_groups += block["thread_groups"]
            pair.samples.setdefault(str(callers), []).extend(
                round(x * 1000, 4) for x in block["latencies"])
            stats = call_stats(block)
            pair.repeats[r]["calls"][str(callers)] = stats
            self.say(f"  [{r + 1}/{self.repeat}] {pair.id:10} {callers} caller(s): "
                     f"{_num(stats['calls_per_s'])} calls/s, p50 {_num(stats['p50_ms'])} ms, "
                     f"{stats['answered']}/{stats['sent']} answered")
        else:
            block = merge_casts(parts)
            pair.threads["server"] += block["servers"]
            stats = cast_stats(block)
            pair.repeats[r]["casts"] = stats
            self.say(f"  [{r + 1}/{self.repeat}] {pair.id:10} casts: "
                     f"{_num(stats['casts_per_s'])} casts/s, "
                     f"{stats['received']}/{stats['sent']} received")

    def _stop_workers(self):
        for pair in self.pairs:
            for channel in pair.channels.values():
                try:
                    channel.send({"cmd": "quit"})
                except WorkerError:
                    pass
        daemons = [d for p in self.pairs for d in p.daemons.values()]
        # A worker asked to quit stops its server and exits; any other is
        # stopped by its tree (TERM, then KILL).
        deadline = time.monotonic() + 6
        while any(d.alive() for d in daemons) and time.monotonic() < deadline:
            time.sleep(0.05)
        stoppers = [threading.Thread(target=d.stop, kwargs={"grace": 3}) for d in daemons]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
        for pair in self.pairs:
            for channel in pair.channels.values():
                channel.close()

    # -- results

    def summary(self):
        """bench.json: options, machine, how, the baseline, every cell with
        its paths (figures, processes, ratios) and the lab's overheads."""
        base = None
        if self.baseline is not None:
            base = summarize_path(self.baseline.entry(), self.callers)
        by_cell = {}
        for pair in self.pairs:
            if pair.cell is not None:
                by_cell.setdefault(pair.cell["n"], {})[pair.path] = pair
        cells = []
        for original in self.cells:
            cell = {k: v for k, v in original.items() if k not in ("n", "paths")}
            pairs = by_cell.get(original["n"], {})
            cell["paths"] = {path: summarize_path(pair.entry(), self.callers, base)
                             for path, pair in pairs.items()}
            if pairs:
                failed = [f"{p.path}: {p.reason}" for p in pairs.values() if p.failed]
                cell["status"] = "error" if failed else "ran"
                if failed:
                    cell["reason"] = "; ".join(failed)
            om = cell["paths"].get("om")
            cell["overhead"] = {path: overheads(cell["paths"][path], om, self.callers)
                                for path in ("lab", "relay")
                                if om and path in cell["paths"]}
            cells.append(cell)
        return {"command": "fake-lab bench", "status": self.status,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
                "seconds": round(time.monotonic() - self.wall, 1),
                "options": {"calls": self.calls, "casts": self.casts,
                            "duration": self.duration, "repeat": self.repeat,
                            "callers": self.callers, "axes": self.axes,
                            "rpc_timeout": RPC_TIMEOUT},
                "machine": {"cores": os.cpu_count(),
                            "load_average": {k: [round(x, 2) for x in v]
                                             for k, v in self.load.items()}},
                "how": HOW, "target_pct": TARGET_PCT, "relay": self.relay_info,
                "runner_versions": {d: _version(d) for d in (
                    "oslo.messaging", "kombu", "amqp", "eventlet", "uvloop")},
                "baseline": base, "cells": cells}

    def write(self, rundir):
        """bench.json, samples.json, bench.txt and bench.html; the summary."""
        summary = self.summary()
        rundir.write_json("bench.json", summary)
        # A run directory's result.json says how it ended (the reaper
        # writes one saying the runner vanished when there is none).
        code, why = exit_code(summary)
        rundir.write_json("result.json", {"command": "fake-lab bench",
                                          "status": summary["status"],
                                          "exit_code": code, "reason": "; ".join(why) or None,
                                          "run_dir": rundir.path})
        samples = {p.id: p.samples for p in self.pairs}
        with open(rundir.file("samples.json"), "w") as f:
            json.dump(samples, f)
        with open(rundir.file("bench.txt"), "w") as f:
            f.write("\n".join(render_text(summary)) + "\n")
        write_html(rundir, summary, samples)
        return summary


def _num(value, digits=None):
    if value is None:
        return "-"
    if digits is None:
        digits = 0 if abs(value) >= 100 else 2 if abs(value) < 10 else 1
    return f"{value:.{digits}f}"


def _version(dist):
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _tasks_cpu(pid):
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


def _relay_loop(log_path):
    """The relay's own line: which event loop it runs."""
    for line in procs.tail(log_path, 20):
        m = re.search(r"\((\S+) loop\)", line)
        if m:
            return {"loop": m.group(1), "line": line.strip()}
    return {}


def _resolve_release(text, deps):
    """'installed', or a release: an exact one whose venv is built is used
    as it is (no index query), anything else is resolved on the index."""
    if text == "installed":
        return text
    if re.fullmatch(r"\d+(\.\d+)+", text) and all(
            os.path.exists(os.path.join(pyenvs.venvs_dir(), f"om-{text}-{d}", ".complete"))
            for d in deps):
        return text
    return pyenvs.resolve_release(text)


# ---------------------------------------------------------------- output


def _fig(value_spread, ratio_spread=None, digits=None, unit=""):
    """'523 [510-530] x0.36': median [min-max] and the median ratio."""
    if not value_spread:
        return "-"
    med = _num(value_spread["median"], digits) + unit
    text = med if value_spread["n"] < 2 else (
        f"{med} [{_num(value_spread['min'], digits)}-{_num(value_spread['max'], digits)}]")
    if ratio_spread:
        text += f" x{ratio_spread['median']:.2f}"
    return text


def _pct(value_spread):
    if not value_spread:
        return "-"
    med = f"{value_spread['median']:+.1f} %"
    if value_spread["n"] < 2:
        return med
    return f"{med} [{value_spread['min']:+.1f}..{value_spread['max']:+.1f}]"


def _table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    out = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in rows]
    return out


def _release(cell):
    version = (cell.get("versions") or {}).get("oslo.messaging")
    release = cell["axes"]["release"]
    return f"{release} ({version})" if version and version != release else release


def _cell_columns(summary):
    """The cell's axes shown: deps only when it varies or is not latest."""
    deps = summary["options"]["axes"].get("deps", ["latest"])
    return ["release", "deps", "executor"] if deps != ["latest"] else ["release", "executor"]


def _cell_values(cell, columns):
    values = {"release": _release(cell), "deps": cell["axes"].get("deps"),
              "executor": cell["axes"].get("executor")}
    return [values[c] for c in columns]


def _rows(summary):
    """(cell values, path, entry) for the baseline, then each cell's paths;
    an entry is None for a cell that did not run (its reason instead)."""
    columns = _cell_columns(summary)
    if summary.get("baseline"):
        yield ["-"] * (len(columns) - 1) + ["native"], BASELINE, summary["baseline"]
    for cell in summary["cells"]:
        if not cell.get("paths"):
            yield _cell_values(cell, columns), cell.get("status", "-"), None
        for path in PATHS:
            if path in cell.get("paths", {}):
                yield _cell_values(cell, columns), path, cell["paths"][path]


def _answered(entry, section):
    sent = got = 0
    for r in entry.get("repeats") or []:
        block = r.get("casts") if section == "casts" else (r.get("calls") or {}).get(section)
        if block:
            sent += block.get("sent", 0)
            got += block.get("received" if section == "casts" else "answered", 0)
    return f"{got}/{sent}" + ("" if got >= sent else " LOST")


def _threads_text(role, seen):
    if not seen:
        return "-"
    kind = ("green" if seen["green"] == seen["count"] else
            "native" if not seen["green"] else "green and native")
    if seen["on_main_native_thread"] == seen["count"]:
        where = "all on the main OS thread"
    elif role == "client" and seen.get("own_native_thread_each"):
        where = f"each on its own OS thread (up to {seen['most_at_once']} at once)"
    elif not seen["on_main_native_thread"]:
        where = f"on {seen['native_ids']} OS thread(s), not the main one"
    else:
        where = (f"on {seen['native_ids']} OS thread(s), {seen['on_main_native_thread']} "
                 "of them on the main one")
    return f"{'handlers' if role == 'server' else 'callers'} {kind}, {where}"


def render_text(summary):
    """The tables printed on stdout and written to bench.txt."""
    opts = summary["options"]
    columns = _cell_columns(summary)
    cells = summary["cells"]
    load = summary["machine"]["load_average"]
    lines = [f"fake-lab bench: {len(cells)} cell(s) x {len(PATHS)} paths "
             f"({', '.join(PATHS)}) + the {BASELINE} baseline, {opts['repeat']} repeat(s); "
             f"each block {opts['calls']} calls (at most {opts['duration']:g} s), "
             f"{opts['casts']} casts; {summary['seconds']} s; {summary['status']}",
             f"machine: {summary['machine']['cores']} cores, load average "
             f"{load.get('before', ['?'])[0]} before, {load.get('after', ['?'])[0]} after",
             "figures: median [min-max] over the repeats; xN: the median, over the "
             "repeats, of the figure's ratio to the kombu baseline's in the same repeat"]
    for callers in opts["callers"]:
        section = str(callers)
        rows = []
        for values, path, entry in _rows(summary):
            if entry is None:
                rows.append(values + [path] + ["-"] * 5)
                continue
            figs = (entry.get("summary") or {}).get(section) or {}
            vs = (entry.get("vs_baseline") or {}).get(section) or {}
            rows.append(values + [path] + [_fig(figs.get(k), vs.get(k)) for k, _, _ in
                                           CALL_METRICS] + [_answered(entry, section)])
        lines += ["", f"RPC calls, {callers} concurrent caller(s)"]
        lines += _table(columns + ["path"] + [label for _, label, _ in CALL_METRICS]
                        + ["answered"], rows)
    rows = []
    for values, path, entry in _rows(summary):
        if entry is None:
            rows.append(values + [path, "-", "-"])
            continue
        figs = (entry.get("summary") or {}).get("casts") or {}
        vs = (entry.get("vs_baseline") or {}).get("casts") or {}
        rows.append(values + [path, _fig(figs.get("casts_per_s"), vs.get("casts_per_s")),
                              _answered(entry, "casts")])
    lines += ["", "casts from one sender, until the server has counted them all"]
    lines += _table(columns + ["path", "casts/s", "received"], rows)
    lines += render_overheads(summary)
    lines += render_processes(summary)
    lines += ["", "How the processes run: " + summary["how"]]
    problems = [f"{c['id']}: {c['status']}: {c.get('reason')}" for c in cells
                if c.get("status") != "ran"]
    base = summary.get("baseline")
    if base and base.get("status") != "ran":
        problems.insert(0, f"baseline: {base.get('status')}: {base.get('reason')}")
    if problems:
        lines += ["", "problems:"] + [f"  {p}" for p in problems]
    return lines


def render_overheads(summary):
    opts = summary["options"]
    low, high = str(min(opts["callers"])), str(max(opts["callers"]))
    picks = [(low, "p50_ms", f"p50 @{low}")]
    if high != low:
        picks.append((high, "calls_per_s", f"calls/s @{high}"))
    picks += [("casts", "casts_per_s", "casts/s"), (low, "cpu_us", f"CPU/call @{low}"),
              ("casts", "cpu_us", "CPU/cast")]
    columns = _cell_columns(summary)
    rows = []
    for cell in summary["cells"]:
        for path, what in (("lab", "lab path vs bare pair"), ("relay", "relay vs direct")):
            pcts = (cell.get("overhead") or {}).get(path)
            if not pcts:
                continue
            rows.append(_cell_values(cell, columns) + [what]
                        + [_pct((pcts.get(section) or {}).get(key)) for section, key, _ in picks]
                        + [target_verdict(pcts.get(low, {}).get(key), summary["target_pct"])
                           for key in ("p50_ms", "cpu_us")])
    if not rows:
        return []
    return (["", f"the lab's own overhead: extra time (or CPU) per call or cast over the "
             f"bare oslo.messaging pair of the same process mode and repeat (target under "
             f"{summary['target_pct']:g} %, judged by the median p50 @{low}, and by the CPU "
             "a call costs its processes, which a busy machine inflates less)"]
            + _table(columns + ["what"] + [label for _, _, label in picks]
                     + ["p50 verdict", "CPU verdict"], rows))


def render_processes(summary):
    columns = _cell_columns(summary)
    rows = []
    for values, path, entry in _rows(summary):
        if entry is None:
            continue
        for role in ("server", "client"):
            p = (entry.get("processes") or {}).get(role)
            if not p:
                continue
            patched = p.get("patched") or {}
            executor = p.get("executor") or "-"
            if p.get("work_executor"):
                executor += f" ({p['work_executor']})"
            rows.append(values + [path, role, p.get("pid"), p.get("asked"), p.get("really"),
                                  f"{_yes(patched.get('thread'))}/{_yes(patched.get('socket'))}",
                                  "poisoned" if p.get("eventlet_poisoned") else
                                  "imported" if p.get("eventlet_imported") else "never imported",
                                  p.get("oslo_service_backend") or "-", executor,
                                  _threads_text(role, p.get("threads_seen"))])
    if not rows:
        return []
    return (["", "processes, as each reported from inside itself"]
            + _table(columns + ["path", "role", "pid", "asked", "really",
                                "patched thread/socket", "eventlet", "oslo.service",
                                "executor", "threads at work"], rows))


def _yes(flag):
    return {True: "yes", False: "no"}.get(flag, "?")


def _label(values, path):
    return " ".join(str(v) for v in values if v not in (None, "-")) + f" {path}"


def figures(summary, samples):
    """The plotly figures of bench.html."""
    import plotly.graph_objects as go

    rows = [(values, path, entry) for values, path, entry in _rows(summary)
            if entry is not None]
    figs = []
    bars = go.Figure()
    for callers in summary["options"]["callers"]:
        x, y, lo, hi = [], [], [], []
        for values, path, entry in rows:
            s = ((entry.get("summary") or {}).get(str(callers)) or {}).get("calls_per_s")
            if s:
                x.append(_label(values, path))
                y.append(s["median"])
                lo.append(s["median"] - s["min"])
                hi.append(s["max"] - s["median"])
        bars.add_bar(name=f"{callers} caller(s)", x=x, y=y,
                     error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo))
    bars.update_layout(title="RPC calls per second (median, bars: min to max over the "
                       "repeats)", barmode="group", yaxis_title="calls/s")
    figs.append(("calls", bars))
    for callers in summary["options"]["callers"]:
        box = go.Figure()
        for values, path, entry in rows:
            ms = (samples.get(entry.get("pair")) or {}).get(str(callers))
            if ms:
                box.add_box(y=ms, name=_label(values, path), boxpoints=False)
        box.update_layout(title=f"latency of every call, {callers} concurrent caller(s), "
                          "all repeats", yaxis_title="ms", yaxis_type="log", showlegend=False)
        figs.append((f"latency-{callers}", box))
    casts = go.Figure()
    x, y, lo, hi = [], [], [], []
    for values, path, entry in rows:
        s = ((entry.get("summary") or {}).get("casts") or {}).get("casts_per_s")
        if s:
            x.append(_label(values, path))
            y.append(s["median"])
            lo.append(s["median"] - s["min"])
            hi.append(s["max"] - s["median"])
    casts.add_bar(x=x, y=y, error_y=dict(type="data", symmetric=False, array=hi,
                                         arrayminus=lo))
    casts.update_layout(title="casts per second until all are received", yaxis_title="casts/s")
    figs.append(("casts", casts))
    low = str(min(summary["options"]["callers"]))
    over = go.Figure()
    columns = _cell_columns(summary)
    for path, what, key in (("lab", "lab path vs bare pair: p50", "p50_ms"),
                            ("lab", "lab path vs bare pair: CPU/call", "cpu_us"),
                            ("relay", "relay vs direct: p50", "p50_ms"),
                            ("relay", "relay vs direct: CPU/call", "cpu_us")):
        x, y, lo, hi = [], [], [], []
        for cell in summary["cells"]:
            s = (((cell.get("overhead") or {}).get(path) or {}).get(low) or {}).get(key)
            if s:
                x.append(" ".join(str(v) for v in _cell_values(cell, columns)))
                y.append(s["median"])
                lo.append(s["median"] - s["min"])
                hi.append(s["max"] - s["median"])
        over.add_bar(name=what, x=x, y=y, error_y=dict(type="data", symmetric=False,
                                                       array=hi, arrayminus=lo))
    over.add_hline(y=summary["target_pct"], line_dash="dash", line_color="#d62728",
                   annotation_text=f"target {summary['target_pct']:g} %")
    over.update_layout(title=f"the lab's own overhead at {low} caller(s): p50 latency and "
                       "CPU per call (median, bars: min to max over the repeats)",
                       barmode="group", yaxis_title="% over the bare pair")
    figs.append(("overhead", over))
    return figs


def render_html(summary, plots="", problem=None):
    esc = html.escape
    parts = ["<!doctype html><html><head><meta charset=utf-8>",
             "<title>fake-lab bench</title><style>body{font-family:sans-serif;"
             "margin:1em 2em}pre{font-size:12px;overflow-x:auto}.note{color:#a60}"
             "</style></head><body>",
             f"<h1>fake-lab bench <span id=status>{esc(summary['status'])}</span></h1>",
             f"<p>{esc(summary['how'])}</p>",
             "<p>(<a href='bench.json'>bench.json</a>, <a href='samples.json'>"
             "samples.json</a>, <a href='bench.txt'>bench.txt</a>)</p>",
             f"<pre id=tables>{esc(chr(10).join(render_text(summary)))}</pre>"]
    if problem:
        parts.append(f"<p class=note id=problem>{esc(problem)}</p>")
    parts.append(plots)
    data = json.dumps(summary, sort_keys=True, default=str).replace("</", "<\\/")
    parts.append(f"<script type=application/json id=bench-data>{data}</script>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_html(rundir, summary, samples):
    """bench.html: the tables and the plots, plotly.js inline (timeline.py's
    loader: no network). Never raises; the page says what went wrong."""
    plots, problem = "", None
    try:
        import plotly.io as pio

        from fake_lab import timeline

        config = {"displaylogo": False, "responsive": True}
        plots = timeline._deferred("".join(
            pio.to_html(fig, include_plotlyjs=False, full_html=False,
                        div_id=f"bench-{name}", config=config)
            for name, fig in figures(summary, samples)))
    except Exception as exc:  # the figures are a convenience: bench.json has them
        problem = f"plots unavailable: {type(exc).__name__}: {exc}"
    try:
        with open(rundir.file("bench.html"), "w") as f:
            f.write(render_html(summary, plots, problem))
    except OSError:
        return None
    return rundir.file("bench.html")


def exit_code(summary):
    """(code, why): 0 when every path of every cell and the baseline ran and
    every call and cast was answered; EXIT_INTERRUPTED for an interrupted
    bench; EXIT_INCOMPLETE otherwise."""
    from fake_lab import errors

    why = []
    entries = [("baseline", summary.get("baseline"))] + [
        (f"{c['id']} {path}", entry) for c in summary["cells"]
        for path, entry in (c.get("paths") or {}).items()]
    for cell in summary["cells"]:
        if cell.get("status") == "unavailable":
            why.append(f"{cell['id']} unavailable")
    for name, entry in entries:
        if not entry or entry.get("status") == "pending":
            why.append(f"{name} not run")
        elif entry.get("status") != "ran":
            why.append(f"{name} failed")
        elif not (entry.get("answered") or {}).get("all"):
            why.append(f"{name} lost calls or casts")
    if summary.get("status") == "interrupted":
        return errors.EXIT_INTERRUPTED, ["the bench was interrupted"] + why
    if summary.get("status") != "complete":
        why.insert(0, f"the bench is {summary.get('status')}")
    return (errors.EXIT_INCOMPLETE if why else errors.EXIT_OK), why


# ---------------------------------------------------------------- command line


def _positive_int(text):
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def _duration(text):
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 600 seconds")
    return value


def add_command(sub):
    """``fake-lab bench`` on the CLI's subparsers."""
    import argparse

    bench = sub.add_parser("bench", help="RPC calls and casts per second and latency, "
                           "against a raw kombu baseline, and the lab's own overhead",
                           description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("--calls", type=_positive_int, default=300,
                       help="calls in each block, shared by its callers (default 300)")
    bench.add_argument("--casts", type=_positive_int,
                       help="casts in each block (default: as --calls)")
    bench.add_argument("--duration", type=_duration, default=5.0, metavar="SECONDS",
                       help="a calls block stops issuing after this long (default 5)")
    bench.add_argument("--repeat", type=_positive_int, default=3,
                       help="blocks of each kind per path (default 3): figures are "
                       "median [min-max] over them")
    bench.add_argument("--callers", default="1,8", metavar="N,N",
                       help="concurrent callers of each calls block (default 1,8)")
    bench.add_argument("--axis", action="append", default=[], metavar="NAME=V1,V2",
                       help="release (installed, X.Y.Z, a prefix, or a candidate build "
                       "as in the matrix), deps (latest, series), executor (eventlet, "
                       "threading); default: release=installed, executor=eventlet,threading")
    bench.add_argument("--runs-dir", default=os.environ.get("FAKE_LAB_RUNS_DIR", "runs"))
    headline = bench.add_argument_group("headline", "the headline-speed benchmark "
                                        "(fake_lab/commands/headline_bench.py)")
    headline.add_argument("--headline", action="store_true",
                          help="run the headline-speed benchmark instead")
    headline.add_argument("--runs", type=_positive_int, help="with --headline")
    headline.add_argument("--broker", metavar="BROKER", help="with --headline")
    return bench


def _headline(args):
    import importlib

    name = "fake_lab.commands.headline_bench"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise MissingComponent("fake-lab bench --headline: the headline benchmark "
                               "(fake_lab/commands/headline_bench.py) is not in this "
                               "checkout yet")
    code = module.main(args)
    return 0 if code is None else code


def _progress():
    """Progress on stderr when it is a terminal, nothing otherwise."""
    if sys.stderr.isatty():
        return lambda line: print(line, file=sys.stderr, flush=True)
    return lambda line: None


def command(args):
    """``fake-lab bench``; returns the exit code."""
    from fake_lab import errors

    if args.headline:
        return _headline(args)
    if args.runs is not None or args.broker is not None:
        raise UsageError("fake-lab bench: --runs and --broker go with --headline")
    axes = parse_axes(args.axis)
    callers = parse_callers(args.callers)
    bench = Bench(axes, callers, args.calls, args.casts or args.calls, args.duration,
                  args.repeat, args.runs_dir, _progress())

    def terminate(signum, frame):
        raise runner.Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    try:
        summary, rundir = bench.run()
    except (KeyboardInterrupt, runner.Interrupted):
        where = getattr(bench, "rundir", None)
        print("fake-lab: interrupted; everything the bench started was stopped"
              + (f"; what it measured is in {where.path}/bench.json" if where else ""),
              file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    for line in render_text(summary):
        print(line)
    print(f"bench.json: {rundir.file('bench.json')}")
    print(f"bench.html: {rundir.file('bench.html')}")
    code, why = exit_code(summary)
    if why:
        print(f"fake-lab bench: incomplete: {'; '.join(why[:5])}", file=sys.stderr)
    return code
