"""``fake-lab matrix``: one scenario over a grid of axes, every cell a real run.

Cells share one private broker, each with a vhost of its own (created at the
broker's boot from a definitions file): booting a node costs about 4 s, more
than a cell's own work, and the checker matches connections to a cell by the
API worker's PID, so sharing costs no evidence. Cells run in parallel, as
many at a time as ``--jobs`` (default: three per core: a cell mostly waits,
for its idle period and the driver's reconnect), each in
``<matrix dir>/cells/<cell>/``, a complete run directory.

Axes are the run's axes (``fake-lab run --help``) plus ``release`` (an
oslo.messaging release: ``installed``, ``17`` for the newest 17.x, or exact;
or a candidate build: a source tree, a wheel or sdist, or
``git+URL@REF``, see candidates.py) and ``deps`` (``latest`` or
``series``: see pyenvs.py). Each cell is compared with
scenarios/expectations.toml: agrees, DISAGREES (a finding), or unknown; a
candidate has no expectation. With two releases or more, matrix.md ends
with an A/B table: the releases side by side, cell by cell.

Spread over CI machines: ``--shard K/N`` runs a deterministic 1/N of the
cells (every N-th of the planned order, from the K-th), each shard with its
own broker; ``fake-lab matrix merge DIR...`` joins the shards' directories
into one matrix directory, with the same matrix.md/json/html and exit code
a single run gives, and refuses, saying which, a missing shard, a shard given
twice or a cell in two shards.
"""

import concurrent.futures
import contextlib
import html
import itertools
import json
import os
import shutil
import threading
import time
import tomllib

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from fake_lab import catalogue, checkers, errors, progress, runner, settings
from fake_lab.daemons import candidates, containers, pyenvs, uwsgi_releases
from fake_lab.daemons import rabbitmq as broker_mod
from fake_lab.errors import Incomplete, LabError, UsageError
from fake_lab.lab import Lab
from fake_lab.paths import EXPECTATIONS
from fake_lab.rundir import RunDir

ENV_AXES = ("release", "deps")
AXES = tuple(settings.AXES) + ENV_AXES
CHOICES = {"executor": ("eventlet", "threading"),
           "api_executor": ("eventlet", "threading"),
           "compute_executor": ("eventlet", "threading"),
           "scheduler_executor": ("eventlet", "threading"),
           "conductor_executor": ("eventlet", "threading"),
           "start_method": ("default", "fork", "spawn"),
           "container": tuple(containers.CONTAINERS),
           "heartbeat_in_pthread": ("true", "false"),
           "observe_heartbeats": ("true", "false"),
           "relay": ("true", "false"),
           "uwsgi_enable_threads": ("true", "false"),
           "uwsgi_lazy_apps": ("true", "false"),
           "uwsgi_fork_hooks": ("true", "false"),
           "db_pair": ("true", "false"),
           "db_replication": ("async", "sync"),
           "transient_quorum_queue": ("true", "false"),
           "retry": ("off", "key", "no-key"),
           "deps": pyenvs.DEPS}
DEFAULT_AXES = {"container": ["uwsgi", "mod_wsgi", "eventlet-wsgi"],
                "executor": ["eventlet", "threading"],
                "release": ["installed", "17"],
                "heartbeat_in_pthread": ["false", "true"]}
AGREES, DISAGREES, NO_EXPECTATION, NOT_RUN = (
    "agrees", "DISAGREES", "no expectation", "not run")


def parse_axes(specs):
    """['name=v1,v2', ...] -> {name: [values]}; UsageError on bad input."""
    axes = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values:
            raise UsageError(f"--axis {spec!r}: expected NAME=V1,V2")
        if name not in AXES:
            raise UsageError(f"unknown axis {name!r}; axes: {', '.join(AXES)}")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if len(set(vals)) != len(vals):
            raise UsageError(f"axis {name}: a value is given twice")
        for v in vals:
            if name in CHOICES and v not in CHOICES[name]:
                raise UsageError(f"axis {name}: {v!r} is not one of "
                                 f"{', '.join(CHOICES[name])}")
            if name == "uwsgi_release" and v != "installed" and \
                    not uwsgi_releases.RELEASE.match(v):
                raise UsageError(f"axis uwsgi_release: {v!r} is neither "
                                 "'installed' nor an exact release (2.0.26)")
            if name not in ENV_AXES:
                settings.check_value(name, v)
        axes[name] = vals
    return axes


def expectations(scenario):
    with open(EXPECTATIONS, "rb") as f:
        return tomllib.load(f).get(scenario, [])


def _matches(key, wanted, cell):
    """Does the cell's value of ``key`` match one of ``wanted``? A
    ``release`` may be given as a version specifier (``"<14.0.3"``,
    ``"==14.1.*"``), matched against the release the cell really imported;
    so may a ``uwsgi_release``, matched against the cell's uWSGI binary."""
    value = cell.get(key)
    versions = {"release": "release_version", "uwsgi_release": "uwsgi_version"}
    for alt in wanted if isinstance(wanted, list) else [wanted]:
        if alt == value:
            return True
        if key in versions and str(alt)[:1] in "<>=!~":
            version = cell.get(versions[key])
            if version and Version(version) in SpecifierSet(alt):
                return True
    return False


def expect_for(rules, cell):
    if cell.get("candidate"):
        return None, ("a candidate build: the catalogue describes releases, "
                      "the A/B table compares it with them")
    for rule in rules:
        if all(_matches(k, v, cell) for k, v in rule["when"].items()):
            return rule["expect"], rule["why"]
    return None, "no rule of scenarios/expectations.toml matches"


def cell_id(values):
    return "-".join(f"{k}={v}" for k, v in values.items()).replace("/", "_")


def parse_shard(text):
    """``K/N`` as (K, N), 1 <= K <= N; UsageError otherwise."""
    k, sep, n = (text or "").partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise UsageError(f"--shard {text!r}: expected K/N with 1 <= K <= N (e.g. 2/3)")
    return int(k), int(n)


def shard_of(cells, shard):
    """The cells of shard (K, N): every N-th cell of the plan from the K-th,
    so that each shard gets a like mix of the axes' values."""
    k, n = shard
    return [c for i, c in enumerate(cells) if i % n == k - 1]


def default_jobs():
    """Three cells per core: a cell's CPU is mostly its processes' start
    (about 2 s of a 7 s cell); the rest is the idle period and the
    reconnect, which only wait."""
    return 3 * (os.cpu_count() or 1)


class Matrix:
    def __init__(self, scenario_name, axes, runs_dir, jobs=None, say=print,
                 shard=None, status=progress.QUIET):
        self.scenario = catalogue.load(scenario_name)
        self.axes = axes or DEFAULT_AXES
        self.shard = shard
        self.runs_dir = runs_dir
        self.jobs = jobs or default_jobs()
        self.say = say
        self.status = status
        self.lock = threading.Lock()
        self.labs = set()
        self.stopping = threading.Event()
        self.candidates = {}  # label -> candidates.Candidate

    def plan(self):
        """Resolve releases, build their envs; the cells, none run yet."""
        releases = {}
        for text in self.axes.get("release", ["installed"]):
            if candidates.looks_like_one(text):
                candidate = candidates.parse(text)
                if candidate.label in self.candidates:
                    raise UsageError(f"axis release: {text!r} is the same build "
                                     f"as {self.candidates[candidate.label].spec!r}")
                self.candidates[candidate.label] = candidate
                releases[text] = candidate.label
            else:
                releases[text] = pyenvs.resolve_release(text)
        for container in self.axes.get("container", ["uwsgi"]):
            containers.CONTAINERS[container](None, None).check_installed()
        names = list(self.axes)
        cells = []
        for combo in itertools.product(*(self.axes[n] for n in names)):
            values = dict(zip(names, combo))
            if "release" in values:
                values["release"] = releases[values["release"]]
            values.setdefault("deps", "latest")
            cells.append({"id": cell_id(values), "axes": values})
        return cells

    def prepare(self, cell):
        """Find the cell's Python env (or mark the cell unavailable)."""
        values = cell["axes"]
        candidate = self.candidates.get(values.get("release"))
        try:
            env = pyenvs.get(values.get("release", "installed"), values["deps"],
                             say=self.say, candidate=candidate)
            probe = env.probe()
        except pyenvs.Unavailable as exc:
            cell.update(status="unavailable", reason=str(exc))
            return None
        cell["versions"] = probe["versions"]
        has_pthread = probe["heartbeat_in_pthread"] is not None
        effective = dict(values, release_version=probe["versions"]["oslo.messaging"])
        if candidate is not None:
            # Labelled with the version it builds as and what it was built from.
            cell["candidate"] = {"kind": candidate.kind, "spec": candidate.spec,
                                 "key": candidate.key, "commit": candidate.commit,
                                 "version": probe["versions"]["oslo.messaging"]}
            effective["candidate"] = candidate.kind
        # The scenario's own value when it sets one, else the release's default.
        configured = self.scenario.get("config", {}).get(
            "oslo_messaging_rabbit", {}).get("heartbeat_in_pthread")
        if has_pthread and "heartbeat_in_pthread" not in values:
            effective["heartbeat_in_pthread"] = str(
                probe["heartbeat_in_pthread"] if configured is None
                else configured).lower()
        elif not has_pthread and ("heartbeat_in_pthread" in values
                                  or configured is not None):
            # Before 10.1 and from 18.0 the option does not exist: the cell
            # still runs, as a deployment upgraded with its old config
            # would, and the option is ignored (the heartbeat is a plain
            # thread, green when patched).
            effective["heartbeat_in_pthread"] = "ignored"
            cell["note"] = (f"oslo.messaging {probe['versions']['oslo.messaging']}"
                            " has no heartbeat_in_pthread: the setting is ignored")
        # Axes the matrix does not sweep have the scenario's own value, so
        # that a rule can name them (uwsgi_enable_threads = "false").
        config = self.scenario.get("config", {})
        for axis, (group, name, _) in settings.AXES.items():
            value = config.get(group, {}).get(name)
            if value is not None and axis not in effective:
                effective[axis] = (str(value).lower() if isinstance(value, bool)
                                   else str(value))
        # Each role's concurrency mode as it resolved (its own axis, else
        # executor's), so that a rule can name the API's or the computes'.
        for role in ("api", "compute", "scheduler", "conductor"):
            effective.setdefault(f"{role}_executor",
                                 effective.get("executor", "eventlet"))
        # The uWSGI the cell runs: the env's own, or a release built side by
        # side (built here, before any cell runs).
        uwsgi = effective.get("uwsgi_release", "installed")
        if effective.get("container", "uwsgi") == "uwsgi":
            if uwsgi == "installed":
                effective["uwsgi_version"] = probe["versions"].get("uWSGI")
            else:
                try:
                    uwsgi_releases.binary(uwsgi, say=self.say)
                except uwsgi_releases.Unavailable as exc:
                    cell.update(status="unavailable", reason=f"uWSGI {uwsgi}: {exc}")
                    return None
                effective["uwsgi_version"] = uwsgi
        cell["effective"] = effective
        return env

    def run(self):
        """Run every cell (of this shard); returns (summary, matrix RunDir)."""
        planned = self.plan()
        cells, kind = planned, "matrix"
        if self.shard:
            cells = shard_of(planned, self.shard)
            self.planned = [c["id"] for c in planned]
            kind = "matrix-shard-%d-of-%d" % self.shard
        with self.session(kind, [c["id"] for c in cells]) as (mdir, broker):
            self.say(f"matrix of {len(cells)} cells: {mdir.path}")
            try:
                self.run_cells(mdir, broker, cells)
            finally:
                summary = self.finish(mdir, cells)
        return summary, mdir

    @contextlib.contextmanager
    def session(self, kind, vhosts):
        """A run directory (prepared as every run's is) and the shared broker."""
        self.started = time.monotonic()
        with runner.prepared(self.runs_dir, f"{kind}-{self.scenario['name']}",
                             self.say) as mdir:
            broker = broker_mod.PrivateBroker(mdir.file("broker"),
                                              log_dir=mdir.logs, vhosts=vhosts)
            try:
                broker.start()
                yield mdir, broker
            finally:
                with runner.signals_deferred():
                    self._abort()
                    broker.stop(fast=True)  # throwaway, as a run's own

    def run_cells(self, mdir, broker, cells):
        """Prepare and run ``cells`` (in parallel); each gets its verdict."""
        runnable = [(c, env) for c in cells
                    for env in [self.prepare(c)] if env is not None]
        self.say(f"{len(runnable)} cell(s) to run, {self.jobs} at a time")
        pool = concurrent.futures.ThreadPoolExecutor(self.jobs)
        futures = [pool.submit(self._run_cell, mdir, broker, c, env)
                   for c, env in runnable]
        started = time.monotonic()

        def doing():
            done = sum(f.done() for f in futures)
            with self.lock:
                running = sorted(os.path.basename(lab.run.path)
                                 for lab in self.labs)
            return (f"matrix: {done} of {len(futures)} cells done, "
                    f"{len(futures) - done} to go, {progress.elapsed(started)}"
                    + (f"; running {', '.join(running)}" if running else ""))

        try:
            with self.status.ticking(doing):
                for f in futures:
                    f.result()
        except (KeyboardInterrupt, runner.Interrupted):
            # Queued cells must not start; running ones are stopped now.
            pool.shutdown(wait=False, cancel_futures=True)
            self._abort()
            raise
        pool.shutdown(wait=True)

    def finish(self, mdir, cells):
        """Compare with the expectations; write matrix.md/json/html."""
        rules = expectations(self.scenario["name"])
        for c in cells:
            c.setdefault("status", "not run")
            c["expected"], c["why"] = expect_for(rules, c.get("effective", c["axes"]))
            c["agreement"] = _agreement(c)
        return self._write(mdir, cells, time.monotonic() - self.started)

    def _abort(self):
        self.stopping.set()
        with self.lock:
            labs = list(self.labs)
        for lab in labs:
            lab.stop()

    def _run_cell(self, mdir, broker, cell, env):
        if self.stopping.is_set():
            return
        values = cell["axes"]
        run = RunDir.create_in(mdir.file("cells"), cell["id"])
        cell["run_dir"] = os.path.relpath(run.path, mdir.path)
        overrides = {k: v for k, v in values.items() if k not in ENV_AXES}

        def make_lab(resolved):
            lab = Lab(run, resolved, broker=broker, vhost=cell["id"], pyenv=env)
            with self.lock:
                if self.stopping.is_set():
                    raise runner.Interrupted("the matrix is stopping")
                self.labs.add(lab)
            return lab

        def say(line):
            pass  # each cell's own output is in its run directory

        try:
            result = runner.play(run, self.scenario, overrides, [], make_lab, say,
                                 extra={"cell": values, "env": env.label,
                                        "vhost": cell["id"]})
            imported = (run.read_json("config.json") or {}).get("imported", {})
            cell.update(status="ran", verdict=result["verdict"],
                        imported=imported.get("fake-nova-api", {}))
        except LabError as exc:
            cell.update(status="error", verdict=checkers.UNKNOWN, reason=str(exc))
        except runner.Interrupted:
            cell.update(status="interrupted", verdict=checkers.UNKNOWN)
        except Exception as exc:  # a bug of the lab: this cell only
            cell.update(status="error", verdict=checkers.UNKNOWN,
                        reason=f"lab crashed: {type(exc).__name__}: {exc}")
        finally:
            with self.lock:
                self.labs = {lab for lab in self.labs if lab.run is not run}
        self.say(f"  {cell['id']}: {cell.get('verdict')}"
                 + (f" ({cell['reason']})" if cell.get("reason") else ""))

    def _write(self, mdir, cells, seconds):
        summary = {"scenario": self.scenario["name"], "axes": self.axes,
                   "seconds": round(seconds, 1), "cells": cells,
                   "disagreements": [c["id"] for c in cells
                                     if c["agreement"] == DISAGREES]}
        if self.shard:
            summary["shard"] = {"k": self.shard[0], "n": self.shard[1],
                                "planned": self.planned}
        return write_summary(mdir, summary)


def write_summary(mdir, summary):
    mdir.write_json("matrix.json", summary)
    with open(mdir.file("matrix.md"), "w") as f:
        f.write(render_md(summary))
    with open(mdir.file("matrix.html"), "w") as f:
        f.write(render_html(summary))
    return summary


def _read_shard(path):
    try:
        with open(os.path.join(path, "matrix.json")) as f:
            summary = json.load(f)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a matrix directory: {exc}")
    if "shard" not in summary:
        raise UsageError(f"{path} is a whole matrix, not a shard "
                         "(run `fake-lab matrix --shard K/N`)")
    return summary


def merge(dirs, runs_dir, say=print):
    """Join shard directories into one matrix directory: (summary, RunDir)."""
    if not dirs:
        raise UsageError("fake-lab matrix merge needs the shards' directories")
    shards = [(d, _read_shard(d)) for d in dirs]
    first = shards[0][1]
    n, planned = first["shard"]["n"], first["shard"]["planned"]
    by_k, where = {}, {}
    for d, s in shards:
        if s["scenario"] != first["scenario"] or s["shard"]["n"] != n \
                or s["shard"]["planned"] != planned:
            raise UsageError(f"{d} is a shard of another matrix than {shards[0][0]} "
                             "(scenario, axes or shard count differ)")
        k = s["shard"]["k"]
        if k in by_k:
            raise UsageError(f"shard {k}/{n} is given twice: {by_k[k]} and {d}")
        by_k[k] = d
        for c in s["cells"]:
            if c["id"] in where:
                raise UsageError(f"cell {c['id']} is in two shards: "
                                 f"{where[c['id']][0]} and {d}")
            where[c["id"]] = (d, c)
    missing = [f"{k}/{n}" for k in range(1, n + 1) if k not in by_k]
    if missing:
        raise Incomplete(f"shard(s) {', '.join(missing)} missing: the merged "
                         f"matrix would lack {len(planned) - len(where)} of its "
                         f"{len(planned)} cells")
    absent = [cid for cid in planned if cid not in where]
    if absent:
        raise Incomplete(f"{len(absent)} planned cell(s) are in no shard: "
                         + ", ".join(absent[:3]))
    mdir = RunDir.create(runs_dir, f"matrix-{first['scenario']}-merged")
    cells = []
    for cid in planned:
        d, cell = where[cid]
        if cell.get("run_dir"):
            shutil.copytree(os.path.join(d, cell["run_dir"]),
                            mdir.file(cell["run_dir"]), symlinks=True)
        cells.append(cell)
    summary = {"scenario": first["scenario"], "axes": first["axes"],
               # The shards ran side by side: the longest is the wall time.
               "seconds": max(s["seconds"] for _, s in shards), "cells": cells,
               "disagreements": [c["id"] for c in cells if c["agreement"] == DISAGREES],
               "merged_from": [{"dir": os.path.abspath(d), "shard": f"{s['shard']['k']}/{n}",
                                "seconds": s["seconds"]} for d, s in shards]}
    say(f"merged {len(shards)} shard(s), {len(cells)} cells: {mdir.path}")
    return write_summary(mdir, summary), mdir


def exit_code(summary, say_error):
    """What a CI job needs to know: the same for a matrix, a shard or a merge."""
    if summary["disagreements"]:
        return errors.EXIT_EXPECTATION
    not_run = [c for c in summary["cells"] if c["agreement"] == NOT_RUN]
    if not_run or not summary["cells"]:
        # A cell without evidence must never pass for a green matrix.
        say_error(f"{len(not_run)} of {len(summary['cells'])} cell(s) gave no "
                  "evidence (not run, unavailable or crashed): "
                  + ", ".join(c["id"] for c in not_run[:5]))
        return errors.EXIT_INCOMPLETE
    if any(c["agreement"] == "unknown" for c in summary["cells"]):
        return errors.EXIT_UNKNOWN
    return errors.EXIT_OK


def _agreement(cell):
    if cell.get("status") != "ran":
        return NOT_RUN
    if cell["expected"] is None or cell["verdict"] == checkers.UNKNOWN:
        return NO_EXPECTATION if cell["expected"] is None else "unknown"
    return AGREES if cell["verdict"] == cell["expected"] else DISAGREES


def _columns(summary):
    return list(summary["axes"]) + (["deps"] if "deps" not in summary["axes"] else [])


def _libs(cell):
    """The libraries the cell's API imported (from its log), else the env's."""
    v = cell.get("imported") or cell.get("versions") or {}
    if not v:
        return ""
    return (f"oslo.messaging {v.get('oslo.messaging')}, eventlet {v.get('eventlet')}, "
            f"kombu {v.get('kombu')}, amqp {v.get('amqp')}"
            + (f", uWSGI {v['uWSGI']}" if v.get("uWSGI") else ""))


def ab_rows(summary):
    """(header, rows) comparing the releases cell by cell: the other axes'
    values a row, each release a column, and whether the verdicts differ;
    None with fewer than two releases. The table a reproducer pastes into
    the review of a fix."""
    releases = summary.get("axes", {}).get("release", [])
    if len(releases) < 2:
        return None
    others = [k for k in _columns(summary) if k not in ("release", "deps")
              or (k == "deps" and len(summary["axes"].get("deps", [])) > 1)]
    columns, rows = {}, {}
    for c in summary["cells"]:
        rel = c["axes"].get("release")
        version = (c.get("effective") or {}).get("release_version")
        head = f"{rel} ({version})" if version and version != rel else rel
        if (c.get("candidate") or {}).get("commit"):
            head += f" commit {c['candidate']['commit'][:10]}"
        columns.setdefault(rel, head)
        verdict = c.get("verdict") if c["status"] == "ran" else c["status"]
        row = tuple(str(c["axes"].get(k, "")) for k in others)
        rows.setdefault(row, {})[rel] = verdict or "-"
    order = list(columns)
    table = []
    for row, verdicts in rows.items():
        seen = [verdicts.get(r, "-") for r in order]
        table.append(list(row) + seen + ["yes" if len(set(seen)) > 1 else "no"])
    return others + [columns[r] for r in order] + ["differs"], table


def ab_table(summary):
    """The A/B table as markdown lines ([] without one)."""
    found = ab_rows(summary)
    if found is None:
        return []
    header, table = found
    return (["## A/B by release", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
            + ["| " + " | ".join(row) + " |" for row in table] + [""])


def render_md(summary):
    cols = _columns(summary)
    lines = [f"# {summary['scenario']}: {len(summary['cells'])} cells in "
             f"{summary['seconds']} s", ""]
    if summary["disagreements"]:
        lines += [f"**{len(summary['disagreements'])} cell(s) DISAGREE with "
                  "the expectations catalogue**: "
                  + ", ".join(summary["disagreements"]), ""]
    lines.append("| " + " | ".join(cols + ["verdict", "expected", "agreement",
                                              "libraries", "run"]) + " |")
    lines.append("|" + "---|" * (len(cols) + 5))
    for c in summary["cells"]:
        verdict = c.get("verdict") or c["status"]
        if c["status"] not in ("ran",):
            verdict = f"{c['status']}: {c.get('reason', '')}"
        if c.get("note"):
            verdict += f" ({c['note']})"
        lines.append("| " + " | ".join(
            [str(c["axes"].get(k, "")) for k in cols]
            + [verdict, c["expected"] or "-", c["agreement"], _libs(c),
               f"[{c['id']}]({c['run_dir']}/report.md)" if c.get("run_dir") else "-"])
            + " |")
    lines += ["", "Expectations: scenarios/expectations.toml; each cell's "
              "evidence is in its report.", ""]
    return "\n".join(lines + ab_table(summary))


def render_html(summary):
    cols = _columns(summary)
    esc = html.escape
    rows = []
    for c in summary["cells"]:
        style = {"agrees": "#dfd", "DISAGREES": "#f99"}.get(c["agreement"], "#eee")
        verdict = c.get("verdict") or ""
        if c["status"] != "ran":
            verdict = f"{c['status']}: {c.get('reason', '')}"
        # The cell's report.html (its timeline), and report.md beside it.
        link = (f'<a href="{esc(c["run_dir"])}/report.html">{esc(c["id"])}</a> '
                f'(<a href="{esc(c["run_dir"])}/report.md">md</a>)'
                if c.get("run_dir") else esc(c["id"]))
        rows.append(f'<tr style="background:{style}">' + "".join(
            f"<td>{esc(str(c['axes'].get(k, '')))}</td>" for k in cols)
            + f"<td>{esc(verdict)}</td><td>{esc(c['expected'] or '-')}</td>"
            f"<td>{esc(c['agreement'])}</td><td>{esc(_libs(c))}</td>"
            f"<td>{link}</td></tr>")
    head = "".join(f"<th>{esc(k)}</th>" for k in cols + [
        "verdict", "expected", "agreement", "libraries", "run"])
    return (f"<!doctype html><meta charset=utf-8><title>{esc(summary['scenario'])}"
            f" matrix</title><h1>{esc(summary['scenario'])}: "
            f"{len(summary['cells'])} cells in {summary['seconds']} s</h1>"
            f"<table border=1 cellpadding=4><tr>{head}</tr>{''.join(rows)}</table>\n"
            + _ab_html(summary))


def _ab_html(summary):
    found = ab_rows(summary)
    if found is None:
        return ""
    esc = html.escape
    header, table = found
    return ("<h2>A/B by release</h2><table border=1 cellpadding=4><tr>"
            + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>"
                      for row in table) + "</table>\n")


def print_summary(summary, say=print):
    counts = {}
    for c in summary["cells"]:
        counts[c["agreement"]] = counts.get(c["agreement"], 0) + 1
    say(f"{len(summary['cells'])} cells in {summary['seconds']} s: {counts}")
    for cid in summary["disagreements"]:
        say(f"DISAGREES with the expectations catalogue: {cid}")
    for line in ab_table(summary):
        say(line)
    return json.dumps(counts)
