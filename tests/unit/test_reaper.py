"""The reaper's PID records, with nothing but local Python processes."""

import json
import os
import time

from fake_lab.daemons import reaper


def test_reaper_runner_marker_guards_against_pid_reuse(tmp_path):
    (tmp_path / reaper.RUNNER_FILE).write_text(f"{os.getpid()} 1\n")
    assert not reaper.runner_alive(str(tmp_path))
    reaper.mark_runner(str(tmp_path))
    assert reaper.runner_alive(str(tmp_path))


def test_the_reaper_records_its_own_pid_and_start_time(tmp_path):
    path = tmp_path / reaper.REAPER_FILE
    popen = reaper.spawn(str(tmp_path))
    try:
        deadline = time.monotonic() + 20
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        pid, started = path.read_text().split()
        assert int(pid) == popen.pid
        assert started == reaper._start_time(popen.pid)
    finally:
        reaper.release(popen)
    assert popen.returncode == 0
    # Nothing wrote result.json before the reaper ended: it wrote one.
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["verdict"] == "unknown"


def test_a_sweep_stops_only_the_processes_of_runs_whose_runner_died(tmp_path):
    """One pass over /proc for the whole runs directory: the dead run's
    daemon (marked with a directory inside the run) is stopped, the live
    run's and a run without leftovers are left as they are."""
    import sys

    from fake_lab.daemons import procs

    runs = tmp_path / "runs"
    dead, live, empty = (runs / n for n in ("dead-run", "live-run", "empty-run"))
    for d in (dead, live, empty):
        (d / "broker").mkdir(parents=True)
        (d / reaper.RUNNER_FILE).write_text(f"{os.getpid()} 1\n")  # a dead runner
    reaper.mark_runner(str(live))
    sleepers = [procs.spawn(name, [sys.executable, "-c", "import time; time.sleep(60)"],
                            str(d / "sleep.log"), owner=str(d / "broker"))
                for name, d in (("dead", dead), ("live", live))]
    try:
        deadline = time.monotonic() + 10
        while (len(set(procs.owners()) & {p.pid for p in sleepers}) < 2
               and time.monotonic() < deadline):
            time.sleep(0.02)
        assert procs.owners()[sleepers[0].pid] == str(dead / "broker")
        cleaned = reaper.sweep_abandoned(str(runs))
        assert cleaned == [(str(dead), [sleepers[0].pid])]
        assert sleepers[0].popen.wait(10) is not None
        assert sleepers[1].alive()
    finally:
        for d in sleepers:
            d.stop(grace=2.0)
