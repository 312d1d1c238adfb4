"""Functional tests run the real thing: a private RabbitMQ node, uWSGI, the
installed oslo.messaging. They skip, saying why, when a part is missing,
unless FAKE_LAB_REQUIRE_ALL=1 (CI sets it: there, nothing may be skipped)."""

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from fake_lab import catalogue, runner, settings
from fake_lab.daemons import containers, procs
from fake_lab.daemons import rabbitmq as broker
from fake_lab.lab import Lab as ScenarioLab

LAB = [sys.executable, "-m", "fake_lab.cli"]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _missing():
    missing = []
    if not broker.find_binary("rabbitmq-server", broker.SBIN_DIRS):
        missing.append("rabbitmq-server")
    if not containers.venv_binary("uwsgi"):
        missing.append("uwsgi")
    return missing


@pytest.fixture(scope="session", autouse=True)
def real_parts():
    missing = _missing()
    if missing:
        reason = f"{', '.join(missing)} not installed (run tools/setup.sh)"
        if os.environ.get("FAKE_LAB_REQUIRE_ALL") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Output:
    """The output of a process from ``Lab.start``, read by two threads, so
    that waiting for a line is bounded by a timeout (iterating
    ``proc.stdout`` blocks for as long as the process stays silent)."""

    def __init__(self, proc):
        self.proc = proc
        self.stdout, self.stderr = [], []
        self._lines = queue.Queue()
        self._threads = [self._pump(proc.stdout, self.stdout, self._lines),
                         self._pump(proc.stderr, self.stderr, None)]

    @staticmethod
    def _pump(pipe, into, lines):
        def pump():
            for line in pipe:
                into.append(line)
                if lines is not None:
                    lines.put(line)
            if lines is not None:
                lines.put(None)  # end of output
        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        return thread

    def text(self):
        return ("--- stdout ---\n" + "".join(self.stdout)
                + "--- stderr ---\n" + "".join(self.stderr))

    def fail(self, why):
        """Fail the test with the output so far; the process is killed
        first if it still runs (its reaper cleans up after it)."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for thread in self._threads:
            thread.join(timeout=5)
        pytest.fail(f"{why} ({' '.join(self.proc.args)}, exit code "
                    f"{self.proc.returncode})\n{self.text()}", pytrace=False)

    def wait_for(self, marker, timeout=60):
        """The first line holding ``marker``; fails the test, with the output
        so far, if the output ends or ``timeout`` passes without one."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                line = False
            if line is False:
                self.fail(f"no line with {marker!r} within {timeout} s")
            if line is None:
                self.fail(f"the output ended without a line with {marker!r}")
            if marker in line:
                return line

    def finish(self, timeout=60):
        """Wait for the process to end; its whole (stdout, stderr)."""
        try:
            self.proc.wait(timeout=timeout)
            ended = True
        except subprocess.TimeoutExpired:
            ended = False
        if not ended:
            self.fail(f"still running {timeout} s later")
        for thread in self._threads:
            thread.join(timeout=10)
        return "".join(self.stdout), "".join(self.stderr)


class Lab:
    """Runs ``fake-lab`` as a user would, in a runs dir of the test's own."""

    def __init__(self, runs_dir):
        self.runs_dir = str(runs_dir)

    def argv(self, *args):
        argv = LAB + list(args)
        if args and args[0] in ("run", "soak"):
            argv += ["--runs-dir", self.runs_dir]
        return argv

    def run(self, *args, timeout=120):
        return subprocess.run(self.argv(*args), capture_output=True, text=True,
                              timeout=timeout, cwd=REPO,
                              stdin=subprocess.DEVNULL)

    def start(self, *args):
        """``fake-lab`` in the background, with SIGINT at its default, so that
        a test's SIGINT is a Ctrl-C even when pytest itself inherited SIGINT
        as ignored (a background job of a non-interactive shell: Python only
        installs its KeyboardInterrupt handler when SIGINT is not ignored at
        start-up, and ``restore_signals`` only resets SIGPIPE and SIGXFSZ)."""
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=REPO,
                                stdin=subprocess.DEVNULL,
                                preexec_fn=_default_sigint)

    @property
    def latest(self):
        return os.path.realpath(os.path.join(self.runs_dir, "latest"))

    def stop_all(self):
        """Stop whatever a failed test left in this runs directory, by PID."""
        for pid, _ in procs.processes_under(self.runs_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def result(self):
        with open(os.path.join(self.latest, "result.json")) as f:
            return json.load(f)

    def leftovers(self):
        # Give re-parented stragglers a moment to go before judging.
        for _ in range(100):
            left = procs.processes_under(self.latest)
            if not left:
                return []
            time.sleep(0.1)
        return left


def read_json(run_dir, name):
    """One of a run directory's JSON files."""
    with open(os.path.join(run_dir, name)) as f:
        return json.load(f)


def assert_nothing_left(run_dir, ports=None, named=()):
    """No process of the run (by owner mark and tree, or working in the run
    directory, as PostgreSQL's servers do) and none of its ``ports``
    (default: its ports.json, which must name ``named``) listening."""
    from fake_lab.commands import soak

    deadline = time.monotonic() + 15
    while True:
        left = procs.processes_under(run_dir) + soak._working_in(run_dir)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left == []
    if ports is None:
        ports = read_json(run_dir, "ports.json")
    assert set(named) <= set(ports)
    assert set(ports.values()) & soak._listening_ports() == set()


def read_history(run_dir):
    """A run's history.jsonl, as records."""
    with open(os.path.join(run_dir, "history.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


@contextlib.contextmanager
def started_lab(tmp_path, scenario, overrides=None):
    """A Lab started in this process from a scenario's configuration,
    stopped on the way out whatever happens."""
    # Prepared as the CLI prepares a run: its reaper stops what it started
    # even if this test process is killed (a CI job cancelled by SIGTERM).
    with runner.prepared(str(tmp_path / "runs"), scenario, say=lambda line: None) as run:
        resolved = settings.resolve(catalogue.load(scenario), [], overrides or {},
                                    run.etc)
        started = ScenarioLab(run, resolved)
        try:
            started.start()
            yield started
        finally:
            started.stop()


@pytest.fixture
def lab():
    # Not under pytest's tmp_path: that is closed to other users, and
    # Apache's mod_wsgi daemon (www-data) must reach the run directory.
    base = os.path.join(REPO, "runs")
    os.makedirs(base, exist_ok=True)
    runs = tempfile.mkdtemp(prefix="test-", dir=base)
    os.chmod(runs, 0o755)
    lab = Lab(runs)
    yield lab
    # Whatever a failed test left behind is stopped here, by PID.
    lab.stop_all()
    shutil.rmtree(runs, ignore_errors=True)
