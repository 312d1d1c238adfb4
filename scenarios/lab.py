"""The running lab of one run: private broker, fake compute, fake nova-api.

``start()`` launches all three at once (the compute waits for the broker's
port, the API opens its connections only on its first request, as nova-api
does) and returns when each is ready; ``stop()`` stops every process tree
the lab started, in parallel, and is safe to call at any point.

A matrix cell passes a ``broker`` shared by all cells (each cell has a vhost
of its own) and the ``pyenv`` of the oslo.messaging release it runs.
"""

import os
import re
import threading
import time

from fake_service import broker as broker_mod
from fake_service import monkey_patch, procs
from scenarios import containers, pyenvs
from scenarios import settings as settings_mod

READY_COMPUTE = re.compile(r"RPC server started")


class Lab:
    def __init__(self, run, settings, broker_port=0, api_port=0, broker=None,
                 vhost="/", pyenv=pyenvs.LAB):
        self.run = run
        self.settings = settings
        self.own_broker = broker is None
        self.broker = broker or broker_mod.PrivateBroker(
            run.file("broker"), log_dir=run.logs, port=broker_port)
        self.vhost = vhost
        self.pyenv = pyenv
        self.api_port = api_port
        self.container = None
        self.compute = None
        self.timings = {}

    def _service_files(self, name):
        """The run's config files plus one that names this service's log."""
        own = settings_mod.write_ini(
            self.run.file("etc", f"31-{name}.conf"),
            {"lab": {"log_file": self.run.log(name)}})
        return self.settings.files + [self.lab_conf, own]

    def _env(self):
        env = self.pyenv.env(os.environ)
        env[monkey_patch.ENV] = self.settings.get("lab", "executor")
        env.pop("FAKE_LAB_CONFIG_DIR", None)
        return env

    def start(self):
        started = time.monotonic()
        container_cls = containers.CONTAINERS[self.settings.get("lab", "container")]
        self.container = container_cls(self.run, self.settings, self.pyenv)
        self.container.check_installed()
        if self.api_port:
            procs.ensure_free(self.api_port, what="the API port")
        if self.own_broker:
            self.broker.check_installed()
            self.broker.launch()
        else:  # a shared node: its log is the cell's broker log too
            os.symlink(os.path.relpath(self.broker.log_file, self.run.logs),
                       self.run.broker_log)
        if not self.api_port:
            self.api_port = procs.free_port(avoid={
                self.broker.port, self.broker.dist_port, self.broker.epmd_port})
        # Recorded at once, so that the soak tool can check these ports are
        # free again after the run, however it ended.
        ports = {"api": self.api_port}
        if self.own_broker:
            ports.update(amqp=self.broker.port, distribution=self.broker.dist_port,
                         epmd=self.broker.epmd_port)
        self.run.write_json("ports.json", ports)
        # What the lab owns goes last, so no other file can override it.
        self.lab_conf = settings_mod.write_ini(
            self.run.file("etc", "30-lab.conf"),
            {"DEFAULT": {"transport_url": self.broker.url_for(self.vhost)},
             "lab": {"broker_wait": 60}}, mode=0o600)

        env = self._env()
        compute = self.pyenv.binary("fake-compute")
        argv = [compute] if compute and self.pyenv.is_lab else [
            self.pyenv.python, "-m", "fake_compute.service"]
        for f in self._service_files("fake-compute"):
            argv += ["--config-file", f]
        self.compute = procs.spawn("fake-compute", argv,
                                   self.run.log("fake-compute.out"), env=env)

        api_env = dict(env)
        api_env["FAKE_LAB_CONFIG_FILES"] = ",".join(
            self._service_files("fake-nova-api"))
        self.container.start(api_env, self.api_port)

        if self.own_broker:
            self.broker.wait_ready(self.settings.get("lab", "broker_timeout"))
        self.timings["broker_boot"] = time.monotonic() - started
        procs.wait_until(self._compute_ready, self.compute,
                         "its RPC server started", 60,
                         log_path=self.run.log("fake-compute"))
        self.container.wait_ready()
        self.timings["services_up"] = time.monotonic() - started

    def _compute_ready(self):
        try:
            with open(self.run.log("fake-compute"), errors="replace") as f:
                return bool(READY_COMPUTE.search(f.read()))
        except OSError:
            return False

    @property
    def api_url(self):
        return self.container.url

    def stop(self):
        """Stop everything started, in parallel; returns the seconds it took."""
        started = time.monotonic()
        # The services first (in parallel), then the broker: stopped the
        # other way round, the services would log reconnect attempts.
        stoppers = []
        if self.container is not None:
            stoppers.append(self.container.stop)
        if self.compute is not None:
            stoppers.append(lambda: self.compute.stop(grace=10))
        threads = [threading.Thread(target=f) for f in stoppers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.container = self.compute = None
        if self.own_broker:
            self.broker.stop()
        return time.monotonic() - started
