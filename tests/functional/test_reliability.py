"""Nothing left behind, whatever happens to the runner; the broker stays
private; a broker that never boots is reported with its own words."""

import os
import signal
import stat
import time

import amqp
import pytest

from fake_lab.daemons import procs, reaper
from tests.functional.conftest import Output, started_lab


def _wait_for(proc, marker, timeout=60):
    """The first line of ``proc``'s output holding ``marker``; fails the test
    with the output so far when the output ends or ``timeout`` passes first
    (a reader thread: iterating proc.stdout would block unbounded)."""
    return Output(proc).wait_for(marker, timeout=timeout)


def _reaper_of(run_dir, timeout=30):
    """(pid, start time) the run's reaper recorded in reaper.pid."""
    path = os.path.join(run_dir, reaper.REAPER_FILE)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                pid, started = f.read().split()
            return int(pid), started
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                pytest.fail(f"no reaper recorded in {path} within {timeout} s")
            time.sleep(0.05)


def _running(pid, started):
    """Whether ``pid`` is still the process that started at ``started`` (the
    kernel's start time, as reaper.pid records it) and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return False
    fields = text[text.rindex(")") + 2:].split()
    return fields[0] != "Z" and fields[19] == started


def _wait_for_the_reaper(run_dir, timeout=60):
    """Until the run's reaper has ended (its PID gone, a zombie, or reused
    by another process: the start time differs); fails the test on timeout."""
    pid, started = _reaper_of(run_dir)
    deadline = time.monotonic() + timeout
    while _running(pid, started):
        if time.monotonic() > deadline:
            pytest.fail(f"the reaper (PID {pid}) of {run_dir} still runs "
                        f"{timeout} s after its runner was killed")
        time.sleep(0.05)


def test_sigkill_of_the_runner_is_cleaned_up_by_its_reaper(lab):
    proc = lab.start("run", "heartbeat-loss")
    _wait_for(proc, "first-request:")
    proc.kill()
    proc.wait(timeout=10)
    # The reaper writes result.json as it ends: judge only once it has.
    _wait_for_the_reaper(lab.latest)
    assert lab.leftovers() == []
    result = lab.result()
    assert result["verdict"] == "unknown"
    assert "the reaper stopped" in result["reason"]
    # Still a run directory `check` can read.
    checked = lab.run("check", lab.latest)
    assert checked.returncode == 0 and "verdict: unknown" in checked.stdout


def test_the_next_run_cleans_up_after_a_killed_runner_and_reaper(lab):
    proc = lab.start("run", "heartbeat-loss")
    _wait_for(proc, "first-request:")
    killed_run = lab.latest
    pid, started = _reaper_of(killed_run)
    assert _running(pid, started), "the reaper is not running"
    os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.wait(timeout=10)
    _wait_for_the_reaper(killed_run, timeout=10)
    assert procs.processes_under(killed_run), "nothing left to clean up?"

    second = lab.run("run", "heartbeat-loss", "--executor", "threading")
    assert "left by the killed run" in second.stdout, second.stdout
    assert procs.processes_under(killed_run) == []
    assert second.returncode == 0


def test_a_broker_that_never_boots_is_quoted_and_stopped(lab, tmp_path):
    fake = tmp_path / "fake-rabbitmq"
    fake.mkdir()
    (fake / "rabbitmq-server").write_text(
        "#!/bin/sh\necho 'fake broker: waiting for a disk that never comes'\n"
        "exec sleep 300\n")
    (fake / "rabbitmqctl").write_text("#!/bin/sh\nexit 1\n")
    for f in fake.iterdir():
        f.chmod(0o755)
    env = dict(os.environ, FAKE_LAB_RABBITMQ_DIR=str(fake))
    import subprocess

    proc = subprocess.run(lab.argv("run", "heartbeat-loss", "--broker-timeout", "2"),
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "did not reach 'Server startup complete' within 2 s" in proc.stderr
    assert "waiting for a disk that never comes" in proc.stderr
    assert lab.leftovers() == []


@pytest.fixture
def running_lab(tmp_path):
    with started_lab(tmp_path, "heartbeat-loss") as lab:
        yield lab


def test_the_broker_is_private(running_lab):
    lab = running_lab
    ports = lab.run.read_json("ports.json")
    listening = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                local, state = line.split()[1], line.split()[3]
                if state == "0A":
                    listening.setdefault(int(local.rsplit(":", 1)[1], 16),
                                         []).append(local.rsplit(":", 1)[0])
    for name, port in ports.items():
        assert port in listening, name
        for address in listening[port]:
            # 127.0.0.1 or ::1, as /proc writes them.
            assert address in ("0100007F", "00000000000000000000000001000000"), (
                name, address)

    # No guest user: the node only has its random user.
    guest = amqp.Connection(f"127.0.0.1:{lab.broker.port}", userid="guest",
                            password="guest", connect_timeout=5)
    with pytest.raises(amqp.exceptions.AccessRefused):
        guest.connect()
    own = amqp.Connection(f"127.0.0.1:{lab.broker.port}", userid=lab.broker.user,
                          password=lab.broker.password, connect_timeout=5)
    own.connect()
    own.close()


def test_the_credentials_stay_in_two_private_files(running_lab):
    lab = running_lab
    secret = lab.broker.password
    lab.stop()
    holders = []
    for root, _, files in os.walk(lab.run.path):
        for name in files:
            path = os.path.join(root, name)
            try:
                with open(path, errors="replace") as f:
                    if secret in f.read():
                        holders.append(path)
            except OSError:
                continue
    assert sorted(os.path.basename(p) for p in holders) == [
        "30-lab.conf", "rabbitmq.config"]
    for path in holders:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
