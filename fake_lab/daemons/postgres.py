"""A private PostgreSQL pair for one run: a primary and its streaming replica.

Both nodes live in the run directory (``<run>/db/primary``,
``<run>/db/replica``, their logs in ``logs/postgres-<node>.log``), listen on
127.0.0.1 only, on free ports, with no UNIX socket, and accept only
passwords (scram-sha-256) of random roles made for the run: a superuser the
lab keeps for itself (control queries, replication) and the services' own
role, owner of the ``fake_lab`` database. Nodes are named by the role they
start in: after a failover the ``replica`` node is the primary.

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

The services reach the database through one URL naming both nodes, with
libpq's ``target_session_attrs=read-write``: a new connection goes to
whichever node accepts writes, so clients follow a promotion without being
told (their open connections still break).

Lifecycle: ``check_installed()``, ``start()``, ``url``, ``ports``, the
faults ``kill_primary(lag)`` and ``switchover()``, ``serving()``,
``stop()`` (safe at any point, also from another thread while ``start()``
runs: what start() would spawn afterwards is refused).
"""

import glob
import importlib.util
import os
import pwd
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
BINARIES = ("initdb", "postgres", "pg_basebackup", "pg_controldata")
REPLICATION = ("async", "sync")
STANDBY_NAME = "replica"  # the replica's application_name
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
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
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
        self.relay = None
        self._lock = threading.Lock()
        self._stopping = False
        self._stalled = False

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

    def _tool(self, name, *args, env=None, timeout=60):
        """Run one of PostgreSQL's programs as the OS user; DaemonFailed
        with its last lines if it fails."""
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
        return out.stdout

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
        with self._lock:
            if self._stopping:
                raise DaemonFailed("the database was stopped while it was starting")
            self.relay = relay_mod.RelayDaemon(
                self.owner, os.path.join(self.log_dir, "postgres-relay.log"),
                self.primary.port, wire_name="postgres-relay.jsonl", forward_only=True)
            self.relay.launch(avoid={*avoid, self.primary.port, self.replica.port})
        self.relay.wait_ready(timeout)
        self._tool("pg_basebackup", "-D", self.replica.datadir, "-R", "-X", "stream",
                   "-c", "fast", "--no-sync", "-d",
                   f"host={HOST} port={self.relay.port} user={self.admin} "
                   f"application_name={STANDBY_NAME}",
                   env=self._env(PGPASSWORD=self.admin_password))
        # Once promoted, the replica has no standby of its own to wait for.
        self._spawn(self.replica, "-c", "synchronous_standby_names=")
        self._wait_line(self.replica, READY_STANDBY, timeout)
        self._wait_sync_state({"async", "sync", "potential", "quorum"}, timeout)
        if self.replication == "sync":
            self._sql(self.primary, "ALTER SYSTEM SET synchronous_standby_names = "
                      f"'\"{STANDBY_NAME}\"'", "SELECT pg_reload_conf()")
            self._wait_sync_state({"sync"}, timeout)
        return self

    def _wait_sync_state(self, wanted, timeout):
        """Wait until the primary lists the replica as streaming, in one
        of the ``wanted`` sync states."""
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            rows = self._sql(self.primary, "SELECT state, sync_state FROM "
                             "pg_stat_replication WHERE application_name = "
                             f"'{STANDBY_NAME}'")
            state = rows[0] if rows else None
            if state and state[0] == "streaming" and state[1] in wanted:
                return
            if not self.replica.alive():
                break
            time.sleep(0.1)
        tail = " | ".join(procs.tail(self.replica.log_path, 3)) or "no output"
        raise DaemonFailed(f"the replica did not stream ({', '.join(sorted(wanted))}) "
                           f"within {timeout:.0f} s (primary lists {state}); its "
                           f"last log lines: {tail}")

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
        ports = {"db_primary": self.primary.port, "db_replica": self.replica.port}
        if self.relay is not None:
            ports.update(db_relay=self.relay.port, db_relay_control=self.relay.control_port)
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
        """Stall the replication link: the relay forwards nothing either
        way and keeps both sockets open."""
        self.relay.fault("blackhole")
        self._stalled = True

    def unstall(self):
        if self._stalled and self.relay is not None:
            self.relay.fault("heal")
            self._stalled = False

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
        control = self._tool("pg_controldata", "-D", old.datadir)
        fields = dict(line.split(":", 1) for line in control.splitlines() if ":" in line)
        checkpoint = fields.get("Latest checkpoint location", "").strip()
        received = self._sql(new, "SELECT pg_last_wal_receive_lsn()")[0][0]
        done.update(old_state=fields.get("Database cluster state", "").strip(),
                    shutdown_checkpoint_lsn=checkpoint,
                    replica_received_lsn=str(received),
                    caught_up=bool(checkpoint) and lsn(str(received)) > lsn(checkpoint))
        done.update(self._promote(new))
        return done

    # -- stop ----------------------------------------------------------------

    def stop(self, grace=10.0):
        """Stop the relay and both nodes (in parallel); idempotent."""
        started = time.monotonic()
        with self._lock:
            self._stopping = True
            relay = self.relay
        if relay is not None:
            relay.stop()
        threads = [threading.Thread(target=n.stop, args=(grace,))
                   for n in (self.primary, self.replica)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - started


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
    raise LabError(f"unknown db fault {verb!r}")
