"""``fake-lab soak``: run a scenario N times and count what it leaves behind.

Each run is a separate ``fake-lab run`` process (in a session of its own, so
that the soak tool's signals reach only that runner). After each one the
tool looks for what must not survive a run: processes working in its run
directory, listening sockets on the ports it used, registrations of its node
in a system epmd, new network namespaces, and new entries in the temporary
directory. With ``--chaos`` each run is interrupted at a random moment with
SIGINT, SIGTERM or SIGKILL of the runner, and the same checks apply: after a
SIGKILL it is the run's reaper (fake_lab/daemons/reaper.py) that cleans up.
"""

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

from fake_lab import progress
from fake_lab.daemons import procs
from fake_lab.rundir import RunDir

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


def _listening_ports():
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A":  # LISTEN
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


def _netns():
    try:
        return set(os.listdir("/run/netns"))
    except OSError:
        return set()


def _system_epmd_names():
    """Lab nodes registered in a system epmd on 4369 (there must be none)."""
    if not procs.port_open(4369):
        return []
    try:
        out = subprocess.run(["epmd", "-names"], capture_output=True, text=True,
                             timeout=5, env={**os.environ, "ERL_EPMD_PORT": "4369"})
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line for line in out.stdout.splitlines() if "fake-lab-" in line]


ERLANG = ("beam.smp", "epmd", "erl_child_setup", "inet_gethost", "erl")


def _erlang_processes(run_dir, epmd_ports):
    """Erlang processes tied to the run with or without its owner mark (a
    CLI's VM, or an epmd daemonized by a node's epmd-starter, outside any
    tree the run stopped): those whose environment points at one of the
    run's private epmd ports, or whose command line names the run."""
    marks = [f"ERL_EPMD_PORT={p}\0".encode() for p in epmd_ports]
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() not in ERLANG:
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read() + b"\0"
        except OSError:
            continue
        if cmdline and (run_dir in cmdline or any(m in environ for m in marks)):
            found.append(f"{entry} {cmdline.strip()[:120]}")
    return found


def _new_run_dir(runs_dir, before):
    after = set(os.listdir(runs_dir)) if os.path.isdir(runs_dir) else set()
    new = sorted(n for n in after - before if n != "latest"
                 and not n.startswith("soak-"))
    return os.path.join(runs_dir, new[-1]) if new else None


def _working_in(run_dir):
    """[(pid, command line)] of the processes whose working directory is in
    the run directory: a PostgreSQL server works in its data directory there,
    and a child its killed postmaster left behind shows no owner mark (its
    process title is written over its environment)."""
    root = os.path.abspath(run_dir) + os.sep
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if cmdline.strip() and (cwd + os.sep).startswith(root):
            found.append((int(entry), cmdline.strip()))
    return found


def _run_processes(run_dir):
    found = dict(procs.processes_under(run_dir))
    for pid, cmd in _working_in(run_dir):
        found.setdefault(pid, cmd)
    return sorted(found.items())


def leftovers(run_dir, tmp_before, netns_before, wait=15.0):
    """What a finished run left behind: {kind: [items]} (empty lists: none)."""
    deadline = time.monotonic() + wait
    while True:
        processes = _run_processes(run_dir) if run_dir else []
        if not processes or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    ports = (RunDir(run_dir).read_json("ports.json") or {}) if run_dir else {}
    taken = sorted(set(ports.values()) & _listening_ports())
    tmp_after = set(os.listdir(tempfile.gettempdir()))
    marked = {pid for pid, _ in processes}
    # A cluster's nodes share one epmd ("epmd"); its ports.json names it.
    erlang = [p for p in _erlang_processes(
        run_dir, [v for k, v in ports.items() if k == "epmd"]) if run_dir
        and int(p.split()[0]) not in marked]
    return {"processes": [f"{pid} {cmd[:120]}" for pid, cmd in processes],
            "erlang": erlang,
            "ports": taken,
            "epmd_names": _system_epmd_names(),
            "netns": sorted(_netns() - netns_before),
            "tmp_files": sorted(tmp_after - tmp_before)}


def soak(scenario, runs, run_args, runs_dir, expect, chaos=False, seed=None,
         say=print, status=progress.QUIET):
    """Run the scenario ``runs`` times; returns the summary dict.
    ``status`` shows the run under way and its last line of output."""
    rng = random.Random(seed)
    os.makedirs(runs_dir, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    soak_dir = os.path.join(runs_dir, f"soak-{scenario}-{stamp}")
    os.makedirs(soak_dir, exist_ok=True)
    rows = []
    for n in range(1, runs + 1):
        before = set(os.listdir(runs_dir))
        tmp_before = set(os.listdir(tempfile.gettempdir()))
        netns_before = _netns()
        argv = [sys.executable, "-m", "fake_lab.cli", "run", scenario,
                "--runs-dir", runs_dir, *run_args]
        started = time.monotonic()
        out_path = os.path.join(soak_dir, f"run-{n}.out")

        def doing(n=n, started=started, out_path=out_path):
            return (f"soak: run {n} of {runs}, {progress.elapsed(started)}: "
                    f"{progress.last_line(out_path)}")

        with status.ticking(doing), open(out_path, "w") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            sent = None
            try:
                if chaos:
                    delay, sig = rng.uniform(0.3, 12.0), rng.choice(SIGNALS)
                    try:
                        proc.wait(timeout=delay)
                    except subprocess.TimeoutExpired:
                        proc.send_signal(sig)
                        sent = f"{sig.name} at {delay:.1f} s"
                try:
                    code = proc.wait(timeout=600)
                except subprocess.TimeoutExpired:
                    proc.kill()  # its reaper cleans up after it
                    code = proc.wait()
                    sent = (sent or "") + " (killed: no end after 600 s)"
            except KeyboardInterrupt:
                # The run is in a session of its own: pass the Ctrl-C on and
                # let it clean up before the soak stops.
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=120)
                raise
        run_dir = _new_run_dir(runs_dir, before)
        # Leftovers first: after a SIGKILL the reaper writes result.json
        # once it has stopped the run's processes.
        left = leftovers(run_dir, tmp_before, netns_before)
        time.sleep(0.2 if sent else 0)
        result = (RunDir(run_dir).read_json("result.json") or {}) if run_dir else {}
        row = {"run": n, "exit": code, "signal": sent,
               "verdict": result.get("verdict"), "reason": result.get("reason"),
               "seconds": round(time.monotonic() - started, 2),
               "run_dir": run_dir, "leftovers": left}
        rows.append(row)
        found = sum(len(v) for v in left.values())
        say(f"run {n}/{runs}: exit {code}, verdict {row['verdict']}"
            + (f", {sent}" if sent else "")
            + (f", LEFTOVERS {left}" if found else ", nothing left behind"))
    summary = summarize(rows, expect, chaos)
    with open(os.path.join(soak_dir, "soak.json"), "w") as f:
        json.dump({"scenario": scenario, "args": run_args, "chaos": chaos,
                   "seed": seed, "summary": summary, "runs": rows}, f,
                  indent=2)
    summary["soak_dir"] = soak_dir
    return summary


def summarize(rows, expect, chaos):
    verdicts = {}
    for row in rows:
        verdicts[row["verdict"]] = verdicts.get(row["verdict"], 0) + 1
    left = {kind: sum(len(r["leftovers"].get(kind, [])) for r in rows)
            for kind in ("processes", "erlang", "ports", "epmd_names", "netns",
                         "tmp_files")}
    completed = [r for r in rows if not r["signal"]]
    summary = {"runs": len(rows), "verdicts": verdicts, "leftovers": left,
               "expected": expect,
               "as_expected": sum(1 for r in completed if r["verdict"] == expect)
               if expect else None,
               "completed": len(completed)}
    # tmp entries may come from anything else on the machine: reported, but
    # only what is certainly the lab's fails the soak.
    summary["ok"] = (left["processes"] == left["erlang"] == left["ports"]
                     == left["epmd_names"] == left["netns"] == 0
                     and (chaos or not expect
                          or summary["as_expected"] == len(completed)))
    return summary
