"""fake-lab bench --headline with a fake ``fake-lab run``: the command it
starts, what it reads back (result.json's timings and verdict, the wall
time), the table, headline.json and the exit code. No broker, no run."""

import functools
import io
import json
import os
import signal
import subprocess
import sys

import pytest

from fake_lab import cli, errors, progress
from fake_lab.commands import headline_bench as hb

TIMINGS = {"configure": 0.04, "broker_boot": 3.5, "services_up": 4.4, "start": 4.4,
           "workload": 4.7, "cleanup": 0.4, "judging": 0.01, "total": 9.6}


class Clock:
    """A monotonic clock that a fake run moves on by its wall time."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class FakeRun:
    """A Popen stand-in: writes the output of ``fake-lab run`` and a run
    directory with result.json, as the real command does."""

    def __init__(self, tmp_path, clock, verdicts=None, wall=10.0, codes=None,
                 timings=TIMINGS, hang=False):
        self.tmp_path, self.clock = tmp_path, clock
        self.verdicts = list(verdicts or [])
        self.codes = list(codes or [])
        self.wall, self.timings, self.hang = wall, timings, hang
        self.started = []
        self.signals = []

    def __call__(self, argv, stdout, stderr, stdin, start_new_session):
        assert stderr == subprocess.STDOUT and start_new_session
        n = len(self.started) + 1
        self.started.append(argv)
        run_dir = os.path.join(str(self.tmp_path), "runs", f"heartbeat-loss-{n}")
        os.makedirs(run_dir)
        verdict = self.verdicts.pop(0) if self.verdicts else "reproduced"
        if verdict is not None:
            with open(os.path.join(run_dir, "result.json"), "w") as f:
                json.dump({"verdict": verdict, "timings": self.timings,
                           "reason": None if verdict == "reproduced" else "why not"}, f)
        stdout.write("heartbeat-loss: an idle eventlet-patched fake nova-api ...\n"
                     f"run directory: {run_dir}\n[configure] 0.04 s\n"
                     f"verdict: {verdict}\n")
        stdout.flush()
        return Proc(self, self.codes.pop(0) if self.codes else 0)


class Proc:
    def __init__(self, run, code):
        self.run, self.code, self.returncode = run, code, None

    def wait(self, timeout=None):
        if self.run.hang and self.returncode is None and not self.run.signals:
            raise KeyboardInterrupt  # the user presses Ctrl-C meanwhile
        self.run.clock.now += self.run.wall
        self.returncode = self.code if not self.run.signals else errors.EXIT_INTERRUPTED
        return self.returncode

    def poll(self):
        return self.returncode

    def send_signal(self, sig):
        self.run.signals.append(sig)

    def kill(self):
        self.run.signals.append(signal.SIGKILL)


def bench(tmp_path, fake, **kwargs):
    lines = []
    b = hb.HeadlineBench(kwargs.pop("runs", 3), str(tmp_path / "runs"), popen=fake,
                         clock=fake.clock, say=lines.append, **kwargs)
    return b, lines


def test_each_run_is_the_command_a_user_types(tmp_path):
    fake = FakeRun(tmp_path, Clock())
    b, _ = bench(tmp_path, fake, runs=2, broker="runs/up-1", control=True)
    b.run()
    runs_dir = str(tmp_path / "runs")
    assert fake.started == [[sys.executable, "-m", "fake_lab.cli", "run", "heartbeat-loss",
                             "--runs-dir", runs_dir, "--broker", "runs/up-1", "--control"]] * 2
    assert hb.run_argv(runs_dir) == [sys.executable, "-m", "fake_lab.cli", "run",
                                     "heartbeat-loss", "--runs-dir", runs_dir]


def test_rows_have_the_phases_the_wall_time_and_the_verdict(tmp_path):
    fake = FakeRun(tmp_path, Clock(), wall=10.5)
    b, lines = bench(tmp_path, fake)
    summary = b.run()
    assert summary["status"] == "complete" and summary["as_expected"]
    assert summary["verdicts"] == {"reproduced": 3}
    row = summary["runs"][0]
    assert row["verdict"] == "reproduced" and row["exit"] == 0
    assert row["run_dir"].endswith("heartbeat-loss-1")
    assert row["timings"]["workload"] == 4.7 and row["timings"]["broker_boot"] == 3.5
    assert row["timings"]["wall"] == 10.5
    assert row["timings"]["outside"] == pytest.approx(0.9)
    assert summary["spreads"]["total"] == {"min": 9.6, "median": 9.6, "max": 9.6, "n": 3}
    assert lines[1].startswith("run 1/3: reproduced, 9.60 s by its phases, 10.50 s wall")


def test_headline_json_txt_and_each_runs_output_are_kept(tmp_path):
    fake = FakeRun(tmp_path, Clock())
    b, _ = bench(tmp_path, fake, runs=2)
    b.run()
    assert os.path.basename(b.dir).startswith("bench-headline-")
    assert os.path.dirname(b.dir) == str(tmp_path / "runs")
    with open(os.path.join(b.dir, "headline.json")) as f:
        saved = json.load(f)
    assert saved["scenario"] == "heartbeat-loss" and len(saved["runs"]) == 2
    assert saved["options"]["runs"] == 2 and saved["expected"] == "reproduced"
    assert {"cores", "load_average"} <= set(saved["machine"])
    with open(os.path.join(b.dir, "run-2.out")) as f:
        assert "run directory:" in f.read()
    with open(os.path.join(b.dir, "headline.txt")) as f:
        assert "median" in f.read()


def test_the_table_has_a_line_per_run_then_min_median_max(tmp_path, monkeypatch):
    fake = FakeRun(tmp_path, Clock())
    b, _ = bench(tmp_path, fake, runs=3)
    walls = iter([9.0, 12.0, 10.0])

    def wait(self, timeout=None):
        self.run.clock.now += next(walls)
        self.returncode = 0
        return 0

    monkeypatch.setattr(Proc, "wait", wait)
    summary = b.run()
    text = "\n".join(hb.render(summary))
    header = next(line for line in text.splitlines() if line.startswith("run "))
    for label in ("configure", "broker ready", "services up", "start", "workload",
                  "cleanup", "judging", "total", "wall", "outside", "verdict"):
        assert label in header
    assert summary["spreads"]["wall"] == {"min": 9.0, "median": 10.0, "max": 12.0, "n": 3}
    median = next(line for line in text.splitlines() if line.startswith("median"))
    assert "10.00" in median
    assert "expected reproduced in every run: yes" in text
    assert "each run boots its own broker" in text


def test_a_run_that_does_not_reproduce_fails_the_bench(tmp_path):
    fake = FakeRun(tmp_path, Clock(), verdicts=["reproduced", "not-reproduced", None],
                   codes=[0, 0, 6])
    b, _ = bench(tmp_path, fake)
    summary = b.run()
    assert not summary["as_expected"]
    assert summary["verdicts"] == {"reproduced": 1, "not-reproduced": 1, None: 1}
    text = "\n".join(hb.render(summary))
    assert "NO" in text and "run 2: exit 0, verdict not-reproduced, reason: why not" in text
    assert "none (exit 6)" in text


def test_the_control_expects_the_controls_verdict(tmp_path):
    fake = FakeRun(tmp_path, Clock(), verdicts=["not-reproduced"] * 2)
    b, _ = bench(tmp_path, fake, runs=2, control=True)
    summary = b.run()
    assert summary["expected"] == "not-reproduced" and summary["as_expected"]


def test_an_interrupted_bench_stops_the_run_and_keeps_what_it_measured(tmp_path):
    fake = FakeRun(tmp_path, Clock(), hang=True)
    b, _ = bench(tmp_path, fake)
    with pytest.raises(KeyboardInterrupt):
        b.run()
    assert fake.signals == [signal.SIGTERM]  # passed on, not a SIGKILL
    with open(os.path.join(b.dir, "headline.json")) as f:
        saved = json.load(f)
    assert saved["status"] == "interrupted"
    assert saved["runs"][0]["interrupted"] and saved["runs"][0]["exit"] == 130


def test_the_status_line_is_drawn_on_a_terminal_only(tmp_path):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    fake = FakeRun(tmp_path, Clock())
    stream = Terminal()
    b, _ = bench(tmp_path, fake, runs=1, status=progress.Status(stream))
    b.run()
    assert stream.getvalue().endswith("\r\x1b[K") or stream.getvalue() == ""
    plain = io.StringIO()
    b, _ = bench(tmp_path, FakeRun(tmp_path / "2", Clock()), runs=1,
                 status=progress.Status(plain))
    b.run()
    assert plain.getvalue() == ""


def test_the_cli_runs_it_and_exits_1_when_a_verdict_differs(tmp_path, monkeypatch, capsys):
    fake = FakeRun(tmp_path, Clock(), verdicts=["reproduced", "unknown"])
    monkeypatch.setattr(hb, "HeadlineBench", functools.partial(
        hb.HeadlineBench, popen=fake, clock=fake.clock))
    monkeypatch.setattr(signal, "signal", lambda *a: None)  # pytest keeps its own
    code = cli.main(["bench", "--headline", "--runs", "2", "--runs-dir",
                     str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == errors.EXIT_EXPECTATION
    assert "fake-lab bench --headline: 2 of 2 run(s)" in out
    assert "headline.json: " in out and err == ""
    code = cli.main(["bench", "--headline", "--runs", "1", "--runs-dir",
                     str(tmp_path / "runs")])
    assert code == errors.EXIT_OK


def test_a_broker_that_is_not_there_is_refused_before_any_run(tmp_path, capsys):
    code = cli.main(["bench", "--headline", "--broker", str(tmp_path / "nothing"),
                     "--runs-dir", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == errors.EXIT_USAGE and "--broker" in err
    assert not os.path.exists(tmp_path / "runs")


def test_run_dir_of_reads_the_runs_second_line():
    assert hb.run_dir_of("x: y\nrun directory: /r/heartbeat-loss-1\n") == "/r/heartbeat-loss-1"
    assert hb.run_dir_of("fake-lab: rabbitmq-server not found\n") is None
