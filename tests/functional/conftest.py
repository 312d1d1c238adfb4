"""Functional tests run the real thing: a private RabbitMQ node, uWSGI, the
installed oslo.messaging. They skip, saying why, when a part is missing,
unless FAKE_LAB_REQUIRE_ALL=1 (CI sets it: there, nothing may be skipped)."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from fake_lab import catalogue, settings
from fake_lab.daemons import containers, procs
from fake_lab.daemons import rabbitmq as broker
from fake_lab.lab import Lab as ScenarioLab
from fake_lab.rundir import RunDir

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
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=REPO,
                                stdin=subprocess.DEVNULL)

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


@contextlib.contextmanager
def started_lab(tmp_path, scenario, overrides=None):
    """A Lab started in this process from a scenario's configuration,
    stopped on the way out whatever happens."""
    run = RunDir.create(str(tmp_path / "runs"), scenario)
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
