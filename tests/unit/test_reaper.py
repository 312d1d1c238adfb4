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
