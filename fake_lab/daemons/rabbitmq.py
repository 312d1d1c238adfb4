"""A private RabbitMQ node for one run.

Why not pifpaf's rabbitmq driver: it uses fixed ports (5682 and the default
distribution port, so two runs clash), shares the system epmd on 4369 (which
outlives the node), reads /etc/rabbitmq/rabbitmq-env.conf, and creates its
user with two rabbitmqctl calls (about 1.5 s). This node instead has its own
name, free AMQP, distribution and epmd ports, everything under one directory,
a random user created at first boot from rabbitmq.config (so no 'guest' user
exists), and listens on 127.0.0.1 only.

Lifecycle: ``start()`` (ready when the node logs "Server startup complete"
and its AMQP port answers), ``url``, ``rabbitmqctl(...)``, ``stop()``.
Listings and vhosts go through ``eval`` (erl_call), not rabbitmqctl.
"""

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import urllib.parse

from fake_lab.daemons import procs
from fake_lab.errors import LabError, MissingComponent, UsageError

HOST = "127.0.0.1"
# Debian's /usr/sbin/rabbitmq-server is a wrapper that switches to the
# rabbitmq user and /var/lib/rabbitmq: use the real scripts behind it.
# FAKE_LAB_RABBITMQ_DIR names another directory (and only that one).
SBIN_DIRS = ("/usr/lib/rabbitmq/bin",)
DIR_ENV = "FAKE_LAB_RABBITMQ_DIR"
READY_LINE = "Server startup complete"
# The applications a node needs when no plugin is enabled; the rest of the
# package's plugins directory (management, MQTT, federation...) is left out
# of the node's code path, because the node scans every module there at boot
# for feature flags and boot steps: about a second of a 3 s boot here.
CORE_APPS = ("rabbit", "rabbitmq_prelaunch", "cuttlefish")
# The package's scripts also put its whole plugins directory on ERL_LIBS
# ($RABBITMQ_HOME/plugins, 50 directories): every module the node loads
# that is not there (kernel's, mnesia's, ...) was first looked for in each
# of them, 0.5 s of the boot. The node gets a home of its own instead,
# DIST_DIR: sbin links to the package's scripts (rabbitmq-env takes
# RABBITMQ_SCRIPTS_DIR as given and its parent as RABBITMQ_HOME), escript
# to the package's, plugins to the core links; RABBITMQ_PLUGINS_DIR names
# that same path, so the code path holds each core directory once (43
# entries, not 113).
DIST_DIR = "dist"


def find_binary(name, dirs=()):
    """Absolute path of ``name`` in ``dirs`` or on PATH, else None."""
    if os.environ.get(DIR_ENV):
        path = os.path.join(os.environ[DIR_ENV], name)
        return path if os.access(path, os.X_OK) else None
    for d in dirs:
        path = os.path.join(d, name)
        if os.access(path, os.X_OK):
            return path
    return shutil.which(name)


def core_plugins(plugins_dir):
    """{directory name: path} of the applications in ``plugins_dir`` that
    CORE_APPS need, read from their .app files (so any release works)."""
    apps = {}
    for entry in os.listdir(plugins_dir):
        m = re.match(r"(.+?)-[0-9][0-9.]*$", entry)
        app_file = m and os.path.join(plugins_dir, entry, "ebin",
                                      m.group(1) + ".app")
        if not m or not os.path.exists(app_file):
            continue
        with open(app_file, errors="replace") as f:
            text = f.read()
        deps = []
        for key in ("applications", "included_applications"):
            found = re.search(r"\{" + key + r",\s*\[([^\]]*)\]", text)
            if found:
                deps += [d.strip() for d in found.group(1).split(",") if d.strip()]
        apps[m.group(1)] = (entry, deps)
    needed, todo = {}, list(CORE_APPS)
    while todo:
        app = todo.pop()
        if app in apps and apps[app][0] not in needed:
            needed[apps[app][0]] = os.path.join(plugins_dir, apps[app][0])
            todo += apps[app][1]
    return needed


class PrivateBroker:
    """One RabbitMQ node under ``workdir``; see the module docstring."""

    def __init__(self, workdir, log_dir=None, port=0, heartbeat=60, vhosts=()):
        self.workdir = os.path.abspath(workdir)
        self.log_dir = os.path.abspath(log_dir or os.path.join(workdir, "log"))
        self.port = port
        self.heartbeat = heartbeat
        self.vhosts = list(vhosts)
        token = secrets.token_hex(4)
        self.nodename = f"fake-lab-{token}@localhost"
        self.user = f"lab-{token}"
        self.password = secrets.token_urlsafe(18)
        self.server_bin = find_binary("rabbitmq-server", SBIN_DIRS)
        self.ctl_bin = find_binary("rabbitmqctl", SBIN_DIRS)
        self.epmd_bin = (find_binary("epmd", ("/usr/lib/erlang/bin",))
                         or shutil.which("epmd"))
        self.erl_call_bin = (find_binary("erl_call", ("/usr/lib/erlang/bin",))
                             or shutil.which("erl_call"))
        self.epmd = None
        self.node = None
        self.dist_port = self.epmd_port = None

    @property
    def url(self):
        return self.url_for("/")

    def url_for(self, vhost, via=None):
        """The transport URL of one of the node's vhosts; ``via``: the run's
        relay routes ({broker port: relay port}), to go through it."""
        port = (via or {}).get(self.port, self.port)
        url = f"rabbit://{self.user}:{self.password}@{HOST}:{port}/"
        if vhost in (None, "/"):
            return url
        return url + urllib.parse.quote(vhost, safe="")

    @property
    def log_file(self):
        return os.path.join(self.log_dir, "broker.log")

    def check_installed(self):
        missing = [name for name, path in (("rabbitmq-server", self.server_bin),
                                           ("rabbitmqctl", self.ctl_bin),
                                           ("epmd", self.epmd_bin),
                                           ("erl_call", self.erl_call_bin))
                   if not path]
        if missing:
            raise MissingComponent(f"{', '.join(missing)} not found: install Debian's "
                           "rabbitmq-server package (tools/setup.sh does)")

    def _env(self):
        w = self.workdir
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update({
            "HOME": os.path.join(w, "home"),  # the Erlang cookie lives here
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONF_ENV_FILE": os.path.join(w, "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": os.path.join(w, "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(w, "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": os.path.join(w, "mnesia"),
            "RABBITMQ_LOG_BASE": self.log_dir,
            "RABBITMQ_PID_FILE": os.path.join(w, "rabbitmq.pid"),
            **({"RABBITMQ_PLUGINS_DIR": os.path.join(w, DIST_DIR, "plugins"),
                "RABBITMQ_SCRIPTS_DIR": os.path.join(w, DIST_DIR, "sbin")}
               if os.path.isdir(os.path.join(w, DIST_DIR, "sbin")) else {}),
            # Without this the distribution port listens on every interface.
            # Distribution started by the VM itself, on the node's name and
            # port: the node's prelaunch then skips starting a second VM
            # just to make sure an epmd runs (ours does), 0.4 s of its boot.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                "-kernel inet_dist_use_interface {127,0,0,1}"
                f" -sname {self.nodename}"
                f" -kernel inet_dist_listen_min {self.dist_port}"
                f" -kernel inet_dist_listen_max {self.dist_port}",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": HOST,
        })
        return env

    CONFIG_FILE = "rabbitmq.config"

    def rabbit_env(self):
        """The ``rabbit`` application's settings, {key: Erlang term}.

        Written as a classic Erlang-term config (rabbitmq.config), not as
        rabbitmq.conf: a .conf file is translated through cuttlefish's
        whole schema at every boot, about 0.3 s on an idle machine and
        1.5 s on a loaded one, on the path every run waits on. The terms
        are what cuttlefish makes of the .conf lines they replace (read
        back from a node booted with them: application:get_env(rabbit, K))
        and the logger's defaults are the same, so its lines read alike."""
        env = {
            "tcp_listeners": f'[{{"{HOST}", {int(self.port)}}}]',
            "default_user": erl_binary(self.user),
            "default_pass": erl_binary(self.password),
            "default_vhost": '<<"/">>',
            "heartbeat": str(int(self.heartbeat)),
            "log": '[{file, [{file, "broker.log"}, {level, info}]}, '
                   '{console, [{enabled, false}]}]',
        }
        if self.vhosts:
            env["load_definitions"] = erl_string(self._write_definitions())
        return env

    def _write_files(self):
        w = self.workdir
        for sub in ("home", "mnesia"):
            os.makedirs(os.path.join(w, sub), exist_ok=True)
        os.makedirs(self.log_dir, exist_ok=True)
        self.write_config(self.rabbit_env())
        with open(os.path.join(w, "enabled_plugins"), "w") as f:
            f.write("[].\n")
        self._link_core_plugins()
        open(os.path.join(w, "rabbitmq-env.conf"), "w").close()

    def write_config(self, env):
        """rabbitmq.config from ``env`` (see rabbit_env)."""
        conf = os.path.join(self.workdir, self.CONFIG_FILE)
        entries = ",\n  ".join(f"{{{key}, {value}}}" for key, value in env.items())
        # The credentials are in this file only: keep it private.
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"[{{rabbit, [\n  {entries}\n]}}].\n")

    NODE_FILE = "node.json"

    def _write_node_file(self):
        """node.json: how another run finds this node again (``attach``);
        the password stays in rabbitmq.config, readable by root only."""
        with open(os.path.join(self.workdir, self.NODE_FILE), "w") as f:
            json.dump({"nodename": self.nodename, "user": self.user,
                       "port": self.port, "dist_port": self.dist_port,
                       "epmd_port": self.epmd_port, "log_dir": self.log_dir}, f)

    @classmethod
    def attach(cls, workdir):
        """The running node another run started in ``workdir`` (a lab's
        ``broker`` directory), to use without owning it: this run neither
        restarts nor stops it. LabError when there is none."""
        workdir = os.path.abspath(workdir)
        try:
            with open(os.path.join(workdir, cls.NODE_FILE)) as f:
                node = json.load(f)
            with open(os.path.join(workdir, cls.CONFIG_FILE)) as f:
                password = re.search(r'\{default_pass, <<"([^"]*)">>\}',
                                     f.read())
            if password is None:
                raise ValueError(f"no password in its {cls.CONFIG_FILE}")
        except (OSError, ValueError) as exc:
            raise LabError(f"{workdir} holds no broker of this lab ({exc})")
        broker = cls(workdir, log_dir=node["log_dir"], port=node["port"])
        broker.nodename, broker.user = node["nodename"], node["user"]
        broker.password = password.group(1)
        broker.dist_port, broker.epmd_port = node["dist_port"], node["epmd_port"]
        broker.attached = True
        if not procs.port_open(broker.port):
            raise LabError(f"the broker of {os.path.dirname(workdir)} is not "
                           f"running (nothing listens on its port {broker.port})")
        return broker

    attached = False

    def add_vhost(self, vhost):
        """Create ``vhost`` with every permission for the lab's user."""
        self.eval(_erl(
            'ok = rabbit_vhost:add(<<"{v}">>, <<"fake-lab">>), '
            'ok = rabbit_auth_backend_internal:set_permissions(<<"{u}">>, '
            '<<"{v}">>, <<".*">>, <<".*">>, <<".*">>, <<"fake-lab">>).',
            v=vhost, u=self.user))

    def delete_vhost(self, vhost):
        """Delete ``vhost`` and everything in it (queues, exchanges)."""
        self.eval(_erl(
            'rabbit_vhost:delete(<<"{v}">>, <<"fake-lab">>).', v=vhost))

    def _link_core_plugins(self):
        """plugins/ in the work directory: links to the package's core
        applications only (see CORE_APPS), and the node's home around them
        (DIST_DIR). Without the package's plugins directory neither is made,
        and the node runs from the package as its scripts set it."""
        package = os.path.join(os.path.dirname(os.path.dirname(
            os.path.realpath(self.server_bin or "/nonexistent"))), "plugins")
        if not os.path.isdir(package):
            return
        target = os.path.join(self.workdir, "plugins")
        os.makedirs(target, exist_ok=True)
        for entry, path in core_plugins(package).items():
            link = os.path.join(target, entry)
            if not os.path.lexists(link):
                os.symlink(path, link)
        self._make_home(os.path.dirname(os.path.realpath(self.server_bin)),
                        os.path.join(os.path.dirname(package), "escript"), target)

    def _make_home(self, scripts, escript, plugins):
        """DIST_DIR in the work directory, the node's RABBITMQ_HOME: links
        to the package's ``scripts`` and ``escript`` directories and to the
        core ``plugins`` links."""
        dist = os.path.join(self.workdir, DIST_DIR)
        os.makedirs(dist, exist_ok=True)
        for name, path in (("sbin", scripts), ("escript", escript),
                           ("plugins", plugins)):
            link = os.path.join(dist, name)
            if os.path.exists(path) and not os.path.lexists(link):
                os.symlink(path, link)

    def _write_definitions(self):
        """Vhosts (one per matrix cell) created at boot, with no rabbitmqctl
        round trip; the user comes with its salted SHA-256 hash."""
        salt = secrets.token_bytes(4)
        digest = hashlib.sha256(salt + self.password.encode()).digest()
        vhosts = ["/"] + self.vhosts
        definitions = {
            "users": [{"name": self.user,
                       "password_hash": base64.b64encode(salt + digest).decode(),
                       "hashing_algorithm": "rabbit_password_hashing_sha256",
                       "tags": ["administrator"]}],
            "vhosts": [{"name": v} for v in vhosts],
            "permissions": [{"user": self.user, "vhost": v, "configure": ".*",
                             "write": ".*", "read": ".*"} for v in vhosts]}
        path = os.path.join(self.workdir, "definitions.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(definitions, f)
        return path

    def start(self, timeout=60):
        """Boot the node; LabError with the node's last log lines on failure."""
        self.launch()
        self.wait_ready(timeout)
        return self

    def launch(self):
        """Start epmd and the node without waiting for the node to boot, so
        that the caller can start other things meanwhile (about 4 s)."""
        self.check_installed()
        if self.port:
            procs.ensure_free(self.port, HOST, "the broker's AMQP port")
            self.dist_port, self.epmd_port = procs.free_ports(2, HOST, {self.port})
        else:
            self.port, self.dist_port, self.epmd_port = procs.free_ports(3, HOST)
        self._write_files()
        self._write_node_file()
        env = self._env()
        # An epmd of our own: one Erlang would otherwise start on 4369 and
        # outlive the node.
        self.epmd = procs.spawn(
            "epmd", [self.epmd_bin, "-port", str(self.epmd_port),
                     "-address", HOST],
            os.path.join(self.log_dir, "epmd.log"), env=env, cwd=self.workdir,
            owner=self.workdir)
        procs.wait_until(lambda: procs.port_open(self.epmd_port), self.epmd,
                         "listening", 10)
        self._spawn_node()
        return self

    def _spawn_node(self):
        """Start the node (not epmd) on the ports chosen at launch; its
        readiness is looked for after this point of its log."""
        try:
            self._log_offset = os.path.getsize(self.log_file)
        except OSError:
            self._log_offset = 0
        self.node = procs.spawn(
            "rabbitmq-server", [self.server_bin],
            os.path.join(self.log_dir, "broker-stdout.log"),
            env=self._env(), cwd=self.workdir, owner=self.workdir)

    def wait_ready(self, timeout=60):
        # Quote the node's own log when it has one: its stdout is a banner.
        log = self.log_file if os.path.exists(self.log_file) else None
        procs.wait_until(self._ready, self.node, READY_LINE, timeout,
                         log_path=log)

    def _ready(self):
        try:
            with open(self.log_file, errors="replace") as f:
                f.seek(getattr(self, "_log_offset", 0))
                if READY_LINE not in f.read():
                    return False
        except OSError:
            return False
        return procs.port_open(self.port)

    # The broker's faults (see fake_lab/workload/nemesis.py). Each acts on
    # the node's own process tree, never on epmd, and keeps the node's
    # name, ports and data directory, as an operator's restart would.

    def _check_own(self):
        if self.attached:
            raise LabError("the broker belongs to another lab (--broker): "
                           "a fault on it needs a run with a broker of its own")
        if not self.running():
            raise LabError("the broker is not running")

    def running(self):
        return self.node is not None and self.node.alive()

    def node_pids(self):
        """The live PIDs of the node's tree (beam.smp and its helpers)."""
        return sorted(procs.tree(self.node.pid)) if self.node is not None else []

    def restart(self, timeout=60, kill=False):
        """Stop the node (SIGTERM and wait, or SIGKILL at once) and start it
        again on the same ports and data; returns (old PIDs, new PIDs)."""
        self._check_own()
        self.thaw()
        old = self.node_pids()
        self.node.stop(signal.SIGKILL if kill else signal.SIGTERM,
                       grace=0 if kill else 30)
        self._spawn_node()
        self.wait_ready(timeout)
        return old, self.node_pids()

    def freeze(self):
        """SIGSTOP every process of the node; returns their PIDs."""
        self._check_own()
        pids = self.node_pids()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        self.frozen = pids
        # SIGSTOP is asynchronous: the fault has taken effect once every
        # process of the node is in state T.
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            table = procs.proc_table()
            if all(table.get(pid, (0, 0, 0, "T"))[3] in "TtZ" for pid in pids):
                break
            time.sleep(0.01)
        return pids

    def thaw(self):
        """SIGCONT what freeze() stopped (safe to call at any time)."""
        pids, self.frozen = getattr(self, "frozen", []), []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        return pids

    def rabbitmqctl(self, *args, timeout=30):
        """Run rabbitmqctl against this node; its standard output."""
        argv = [self.ctl_bin, "-q", "-n", self.nodename, *args]
        try:
            out = subprocess.run(argv, env=self._env(), capture_output=True,
                                 text=True, timeout=timeout,
                                 stdin=subprocess.DEVNULL,
                                 cwd=self.workdir)
        except subprocess.TimeoutExpired:
            raise LabError(f"rabbitmqctl {' '.join(args)} timed out")
        if out.returncode != 0:
            raise LabError(f"rabbitmqctl {' '.join(args)} failed: "
                           f"{out.stderr.strip() or out.stdout.strip()}")
        return out.stdout

    def eval(self, expr, timeout=30):
        """Evaluate an Erlang expression on the node; the printed result.

        Through erl_call, a C node of Erlang's own (erlang-base): it speaks
        the distribution protocol straight to the node's port, in about
        10 ms, where every rabbitmqctl call first boots an Erlang VM (0.4 s
        on an idle machine, 1.5 s and more under load). A listing taken
        right after the broker's close is that much closer to it."""
        cookie_file = os.path.join(self._env()["HOME"], ".erlang.cookie")
        try:
            with open(cookie_file) as f:
                cookie = f.read().strip()
        except OSError as exc:
            raise LabError(f"the broker's Erlang cookie is unreadable: {exc}")
        argv = [self.erl_call_bin, "-c", cookie,
                "-address", f"{HOST}:{self.dist_port}",
                "-timeout", str(int(timeout)), "-e"]
        try:
            out = subprocess.run(argv, input=expr + "\n", capture_output=True,
                                 text=True, timeout=timeout + 5,
                                 cwd=self.workdir)
        except subprocess.TimeoutExpired:
            raise LabError(f"erl_call timed out on the broker: {expr[:60]}")
        result = out.stdout.strip()
        if out.returncode != 0 or not result.startswith("{ok, "):
            raise LabError(f"the broker refused {expr[:60]}: "
                           f"{(result or out.stderr.strip())[:300]}")
        return result[len("{ok, "):-1]

    def eval_json(self, expr):
        """The value of an Erlang expression the node encodes as JSON (sent
        back hex-encoded: erl_call prints a string whole, a binary not)."""
        printed = self.eval(
            f"binary_to_list(binary:encode_hex(rabbit_json:encode({expr}))).")
        match = re.fullmatch(r'"([0-9A-F]*)"', printed)
        if not match:
            raise LabError(f"the broker answered {printed[:80]!r}")
        return json.loads(bytes.fromhex(match.group(1)))

    def list_connections(self):
        """[{name, peer_port, state}] as the broker lists them now (every
        node's, as rabbitmqctl list_connections shows them, from the same function)."""
        rows = self.eval_json(
            "[#{name => N, peer_port => P, state => S} || "
            "[{name, N}, {peer_port, P}, {state, S}] <- "
            "rabbit_networking:connection_info_all([name, peer_port, state])]")
        return [{"name": r["name"], "peer_port": str(r["peer_port"]),
                 "state": r["state"]} for r in rows]

    def list_queues(self, vhost="/"):
        """[{name, ready, unacked}] of one vhost's queues as the broker
        counts them now (messages_ready, messages_unacknowledged: what
        rabbitmqctl list_queues shows, from the same function)."""
        rows = self.eval_json(_erl(
            "[#{{name => element(4, proplists:get_value(name, I)), "
            "ready => proplists:get_value(messages_ready, I), "
            "unacked => proplists:get_value(messages_unacknowledged, I)}} || "
            "I <- rabbit_amqqueue:info_all(<<\"{v}\">>, "
            "[name, messages_ready, messages_unacknowledged])]", v=vhost or "/"))
        # A queue that is down or has no leader has no counts to give.
        return [r for r in rows if isinstance(r["ready"], int)
                and isinstance(r["unacked"], int)]

    def stop(self, grace=10.0, fast=False):
        """TERM then KILL the node's tree, then our epmd; idempotent.

        ``fast``: KILL, for a throwaway node whose data nobody reads again,
        once every line is in its log: the node's logger buffers
        (delayed_write), so each look first has it write out what it holds
        (filesync, through erl_call), and the file is taken as whole once
        it has not grown for QUIET s (the services' last closes have been
        logged). A graceful stop would only add the node's own shutdown
        lines, and takes about 1 s here."""
        started = time.monotonic()
        self.thaw()  # a frozen node cannot hear SIGTERM
        if fast and self.running():
            self._wait_log_quiet()
        for daemon in (self.node, self.epmd):
            if daemon is not None:
                daemon.stop(signal.SIGKILL if fast else signal.SIGTERM,
                            0 if fast else grace)
        self.node = self.epmd = None
        return time.monotonic() - started

    QUIET = 0.1
    # Without filesync (the node did not answer), the logger writes out
    # when it has nothing else to do: a longer quiet stands for it.
    QUIET_UNSYNCED = 0.25

    def _wait_log_quiet(self, limit=2.0):
        deadline = time.monotonic() + limit
        last, since, quiet = None, time.monotonic(), self.QUIET
        while time.monotonic() < deadline:
            if quiet == self.QUIET:
                try:
                    self.eval("[rabbit_logger_std_h:filesync(Id) || #{id := Id, "
                              "module := rabbit_logger_std_h} <- "
                              "logger:get_handler_config()].", timeout=1)
                except LabError:
                    quiet = self.QUIET_UNSYNCED
            try:
                size = os.path.getsize(self.log_file)
            except OSError:
                size = None
            if size != last:
                last, since = size, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.05)


def find(spec, runs_dir="runs"):
    """The running lab broker ``spec`` names (``--broker``): a run directory
    of ``fake-lab up`` or of a matrix, the broker directory itself, or the
    URL ``fake-lab up`` printed (FAKE_LAB_BROKER_URL), looked up by its port
    among the brokers of ``runs_dir``. UsageError when it names none."""
    if os.path.isdir(spec):
        for workdir in (os.path.join(spec, "broker"), spec):
            if os.path.exists(os.path.join(workdir, PrivateBroker.NODE_FILE)):
                return PrivateBroker.attach(workdir)
        raise UsageError(f"--broker {spec}: no broker of this lab there (give "
                         "the run directory of `fake-lab up` or of a matrix)")
    parsed = urllib.parse.urlsplit(spec)
    if parsed.scheme not in ("rabbit", "amqp") or not parsed.port:
        raise UsageError(f"--broker {spec!r}: neither a directory nor a "
                         "rabbit://HOST:PORT/ URL")
    found = []
    for entry in sorted(os.listdir(runs_dir)) if os.path.isdir(runs_dir) else []:
        node_file = os.path.join(runs_dir, entry, "broker", PrivateBroker.NODE_FILE)
        try:
            with open(node_file) as f:
                if json.load(f).get("port") == parsed.port:
                    found.append(os.path.dirname(node_file))
        except (OSError, ValueError):
            continue
    if not found or not procs.port_open(parsed.port):
        raise UsageError(f"--broker {spec}: no running broker of this lab in "
                         f"{runs_dir} listens on port {parsed.port} (the lab "
                         "only reuses brokers it started)")
    return PrivateBroker.attach(found[-1])


def erl_binary(text):
    """An Erlang binary holding ``text`` (a name or a token the lab made)."""
    if not re.fullmatch(r"[A-Za-z0-9_.:@/-]*", text):
        raise LabError(f"not a name the lab gives: {text!r}")
    return f'<<"{text}">>'


def erl_string(text):
    """An Erlang string (a path)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _erl(template, **names):
    """An Erlang expression with ``names`` put in as binaries' contents;
    only the characters a lab's names use are allowed."""
    for value in names.values():
        if not re.fullmatch(r"[A-Za-z0-9_.:@/-]+", value):
            raise LabError(f"not a name the lab gives: {value!r}")
    return template.format(**names)
