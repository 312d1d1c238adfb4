"""A private RabbitMQ cluster for one run: three nodes (``size``) on loopback,
each a ``rabbitmq.PrivateBroker`` with the pieces a cluster shares.

What the nodes share: one epmd of the lab's own on a free port (Erlang finds
a peer through the epmd on the port it uses itself, so three private epmds
could never see each other), one random Erlang cookie written into each
node's own HOME, and the run's random user. What each node keeps to
itself: its name (``fake-lab-<token>-N@localhost``), AMQP and distribution
ports, data directory (``<workdir>/node-N``) and log (``logs/rabbit-N/``).
No node starts an epmd of its own (``-start_epmd false``), so nothing can be
left on 4369, and every rabbitmqctl / rabbitmq-upgrade call carries the
run's owner mark, so that whatever it starts is found and stopped with the
run.

Boot: node 1 boots alone, then nodes 2 and 3 at once; they list node 1 as
their only peer (classic-config peer discovery,
``cluster_formation.classic_config``) and join it during their own boot.
That is one boot per node, where ``rabbitmqctl join_cluster`` would cost
stop_app, join and start_app on each joiner (three CLI round trips plus a
second start of the rabbit application: 11.0 to 11.3 s for the cluster
here, against 9 to 11 s). The joiners wait for node 1 to be up (see
``wait_ready``).
A joiner that found nobody would boot as a blank cluster of its own:
``wait_ready`` refuses that (it reads each joiner's log for the join), so a
run never starts on three one-node clusters.

Queue types: ``classic`` (queues live on the node their declaring client
is connected to), ``mirrored`` (classic, with an ``ha-mode: all`` policy
loaded from the definitions at boot: RabbitMQ 3.x only, 4.0 removed
mirroring) and ``quorum`` (the clients' ``rabbit_quorum_queue``; nothing to
set on the broker's side).

Faults (see fake_lab/workload/nemesis.py): ``kill_node`` (SIGKILL of one
node's tree: unplanned) and ``drain_node`` (``rabbitmq-upgrade drain``, the
node's maintenance mode, then a clean stop: planned, as an operator does
before an upgrade). A lost node stays down; ``cluster_status`` asks a
surviving node what it sees.

Lifecycle: ``launch()`` then ``wait_ready()`` (or ``start()``), ``url`` /
``url_for(vhost)`` (every node, ``rabbit://u:p@h:p1,u:p@h:p2,u:p@h:p3/``),
``stop()`` (every node, then epmd; idempotent, safe from any state).
"""

import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
import urllib.parse

from fake_lab.daemons import procs, rabbitmq, reaper
from fake_lab.errors import DaemonFailed, LabError, UsageError

HOST = rabbitmq.HOST
QUEUE_TYPES = ("classic", "mirrored", "quorum")
# The policy oslo.messaging's own help for rabbit_ha_queues recommends:
# every queue but the broker's own amq.* ones mirrored on every node.
HA_POLICY = {"name": "fake-lab-ha-all", "pattern": r"^(?!amq\.).*",
             "apply-to": "queues", "priority": 0,
             "definition": {"ha-mode": "all", "ha-sync-mode": "automatic"}}
# What a joiner logs (rabbit_mnesia, 3.10) when it joins node 1 at boot, and
# when it gave up and booted as a cluster of its own.
JOINED = re.compile(r"Node '[^']+' selected for auto-clustering")
STANDALONE = "Starting as a blank standalone node"
VERSION = re.compile(r"Starting RabbitMQ (?P<version>\d+)\.(?P<minor>\d+)\.\S+")


class ClusterNode(rabbitmq.PrivateBroker):
    """One node of a RabbitMQ cluster: the cluster's name, cookie, user and
    epmd; its own ports, data and log."""

    def __init__(self, cluster, index, workdir, log_dir):
        super().__init__(workdir, log_dir=log_dir, heartbeat=cluster.heartbeat,
                         vhosts=cluster.vhosts)
        self.cluster, self.index = cluster, index
        self.nodename = f"{cluster.name}-{index}@localhost"
        self.user, self.password = cluster.user, cluster.password
        self.lost = None  # how the node was lost: "kill" or "drain"

    def _env(self):
        env = super()._env()
        # Never an epmd of the node's own: the cluster's is the only one.
        env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = (
            env.get("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "") + " -start_epmd false")
        env["RABBITMQ_CTL_ERL_ARGS"] = "-start_epmd false"
        return env

    def _write_files(self):
        super()._write_files()
        cookie = os.path.join(self.workdir, "home", ".erlang.cookie")
        if os.path.exists(cookie):
            os.chmod(cookie, 0o600)
        fd = os.open(cookie, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400)
        with os.fdopen(fd, "w") as f:
            f.write(self.cluster.cookie)

    def rabbit_env(self):
        env = super().rabbit_env()
        if self.cluster.queue_type == "mirrored" and "load_definitions" not in env:
            env["load_definitions"] = rabbitmq.erl_string(self._write_definitions())
        if self.index > 1:
            # Peer discovery from a list naming node 1, which is up when a
            # joiner starts; should it not answer yet, wait for it (0.25 s
            # x 240) rather than boot as a blank cluster of one.
            env["cluster_nodes"] = (
                f"{{['{self.cluster.nodes[0].nodename}'], disc}}")
            env["cluster_formation"] = (
                "[{peer_discovery_backend, rabbit_peer_discovery_classic_config}, "
                "{discovery_retry_limit, 240}, {discovery_retry_interval, 250}]")
        return env

    def _write_definitions(self):
        path = super()._write_definitions()
        if self.cluster.queue_type == "mirrored":
            with open(path) as f:
                definitions = json.load(f)
            definitions["policies"] = [dict(HA_POLICY, vhost=v["name"])
                                       for v in definitions["vhosts"]]
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(definitions, f)
        return path

    def prepare(self, port, dist_port, epmd_port):
        """Write the node's files for the ports the cluster chose (its AMQP
        and distribution ports, the cluster's epmd); ``_spawn_node`` starts
        it."""
        self.port, self.dist_port, self.epmd_port = port, dist_port, epmd_port
        self._write_files()

    def joined(self):
        """True once the node is a member of node 1's cluster (node 1: at
        once); False if it gave up and booted as a cluster of its own."""
        if self.index == 1:
            return True
        try:
            with open(self.log_file, errors="replace") as f:
                text = f.read()
        except OSError:
            return None
        if STANDALONE in text:
            return False
        return bool(JOINED.search(text)) or None

    def cli(self, tool, *args, timeout=30):
        """Run a RabbitMQ CLI tool (rabbitmqctl, rabbitmq-upgrade, ...)
        against this node; its standard output; LabError on failure. The
        CLI carries the run's owner mark: an Erlang VM it leaves behind is
        found and stopped with the run."""
        binary = rabbitmq.find_binary(tool, rabbitmq.SBIN_DIRS)
        if binary is None:
            raise LabError(f"{tool} not found")
        env = dict(self._env(), **{procs.OWNER_ENV: self.cluster.workdir})
        argv = [binary, "-q", "-n", self.nodename, *args]
        try:
            out = subprocess.run(argv, env=env, capture_output=True, text=True,
                                 timeout=timeout, stdin=subprocess.DEVNULL,
                                 cwd=self.workdir, start_new_session=True)
        except subprocess.TimeoutExpired:
            raise LabError(f"{tool} {' '.join(args)} on {self.nodename} timed out")
        if out.returncode != 0:
            raise LabError(f"{tool} {' '.join(args)} on {self.nodename} failed: "
                           f"{out.stderr.strip() or out.stdout.strip()}")
        return out.stdout

    def rabbitmqctl(self, *args, timeout=30):
        return self.cli("rabbitmqctl", *args, timeout=timeout)


class RabbitCluster:
    """``size`` RabbitMQ nodes clustered under ``workdir``; see the module
    docstring. Duck-types ``PrivateBroker`` where a Lab uses it (``port``,
    ``dist_port``, ``epmd_port``, ``url_for``, ``log_file``, ``launch``,
    ``wait_ready``, ``stop``, ``list_connections``, ``list_queues``)."""

    def __init__(self, workdir, log_dir, size=3, heartbeat=60, vhosts=(),
                 queue_type="classic", port=0):
        if size < 2:
            raise UsageError("a cluster has at least 2 nodes")
        if queue_type not in QUEUE_TYPES:
            raise UsageError(f"queue type {queue_type!r} is not one of "
                             f"{', '.join(QUEUE_TYPES)}")
        self.workdir = os.path.abspath(workdir)
        self.log_dir = os.path.abspath(log_dir)
        self.heartbeat, self.vhosts = heartbeat, list(vhosts)
        self.queue_type = queue_type
        self.first_port = port
        token = secrets.token_hex(4)
        self.name = f"fake-lab-{token}"
        self.user = f"lab-{token}"
        self.password = secrets.token_urlsafe(18)
        self.cookie = secrets.token_hex(20)
        self.nodes = []
        for n in range(1, size + 1):
            self.nodes.append(ClusterNode(
                self, n, os.path.join(self.workdir, f"node-{n}"),
                os.path.join(self.log_dir, f"rabbit-{n}")))
        self.epmd = None
        self.epmd_port = None
        self.timings = {}
        # {node port: relay port} once the run's relay has routes (lab.py).
        self.via = {}
        self.last_listing = {}  # vhost -> list_queues() rows, the latest
        self._stopped = False
        # A fault (the nemesis's thread) and stop() may meet: one at a time.
        self._lock = threading.Lock()

    # What a Lab reads of its broker: node 1 stands for the cluster where
    # one port or one log is asked for.

    @property
    def port(self):
        return self.nodes[0].port

    @property
    def dist_port(self):
        return self.nodes[0].dist_port

    @property
    def log_file(self):
        return self.nodes[0].log_file

    def ports(self):
        """{name: port} of everything the cluster listens on."""
        found = {"epmd": self.epmd_port}
        for node in self.nodes:
            found[f"amqp_{node.index}"] = node.port
            found[f"distribution_{node.index}"] = node.dist_port
        return found

    @property
    def url(self):
        return self.url_for("/")

    def url_for(self, vhost, via=None):
        """Every node's address in one transport URL, as a deployment lists
        its cluster; ``via``: the run's relay routes ({node port: relay
        port}), a route per node."""
        via = via or {}
        user = urllib.parse.quote(self.user, safe="")
        password = urllib.parse.quote(self.password, safe="")
        hosts = ",".join(f"{user}:{password}@{HOST}:{via.get(n.port, n.port)}"
                         for n in self.nodes)
        path = "" if vhost in (None, "/") else urllib.parse.quote(vhost, safe="")
        return f"rabbit://{hosts}/{path}"

    def check_installed(self):
        self.nodes[0].check_installed()

    def node(self, index):
        return self.nodes[index - 1]

    # Boot and stop.

    def start(self, timeout=90):
        self.launch()
        self.wait_ready(timeout)
        return self

    def launch(self):
        """Start the epmd and every node at once (node 1 boots, the others
        join it as they boot); returns without waiting for them."""
        self.check_installed()
        self._launched = time.monotonic()
        taken = set()
        if self.first_port:
            procs.ensure_free(self.first_port, HOST, "the first node's AMQP port")
            taken.add(self.first_port)
        count = 2 * len(self.nodes) + 1 - len(taken)
        free = procs.free_ports(count, HOST, taken)
        self.epmd_port = free.pop()
        first = self.nodes[0]
        env = first._env()
        env["ERL_EPMD_PORT"] = str(self.epmd_port)
        os.makedirs(self.log_dir, exist_ok=True)
        self.epmd = procs.spawn(
            "epmd", [first.epmd_bin, "-port", str(self.epmd_port), "-address", HOST],
            os.path.join(self.log_dir, "epmd.log"), env=env, cwd=self.log_dir,
            owner=self.workdir)
        procs.wait_until(lambda: procs.port_open(self.epmd_port), self.epmd,
                         "listening", 10)
        for node in self.nodes:
            port = self.first_port if (node.index == 1 and self.first_port) else free.pop()
            node.prepare(port, free.pop(), self.epmd_port)
        # Node 1 now, the joiners once it is up (wait_ready).
        self.nodes[0]._spawn_node()
        # logs/broker.log, which the checkers read, is node 1's: every
        # client's first node under round-robin failover.
        link = os.path.join(self.log_dir, "broker.log")
        if not os.path.lexists(link):
            os.symlink(os.path.relpath(self.nodes[0].log_file, self.log_dir), link)
        return self

    def wait_ready(self, timeout=90):
        """Node 1 booted, then the joiners started and booted (each logs so
        and its AMQP port answers), every joiner a member of node 1's
        cluster; DaemonFailed otherwise, naming the node and quoting its own
        log.

        The joiners start only once node 1 is up: a node that joins while
        node 1 still enables its feature flags (a fresh cluster's schema
        migrations, at the end of its boot) fails its schema check and
        exits (3.10: ``schema_integrity_check_failed``,
        ``table_attributes_mismatch`` on rabbit_user): 4 boots of 27 when
        all three started at once on a loaded 2-core machine."""
        deadline = time.monotonic() + timeout
        self._ready(self.nodes[0], deadline)
        with self._lock:
            if self._stopped:
                raise DaemonFailed("the cluster was stopped while it was starting")
            for node in self.nodes[1:]:
                node._spawn_node()
        for node in self.nodes[1:]:
            self._ready(node, deadline)
        self.timings["cluster_ready"] = round(time.monotonic() - self._launched, 3)
        major = self.version()[0]
        if self.queue_type == "mirrored" and major >= 4:
            raise UsageError(f"RabbitMQ {major}.x has no classic queue mirroring "
                             "(removed in 4.0): queue_type = mirrored needs 3.x")

    def _ready(self, node, deadline):
        try:
            node.wait_ready(max(deadline - time.monotonic(), 1))
        except DaemonFailed as exc:
            raise DaemonFailed(f"rabbit node {node.index} ({node.nodename}): {exc}")
        if node.joined() is not True:
            raise DaemonFailed(
                f"rabbit node {node.index} booted but did not join "
                f"{self.nodes[0].nodename}; its last log lines: "
                + " | ".join(procs.tail(node.log_file, 5)))
        self.timings[f"node_{node.index}_ready"] = round(
            time.monotonic() - self._launched, 3)

    def version(self):
        """(major, minor) of the RabbitMQ node 1 runs, from its banner."""
        try:
            with open(self.nodes[0].log_file, errors="replace") as f:
                m = VERSION.search(f.read())
        except OSError:
            m = None
        return (int(m.group("version")), int(m.group("minor"))) if m else (0, 0)

    def stop(self, grace=10.0, fast=False):
        """TERM then KILL every node's tree at once (``fast``: KILL at once,
        when the run is over and nothing of the broker is wanted any more),
        then epmd; idempotent, safe from any state."""
        started = time.monotonic()
        with self._lock:
            self._stopped = True  # wait_ready starts no joiner after this
            nodes = [n for n in self.nodes if n.node is not None]
            if fast:
                for n in nodes:
                    n.thaw()
                threads = [threading.Thread(target=n.node.stop,
                                            args=(signal.SIGKILL, 0)) for n in nodes]
            else:
                threads = [threading.Thread(target=n.stop, args=(grace,))
                           for n in nodes]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for node in self.nodes:
                node.node = node.epmd = None  # never epmd: the cluster's, below
            if self.epmd is not None:
                self.epmd.stop(signal.SIGTERM, grace)
                self.epmd = None
            # Whatever carries the cluster's mark and is in no tree above: a
            # CLI's Erlang VM, or an epmd a node's epmd-starter daemonized
            # had ours died (each node runs ``erl -sname epmd-starter`` at
            # boot, which starts ``epmd -daemon`` when none answers).
            reaper.stop_processes_under(self.workdir, grace=2.0)
        return time.monotonic() - started

    # What a Lab or a checker asks of the broker: a running node answers.

    def running_nodes(self):
        return [n for n in self.nodes if n.running()]

    def _any(self, exclude=()):
        for node in self.running_nodes():
            if node not in exclude:
                return node
        raise LabError("no node of the cluster is running")

    def rabbitmqctl(self, *args, timeout=30):
        return self._any().rabbitmqctl(*args, timeout=timeout)

    def list_connections(self):
        return self._any().list_connections()

    def list_queues(self, vhost="/"):
        """[{name, ready, unacked, type, node, mirrors, members}] of one
        vhost's queues, each asked of the node that hosts it (``--local``,
        every running node at once): ``node`` is a classic queue's home
        (a mirrored queue's master) or a quorum queue's leader; ``mirrors``
        how many synchronised mirrors a mirrored queue has; ``members`` a
        quorum queue's members. (3.10 names no node in ``list_queues``: a
        classic queue's pid is printed as a number only.)"""
        nodes = self.running_nodes()
        found, errors = {}, []

        def ask(node):
            try:
                found[node.nodename] = json.loads(node.rabbitmqctl(
                    "list_queues", "-p", vhost or "/", "--local", "name",
                    "messages_ready", "messages_unacknowledged", "type",
                    "members", "synchronised_slave_pids", "--formatter",
                    "json") or "[]")
            except (LabError, ValueError) as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=ask, args=(n,)) for n in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:  # a node that did not answer: its queues are unknown
            raise LabError(f"the queues of {len(errors)} node(s) are unknown: "
                           f"{errors[0]}")
        rows = []
        for nodename, listed in sorted(found.items()):
            for row in listed:
                mirrors = row.get("synchronised_slave_pids")
                members = row.get("members")
                rows.append({"name": row.get("name"),
                             "ready": row.get("messages_ready"),
                             "unacked": row.get("messages_unacknowledged"),
                             "type": row.get("type"), "node": nodename,
                             "mirrors": len(mirrors) if isinstance(mirrors, list) else 0,
                             "members": members if isinstance(members, list) else []})
        self.last_listing[vhost or "/"] = rows
        return rows

    def cluster_status(self, node=None):
        """{running_nodes, disk_nodes, maintenance} as ``node`` (default:
        any running node) sees the cluster."""
        asked = node or self._any()
        status = json.loads(asked.rabbitmqctl("cluster_status", "--formatter",
                                              "json"))
        return {"asked": asked.nodename,
                "running_nodes": sorted(status.get("running_nodes", [])),
                "disk_nodes": sorted(status.get("disk_nodes", [])),
                "maintenance": status.get("maintenance_status", {})}

    def connection_nodes(self, pids):
        """{node index: connections} of the TCP connections that the
        processes ``pids`` hold to a node's AMQP port, read from /proc:
        which node a service's connections are on, at no CLI cost. Through
        the relay, a connection to a node's route counts for that node."""
        by_port = {n.port: n.index for n in self.nodes}
        by_port.update({relayed: by_port[port]
                        for port, relayed in self.via.items() if port in by_port})
        tcp = procs.tcp_sockets()
        counts = {}
        for pid in pids:
            for inode in procs.socket_inodes(pid):
                if inode not in tcp:
                    continue
                remote = tcp[inode][1]
                host, _, port = remote.rpartition(":")
                if host == HOST and int(port) in by_port:
                    index = by_port[int(port)]
                    counts[index] = counts.get(index, 0) + 1
        return counts

    def choose(self, spec, seen, vhost="/"):
        """(node index, how it was chosen) for a fault's ``node`` option:
        a number, ``connections`` (the node holding most of the
        connections ``seen``, {index: count}; the lowest number on a tie)
        or ``queue:NAME`` (the node hosting that queue)."""
        spec = str(spec)
        if spec.isdigit():
            return int(spec), f"node {spec}, as the fault named it"
        if spec == "connections":
            if not seen:
                raise LabError("no fake service holds a connection to any node")
            index = sorted(seen, key=lambda i: (-seen[i], i))[0]
            return index, (f"it held {seen[index]} of the services' "
                           f"{sum(seen.values())} AMQP connections")
        if spec.startswith("queue:"):
            name = spec[len("queue:"):]
            # The listing a list-queues step just took, unless a node was
            # lost since (only then do queues move): asking now would cost
            # a CLI call on every node (seconds on a busy machine) and
            # delay the fault past its planned instant.
            listed = self.last_listing.get(vhost or "/")
            how = "the listing before the fault"
            if listed is None or any(n.lost for n in self.nodes):
                listed, how = self.list_queues(vhost), "asked at the fault"
            for row in listed:
                if row["name"] == name:
                    for node in self.nodes:
                        if node.nodename == row["node"]:
                            return node.index, (f"it hosted the {row['type']} "
                                                f"queue {name} ({how})")
            raise LabError(f"no node hosts a queue named {name!r}")
        raise LabError(f"no such node: {spec!r} (a number, 'connections' or "
                       "'queue:NAME')")

    # The faults.

    def kill_node(self, index):
        """SIGKILL node ``index``'s whole tree at once: the unplanned loss
        (no Close to any client, no hand-over of its queues). Returns what
        happened: {node, pids, killed_at}."""
        with self._lock:
            node = self._running(index)
            pids = node.node_pids()
            node.thaw()
            killed_at = time.time()
            node.node.stop(signal.SIGKILL, grace=0)
            node.lost = "kill"
            # SIGKILL is delivered at once, but a beam.smp takes a moment to
            # give its memory back: done when none of the tree is left.
            gone = _wait_gone(pids, 10)
        return {"node": node.nodename, "index": index, "pids": pids,
                "killed_at": round(killed_at, 6), "gone_after": gone}

    def drain_node(self, index, timeout=60):
        """The planned loss, as an operator takes a node out before an
        upgrade: ``rabbitmq-upgrade drain`` (maintenance mode: the node
        closes its client connections, hands its queue leaders over and
        takes no new ones), then a clean stop (SIGTERM of its tree).
        Returns {node, pids, drain_seconds, drain_output, stopped_at}."""
        with self._lock:
            node = self._running(index)
            pids = node.node_pids()
            began = time.time()
            out = node.cli("rabbitmq-upgrade", "drain", timeout=timeout)
            drained = time.time()
            node.node.stop(signal.SIGTERM, grace=30)
            node.lost = "drain"
            _wait_gone(pids, 10)
        return {"node": node.nodename, "index": index, "pids": pids,
                "drain_began": round(began, 6), "drained_at": round(drained, 6),
                "drain_seconds": round(drained - began, 3),
                "drain_output": out.strip().splitlines()[-3:],
                "stopped_at": round(time.time(), 6),
                "stop_seconds": round(time.time() - drained, 3)}

    def _running(self, index):
        if not 1 <= index <= len(self.nodes):
            raise LabError(f"the cluster has no node {index}")
        node = self.node(index)
        if not node.running():
            raise LabError(f"node {index} ({node.nodename}) is not running")
        if len(self.running_nodes()) < 2:
            raise LabError("only one node is left: losing it is a broker "
                           "outage, not a node loss")
        return node


def _wait_gone(pids, timeout):
    """Seconds until none of ``pids`` is alive (zombies count as gone), or
    None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        table = procs.proc_table()
        if not [p for p in pids if p in table and table[p][3] not in "ZX"]:
            return round(time.monotonic() - started, 3)
        time.sleep(0.01)
    return None


# What a Lab asks of this module (fake_lab/lab.py): each is a no-op for a
# single node, so that a single-node run is exactly what it was.

def broker_for(run, settings, port=0):
    """The run's RabbitCluster when ``[lab] rabbit_nodes`` > 1, else None
    (the Lab then makes its single PrivateBroker); UsageError, before
    anything starts, for what a cluster cannot do."""
    nodes = settings.get("lab", "rabbit_nodes")
    queue_type = settings.get("lab", "queue_type")
    if nodes <= 1:
        if queue_type == "mirrored":
            raise UsageError("queue_type = mirrored needs a cluster: "
                             "rabbit_nodes = 3")
        return None
    return RabbitCluster(run.file("broker"), run.logs, size=nodes,
                         queue_type=queue_type, port=port)


def check_shared(settings):
    """A Lab given a broker (a matrix cell) cannot make it a cluster."""
    if settings.get("lab", "rabbit_nodes") > 1:
        raise UsageError("a matrix's cells share one single node: rabbit_nodes "
                         "> 1 runs with fake-lab run (or soak)")


def ports_of(broker):
    """{name: port} of a cluster's nodes and epmd; {} for a single node."""
    return broker.ports() if isinstance(broker, RabbitCluster) else {}


def owned_options(settings):
    """The oslo.config sections the lab owns for the queue type: in a
    cluster (or when quorum is asked for) ``rabbit_quorum_queue`` follows
    ``[lab] queue_type``, over any file; otherwise nothing."""
    queue_type = settings.get("lab", "queue_type")
    if settings.get("lab", "rabbit_nodes") <= 1 and queue_type != "quorum":
        return {}
    return {"oslo_messaging_rabbit": {"rabbit_quorum_queue": queue_type == "quorum"}}


def lose_node(lab, verb, spec=None):
    """The nemesis's ``cluster`` faults on a running Lab: choose the node
    (``spec``: see nemesis.NODE), lose it by ``verb`` (``kill-node``,
    ``drain-node``, or ``lose-node`` as ``[lab] node_loss`` says), then ask
    a surviving node for the cluster's status. What it did, for the
    history."""
    cluster = lab.broker
    if not isinstance(cluster, RabbitCluster):
        raise LabError("this run's broker is one node: the cluster faults need "
                       "--rabbit-nodes 3")
    if verb == "lose-node":
        verb = f"{lab.settings.get('lab', 'node_loss')}-node"
    seen = cluster.connection_nodes(service_pids(lab))
    index, why = cluster.choose(spec or "connections", seen,
                                getattr(lab, "vhost", "/"))
    done = cluster.kill_node(index) if verb == "kill-node" else cluster.drain_node(index)
    done.update(applied=verb, chosen_by=why,
                connections_by_node={str(k): v for k, v in sorted(seen.items())})
    try:
        done["cluster_status"] = cluster.cluster_status()
    except (LabError, ValueError) as exc:
        done["cluster_status"] = {"error": f"{type(exc).__name__}: {exc}"}
    return done


def service_pids(lab):
    """Every live PID of the lab's fake services and its API container."""
    roots = [d.pid for d in list(lab.services.values())]
    container = getattr(lab, "container", None)
    if container is not None and getattr(container, "daemon", None) is not None:
        roots.append(container.daemon.pid)
    table = procs.proc_table()
    pids = set()
    for root in roots:
        pids |= procs.tree(root, table)
    return sorted(pids)
