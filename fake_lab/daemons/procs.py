"""Start daemons in their own session and stop their whole process tree.

Shaped after pifpaf's helper: a process is started in a new session (so a
Ctrl-C in the user's terminal reaches only the lab's runner, which then stops
everything in order), its output goes to a log file in the run directory, and
stopping it walks the tree: TERM to every member, a grace period, then KILL.
Only processes the lab started are ever signalled: the tree is found from the
PID the lab holds, never by name.
"""

import os
import random
import signal
import socket
import subprocess
import time

from fake_lab.errors import DaemonFailed, MissingComponent, PortTaken


class Daemon:
    """A started process: ``name``, ``popen``, ``log_path``."""

    def __init__(self, name, popen, log_path):
        self.name = name
        self.popen = popen
        self.log_path = log_path

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def log_tail(self, lines=5):
        return tail(self.log_path, lines)

    def stop(self, sig=signal.SIGTERM, grace=10.0):
        """Stop the whole tree; returns the PIDs that needed KILL."""
        return kill_tree(self.popen, sig=sig, grace=grace)


# Every daemon carries its owner (a run directory) in this environment
# variable, inherited by all it forks: how a run's processes are found again
# once the runner that started them is gone. Only daemons get it, never the
# user's shell (unlike the FAKE_LAB_* lines `fake-lab up` prints).
OWNER_ENV = "FAKE_LAB_OWNER"


def spawn(name, argv, log_path, env=None, cwd=None, owner=None):
    """Start ``argv`` in a new session with stdout/stderr to ``log_path``;
    ``owner`` (a directory) marks it and its descendants for
    ``processes_under``."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    if owner is not None:
        env = dict(os.environ if env is None else env)
        env[OWNER_ENV] = os.path.abspath(owner)
        # setproctitle (cotyledon's launcher titles its master and workers)
        # otherwise writes a long title over the memory /proc/PID/environ
        # reads, mark included: a threading compute orphaned by a killed
        # runner was then found by nothing and outlived its run.
        env["SPT_NOENV"] = "1"
    with open(log_path, "ab") as log:
        try:
            popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=env, cwd=cwd,
                start_new_session=True, close_fds=True)
        except FileNotFoundError:
            raise MissingComponent(f"cannot start {name}: {argv[0]} not found")
        except OSError as exc:
            raise DaemonFailed(f"cannot start {name} ({argv[0]}): {exc.strerror}")
    return Daemon(name, popen, log_path)


def proc_table():
    """pid -> (ppid, pgrp, session, state) for every process we can read."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after it.
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(entry)] = (int(fields[1]), int(fields[2]), int(fields[3]),
                             fields[0])
    return table


def tree(root, table=None):
    """The live PIDs of ``root``'s session, process group and descendants
    (``table``: one reading of /proc shared by several calls)."""
    table = proc_table() if table is None else table
    found = {pid for pid, (ppid, pgrp, sid, _) in table.items()
             if pid == root or sid == root or pgrp == root}
    grown = True
    while grown:
        grown = False
        for pid, (ppid, _, _, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grown = True
    return {pid for pid in found if table.get(pid, (0, 0, 0, "Z"))[3] != "Z"}


def _signal_all(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def kill_tree(popen, sig=signal.SIGTERM, grace=10.0):
    """Signal the tree rooted at ``popen``, wait ``grace`` s, then KILL."""
    # Collect the tree before signalling: once the root dies its children
    # are re-parented to init and can no longer be found from it.
    pids = tree(popen.pid)
    if popen.poll() is None:
        pids.add(popen.pid)
    seen = set(pids)
    _signal_all(pids, sig)
    deadline = time.monotonic() + grace
    # Looks close together at first: most daemons are gone within tens of
    # milliseconds, and every stop is on the run's way out.
    pause = 0.005
    while time.monotonic() < deadline:
        popen.poll()
        found = tree(popen.pid)
        seen |= found
        pids = _still_alive(pids | found)
        if not pids:
            break
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    killed = sorted(pids)
    _signal_all(pids, signal.SIGKILL)
    try:
        popen.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    _reap(seen - {popen.pid})
    return killed


def adopt_orphans():
    """Make this process the subreaper of what it starts: a daemon's
    children whose parent dies (the broker's beam.smp once its start
    script is killed, uWSGI's workers) are re-parented here, not to init,
    so kill_tree can reap them. Init here reaps late, and they stayed as
    zombies after a run had ended. Linux only; elsewhere nothing changes."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


PR_SET_CHILD_SUBREAPER = 36


def reap_exited_children():
    """Collect every child of this process that has exited (orphans it
    adopted and nobody waits for), without waiting for the others. Only
    when the command ends: then no subprocess of its own is still to be
    waited for by the code that started it."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _reap(pids, timeout=1.0):
    """Collect the exit status of ``pids`` that are children of this process
    (adopted orphans); the rest are someone else's to reap."""
    deadline = time.monotonic() + timeout
    pids = set(pids)
    while pids and time.monotonic() < deadline:
        for pid in list(pids):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pids.discard(pid)  # not ours
                continue
            if done:
                pids.discard(pid)
        if pids:
            time.sleep(0.01)


def _still_alive(pids):
    table = proc_table()
    return {pid for pid in pids if pid in table and table[pid][3] != "Z"}


def tcp_sockets():
    """{socket inode: (local "ip:port", remote "ip:port")} of every IPv4 TCP
    socket on the machine (/proc/net/tcp)."""
    found = {}
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                found[int(fields[9])] = (_address(fields[1]), _address(fields[2]))
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    return found


def _address(hex_pair):
    ip, port = hex_pair.split(":")
    octets = [str(int(ip[i:i + 2], 16)) for i in (6, 4, 2, 0)]  # little-endian
    return f"{'.'.join(octets)}:{int(port, 16)}"


def socket_inodes(pid):
    """The inodes of the sockets ``pid`` holds open ([] if unreadable)."""
    inodes = []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.append(int(target[8:-1]))
    except OSError:
        pass
    return sorted(set(inodes))


def inspect_tree(root):
    """Each live process of ``root``'s tree with its parent and its TCP
    sockets: [{pid, ppid, sockets: [{inode, local, remote}]}], read from
    /proc (nothing the processes see)."""
    table, tcp = proc_table(), tcp_sockets()
    out = []
    for pid in sorted(tree(root, table)):
        sockets = [{"inode": i, "local": tcp[i][0], "remote": tcp[i][1]}
                   for i in socket_inodes(pid) if i in tcp]
        out.append({"pid": pid, "ppid": table.get(pid, (0,))[0], "sockets": sockets})
    return out


def owners():
    """{pid: owner path} of every live process that carries OWNER_ENV, in
    one pass over /proc: for a sweep of many run directories at once."""
    mark = f"{OWNER_ENV}=".encode()
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        # Variable by variable: another one's name or value may end in
        # or hold the mark's text.
        for variable in environ.split(b"\0"):
            if variable.startswith(mark):
                found[int(entry)] = os.fsdecode(variable[len(mark):])
                break
    return found


def processes_under(path):
    """[(pid, command line)] of the live processes owned by ``path`` or a
    directory inside it (see OWNER_ENV): a run's leftovers, found without
    matching names, and never a command that merely names the run."""
    path = os.path.abspath(path)
    found = []
    for pid, owner in owners().items():
        if not owned_by(owner, path):
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if cmdline:  # zombies have none
            found.append((pid, cmdline.strip()))
    return found + _unmarked_members(found)


def owned_by(owner, path):
    """Whether an OWNER_ENV value marks ``path`` (absolute, as the marks
    are) or a directory inside it."""
    return owner == path or owner.startswith(path + "/")


def _unmarked_members(marked):
    """[(pid, command line)] of the processes in the trees of ``marked``
    that do not show the mark: PostgreSQL writes each child's process title
    over the memory /proc/PID/environ reads, so its backends, checkpointer
    and walsenders carry the mark but cannot show it."""
    if not marked:
        return []
    table = proc_table()
    seen = {pid for pid, _ in marked}
    members = set().union(*(tree(pid, table) for pid in seen)) - seen - {os.getpid()}
    found = []
    for pid in sorted(members):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if cmdline.strip():
            found.append((pid, cmdline.strip()))
    return found


def tail(path, lines=5):
    """The last ``lines`` lines of a text file, or [] if it cannot be read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line for line in data.splitlines() if line.strip()][-lines:]


# Outside the kernel's ephemeral range (ip_local_port_range), so that no
# client's outgoing connection can take a port between its pick and the
# daemon's bind: a CI run lost a broker to that (eaddrinuse on a port the
# kernel had offered a moment before). Labs running side by side pick at
# random from thousands of ports, and check each pick, so they rarely meet.
_FALLBACK_RANGE = (32768, 60999)


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
        return low, high
    except (OSError, ValueError):
        return _FALLBACK_RANGE


def _candidate_port(host):
    """A port outside the ephemeral range, at random (``host`` unused: the
    range is the machine's)."""
    low, high = _ephemeral_range()
    if low - 10000 >= 1024:
        return random.randint(10000, low - 1)
    if 65535 - high >= 2000:
        return random.randint(high + 1, 65535)
    return random.randint(1024, 65535)


def free_ports(count, host="127.0.0.1", avoid=()):
    """``count`` distinct TCP ports, each bindable on ``host`` right now."""
    ports = []
    for _ in range(count * 50):
        port = _candidate_port(host)
        if port in ports or port in avoid:
            continue
        try:
            ensure_free(port, host)
        except PortTaken:
            continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise PortTaken(f"cannot find {count} free ports on {host}")


def free_port(host="127.0.0.1", avoid=()):
    """A TCP port that is free on ``host`` now."""
    return free_ports(1, host, avoid)[0]


def ensure_free(port, host="127.0.0.1", what="port"):
    """LabError unless ``port`` can be bound on ``host`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise PortTaken(f"{what} {host}:{port} is not available: "
                           f"{exc.strerror}")
    return port


def port_open(port, host="127.0.0.1", timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check, daemon, what, timeout, log_path=None):
    """Poll ``check()`` until true; DaemonFailed, quoting the last lines of
    ``log_path`` (default: the daemon's output), if ``daemon`` dies or time
    runs out."""
    deadline = time.monotonic() + timeout
    while True:
        # Alive first: a dead daemon must not pass on another's answer.
        alive = daemon.alive()
        if alive and check():
            return
        lines = (tail(log_path, 5) if log_path else []) or daemon.log_tail(5)
        if not alive:
            last = " | ".join(lines) or "no output"
            raise DaemonFailed(f"{daemon.name} exited with code "
                           f"{daemon.popen.returncode} before {what}; "
                           f"its last log lines: {last}")
        if time.monotonic() > deadline:
            last = " | ".join(lines) or "no output"
            raise DaemonFailed(f"{daemon.name} did not reach '{what}' within "
                           f"{timeout:.0f} s; its last log lines: {last}")
        time.sleep(0.05)
