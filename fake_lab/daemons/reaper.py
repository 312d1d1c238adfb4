"""Nothing a run started may outlive it, even when its runner is SIGKILLed.

Two mechanisms, because a killed process can run no cleanup of its own:

- a *reaper*: a small process started with the run, in a session of its
  own, that blocks reading a pipe whose only writer is the runner. When the
  runner exits, however it exits, the pipe closes; the reaper then stops
  every process still working in the run directory (TERM to each tree, then
  KILL) and, if the run left no result.json, writes one saying so.
- a *sweep* at the start of every run: run directories whose runner is gone
  but whose processes remain (say the reaper was killed too) are cleaned
  up then, and the run says so.

Processes are found by the owner mark every daemon of the run carries in
its environment (``procs.OWNER_ENV``, see ``procs.processes_under``), never
by name, and never a command that merely names the run directory.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from fake_lab.daemons import procs

RUNNER_FILE = "runner.pid"
REAPER_FILE = "reaper.pid"


def _start_time(pid):
    """The kernel's start time of ``pid`` (guards against PID reuse)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]


def mark_runner(run_dir):
    """Record this process as the run's runner."""
    with open(os.path.join(run_dir, RUNNER_FILE), "w") as f:
        f.write(f"{os.getpid()} {_start_time(os.getpid())}\n")


def mark_reaper(run_dir):
    """Record this process as the run's reaper (PID and start time, as
    ``mark_runner`` does), so that whoever waits for the run's cleanup can
    wait for the reaper itself. Written whole (a temporary file renamed);
    a failure to write it must not keep the reaper from its work."""
    path = os.path.join(run_dir, REAPER_FILE)
    try:
        with open(path + ".tmp", "w") as f:
            f.write(f"{os.getpid()} {_start_time(os.getpid())}\n")
        os.replace(path + ".tmp", path)
    except OSError:
        pass


def runner_alive(run_dir):
    try:
        with open(os.path.join(run_dir, RUNNER_FILE)) as f:
            pid, started = f.read().split()
    except (OSError, ValueError):
        return False
    return _start_time(int(pid)) == started


def stop_processes_under(path, grace=5.0):
    """TERM then KILL every process owned by ``path``; their PIDs. The
    owner mark is inherited, so one scan finds every descendant too."""
    pids = {pid for pid, _ in procs.processes_under(path)}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not procs._still_alive(pids):
                return sorted(pids)
            time.sleep(0.05)
    return sorted(pids)


def remove_tmpdirs(run_dir):
    """Remove the temporary directories a run listed in tmpdirs.txt (short
    socket paths that cannot live in the run directory itself)."""
    try:
        with open(os.path.join(run_dir, "tmpdirs.txt")) as f:
            paths = [line.strip() for line in f if line.strip()]
    except OSError:
        return
    for path in paths:
        if os.path.basename(path).startswith("fake-lab-"):
            shutil.rmtree(path, ignore_errors=True)


def sweep_abandoned(runs_dir):
    """Stop the processes of runs whose runner died: [(run dir, pids)]."""
    cleaned = []
    try:
        names = os.listdir(runs_dir)
    except OSError:
        return cleaned
    owned = None  # who owns what, read from /proc once, if any run needs it
    for name in sorted(names):
        run_dir = os.path.join(runs_dir, name)
        if (name == "latest" or os.path.islink(run_dir)
                or not os.path.exists(os.path.join(run_dir, RUNNER_FILE))
                or runner_alive(run_dir)):
            continue
        if owned is None:
            owned = set(procs.owners().values())
        mine = os.path.abspath(run_dir)
        if any(procs.owned_by(o, mine) for o in owned):
            stopped = stop_processes_under(run_dir)
            remove_tmpdirs(run_dir)
            if stopped:  # they may have ended since /proc was read
                cleaned.append((run_dir, stopped))
    return cleaned


def spawn(run_dir):
    """Start the run's reaper; keep the returned Popen until cleanup is done,
    then call ``release``."""
    return subprocess.Popen(
        [sys.executable, "-m", "fake_lab.daemons.reaper", run_dir],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True, cwd="/")


def release(popen):
    """The run cleaned up after itself: let the reaper check and go."""
    try:
        popen.stdin.close()
        popen.wait(timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        pass


def main(argv=None):
    run_dir = (argv or sys.argv[1:])[0]
    mark_reaper(run_dir)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sys.stdin.buffer.read()  # returns when the runner's end closes
    # A short grace: with the runner gone, a quick end beats a tidy one.
    stopped = stop_processes_under(run_dir, grace=2.0)
    remove_tmpdirs(run_dir)
    result = os.path.join(run_dir, "result.json")
    if stopped or not os.path.exists(result):
        note = (f"the runner ended without cleaning up; the reaper stopped "
                f"{len(stopped)} process(es): {stopped}")
        with open(os.path.join(run_dir, "reaper.log"), "a") as f:
            f.write(time.strftime("%Y-%m-%dT%H:%M:%SZ ", time.gmtime()) + note + "\n")
        if not os.path.exists(result):
            scenario = None
            try:
                with open(os.path.join(run_dir, "config.json")) as f:
                    scenario = json.load(f).get("scenario")
            except (OSError, ValueError):
                pass
            with open(result, "w") as f:
                json.dump({"scenario": scenario, "verdict": "unknown",
                           "reason": note, "evidence": [], "timings": {},
                           "run_dir": run_dir}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
