import os

import pytest

from fake_lab import cli, errors


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_names_the_headline(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0 and "heartbeat-loss" in out


@pytest.mark.parametrize("argv, needle", [
    (("run", "nope"), "unknown scenario 'nope'"),
    (("run", "heartbeat-loss", "--heartbeat-timeout", "0"), "not a positive"),
    (("run", "heartbeat-loss", "--heartbeat-timeout", "x"), "not a whole"),
    (("run", "heartbeat-loss", "--executor", "gevent"), "invalid choice"),
    (("run", "heartbeat-loss", "--api-port", "70000"), "not a TCP port"),
    (("run", "db-failover", "--retry", "maybe"), "invalid choice"),
    (("run", "db-failover", "--retry-attempts", "0"), "not a positive"),
    (("run", "db-failover", "--retry-interval", "-1"), "is negative"),
    (("run", "db-failover", "--retry-attempts", "99"), "bad configuration"),
    (("run", "heartbeat-loss", "--config-file", "/nonexistent.conf"),
     "cannot read config file"),
    (("check", "/nonexistent"), "not a run directory"),
    # `--broker "$FAKE_LAB_RUN_DIR"` with the variable unset.
    (("run", "heartbeat-loss", "--broker", ""), "is FAKE_LAB_RUN_DIR set"),
    (("bench", "--headline", "--broker", " "), "is FAKE_LAB_RUN_DIR set"),
    (("frobnicate",), "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, needle):
    argv = argv + (("--runs-dir", str(tmp_path)) if argv[0] == "run" else ())
    code, out, err = run_cli(capsys, *argv)
    assert code == errors.EXIT_USAGE
    assert needle in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize("verdict, expect, code", [
    ("reproduced", None, 0), ("reproduced", "reproduced", 0),
    ("not-reproduced", "reproduced", 1), ("unknown", "reproduced", 4),
])
def test_exit_codes_follow_expect(verdict, expect, code):
    assert cli._exit_code(verdict, expect) == code


def test_runs_dir_that_cannot_be_written_is_exit_7(capsys):
    code, out, err = run_cli(capsys, "run", "heartbeat-loss", "--runs-dir",
                             "/proc/fake-lab-runs")
    assert code == errors.EXIT_STORAGE
    assert "cannot create a run directory in /proc/fake-lab-runs" in err
    assert len(err.strip().splitlines()) == 1


def test_disk_full_while_writing_the_history_is_exit_7(capsys, tmp_path,
                                                       monkeypatch):
    from fake_lab.rundir import RunDir

    monkeypatch.setattr(RunDir, "history", property(lambda self: "/dev/full"))
    code, out, err = run_cli(capsys, "run", "heartbeat-loss", "--runs-dir",
                             str(tmp_path))
    assert code == errors.EXIT_STORAGE
    assert "cannot write the history /dev/full" in err
    assert len(err.strip().splitlines()) == 1
    result = (tmp_path / "latest" / "result.json").read_text()
    assert "No space left on device" in result


def test_help_lists_every_exit_code(capsys):
    codes = {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    assert {code for code, _ in errors.MEANINGS} == codes
    for code in codes:
        assert f"\n  {code:<4}" in cli.EPILOG


@pytest.mark.parametrize("statuses, code", [
    (["ran", "ran"], errors.EXIT_OK),
    (["ran", "unavailable"], errors.EXIT_INCOMPLETE),
    (["error", "error"], errors.EXIT_INCOMPLETE),
    ([], errors.EXIT_INCOMPLETE),
])
def test_a_matrix_without_evidence_never_exits_0(capsys, monkeypatch, statuses, code):
    from fake_lab.commands import matrix

    cells = [{"id": f"c{n}", "status": s, "verdict": "reproduced",
              "expected": "reproduced",
              "agreement": "agrees" if s == "ran" else matrix.NOT_RUN}
             for n, s in enumerate(statuses)]

    class FakeMatrix:
        def __init__(self, *args, **kwargs):
            pass

        def run(self):
            summary = {"cells": cells, "disagreements": [], "seconds": 1.0}
            return summary, type("M", (), {"file": lambda self, n: n})()

    monkeypatch.setattr(matrix, "Matrix", FakeMatrix)
    assert cli.main(["matrix"]) == code


def test_a_ctrl_c_while_the_command_loads_is_one_line_and_130():
    # The modules take about 0.3 s to load, before main() can catch a
    # KeyboardInterrupt; a soak's chaos or a user may interrupt then.
    import signal
    import subprocess
    import sys
    import time

    for delay in (0.05, 0.15):
        proc = subprocess.Popen([sys.executable, "-m", "fake_lab.cli", "list"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
        assert "Traceback" not in err, err
        assert proc.returncode in (0, 130), (proc.returncode, err)
        if proc.returncode == 130:
            assert err == "fake-lab: interrupted\n"


def test_check_write_rewrites_the_result_and_reports_keeping_the_timings(capsys, tmp_path):
    from tests.unit import runs

    run = runs.eventlet_run(tmp_path).write()
    run.write_json("result.json", {"scenario": "heartbeat-loss", "verdict": "unknown",
                                   "evidence": ["judged by an older checker"],
                                   "reason": None, "timings": {"total": 7.5},
                                   "run_dir": "/elsewhere"})
    code, out, err = run_cli(capsys, "check", run.path)
    assert code == 0 and "verdict: reproduced" in out
    # Without --write nothing is written.
    assert run.read_json("result.json")["verdict"] == "unknown"
    assert not os.path.exists(run.file("report.md"))

    code, out, err = run_cli(capsys, "check", run.path, "--write")
    assert code == 0, err
    result = run.read_json("result.json")
    assert result["verdict"] == "reproduced"
    assert result["timings"] == {"total": 7.5} and result["run_dir"] == run.path
    assert "judged by an older checker" not in result["evidence"]
    with open(run.file("report.md")) as f:
        assert f.readline().strip() == "# heartbeat-loss: reproduced"
    assert f"report: {run.file('report.md')}" in out


def test_check_write_refuses_a_run_that_ended_early(capsys, tmp_path):
    from tests.unit import runs

    run = runs.eventlet_run(tmp_path).write()
    kept = {"scenario": "heartbeat-loss", "verdict": "unknown", "evidence": [],
            "reason": "interrupted", "timings": {}, "run_dir": run.path}
    run.write_json("result.json", kept)
    code, out, err = run_cli(capsys, "check", run.path, "--write")
    assert code == errors.EXIT_USAGE
    assert "ended early (interrupted)" in err and len(err.strip().splitlines()) == 1
    assert run.read_json("result.json") == kept
