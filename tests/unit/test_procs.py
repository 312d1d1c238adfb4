import os
import socket
import sys
import time

import pytest

from fake_lab.daemons import procs
from fake_lab.errors import LabError

# A parent that starts a grandchild in a session of its own, as Erlang does
# with erl_child_setup: the tree walk must find it through the parent.
SCRIPT = """
import os, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                 start_new_session=True)
print("started", flush=True)
time.sleep(60)
"""


def test_kill_tree_stops_children_in_other_sessions(tmp_path):
    d = procs.spawn("tree", [sys.executable, "-c", SCRIPT],
                    str(tmp_path / "tree.log"))
    procs.wait_until(lambda: "started" in open(d.log_path).read(), d,
                     "started", 10)
    time.sleep(0.2)
    members = procs.tree(d.pid)
    assert len(members) >= 2
    d.stop(grace=5)
    time.sleep(0.1)
    assert not procs._still_alive(members)


def test_kill_tree_uses_kill_after_the_grace(tmp_path):
    d = procs.spawn("stubborn", [sys.executable, "-c",
                                 "import signal, time\n"
                                 "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                 "print('ready', flush=True)\n"
                                 "time.sleep(60)"],
                    str(tmp_path / "s.log"))
    procs.wait_until(lambda: "ready" in open(d.log_path).read(), d, "ready", 10)
    killed = d.stop(grace=0.5)
    assert killed == [d.pid]
    assert not d.alive()


def test_wait_until_reports_a_dead_daemon_with_its_last_lines(tmp_path):
    d = procs.spawn("dies", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
                    str(tmp_path / "d.log"))
    with pytest.raises(LabError, match=r"exited with code 3 .*boom"):
        procs.wait_until(lambda: False, d, "ready", 10)


def test_ensure_free_refuses_a_taken_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(LabError, match=f"127.0.0.1:{port} is not available"):
            procs.ensure_free(port)


def test_spawn_of_a_missing_binary_is_a_lab_error(tmp_path):
    with pytest.raises(LabError, match="cannot start nothing"):
        procs.spawn("nothing", [os.path.join(str(tmp_path), "nope")],
                    str(tmp_path / "n.log"))


def test_free_ports_are_distinct_and_skip_a_taken_one(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        offers = iter([taken, taken])
        real = procs._candidate_port
        monkeypatch.setattr(procs, "_candidate_port",
                            lambda host: next(offers, None) or real(host))
        ports = procs.free_ports(3)
    assert taken not in ports
    assert len(set(ports)) == 3


def test_free_ports_lie_outside_the_ephemeral_range():
    # A client's outgoing connection may take any ephemeral port between
    # the pick and the daemon's bind.
    low, high = procs._ephemeral_range()
    for port in procs.free_ports(20):
        assert not low <= port <= high, port


def test_processes_under_finds_a_marked_daemons_children_that_hide_the_mark(tmp_path):
    # PostgreSQL writes its children's process titles over the memory
    # /proc/PID/environ shows: a child that cannot show the mark is found
    # through its marked parent (here: a child started with an empty env).
    d = procs.spawn("parent", ["sh", "-c", "env -i sleep 30 & echo started; wait"],
                    str(tmp_path / "p.log"), owner=str(tmp_path))
    try:
        procs.wait_until(lambda: "started" in open(d.log_path).read(), d,
                         "started", 10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            found = dict(procs.processes_under(str(tmp_path)))
            if any(cmd.startswith("sleep") for cmd in found.values()):
                break
            time.sleep(0.05)
        assert d.pid in found
        assert any(cmd == "sleep 30" for cmd in found.values()), found
    finally:
        d.stop(grace=2)
    assert procs.processes_under(str(tmp_path)) == []


def test_the_orphans_of_a_killed_daemon_are_reaped_not_left_as_zombies(tmp_path):
    # The broker's beam.smp outlives its killed start script as an orphan;
    # adopted by the command (a subreaper), kill_tree reaps it.
    import subprocess
    import sys

    script = (
        "import sys, time\n"
        "from fake_lab.daemons import procs\n"
        "procs.adopt_orphans()\n"
        "d = procs.spawn('t', ['sh', '-c', 'sleep 30 & sleep 30 & wait'], sys.argv[1])\n"
        "time.sleep(0.5)\n"
        "kids = procs.tree(d.pid) - {d.pid}\n"
        "d.stop(grace=0)\n"
        "table = procs.proc_table()\n"
        "print(len(kids), sorted(p for p in kids if p in table))\n")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "t.log")],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split(None, 1) == ["2", "[]\n"], out.stdout + out.stderr


def test_owners_reads_the_mark_itself_not_another_variable_that_quotes_it(tmp_path):
    decoy = {**os.environ, "NOTE": f"see {procs.OWNER_ENV}=/elsewhere",
             "X" + procs.OWNER_ENV: "/elsewhere"}
    daemon = procs.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                         str(tmp_path / "sleep.log"), env=decoy, owner=str(tmp_path / "run"))
    try:
        deadline = time.monotonic() + 10
        while daemon.pid not in procs.owners() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert procs.owners()[daemon.pid] == str(tmp_path / "run")
    finally:
        daemon.stop(grace=2.0)
