"""``fake-lab bench --headline``: how long the headline takes, phase by phase.

Runs ``fake-lab run heartbeat-loss`` N times (``--runs``, default 5), each a
separate process started exactly as a user would type it
(``python -m fake_lab.cli run heartbeat-loss --runs-dir DIR``, plus
``--broker X`` and ``--control`` when given), one after the other. For each
run it reads the run's result.json: its phase timings (configure, start,
workload, cleanup, judging, total; and within start, when the broker was
ready and when every service was up) and its verdict; and it times the
command itself, from its start to its exit (``wall``: the interpreter's
start, the imports and the report come on top of ``total``).

It prints a table of the phases per run, then min, median and max over the
runs, and writes ``bench-headline-<time>/`` under the runs directory:
headline.json (options, machine, every run's row and the spreads),
headline.txt (the table) and each run's output (run-N.out). The runs' own
directories stay where ``fake-lab run`` puts them.

``--broker RUN_DIR|URL`` passes the same option to every run: the runs
reuse the broker of a ``fake-lab up`` (start it first) in vhosts of their
own, so the table shows what a run costs without a broker to boot.
``--control`` benches the control (threading) instead.

Exit 0 when every run gave its scenario's verdict (``reproduced``; with
``--control``, the control's), 1 when one did not, 130 when interrupted.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

from fake_lab import errors, progress, runner
from fake_lab.bench import figures
from fake_lab.errors import StorageError

SCENARIO = "heartbeat-loss"
DEFAULT_RUNS = 5
# The columns of the table, in the order a run goes through them: the
# phases of result.json's timings, and the wall time of the whole command.
COLUMNS = (("configure", "configure"), ("broker_boot", "broker ready"),
           ("services_up", "services up"), ("start", "start"),
           ("workload", "workload"), ("cleanup", "cleanup"),
           ("judging", "judging"), ("total", "total"), ("wall", "wall"),
           ("outside", "outside"))
RUN_DIR_LINE = re.compile(r"^run directory: (?P<path>.+)$", re.MULTILINE)
# A run that hangs is stopped: the headline takes about 15 s.
RUN_TIMEOUT = 600


def run_argv(runs_dir, broker=None, control=False):
    """The command of one run, as a user types it."""
    argv = [sys.executable, "-m", "fake_lab.cli", "run", SCENARIO,
            "--runs-dir", runs_dir]
    if broker:
        argv += ["--broker", broker]
    if control:
        argv.append("--control")
    return argv


def expected_verdict(control):
    """The verdict every run must give: the scenario's own, or its
    control's (from the catalogue, as ``fake-lab run --control`` has it)."""
    if not control:
        return "reproduced"
    from fake_lab import catalogue

    return catalogue.load(SCENARIO).get("control", {}).get("expect", "not-reproduced")


def run_dir_of(output):
    """The run directory a run's output names (its second line), or None."""
    m = RUN_DIR_LINE.search(output or "")
    return m.group("path").strip() if m else None


def read_result(run_dir):
    """A run directory's result.json, or {} when there is none."""
    if not run_dir:
        return {}
    try:
        with open(os.path.join(run_dir, "result.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def row_of(n, code, wall, output, interrupted=False):
    """One run's row: exit code, wall time, its run directory, verdict,
    reason and timings (seconds, as result.json has them, plus ``wall``
    and ``outside``, the command's time outside the runner's phases)."""
    run_dir = run_dir_of(output)
    result = read_result(run_dir)
    timings = {k: v for k, v in (result.get("timings") or {}).items()
               if isinstance(v, (int, float))}
    timings["wall"] = round(wall, 3)
    if "total" in timings:
        timings["outside"] = round(wall - timings["total"], 3)
    return {"run": n, "exit": code, "interrupted": interrupted,
            "run_dir": run_dir, "verdict": result.get("verdict"),
            "reason": result.get("reason"), "timings": timings}


def spreads(rows):
    """{column: {min, median, max, n}} over the rows that have it."""
    out = {}
    for key, _ in COLUMNS:
        found = figures.spread([r["timings"].get(key) for r in rows])
        if found:
            out[key] = found
    return out


def _s(value):
    return "-" if value is None else f"{value:.2f}"


def render(summary):
    """The table: one line per run, then min, median and max."""
    rows = summary["runs"]
    header = ["run"] + [label for _, label in COLUMNS] + ["verdict"]
    body = [[str(r["run"])] + [_s(r["timings"].get(k)) for k, _ in COLUMNS]
            + [r["verdict"] or f"none (exit {r['exit']})"] for r in rows]
    stats = summary["spreads"]
    for which in ("min", "median", "max"):
        body.append([which] + [_s((stats.get(k) or {}).get(which)) for k, _ in COLUMNS]
                    + [""])
    widths = [max(len(x) for x in col) for col in zip(header, *body)]

    def line(cells):
        # Numbers right-aligned, the first and last column left-aligned.
        out = [cells[0].ljust(widths[0])]
        out += [c.rjust(w) for c, w in zip(cells[1:-1], widths[1:-1])]
        out.append(cells[-1])
        return "  ".join(out).rstrip()

    opts = summary["options"]
    how = (f"reusing the broker {opts['broker']}" if opts["broker"]
           else "each run boots its own broker")
    lines = [f"fake-lab bench --headline: {len(rows)} of {opts['runs']} run(s) of "
             f"`fake-lab run {SCENARIO}{' --control' if opts['control'] else ''}`, "
             f"{how}; {summary['status']}",
             f"machine: {summary['machine']['cores']} cores, load average "
             f"{summary['machine']['load_average']['before'][0]} before, "
             f"{summary['machine']['load_average'].get('after', ['?'])[0]} after",
             "seconds; broker ready and services up are counted from the start "
             "of the start phase; wall: the command from its start to its exit; "
             "outside: wall - total (interpreter, imports, report)",
             "", line(header), "  ".join("-" * w for w in widths)]
    lines += [line(cells) for cells in body[:len(rows)]]
    lines.append("  ".join("-" * w for w in widths))
    lines += [line(cells) for cells in body[len(rows):]]
    lines.append("")
    lines.append(f"verdicts: {summary['verdicts']} (expected {summary['expected']} "
                 f"in every run: {'yes' if summary['as_expected'] else 'NO'})")
    for r in rows:
        if r["verdict"] != summary["expected"]:
            lines.append(f"  run {r['run']}: exit {r['exit']}, verdict {r['verdict']}"
                         + (f", reason: {r['reason']}" if r.get("reason") else "")
                         + (f" ({r['run_dir']})" if r.get("run_dir") else ""))
    return lines


def make_dir(runs_dir):
    """A new ``bench-headline-<time>`` directory under ``runs_dir``."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    try:
        os.makedirs(runs_dir, exist_ok=True)
        for n in range(100):
            path = os.path.join(runs_dir, f"bench-headline-{stamp}" + (f"-{n}" if n else ""))
            try:
                os.mkdir(path)
                return os.path.abspath(path)
            except FileExistsError:
                continue
    except OSError as exc:
        raise StorageError(f"cannot create a directory in {runs_dir}: {exc.strerror}")
    raise StorageError(f"cannot find a free directory name in {runs_dir}")


class HeadlineBench:
    """N runs, one after the other; ``run()`` returns the summary (also in
    headline.json). ``popen`` and ``clock`` are for the tests."""

    def __init__(self, runs, runs_dir, broker=None, control=False, say=print,
                 status=progress.QUIET, popen=subprocess.Popen, clock=time.monotonic):
        self.runs, self.runs_dir = runs, os.path.abspath(runs_dir)
        self.broker, self.control = broker, control
        self.say, self.status = say, status
        self.popen, self.clock = popen, clock
        self.expected = expected_verdict(control)
        self.rows = []
        self.dir = None
        self.state = "incomplete"
        self.load = {}

    def run(self):
        self.dir = make_dir(self.runs_dir)
        self.load["before"] = os.getloadavg()
        self.say(f"bench directory: {self.dir}")
        argv = run_argv(self.runs_dir, self.broker, self.control)
        try:
            for n in range(1, self.runs + 1):
                self.rows.append(self._one(n, argv))
            self.state = "complete"
        except BaseException:
            self.state = "interrupted"
            raise
        finally:
            self.load["after"] = os.getloadavg()
            self.write()
        return self.summary()

    def _one(self, n, argv):
        out_path = os.path.join(self.dir, f"run-{n}.out")
        began = time.monotonic()

        def doing():
            return (f"headline bench: run {n} of {self.runs}, "
                    f"{progress.elapsed(began)}: {progress.last_line(out_path)}")

        started = self.clock()

        with open(out_path, "w") as out, self.status.ticking(doing):
            # A session of its own: a Ctrl-C at the terminal reaches the bench
            # only, which passes it on as SIGTERM (a run started from a
            # background shell ignores SIGINT, never SIGTERM) and waits for
            # the run to stop what it started.
            proc = self.popen(argv, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                code = _wait(proc, RUN_TIMEOUT)
            except BaseException:
                with runner.signals_deferred():
                    _wait(proc, 0)
                self.rows.append(row_of(n, proc.returncode, self.clock() - started,
                                        _read(out_path), interrupted=True))
                raise
        wall = self.clock() - started
        row = row_of(n, code, wall, _read(out_path))
        t = row["timings"]
        self.say(f"run {n}/{self.runs}: {row['verdict'] or f'no verdict (exit {code})'}"
                 f", {t.get('total', 0):.2f} s by its phases, {wall:.2f} s wall"
                 + (f" ({row['run_dir']})" if row["run_dir"] else ""))
        return row

    def summary(self):
        verdicts = {}
        for r in self.rows:
            verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
        return {"command": "fake-lab bench --headline", "status": self.state,
                "scenario": SCENARIO,
                "options": {"runs": self.runs, "broker": self.broker,
                            "control": self.control, "runs_dir": self.runs_dir,
                            "argv": run_argv(self.runs_dir, self.broker, self.control)[1:]},
                "machine": {"cores": os.cpu_count(),
                            "load_average": {k: [round(x, 2) for x in v]
                                             for k, v in self.load.items()}},
                "expected": self.expected, "verdicts": verdicts,
                "as_expected": bool(self.rows) and all(
                    r["verdict"] == self.expected for r in self.rows)
                and len(self.rows) == self.runs,
                "spreads": spreads(self.rows), "runs": self.rows,
                "dir": self.dir}

    def write(self):
        summary = self.summary()
        try:
            with open(os.path.join(self.dir, "headline.json"), "w") as f:
                json.dump(summary, f, indent=2)
            with open(os.path.join(self.dir, "headline.txt"), "w") as f:
                f.write("\n".join(render(summary)) + "\n")
        except OSError as exc:
            raise StorageError(f"cannot write {self.dir}: {exc.strerror}")
        return summary


def _wait(proc, timeout):
    """The run's exit code once it ended; after ``timeout`` seconds (at
    once with 0) it is asked to stop (SIGTERM: it stops what it started
    and writes its result), and killed if it has not within 120 s (its
    reaper then stops what it started)."""
    if timeout:
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def main(args):
    """``fake-lab bench --headline``; returns the exit code."""
    from fake_lab.daemons import rabbitmq as broker_mod

    runs = args.runs or DEFAULT_RUNS
    if args.broker:
        # Refused here, once, with the run's own words, rather than N times.
        broker_mod.find(args.broker, args.runs_dir)

    def terminate(signum, frame):
        raise runner.Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    status = progress.Status()
    bench = HeadlineBench(runs, args.runs_dir, args.broker, args.control,
                          say=status.say, status=status)
    try:
        summary = bench.run()
    except (KeyboardInterrupt, runner.Interrupted):
        print("fake-lab: interrupted; the run under way was stopped"
              + (f"; what was measured is in {bench.dir}/headline.json" if bench.dir else ""),
              file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    for line in render(summary):
        print(line)
    print(f"headline.json: {os.path.join(summary['dir'], 'headline.json')}")
    if not summary["as_expected"]:
        return errors.EXIT_EXPECTATION
    return errors.EXIT_OK

