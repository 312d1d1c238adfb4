"""``fake-lab bench``: how fast oslo.messaging answers here, and what the
lab itself costs.

For each cell (an oslo.messaging ``release`` x ``deps`` x ``executor``) the
bench runs four paths, each an RPC server process and a client process:

- ``om``: a bare oslo.messaging pair (its own factories, an echo endpoint);
- ``lab``: the lab's fake services path (the fake compute's server and the
  fake nova-api's compute_rpcapi client, wired as the lab wires them:
  oslo.log, the heartbeat observer, the fake compute's ``ping: N`` and
  ``cast N: ...`` lines, a request id per call; the send pool's observer
  is off, as in every scenario but the two pool ones);
- ``quiet``: ``lab`` with the lab's observation off and nothing else (no
  heartbeat observer, no ``ping``/``cast`` lines; the request id
  and RequestContext, ``prepare()`` per call, the reply naming host and
  PID, oslo.log's own lines stay: what nova itself does);
- ``relay``: the bare pair through the lab's relay (fake_lab/daemons/relay.py)
  instead of straight to the broker;

plus, once, a raw kombu baseline (request/reply and casts straight over
kombu, no oslo.messaging). Every figure is also given as a ratio to the
baseline measured in the same repeat, and the lab's own overhead as a
percentage, repeat by repeat: ``lab`` against ``om`` (the 5 % target's figure),
split into the lab's observation (``lab`` against ``quiet``: what watching
costs, held to the same target) and nova's wiring (``quiet`` against
``om``); and ``relay`` against ``om``. ``--axis path=om,lab,relay`` leaves
paths out (a bench without ``quiet`` is about a fifth shorter, and its
overhead table has no split). Each lab-wired process says what of the
lab's observation it has, and its log's lines are counted: a ``quiet``
process with an observer or an observation line, or a ``lab`` one without,
fails its path.

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
(fake_lab/commands/headline_bench.py).
"""

# The parts: fake_lab/bench/workers.py (the measured processes, from the
# runner's side), figures.py (what their answers add up to), tables.py (the
# tables and bench.html); here, the plan, the run and the command line.

import contextlib
import itertools
import json
import os
import re
import select
import signal
import socket
import sys
import threading
import time

from fake_lab import progress, runner
from fake_lab import settings as settings_mod
from fake_lab.bench import figures, tables, workers
from fake_lab.bench.workers import BASELINE, LAB_WIRED, PATHS
from fake_lab.daemons import candidates, procs, pyenvs
from fake_lab.daemons import rabbitmq as broker_mod
from fake_lab.daemons import relay as relay_mod
from fake_lab.errors import MissingComponent, UsageError

AXES = ("release", "deps", "executor")  # a cell's
PATH_AXIS = "path"  # the paths each cell runs
EXECUTORS = ("eventlet", "threading")
DEFAULT_AXES = {"release": ["installed"], "deps": ["latest"],
                "executor": list(EXECUTORS), PATH_AXIS: list(PATHS)}
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


# ---------------------------------------------------------------- input


def parse_axes(specs):
    """['name=v1,v2', ...] -> {release, deps, executor, path: [values]} with
    the defaults filled in (the paths in PATHS's order); UsageError on bad
    input."""
    axes = {}
    names = AXES + (PATH_AXIS,)
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values.strip():
            raise UsageError(f"--axis {spec!r}: expected NAME=V1,V2")
        if name not in names:
            raise UsageError(f"unknown bench axis {name!r}; axes: {', '.join(names)}")
        if name in axes:
            raise UsageError(f"axis {name} is given twice")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if len(set(vals)) != len(vals):
            raise UsageError(f"axis {name}: a value is given twice")
        choices = {"executor": EXECUTORS, "deps": pyenvs.DEPS, PATH_AXIS: PATHS}.get(name)
        for v in vals:
            if choices and v not in choices:
                raise UsageError(f"axis {name}: {v!r} is not one of {', '.join(choices)}")
        if name == PATH_AXIS:
            vals = [p for p in PATHS if p in vals]
        axes[name] = vals
    return {name: axes.get(name, DEFAULT_AXES[name]) for name in names}


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


class Bench:
    """One ``fake-lab bench`` run; ``run()`` returns (summary, RunDir).
    ``say`` prints a line of output; ``status`` (a progress.Status, kept as
    ``self.progress``: ``self.status`` is how the bench ended) shows what
    the bench is doing and the last block's figures, on a terminal only."""

    def __init__(self, axes, callers, calls, casts, duration, repeat, runs_dir, say=print,
                 status=progress.QUIET):
        self.axes, self.callers = axes, callers
        self.calls, self.casts, self.duration, self.repeat = calls, casts, duration, repeat
        self.runs_dir, self.say, self.progress = runs_dir, say, status
        self.activity, self.last = "starting", None
        self.cells, self.pairs = [], []
        self.baseline = None
        self.relay_info = {}
        self.relay_pid = None

    @property
    def paths(self):
        return self.axes.get(PATH_AXIS) or list(PATHS)

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
            for path in self.paths:
                self.pairs.append(workers.Pair(f"c{n}-{path}", path, executor, env, cell))
        self.baseline = workers.Pair(BASELINE, BASELINE, "threading", pyenvs.LAB)
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
                with self.progress.ticking(self._doing), \
                        self._lab(rundir) as (broker, relay, control):
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

    def _doing(self):
        """The status line: what the bench does now, and the last figures."""
        return (f"bench {progress.elapsed(self.wall)}: {self.activity}"
                + (f"; last: {self.last}" if self.last else ""))

    @contextlib.contextmanager
    def _lab(self, rundir):
        """The private broker (a vhost per pair), the relay, the control
        listener; everything the bench started is stopped on the way out."""
        broker = broker_mod.PrivateBroker(rundir.file("broker"), log_dir=rundir.logs,
                                          vhosts=[p.vhost for p in self.pairs])
        relay = relay_mod.RelayDaemon(rundir.path, rundir.log("relay"), 0)
        control = socket.create_server(("127.0.0.1", 0))
        try:
            self.activity = "starting the broker and the relay"
            broker.launch()
            relay.upstream_ports = [broker.port]
            relay.launch(avoid={broker.port, broker.dist_port, broker.epmd_port})
            yield broker, relay, control
        finally:
            with runner.signals_deferred():
                self.activity, self.last = "stopping the workers, the relay and the broker", None
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
        self.activity = (f"{len(self.pairs) * 2} worker processes started; waiting for "
                         "the broker")
        broker.wait_ready()
        relay.wait_ready()
        self.relay_info = workers.relay_loop(rundir.log("relay"))
        self.relay_pid = relay.daemon.pid
        self.activity = "waiting for the workers to connect"
        self._accept(control, timeout=120)
        for role in ("server", "client"):
            # Servers first: a client's warm-up calls need its server.
            live = [p for p in self.pairs if not p.failed]
            for pair in live:
                start = {"cmd": "start", "timeout": RPC_TIMEOUT,
                         "url": broker.url_for(pair.vhost,
                                               relay.routes if pair.path == "relay" else None)}
                if pair.path in LAB_WIRED:
                    pair.logs[role] = rundir.log(f"{pair.id}-{role}")
                    start["config_file"] = settings_mod.write_ini(
                        rundir.file("etc", f"{pair.id}-{role}.conf"),
                        lab_config(pair.path, pair.logs[role]))
                self._send(pair, role, start)
            self.activity = f"waiting for the {role}s to be ready"
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
        self.last = f"{ready} of {len(self.pairs)} path(s) ready"

    def _accept(self, control, timeout):
        """Each worker's hello, matched to its pair by id, role and PID."""
        expected = {(p.id, role): p for p in self.pairs for role in ("server", "client")}
        deadline = time.monotonic() + timeout
        while expected and time.monotonic() < deadline:
            readable, _, _ = select.select([control], [], [], 0.2)
            if readable:
                sock, _ = control.accept()
                channel = workers.Channel(sock)
                try:
                    hello = channel.recv(10).get("hello") or {}
                except (workers.WorkerError, ValueError):
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
        except workers.WorkerError as exc:
            pair.fail(role, str(exc))

    def _recv(self, pair, role, timeout):
        if pair.failed:
            return None
        try:
            return pair.channels[role].recv(timeout, pair.daemons[role])
        except workers.WorkerError as exc:
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
                sizes = figures.split(total, SLICES)
                parts = {pair.id: [] for pair in live}
                what = f"{callers} caller(s) calls" if kind == "calls" else "casts"
                for k, size in enumerate(sizes):
                    offset = (r * len(sizes) + k) % len(live)
                    for pair in live[offset:] + live[:offset]:
                        if not pair.failed:
                            self.activity = (f"repeat {r + 1} of {self.repeat}, {what}, "
                                             f"slice {k + 1} of {len(sizes)}: {pair.id}")
                            block = self._block(pair, kind, callers, size, len(sizes))
                            if block is not None:
                                parts[pair.id].append(block)
                for pair in live:
                    if not pair.failed and parts[pair.id]:
                        self._record(pair, r, kind, callers, parts[pair.id])
        for pair in live:
            for role in ("server", "client"):
                if pair.records.get(role):
                    mode = workers.really(pair.records[role], pair.threads[role])
                    if pair.path != BASELINE and mode != pair.mode:
                        pair.fail(role, f"asked for {pair.mode} but really ran {mode}")
                    problem = workers.observation_problem(pair.path, role,
                                                          pair.records[role])
                    if problem:
                        pair.fail(role, problem)
        self._count_lines(live)

    def _count_lines(self, pairs):
        """Each lab-wired process's log, line by line (workers.log_lines):
        into bench.json, and its path fails unless the lines are its path's
        (no observation line in ``quiet``, the evidence of every call and
        cast and the heartbeat lines in ``lab``)."""
        for pair in pairs:
            if pair.failed:
                continue
            done = figures.answered({"repeats": pair.repeats})
            for role, path in pair.logs.items():
                pair.log_lines[role] = workers.log_lines(path)
                problem = workers.evidence_problem(pair.path, role, pair.log_lines[role], done)
                if problem:
                    pair.fail(role, problem)

    def _block(self, pair, kind, callers, size, slices):
        """One slice of a block on one pair: the worker's answer, with the
        CPU seconds it cost the client, the server and (on its path) the
        relay; None if the pair failed."""
        server = self._cpu(pair)
        relay = workers.tasks_cpu(self.relay_pid) if pair.path == "relay" else None
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
            after = workers.tasks_cpu(self.relay_pid)
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
            block = figures.merge_calls(parts)
            pair.threads["client"] += block["threads"]
            pair.thread_groups += block["thread_groups"]
            pair.samples.setdefault(str(callers), []).extend(
                round(x * 1000, 4) for x in block["latencies"])
            stats = figures.call_stats(block)
            pair.repeats[r]["calls"][str(callers)] = stats
            self.last = (f"{pair.id} {callers} caller(s): "
                         f"{tables.num(stats['calls_per_s'])} calls/s, "
                         f"p50 {tables.num(stats['p50_ms'])} ms, "
                         f"{stats['answered']}/{stats['sent']} answered")
        else:
            block = figures.merge_casts(parts)
            pair.threads["server"] += block["servers"]
            stats = figures.cast_stats(block)
            pair.repeats[r]["casts"] = stats
            self.last = (f"{pair.id} casts: {tables.num(stats['casts_per_s'])} casts/s, "
                         f"{stats['received']}/{stats['sent']} received")

    def _stop_workers(self):
        for pair in self.pairs:
            for channel in pair.channels.values():
                try:
                    channel.send({"cmd": "quit"})
                except workers.WorkerError:
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
            base = figures.summarize_path(self.baseline.entry(), self.callers)
        by_cell = {}
        for pair in self.pairs:
            if pair.cell is not None:
                by_cell.setdefault(pair.cell["n"], {})[pair.path] = pair
        cells = []
        for original in self.cells:
            cell = {k: v for k, v in original.items() if k not in ("n", "paths")}
            pairs = by_cell.get(original["n"], {})
            cell["paths"] = {path: figures.summarize_path(pair.entry(), self.callers, base)
                             for path, pair in pairs.items()}
            if pairs:
                failed = [f"{p.path}: {p.reason}" for p in pairs.values() if p.failed]
                cell["status"] = "error" if failed else "ran"
                if failed:
                    cell["reason"] = "; ".join(failed)
            cell["overhead"] = figures.cell_overheads(cell["paths"], self.callers)
            cells.append(cell)
        return {"command": "fake-lab bench", "status": self.status,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
                "seconds": round(time.monotonic() - self.wall, 1),
                "options": {"calls": self.calls, "casts": self.casts,
                            "duration": self.duration, "repeat": self.repeat,
                            "callers": self.callers, "axes": self.axes,
                            "paths": self.paths, "rpc_timeout": RPC_TIMEOUT},
                "machine": {"cores": os.cpu_count(),
                            "load_average": {k: [round(x, 2) for x in v]
                                             for k, v in self.load.items()}},
                "how": HOW, "target_pct": figures.TARGET_PCT,
                "overheads": {key: {"path": path, "reference": reference, "what": what,
                                    "judged": judged}
                              for key, path, reference, what, judged in figures.OVERHEADS},
                "observation": {path: workers.OBSERVATION[path] for path in self.paths},
                "relay": self.relay_info,
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
            f.write("\n".join(tables.render_text(summary)) + "\n")
        tables.write_html(rundir, summary, samples)
        return summary


def lab_config(path, log_file):
    """The config file of a lab-wired path's process: the lab's log file
    and RPC timeout; ``quiet`` also turns the heartbeat (and pool) observer
    off, as a lab config would (the worker turns the evidence lines off)."""
    sections = {"DEFAULT": {"log_file": log_file, "rpc_response_timeout": RPC_TIMEOUT}}
    if path == "quiet":
        sections["lab"] = {"observe_heartbeats": False}
    return sections


def _version(dist):
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


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


def command(args):
    """``fake-lab bench``; returns the exit code."""
    from fake_lab import errors

    if args.headline:
        return _headline(args)
    if args.runs is not None or args.broker is not None or args.control:
        raise UsageError("fake-lab bench: --runs, --broker and --control go with "
                         "--headline")
    axes = parse_axes(args.axis)
    callers = parse_callers(args.callers)
    status = progress.Status()
    bench = Bench(axes, callers, args.calls, args.casts or args.calls, args.duration,
                  args.repeat, args.runs_dir, say=status.say, status=status)

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
    for line in tables.render_text(summary):
        print(line)
    print(f"bench.json: {rundir.file('bench.json')}")
    print(f"bench.html: {rundir.file('bench.html')}")
    code, why = exit_code(summary)
    if why:
        print(f"fake-lab bench: incomplete: {'; '.join(why[:5])}", file=sys.stderr)
    return code
