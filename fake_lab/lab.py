"""The running lab of one run: private broker, fake compute, fake nova-api.

``start()`` launches all three at once (the compute waits for the broker's
port, the API opens its connections only on its first request, as nova-api
does) and returns when each is ready; ``stop()`` stops every process tree
the lab started, in parallel, and is safe to call at any point.

A matrix cell passes a ``broker`` shared by all cells (each cell has a vhost
of its own) and the ``pyenv`` of the oslo.messaging release it runs.

With ``[api] pair`` the API is two containers, the active one
(``container``) and its standby (``standby``, its files tagged
``-standby``), behind a private HAProxy (``haproxy``): ``api_url`` is then
HAProxy's frontend, the VIP, so that every client goes through it.
"""

import os
import re
import sys
import threading
import time

from fake_lab import sampler
from fake_lab import settings as settings_mod
from fake_lab.daemons import containers, procs, pyenvs, rabbit_cluster
from fake_lab.daemons import haproxy as haproxy_mod
from fake_lab.daemons import postgres as pg_mod
from fake_lab.daemons import rabbitmq as broker_mod
from fake_lab.daemons import relay as relay_mod
from fake_lab.errors import DaemonFailed, LabError, UsageError
from fake_service import monkey_patch

READY = re.compile(r"RPC server started")
# What both launchers (oslo.service's ProcessLauncher, cotyledon) log when
# a worker ends. Before the service is ready that is a failed start: the
# launcher forks the worker again and again, and waiting for the ready
# line would last the whole timeout.
WORKER_DIED = re.compile(r"Child \d+ (?:exited with status|killed by signal) \S+")


def _masked(url):
    """A database URL fit to print: no password."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def final_state(url, service_down_time=60):
    """{"instances": {uuid: row}, "builds": {uuid: count}, "tasks": {id: row},
    "services": [row], "read_at"} read from the database at ``url``,
    JSON-ready. Each instance also has its ``vm_state``; each service its
    host, binary, ``state`` (up or down, as the API's GET /os-services
    computes it at ``read_at`` from ``service_down_time``), ``last_report``,
    report_count, disabled, disabled_reason and forced_down."""
    import sqlalchemy as sa

    from fake_compute import servicegroup, states
    from fake_service import db

    def plain(row):
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                for k, v in row.items()}

    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            instances = {r["uuid"]: plain(r)
                         for r in db.rows(conn.execute(sa.select(db.instances)))}
            builds = {}
            for r in db.rows(conn.execute(sa.select(db.builds))):
                builds[r["instance_uuid"]] = builds.get(r["instance_uuid"], 0) + 1
            tasks = {r["id"]: plain(r)
                     for r in db.rows(conn.execute(sa.select(db.tasks)))}
            rows = db.rows(conn.execute(sa.select(db.services).order_by(
                db.services.c.id)))
    finally:
        eng.dispose()
    for inst in instances.values():
        inst["vm_state"] = states.vm_state(inst["status"])
    now = servicegroup.utcnow()
    last = {r["id"]: servicegroup.last_heartbeat(r) for r in rows}
    services = [{"host": r["host"], "binary": r["binary"],
                 "state": "up" if servicegroup.is_up(r, service_down_time, now)
                 else "down",
                 "last_report": last[r["id"]] and last[r["id"]].isoformat(),
                 "report_count": r["report_count"], "disabled": bool(r["disabled"]),
                 "disabled_reason": r["disabled_reason"],
                 "forced_down": bool(r["forced_down"])} for r in rows]
    return {"instances": instances, "builds": builds, "tasks": tasks,
            "services": services, "service_down_time": service_down_time,
            "read_at": now.isoformat()}


class Lab:
    def __init__(self, run, settings, broker_port=0, api_port=0, broker=None,
                 vhost="/", pyenv=pyenvs.LAB, secrets=None, own_vhost=False):
        self.run = run
        self.settings = settings
        # {group: {option: value}} for the mode-0600 30-lab.conf only (e.g.
        # fake-lab up's identity password), never in config.json.
        self.secrets = secrets or {}
        self.own_broker = broker is None
        # [lab] rabbit_nodes > 1: a private cluster (rabbit_cluster.py).
        self.broker = broker or rabbit_cluster.broker_for(
            run, settings, broker_port) or broker_mod.PrivateBroker(
            run.file("broker"), log_dir=run.logs, port=broker_port)
        if broker is not None:
            rabbit_cluster.check_shared(settings)
        self.vhost = vhost
        self.activity = None  # what start() waits for, for a status line
        # A vhost this lab creates on a running broker and deletes at the
        # end (``--broker``); a matrix's cells have theirs from its boot.
        self.own_vhost = own_vhost
        self._vhost_made = False
        self.pyenv = pyenv
        self.api_port = api_port
        self.container = None
        # [api] pair: the standby API and the HAProxy in front of both.
        self.standby = None
        self.haproxy = None
        self.relay = None
        self.services = {}
        self.database_url = None
        # [postgres] pair: a private primary and streaming replica (postgres.py).
        self.db_pair = None
        self._final_written = False
        self.timings = {}
        # stop() may come from another thread (a matrix being interrupted)
        # while start() runs: what start() spawns after that is refused.
        self._lock = threading.Lock()
        self._stopping = False
        self.sampler = sampler.Sampler(run.file(sampler.FILE), self._sampled)

    def _sampled(self):
        """{name: root PID} of the processes the run's samples cover."""
        with self._lock:
            roots = {name: d.pid for name, d in self.services.items()}
            apis = {"fake-nova-api": self.container,
                    "fake-nova-api-standby": self.standby}
            daemons = {name: c.daemon for name, c in apis.items() if c is not None}
        for name, daemon in daemons.items():
            if daemon is not None:
                roots[name] = daemon.pid
        return roots

    def _spawning(self):
        if self._stopping:
            raise DaemonFailed("the lab was stopped while it was starting")

    def _service_files(self, name, extra=None):
        """The run's config files plus one that names this service's log."""
        own = settings_mod.write_ini(
            self.run.file("etc", f"31-{name}.conf"),
            {"DEFAULT": {"log_file": self.run.log(name)}, **(extra or {})})
        return self.settings.files + [self.lab_conf, own]

    def _env(self):
        env = self.pyenv.env(os.environ)
        env.pop(monkey_patch.ENV, None)  # set per process, below
        env.pop("FAKE_LAB_CONFIG_DIR", None)
        return env

    def mode_of(self, role):
        """The concurrency mode of a role ('api', 'compute', ...): its own
        ``[lab] <role>_executor``, else ``[lab] executor``."""
        return (self.settings.get("lab", f"{role}_executor")
                or self.settings.get("lab", "executor"))

    def _role_env(self, env, role):
        """``env`` with nova's per-process switch set for ``role``."""
        return dict(env, **{monkey_patch.ENV: monkey_patch.value_for(self.mode_of(role))})

    def start(self):
        started = time.monotonic()
        if self.own_broker:
            self.broker.check_installed()
        container_cls = containers.CONTAINERS[self.settings.get("lab", "container")]
        self.container = container_cls(self.run, self.settings, self.pyenv)
        self.container.check_installed()
        if self.settings.get("api", "pair"):
            self.standby = container_cls(self.run, self.settings, self.pyenv,
                                         tag="standby")
            self.haproxy = haproxy_mod.HAProxy(self.run.path, self.run.log("haproxy"),
                                               self.run.path)
            # Missing parts first: nothing may start without HAProxy.
            self.haproxy.check_installed()
        if self.api_port:
            procs.ensure_free(self.api_port, what="the API port")
        # The database first: a bad URL must stop the run before any daemon.
        if {"conductor", "scheduler"} & set(self.settings.get("lab", "services")):
            self.database_url = self._database()
        if self.own_broker:
            with self._lock:
                self._spawning()
                self.broker.launch()
        else:  # a shared node: its log is the cell's broker log too
            if self.own_vhost:
                self.broker.add_vhost(self.vhost)
                self._vhost_made = True
            os.symlink(os.path.relpath(self.broker.log_file, self.run.logs),
                       self.run.broker_log)
        taken = {self.broker.port, self.broker.dist_port, self.broker.epmd_port}
        taken |= set(rabbit_cluster.ports_of(self.broker).values())
        if not self.api_port:
            self.api_port = procs.free_port(avoid=taken)
        taken.add(self.api_port)
        standby_port = None
        if self.standby is not None:
            standby_port = procs.free_port(avoid=taken)
            taken.add(standby_port)
        if self.settings.get("lab", "relay"):
            # Every AMQP connection of the run goes through the relay: the
            # wire's witness and the network's fault injector.
            # A route per node of a cluster (each node's port in the URL).
            nodes = getattr(self.broker, "nodes", [self.broker])
            self.relay = relay_mod.RelayDaemon(
                self.run.path, self.run.log("relay"), [n.port for n in nodes],
                wait_upstream=self.settings.get("lab", "broker_timeout"))
            with self._lock:
                self._spawning()
                self.relay.launch(avoid=taken)
        # Recorded at once, so that the soak tool can check these ports are
        # free again after the run, however it ended.
        ports = {"api": self.api_port}
        if standby_port is not None:
            ports["api_standby"] = standby_port
        if self.own_broker:
            ports.update(amqp=self.broker.port, distribution=self.broker.dist_port,
                         epmd=self.broker.epmd_port)
            ports.update(rabbit_cluster.ports_of(self.broker))
        if self.relay is not None:
            ports.update(relay=self.relay.port, relay_control=self.relay.control_port)
            ports.update({f"relay_{n}": port for n, port in
                          enumerate(list(self.relay.routes.values())[1:], 2)})
        if self.db_pair is not None:
            ports.update(self.db_pair.ports)
        self.run.write_json("ports.json", ports)
        # What the lab owns goes last, so no other file can override it.
        via = self.relay.routes if self.relay is not None else None
        if via and hasattr(self.broker, "via"):
            self.broker.via = via
        owned = {"DEFAULT": {"transport_url": self.broker.url_for(self.vhost, via)},
                 "lab": {"broker_wait": 60}}
        if self.database_url:
            owned["database"] = {"connection": self.database_url}
        owned.update(rabbit_cluster.owned_options(self.settings))
        for group, values in self.secrets.items():
            owned.setdefault(group, {}).update(values)
        self.lab_conf = settings_mod.write_ini(
            self.run.file("etc", "30-lab.conf"), owned, mode=0o600)

        env = self._env()
        for name, role, extra in self._service_specs():
            binary = self.pyenv.binary(f"fake-{role}")
            argv = [binary] if binary and self.pyenv.is_lab else [
                self.pyenv.python, "-m", "fake_compute.service", role]
            for f in self._service_files(name, extra):
                argv += ["--config-file", f]
            with self._lock:
                self._spawning()
                self.services[name] = procs.spawn(
                    name, argv, self.run.log(name + ".out"),
                    env=self._role_env(env, role), owner=self.run.path)

        api_env = self._role_env(env, "api")
        api_env["FAKE_LAB_CONFIG_FILES"] = ",".join(
            self._service_files("fake-nova-api"))
        with self._lock:
            self._spawning()
            self.container.start(api_env, self.api_port)
        if self.standby is not None:
            # The same app, database and broker; its own log file.
            standby_env = dict(api_env, FAKE_LAB_CONFIG_FILES=",".join(
                self._service_files("fake-nova-api-standby")))
            with self._lock:
                self._spawning()
                self.standby.start(standby_env, standby_port)
                # Longer than any request the client waits for, so that
                # HAProxy never cuts one the API is still serving.
                self.haproxy.start(self.api_port, standby_port, avoid=taken,
                                   server_timeout=self.settings.get(
                                       "DEFAULT", "rpc_response_timeout") + 20)
            ports["vip"] = self.haproxy.port
            self.run.write_json("ports.json", ports)
        self.sampler.start()

        if self.own_broker:
            self.activity = "waiting for the broker to boot"
            self.broker.wait_ready(self.settings.get("lab", "broker_timeout"))
        self.timings["broker_boot"] = time.monotonic() - started
        if self.relay is not None:
            self.relay.wait_ready()
        for name, daemon in self.services.items():
            self.activity = f"waiting for {name} to start its RPC server"
            procs.wait_until(lambda n=name: self._service_ready(n), daemon,
                             "its RPC server started", 60,
                             log_path=self.run.log(name))
        self.activity = f"waiting for the API under {self.container.name}"
        self.container.wait_ready()
        if self.standby is not None:
            self.activity = "waiting for the standby API"
            self.standby.wait_ready()
            self.activity = "waiting for HAProxy to check both APIs UP"
            self.haproxy.wait_ready()
        self.activity = None
        self.timings["services_up"] = time.monotonic() - started

    def _service_specs(self):
        """(name, role, extra options) of each fake service to start."""
        services = self.settings.get("lab", "services")
        specs = [(f"fake-{role}", role, {}) for role in ("conductor", "scheduler")
                 if role in services]
        if "compute" in services:
            for n in range(1, self.settings.get("lab", "compute_hosts") + 1):
                host = f"fake-compute-{n}"
                specs.append((host, "compute", {"compute": {"host": host}}))
        return specs

    def _service_ready(self, name):
        """Every worker of the service has started its RPC server (one line
        each: the launcher's workers start one by one)."""
        try:
            with open(self.run.log(name), errors="replace") as f:
                text = f.read()
        except OSError:
            return False
        died = WORKER_DIED.search(text)
        if died:
            before = [line for line in text[:died.start()].splitlines()
                      if line.strip()][-3:]
            raise DaemonFailed(f"{name}: a worker ended before its RPC server "
                               f"started ({died.group(0)}); the lines before: "
                               + (" | ".join(before) or "none"))
        return len(READY.findall(text)) >= self.settings.get("service", "workers")

    def _database(self):
        """The run's database URL (SQLite in the run directory unless one is
        given), its schema and fake hosts created; UsageError if unusable."""
        pair = pg_mod.pair_for(self.run, self.settings, self.pyenv)
        if pair is not None:
            with self._lock:
                self._spawning()
                self.db_pair = pair
            pair.start(avoid={self.api_port} - {0})
        url = pair.url if pair is not None else self.settings.database_url or (
            "sqlite:///" + self.run.file("fake-lab.sqlite"))
        hosts = [f"fake-compute-{n}" for n in range(
            1, self.settings.get("lab", "compute_hosts") + 1)]
        from fake_service import db  # SQLAlchemy: 0.2 s the runner spares

        try:
            db.create_schema(url, hosts)
        except Exception as exc:  # SQLAlchemy's errors are many and verbose
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UsageError(f"the database {_masked(url)} is not usable: {message}")
        return url

    def write_final_state(self):
        """final-state.json: the database as the services left it (every
        instance, task and build count), so that a checker never needs the
        database's URL or credentials. Nothing when the run has none."""
        if not self.database_url:
            return None
        try:
            state = final_state(self.database_url, self.settings.get(
                "DEFAULT", "service_down_time"))
        except Exception as exc:  # judged as unknown, with this reason
            state = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
        if self.db_pair is not None:
            # Which node answered (the promoted replica after a failover?).
            state["database"] = self.db_pair.serving()
        return self.run.write_json("final-state.json", state)

    def _delete_vhost(self):
        try:
            self.broker.delete_vhost(self.vhost)
            self._vhost_made = False
        except LabError as exc:
            # Said, not raised: stop() must go on stopping the rest.
            print(f"fake-lab: vhost {self.vhost} left on the broker of "
                  f"{self.broker.workdir}: {exc}", file=sys.stderr)

    def stop_service(self, name):
        """Stop one fake service (a fault: e.g. a compute host going away)."""
        daemon = self.services.pop(name)
        daemon.stop(grace=10)

    @property
    def api_url(self):
        """The API as clients reach it: the VIP when the API is a pair."""
        if self.haproxy is not None:
            return self.haproxy.url
        return self.container.url

    def stop(self):
        """Stop everything started, in parallel; returns the seconds it took."""
        started = time.monotonic()
        self.sampler.stop()
        with self._lock:
            self._stopping = True
            container, services = self.container, list(self.services.values())
            standby, proxy = self.standby, self.haproxy
        # The services first (in parallel), then the broker: stopped the
        # other way round, the services would log reconnect attempts.
        # A run's parts are thrown away: nothing waits for a graceful exit
        # that only adds shutdown lines after the evidence.
        stoppers = []
        if container is not None:
            stoppers.append(lambda: container.stop(fast=True))
        if standby is not None:
            stoppers.append(lambda: standby.stop(fast=True))
        if proxy is not None:
            stoppers.append(proxy.stop)
        for daemon in services:
            stoppers.append(lambda d=daemon: d.stop(grace=10))
        threads = [threading.Thread(target=f) for f in stoppers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with self._lock:
            self.services = {}
            first, self._final_written = not self._final_written, True
        if first:
            # The final read, as Jepsen does: once every service has
            # stopped, and before the databases do (a pair's promoted node
            # must still answer). Once, however often stop() is called.
            self.write_final_state()
        # The relay and the broker after the services (their last frames are
        # on the wire), side by side: nothing is left to cross the relay.
        last = [d.stop for d in (self.relay,) if d is not None]
        if self.own_broker:
            last.append(lambda: self.broker.stop(fast=True))
        if self._vhost_made:
            last.append(self._delete_vhost)
        if self.db_pair is not None:
            last.append(self.db_pair.stop)
        threads = [threading.Thread(target=f) for f in last]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - started
