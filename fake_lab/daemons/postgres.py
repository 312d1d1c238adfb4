"""A private PostgreSQL pair for one run: a primary and its streaming replica.

Both nodes live in the run directory (``<run>/db/primary``,
``<run>/db/replica``, their logs in ``logs/postgres-<node>.log``), listen on
127.0.0.1 only, on free ports, with no UNIX socket, and accept only
passwords (scram-sha-256) of random roles made for the run: a superuser the
lab keeps for itself (control queries, replication) and the services' own
role, owner of the ``fake_lab`` database. Nodes are named by the role they
start in: after a failover the ``replica`` node is the primary, and after a
rejoin the ``primary`` node is its standby. Each node keeps its port for the
whole run, so the services' URL (both ports) stays right through every
failover and rejoin.

PostgreSQL refuses to run as root: when the lab is root, the servers,
initdb and pg_basebackup run as the ``postgres`` user Debian's package
creates (``[postgres] os_user``), their data directories chowned to it. The
system's own clusters (Debian's ``main``) are never read, started or
stopped; the binaries are taken from ``/usr/lib/postgresql/<version>/bin``
(the newest), or from ``$FAKE_LAB_POSTGRES_DIR``.

The replica is made by ``pg_basebackup -R`` and streams from the primary
through a relay of its own (the lab's relay, forward-only), so that the
replication link can be stalled: with asynchronous replication the primary
then acknowledges commits the replica has not received. ``sync`` makes the
primary wait for the replica (``synchronous_standby_names`` naming it,
``synchronous_commit = on``) once it streams.

The seed's "turn the original master to new slave" is ``rejoin()``: after a
failover, the old primary is rewound (pg_rewind, against the node that took
over) to where the two diverged, made a standby (standby.signal,
primary_conninfo) of the new primary through a relay of its own in front of
it, and started; the pair then has a writer and a standby again, so a second
failover (the standby promoted in turn) works as the first did.

The services reach the database through one URL naming both nodes, with
libpq's ``target_session_attrs=read-write``: a new connection goes to
whichever node accepts writes, so clients follow a promotion without being
told (their open connections still break).

Lifecycle: ``check_installed()``, ``start()``, ``url``, ``ports``, the
faults ``kill_primary(lag)``, ``switchover()`` and, after either,
``rejoin()`` (as often as they alternate), ``serving()``,
``stop()`` (safe at any point, also from another thread while ``start()``
runs: what start() would spawn afterwards is refused).
"""

import glob
import importlib.util
import os
import pwd
import re
import secrets
import signal
import subprocess
import threading
import time

from fake_lab.daemons import procs
from fake_lab.daemons import relay as relay_mod
from fake_lab.errors import DaemonFailed, LabError, MissingComponent, UsageError

HOST = "127.0.0.1"
DIR_ENV = "FAKE_LAB_POSTGRES_DIR"
BIN_DIRS = "/usr/lib/postgresql/*/bin"
BINARIES = ("initdb", "postgres", "pg_basebackup", "pg_controldata", "pg_rewind")
REPLICATION = ("async", "sync")
STANDBY_NAME = "replica"  # the replica's application_name (a node's name)
DATABASE = "fake_lab"
DRIVER = "psycopg2"
READY = "database system is ready to accept connections"
READY_STANDBY = "database system is ready to accept read-only connections"
# Appended to the primary's postgresql.conf by start(); pg_basebackup
# copies it to the replica.
CONF = """
# fake-lab: a private node, loopback only, no UNIX socket
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 100
shared_buffers = 16MB
wal_level = replica
max_wal_senders = 4
wal_keep_size = 64MB
hot_standby = on
# pg_rewind (the rejoin) needs hint-bit changes WAL-logged: wal_log_hints or
# data checksums. wal_log_hints is the cheaper: a setting, no initdb option,
# and it costs only a full-page image the first time a page's hint bits
# change after a checkpoint, which data checksums cost too, besides a
# checksum computed on every page write and verified on every read.
wal_log_hints = on
synchronous_commit = on
synchronous_standby_names = ''
# The faults kill processes, never the machine: the page cache survives
# them, so fsync adds nothing but seconds on a shared disk (a fresh replica's
# start fsyncs its whole data directory). Commits still wait for their WAL
# write and, with sync, for the replica.
fsync = off
log_line_prefix = '%m [%p] %q%u@%d '
log_replication_commands = on
logging_collector = off
"""


def find_bin_dir():
    """The directory of initdb, postgres and pg_basebackup, else None."""
    if os.environ.get(DIR_ENV):
        return os.environ[DIR_ENV]
    found = [d for d in glob.glob(BIN_DIRS)
             if all(os.access(os.path.join(d, b), os.X_OK) for b in BINARIES)]

    def version(path):
        name = os.path.basename(os.path.dirname(path))
        return tuple(int(p) for p in name.split(".") if p.isdigit())
    return max(found, key=version) if found else None


def lsn(text):
    """A WAL position ('0/3000148') as a number of bytes."""
    hi, _, lo = (text or "0/0").partition("/")
    return (int(hi, 16) << 32) + int(lo, 16)


class Node:
    """One server of the pair: its data directory, port and process."""

    def __init__(self, workdir, log_dir, name):
        self.name = name
        self.datadir = os.path.join(workdir, name)
        self.log_path = os.path.join(log_dir, f"postgres-{name}.log")
        self.port = None
        self.daemon = None

    def alive(self):
        return self.daemon is not None and self.daemon.alive()

    def kill(self):
        """SIGKILL every process of the node at once, as a crashed host
        leaves it (no backend outlives its postmaster to finish a commit);
        returns their PIDs once all are gone."""
        daemon = self.daemon
        if daemon is None:
            return []
        pids = set(procs.tree(daemon.pid)) | ({daemon.pid} if daemon.alive() else set())
        # kill_tree SIGKILLs the whole tree at once, then waits for it to go.
        procs.kill_tree(daemon.popen, sig=signal.SIGKILL, grace=5)
        return sorted(pids)

    def stop(self, grace=10.0):
        """Fast shutdown (SIGINT to the postmaster: clients are cut, a
        shutdown checkpoint is written, the WAL is sent to a connected
        standby), then KILL to whatever of its session is left; idempotent.
        SIGTERM would be a smart shutdown, which waits for every client."""
        daemon, self.daemon = self.daemon, None
        if daemon is None:
            return []
        if daemon.alive():
            try:
                os.kill(daemon.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                daemon.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        # The session outlives a killed postmaster's children: KILL them.
        return procs.kill_tree(daemon.popen, sig=signal.SIGKILL, grace=5)


class PostgresPair:
    """A primary and its streaming replica under ``workdir``; see the
    module docstring. ``owner`` is the run directory (the processes' mark)."""

    def __init__(self, workdir, log_dir, owner, replication="async",
                 os_user="postgres"):
        if replication not in REPLICATION:
            raise UsageError(f"[postgres] replication must be one of "
                             f"{', '.join(REPLICATION)}, not {replication!r}")
        self.workdir = os.path.abspath(workdir)
        self.log_dir = os.path.abspath(log_dir)
        self.owner = os.path.abspath(owner)
        self.replication = replication
        self.os_user = os_user
        self.bin_dir = find_bin_dir()
        token = secrets.token_hex(4)
        # Hex only: nothing to quote in a URL or a conninfo string.
        self.admin = f"lab_{token}"
        self.admin_password = secrets.token_hex(16)
        self.user = f"nova_{token}"
        self.password = secrets.token_hex(16)
        self.primary = Node(self.workdir, self.log_dir, "primary")
        self.replica = Node(self.workdir, self.log_dir, "replica")
        # Who takes writes now, and who could be promoted.
        self.writer, self.standby = self.primary, self.replica
        # The replication link's relay (the one in front of the writer), and
        # every relay launched, by the node it fronts: a rejoin launches one
        # in front of the new primary, and a later rejoin reuses it.
        self.relay = None
        self.relays = {}
        self._lock = threading.Lock()
        self._stopping = False
        self._stalled = None  # the relay stall() blackholed

    # -- installation and start ------------------------------------------

    def _account(self):
        """(uid, gid) to run as, or None when the lab is not root (the
        servers then run as the lab's own user)."""
        if os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam(self.os_user)
        except KeyError:
            raise MissingComponent(f"user {self.os_user} not found: install Debian's "
                                   "postgresql package (tools/setup.sh does)")
        return entry.pw_uid, entry.pw_gid

    def check_installed(self, python=None):
        """MissingComponent unless the binaries, the OS user and the driver
        (in the runner, and in ``python``, the services' interpreter) are
        there."""
        if not self.bin_dir:
            raise MissingComponent(
                f"{', '.join(BINARIES)} not found in {BIN_DIRS}: install Debian's "
                "postgresql package (tools/setup.sh does)")
        missing = [b for b in BINARIES
                   if not os.access(os.path.join(self.bin_dir, b), os.X_OK)]
        if missing:
            raise MissingComponent(f"{', '.join(missing)} not found in {self.bin_dir}")
        self._account()
        hint = f"{DRIVER} not installed: pip install -e '.[postgres]' (tools/setup.sh does)"
        if importlib.util.find_spec(DRIVER) is None:
            raise MissingComponent(f"the runner's Python has no {hint}")
        if python:
            probe = subprocess.run([python, "-c", f"import {DRIVER}"],
                                   capture_output=True, stdin=subprocess.DEVNULL)
            if probe.returncode != 0:
                raise MissingComponent(f"the services' Python {python} has no {hint}")

    def _check_reachable(self, account):
        """The OS user must traverse every directory down to the data."""
        if account is None:
            return
        path = self.workdir
        while path != os.path.dirname(path):
            path = os.path.dirname(path)
            st = os.stat(path)
            if not (st.st_mode & 0o001 or st.st_uid == account[0]):
                raise UsageError(
                    f"PostgreSQL runs as {self.os_user}, which cannot reach the run "
                    f"directory {self.owner} ({path} is closed to other users): use a "
                    "--runs-dir it can reach")

    def _env(self, **extra):
        """A clean environment: no PG* variable of the user's may send a
        tool to another server (PGHOST, PGPORT, PGSERVICE, PGPASSFILE...)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(HOME=self.workdir, LC_ALL="C", LANG="C",
                   **{procs.OWNER_ENV: self.owner}, **extra)
        return env

    def _as_user(self):
        account = self._account()
        if account is None:
            return {}
        return {"user": account[0], "group": account[1], "extra_groups": []}

    def _tool(self, name, *args, env=None, timeout=60, stderr=False):
        """Run one of PostgreSQL's programs as the OS user; its standard
        output (and error, with ``stderr``: where pg_rewind says what it
        did); DaemonFailed with its last lines if it fails."""
        argv = [os.path.join(self.bin_dir, name), *args]
        try:
            out = subprocess.run(argv, capture_output=True, text=True,
                                 env=env or self._env(), cwd=self.workdir,
                                 stdin=subprocess.DEVNULL, timeout=timeout,
                                 **self._as_user())
        except subprocess.TimeoutExpired:
            raise DaemonFailed(f"{name} did not finish within {timeout} s")
        if out.returncode != 0:
            last = " | ".join((out.stderr or out.stdout).strip().splitlines()[-3:])
            raise DaemonFailed(f"{name} failed (exit {out.returncode}): {last}")
        with open(os.path.join(self.log_dir, "postgres-tools.log"), "a") as log:
            log.write(f"$ {name} {' '.join(a for a in args if 'password' not in a)}\n"
                      f"{out.stdout}{out.stderr}")
        # A line break between the two: pg_rewind's crash recovery leaves
        # the single-user backend's prompt ("backend> ") unterminated.
        return f"{out.stdout}\n{out.stderr}" if stderr else out.stdout

    def _private_dir(self, path, account):
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
        if account is not None:
            os.chown(path, *account)

    def _spawn(self, node, *args):
        with self._lock:
            if self._stopping:
                raise DaemonFailed("the database was stopped while it was starting")
            try:
                node.offset = os.path.getsize(node.log_path)
            except OSError:
                node.offset = 0
            argv = [os.path.join(self.bin_dir, "postgres"), "-D", node.datadir,
                    "-p", str(node.port), *args]
            with open(node.log_path, "ab") as log:
                popen = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    env=self._env(), cwd=self.workdir, start_new_session=True,
                    close_fds=True, **self._as_user())
            node.daemon = procs.Daemon(f"postgres ({node.name})", popen, node.log_path)

    def _wait_line(self, node, line, timeout):
        def ready():
            try:
                with open(node.log_path, errors="replace") as f:
                    f.seek(node.offset)
                    return line in f.read() and procs.port_open(node.port)
            except OSError:
                return False
        procs.wait_until(ready, node.daemon, line, timeout)

    def start(self, avoid=(), timeout=60):
        """initdb, the primary, its roles and database, the replication
        relay, pg_basebackup -R, the replica; for ``sync``, the primary made
        to wait for the replica. Returns once the replica streams."""
        self.check_installed()
        account = self._account()
        self.primary.port, self.replica.port = procs.free_ports(2, HOST, set(avoid))
        os.makedirs(self.workdir, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        os.makedirs(self.log_dir, exist_ok=True)
        self._check_reachable(account)
        for node in (self.primary, self.replica):
            self._private_dir(node.datadir, account)

        # The superuser's password reaches initdb through a private file.
        pwfile = os.path.join(self.workdir, "initdb.pw")
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.admin_password + "\n")
        if account is not None:
            os.chown(pwfile, *account)
        try:
            self._tool("initdb", "-D", self.primary.datadir, "-U", self.admin,
                       f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8",
                       "--locale=C", "--no-sync", "--no-instructions")
        finally:
            os.unlink(pwfile)
        with open(os.path.join(self.primary.datadir, "postgresql.conf"), "a") as f:
            f.write(CONF)
        with open(os.path.join(self.primary.datadir, "pg_hba.conf"), "w") as f:
            f.write("# fake-lab: passwords only, loopback only\n"
                    f"host all all {HOST}/32 scram-sha-256\n"
                    f"host replication {self.admin} {HOST}/32 scram-sha-256\n")
        self._spawn(self.primary)
        self._wait_line(self.primary, READY, timeout)
        self._sql(self.primary,
                  f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}'",
                  f"CREATE DATABASE {DATABASE} OWNER {self.user}")

        # The replication link goes through a relay, so that it can stall.
        self.relay = self._relay_to(self.primary, avoid, timeout)
        self._tool("pg_basebackup", "-D", self.replica.datadir, "-R", "-X", "stream",
                   "-c", "fast", "--no-sync", "-d",
                   f"host={HOST} port={self.relay.port} user={self.admin} "
                   f"application_name={STANDBY_NAME}",
                   env=self._env(PGPASSWORD=self.admin_password))
        # Once promoted, the replica has no standby of its own to wait for.
        # Said in its postgresql.auto.conf, not with -c on its command line
        # (which would outrank ALTER SYSTEM): once the old primary has
        # rejoined, sync replication names it there.
        self._set_auto_conf(self.replica, synchronous_standby_names="''")
        self._spawn(self.replica)
        self._wait_line(self.replica, READY_STANDBY, timeout)
        self._wait_sync_state({"async", "sync", "potential", "quorum"}, timeout)
        if self.replication == "sync":
            self._make_sync(self.primary, self.replica, timeout)
        return self

    def _relay_to(self, node, avoid=(), timeout=60):
        """The replication relay in front of ``node`` (forward-only: the
        replication protocol is not AMQP), launched on first use and kept
        until stop(): the first, in front of the primary, is
        ``postgres-relay``; one in front of the replica (for a rejoin)
        ``postgres-relay-to-replica``."""
        with self._lock:
            if self._stopping:
                raise DaemonFailed("the database was stopped while it was starting")
            relay = self.relays.get(node.name)
            if relay is None:
                suffix = "" if node is self.primary else f"-to-{node.name}"
                relay = relay_mod.RelayDaemon(
                    self.owner, os.path.join(self.log_dir, f"postgres-relay{suffix}.log"),
                    node.port, wire_name=f"postgres-relay{suffix}.jsonl",
                    forward_only=True)
                taken = {self.primary.port, self.replica.port}
                for other in self.relays.values():
                    taken |= {other.port, other.control_port}
                relay.launch(avoid={*avoid, *taken})
                self.relays[node.name] = relay
        relay.wait_ready(timeout)
        return relay

    def _set_auto_conf(self, node, **settings):
        """Set ``settings`` (name: value as the file writes it) in the
        node's postgresql.auto.conf, the file ALTER SYSTEM rewrites and the
        last one read, replacing any earlier line of the same name: after
        pg_basebackup -R or pg_rewind it holds the source's settings, its
        primary_conninfo among them."""
        path = os.path.join(node.datadir, "postgresql.auto.conf")
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            lines = []
        kept = [line for line in lines
                if line.split("=", 1)[0].strip() not in settings]
        kept += [f"{name} = {value}" for name, value in settings.items()]
        with open(path, "w") as f:
            f.write("\n".join(kept) + "\n")
        # The server (the OS user) rewrites it at ALTER SYSTEM.
        st = os.stat(node.datadir)
        os.chown(path, st.st_uid, st.st_gid)
        os.chmod(path, 0o600)

    def _make_sync(self, writer, standby, timeout):
        """Make ``writer`` wait for ``standby`` at every commit
        (synchronous_standby_names naming its application_name)."""
        self._sql(writer, "ALTER SYSTEM SET synchronous_standby_names = "
                  f"'\"{standby.name}\"'", "SELECT pg_reload_conf()")
        self._wait_sync_state({"sync"}, timeout, writer, standby)

    def _wait_sync_state(self, wanted, timeout, writer=None, standby=None):
        """Wait until the writer (the primary at start) lists the standby as
        streaming, in one of the ``wanted`` sync states."""
        writer, standby = writer or self.primary, standby or self.replica
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            rows = self._sql(writer, "SELECT state, sync_state FROM "
                             "pg_stat_replication WHERE application_name = "
                             f"'{standby.name}'")
            state = rows[0] if rows else None
            if state and state[0] == "streaming" and state[1] in wanted:
                return
            if not standby.alive():
                break
            time.sleep(0.1)
        tail = " | ".join(procs.tail(standby.log_path, 3)) or "no output"
        raise DaemonFailed(f"the {standby.name} did not stream "
                           f"({', '.join(sorted(wanted))}) within {timeout:.0f} s "
                           f"(the {writer.name} lists {state}); its last log lines: "
                           f"{tail}")

    # -- queries -----------------------------------------------------------

    def _connect(self, node, timeout=3):
        import psycopg2

        conn = psycopg2.connect(host=HOST, port=node.port, user=self.admin,
                                password=self.admin_password, dbname="postgres",
                                connect_timeout=timeout,
                                application_name="fake-lab-runner")
        conn.autocommit = True
        return conn

    def _sql(self, node, *statements):
        """Run statements on ``node`` as the lab's superuser; the last
        one's rows. LabError when the node cannot be reached."""
        import psycopg2

        try:
            conn = self._connect(node)
        except psycopg2.Error as exc:
            raise LabError(f"postgres ({node.name}): {str(exc).strip().splitlines()[0]}")
        try:
            with conn.cursor() as cur:
                rows = None
                for statement in statements:
                    cur.execute(statement)
                    rows = cur.fetchall() if cur.description else None
                return rows
        except psycopg2.Error as exc:
            raise LabError(f"postgres ({node.name}): {str(exc).strip().splitlines()[0]}")
        finally:
            conn.close()

    @property
    def url(self):
        """The services' SQLAlchemy URL: both nodes, and libpq's
        target_session_attrs=read-write (psycopg2 joins the host
        parameters into one multi-host conninfo)."""
        hosts = "&".join(f"host={HOST}:{n.port}" for n in (self.primary, self.replica))
        return (f"postgresql+{DRIVER}://{self.user}:{self.password}@/{DATABASE}"
                f"?{hosts}&target_session_attrs=read-write&connect_timeout=3")

    @property
    def ports(self):
        """Every port of the pair: its nodes', and each relay's (the first's
        as db_relay, one a rejoin launched as db_relay_to_<node>)."""
        ports = {"db_primary": self.primary.port, "db_replica": self.replica.port}
        for name, relay in list(self.relays.items()):
            if relay.port is None:
                continue
            key = "db_relay" if name == self.primary.name else f"db_relay_to_{name}"
            ports.update({key: relay.port, f"{key}_control": relay.control_port})
        return ports

    def serving(self):
        """Which node takes writes now, as a client of the services' URL
        finds it: {node, port, in_recovery, timeline}; {"error": ...} when
        none answers."""
        import psycopg2

        try:
            conn = psycopg2.connect(
                host=f"{HOST},{HOST}", port=f"{self.primary.port},{self.replica.port}",
                user=self.admin, password=self.admin_password, dbname="postgres",
                target_session_attrs="read-write", connect_timeout=3)
        except psycopg2.Error as exc:
            return {"error": str(exc).strip().splitlines()[0]}
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT inet_server_port(), pg_is_in_recovery(), "
                            "pg_walfile_name(pg_current_wal_lsn())")
                port, in_recovery, walfile = cur.fetchone()
        finally:
            conn.close()
        node = {self.primary.port: "primary", self.replica.port: "replica"}.get(port)
        # A WAL file's name begins with its timeline: 2 after one promotion.
        return {"node": node, "port": port, "in_recovery": in_recovery,
                "timeline": int(walfile[:8], 16)}

    def positions(self):
        """The WAL positions now: the writer's current one, and what the
        standby has received and replayed (None where unreadable)."""
        found = {}
        for key, node, query in (
                ("primary_lsn", self.writer, "SELECT pg_current_wal_lsn()"),
                ("replica_received_lsn", self.standby, "SELECT pg_last_wal_receive_lsn()"),
                ("replica_replayed_lsn", self.standby, "SELECT pg_last_wal_replay_lsn()")):
            try:
                found[key] = str(self._sql(node, query)[0][0]) if node else None
            except (LabError, TypeError, IndexError):
                found[key] = None
        if found.get("primary_lsn") and found.get("replica_received_lsn"):
            found["behind_bytes"] = (lsn(found["primary_lsn"])
                                     - lsn(found["replica_received_lsn"]))
        return found

    # -- faults (fake_lab/workload/nemesis.py) --------------------------------

    def _roles(self):
        if not self.writer.alive():
            raise LabError("no PostgreSQL node takes writes")
        if self.standby is None or not self.standby.alive():
            raise LabError("no standby is left to promote")
        return self.writer, self.standby

    def _promote(self, node):
        """Promote ``node`` (pg_promote waits until it takes writes)."""
        began = time.time()
        replayed = self._sql(node, "SELECT pg_last_wal_replay_lsn()")[0][0]
        self._sql(node, "SELECT pg_promote(true, 60)")
        promoted = time.time()
        in_recovery = self._sql(node, "SELECT pg_is_in_recovery()")[0][0]
        self.writer, self.standby = node, None
        return {"promoted": node.name, "promoted_port": node.port,
                "replayed_lsn_at_promotion": str(replayed),
                "promoted_at": round(promoted, 6),
                "promote_seconds": round(promoted - began, 3),
                "in_recovery_after": in_recovery,
                # Nothing is repointed: the services' URL names both nodes
                # and libpq picks the one that takes writes.
                "clients": "multi-host URL, target_session_attrs=read-write"}

    def wait_caught_up(self, timeout=30.0):
        """Wait until the standby has replayed everything the writer has
        written so far; LabError after ``timeout``."""
        old, new = self._roles()
        target = lsn(self._sql(old, "SELECT pg_current_wal_lsn()")[0][0])
        deadline = time.monotonic() + timeout
        while lsn(self._sql(new, "SELECT pg_last_wal_replay_lsn()")[0][0]) < target:
            if time.monotonic() > deadline:
                raise LabError(f"the replica did not catch up within {timeout:.0f} s")
            time.sleep(0.05)

    def stall(self):
        """Stall the replication link: the relay in front of the writer
        forwards nothing either way and keeps both sockets open."""
        self.relay.fault("blackhole")
        self._stalled = self.relay

    def unstall(self):
        stalled, self._stalled = self._stalled, None
        if stalled is not None:
            stalled.fault("heal")

    def kill_primary(self, lag=0.0):
        """The unplanned failover: stall the replication link for ``lag``
        seconds (the replica falls behind), SIGKILL every process of the
        primary, promote the replica. Returns what was done, with times
        (epoch seconds) and the WAL positions just before the kill."""
        old, new = self._roles()
        done = {"lag": lag, "old_primary": old.name}
        if lag:
            self.stall()
            done["stalled_at"] = round(time.time(), 6)
            time.sleep(lag)
        done.update(self.positions())
        # The moment of the signal: kill() returns once every process is
        # reaped, which may take a while on a loaded machine.
        done["killed_at"] = round(time.time(), 6)
        done["old_primary_pids"] = old.kill()
        done["dead_at"] = round(time.time(), 6)
        self.unstall()
        done.update(self._promote(new))
        return done

    def switchover(self, timeout=30.0):
        """The planned switchover: let the replica replay everything the
        primary wrote, stop the primary cleanly (fast shutdown: its shutdown
        checkpoint is sent to the replica), check the replica received it,
        promote the replica."""
        old, new = self._roles()
        self.unstall()
        done = {"old_primary": old.name}
        self.wait_caught_up(timeout)
        done["caught_up_at"] = round(time.time(), 6)
        done["stopping_at"] = round(time.time(), 6)
        old.stop(grace=timeout)
        done["stopped_at"] = round(time.time(), 6)
        fields = self._controldata(old)
        checkpoint = fields.get("Latest checkpoint location", "")
        received = self._sql(new, "SELECT pg_last_wal_receive_lsn()")[0][0]
        done.update(old_state=fields.get("Database cluster state", ""),
                    shutdown_checkpoint_lsn=checkpoint,
                    replica_received_lsn=str(received),
                    caught_up=bool(checkpoint) and lsn(str(received)) > lsn(checkpoint))
        done.update(self._promote(new))
        return done

    def _controldata(self, node):
        """pg_controldata's fields of a stopped node: {name: value}."""
        out = self._tool("pg_controldata", "-D", node.datadir)
        return {k.strip(): v.strip() for k, v in
                (line.split(":", 1) for line in out.splitlines() if ":" in line)}

    def rejoin(self, timeout=60.0):
        """The seed's "turn the original master to new slave", after a
        kill_primary() or a switchover(): rewind the old primary (pg_rewind
        against the node that took over; nothing to do after a clean
        switchover), make it a standby of the new primary through the relay
        in front of it (so that a stall() stalls this link too), start it,
        wait until it streams; with sync replication, make the new primary
        wait for it. Returns what was done, with times (epoch seconds),
        pg_rewind's lines and the WAL positions."""
        writer, old = self.writer, (self.primary if self.writer is self.replica
                                    else self.replica)
        if self.standby is not None:
            raise LabError(f"nothing to rejoin: the {self.standby.name} is the "
                           f"{writer.name}'s standby already")
        if not writer.alive():
            raise LabError("no PostgreSQL node takes writes")
        if old.alive():
            raise LabError(f"the {old.name} still runs: stop it before it rejoins")
        began = time.time()
        done = {"rejoined": old.name, "rejoined_port": old.port,
                "new_primary": writer.name, "new_primary_port": writer.port,
                "began_at": round(began, 6)}
        before = self._controldata(old)
        done.update(old_state=before.get("Database cluster state"),
                    old_checkpoint_lsn=before.get("Latest checkpoint location"),
                    old_timeline=_int(before.get("Latest checkpoint's TimeLineID")))
        # pg_rewind reads the source's timeline from its control file, which
        # a promotion updates only at its next checkpoint: without this one,
        # a rewind right after a promotion may find "the same timeline" and
        # do nothing.
        self._sql(writer, "CHECKPOINT")
        position, walfile = self._sql(writer, "SELECT pg_current_wal_lsn(), "
                                      "pg_walfile_name(pg_current_wal_lsn())")[0]
        done.update(new_primary_lsn_at_rewind=str(position),
                    new_primary_timeline=int(walfile[:8], 16))
        done["rewind_began_at"] = round(time.time(), 6)
        # Straight to the new primary's port: the rewind is the operator's
        # copy, not the replication link. A crashed target is first taken
        # through crash recovery (single-user mode) by pg_rewind itself.
        out = self._tool("pg_rewind", "--target-pgdata", old.datadir, "--no-sync",
                         "--source-server", f"host={HOST} port={writer.port} "
                         f"user={self.admin} dbname=postgres",
                         env=self._env(PGPASSWORD=self.admin_password),
                         timeout=max(timeout, 60), stderr=True)
        done["rewind_ended_at"] = round(time.time(), 6)
        done.update(rewind_seconds=round(done["rewind_ended_at"]
                                         - done["rewind_began_at"], 3),
                    **parse_rewind(out))

        relay = self._relay_to(writer, timeout=timeout)
        done["via"] = f"relay {HOST}:{relay.port} -> {HOST}:{writer.port}"
        conninfo = (f"host={HOST} port={relay.port} user={self.admin} "
                    f"password={self.admin_password} application_name={old.name}")
        # Its own settings, after whatever pg_rewind copied from the source
        # (the source's postgresql.auto.conf, with its primary_conninfo and,
        # with sync, its synchronous_standby_names): promoted later, it has
        # no standby of its own to wait for.
        self._set_auto_conf(old, primary_conninfo=f"'{conninfo}'",
                            synchronous_standby_names="''")
        signal_file = os.path.join(old.datadir, "standby.signal")
        open(signal_file, "w").close()
        st = os.stat(old.datadir)
        os.chown(signal_file, st.st_uid, st.st_gid)
        done["started_at"] = round(time.time(), 6)
        self._spawn(old)
        self._wait_line(old, READY_STANDBY, timeout)
        done["ready_at"] = round(time.time(), 6)
        done.update(self._wait_streaming(writer, old, relay, timeout))
        streaming = done["streaming_at"]
        done.update(seconds_to_streaming=round(streaming - began, 3),
                    start_to_streaming_seconds=round(streaming - done["started_at"], 3))
        self.writer, self.standby, self.relay = writer, old, relay
        if self.replication == "sync":
            self._make_sync(writer, old, timeout)
            done["synchronous_standby_names"] = f'"{old.name}"'
        done["in_recovery"] = self._sql(old, "SELECT pg_is_in_recovery()")[0][0]
        done["pair"] = {"primary": writer.name, "standby": old.name}
        return done

    def _wait_streaming(self, writer, standby, relay, timeout):
        """Wait until ``writer`` lists ``standby`` as streaming
        (pg_stat_replication) and the standby's WAL receiver says so too
        (pg_stat_wal_receiver, its sender being the relay); both views
        then, and the moment."""
        deadline = time.monotonic() + timeout
        sender = receiver = None
        while time.monotonic() < deadline:
            rows = self._sql(writer, "SELECT state, sync_state, sent_lsn::text, "
                             "replay_lsn::text FROM pg_stat_replication WHERE "
                             f"application_name = '{standby.name}'")
            sender = dict(zip(("state", "sync_state", "sent_lsn", "replay_lsn"),
                              rows[0])) if rows else None
            rows = self._sql(standby, "SELECT status, sender_port, received_tli, "
                             "flushed_lsn::text FROM pg_stat_wal_receiver")
            receiver = dict(zip(("status", "sender_port", "received_tli",
                                 "flushed_lsn"), rows[0])) if rows else None
            if (sender and sender["state"] == "streaming"
                    and receiver and receiver["status"] == "streaming"):
                return {"streaming_at": round(time.time(), 6),
                        "new_primary_sees": sender, "rejoined_receiver": receiver,
                        "through_relay": receiver["sender_port"] == relay.port}
            if not standby.alive():
                break
            time.sleep(0.05)
        tail = " | ".join(procs.tail(standby.log_path, 3)) or "no output"
        raise DaemonFailed(f"the {standby.name} did not stream from the {writer.name} "
                           f"within {timeout:.0f} s (the {writer.name} lists {sender}, "
                           f"its WAL receiver {receiver}); its last log lines: {tail}")

    # -- stop ----------------------------------------------------------------

    def stop(self, grace=10.0):
        """Stop the relays and both nodes (in parallel); idempotent."""
        started = time.monotonic()
        with self._lock:
            self._stopping = True
            relays = list(self.relays.values())
        for relay in relays:
            relay.stop()
        threads = [threading.Thread(target=n.stop, args=(grace,))
                   for n in (self.primary, self.replica)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - started


_DIVERGED = re.compile(r"servers diverged at WAL location (\S+) on timeline (\d+)")
_CHECKPOINT = re.compile(r"rewinding from last common checkpoint at (\S+) on timeline (\d+)")


def _int(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def parse_rewind(output):
    """What pg_rewind said: its lines, whether it rewound anything, where
    the servers diverged and the checkpoint it rewound from."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    found = {"rewind_output": lines[-40:],
             "rewound": not any("no rewind required" in line for line in lines)}
    for pattern, lsn_key, tli_key in (
            (_DIVERGED, "diverged_lsn", "diverged_timeline"),
            (_CHECKPOINT, "rewound_from_checkpoint_lsn", "rewound_from_timeline")):
        m = next((m for m in map(pattern.search, lines) if m), None)
        if m:
            found.update({lsn_key: m.group(1), tli_key: int(m.group(2))})
    return found


def pair_for(run, settings, pyenv=None):
    """The run's pair, checked but not started, when ``[postgres] pair`` is
    on; else None. UsageError with ``[database] connection`` too."""
    options = settings.values.get("postgres", {})
    if not options.get("pair"):
        return None
    if settings.database_url:
        raise UsageError("[postgres] pair and [database] connection (--database) "
                         "exclude each other: the pair is the run's database")
    pair = PostgresPair(run.file("db"), run.logs, run.path,
                        replication=options.get("replication", "async"),
                        os_user=options.get("os_user") or "postgres")
    pair.check_installed(
        python=None if pyenv is None or getattr(pyenv, "is_lab", True) else pyenv.python)
    return pair


def fault(lab, verb, options):
    """The nemesis' ``db`` verbs on a running lab's pair."""
    pair = getattr(lab, "db_pair", None)
    if pair is None:
        raise LabError("this run has no PostgreSQL pair ([postgres] pair = true)")
    if verb == "kill-primary":
        return pair.kill_primary(lag=options.get("lag", 0))
    if verb == "switchover":
        return pair.switchover()
    if verb == "rejoin":
        try:
            return pair.rejoin()
        finally:
            _record_ports(lab, pair)
    raise LabError(f"unknown db fault {verb!r}")


def _record_ports(lab, pair):
    """Add a relay the rejoin launched to the run's ports.json (written at
    start), so that the soak's leftover check looks at its ports too."""
    run = getattr(lab, "run", None)
    if run is None:
        return
    ports = run.read_json("ports.json") or {}
    if not set(pair.ports.items()) <= set(ports.items()):
        run.write_json("ports.json", {**ports, **pair.ports})
