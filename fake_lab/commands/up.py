"""``fake-lab up`` / ``fake-lab down``: a lab that stays up for people and
their tools (the ``openstack`` CLI, openstacksdk, novaclient, scripts).

``up`` starts the private broker, the conductor, the scheduler, the compute
hosts and the fake nova-api (with its image and identity services) in the
chosen container and executor, writes a ``clouds.yaml`` (cloud ``fake-lab``:
password authentication against the lab's minimal Keystone;
``fake-lab-noauth``: auth type none), prints what a user needs as
shell-exportable lines in the style of pifpaf, and stays up
until Ctrl-C, SIGTERM or ``fake-lab down``, then stops everything.
``--daemon`` returns once the lab is ready, leaving it running in the
background: ``eval "$(fake-lab up --daemon)"``.

While it runs, ``services.json`` in its run directory lists each fake RPC
service (name, PID, process group, log, running or stopped), and
``fake-lab stop-service NAME`` stops one of them for good, as a compute
host that dies: the lab stays up without it, and ``openstack compute
service list`` shows it down once its last report is older than
``service_down_time``. Any other service that exits stops the lab.

The broker's password is never printed: FAKE_LAB_BROKER_URL carries the user
only, and FAKE_LAB_BROKER_CONFIG names the mode-0600 file that has it all.
Neither is the identity password: it is in the mode-0600 clouds.yaml.
"""

import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time

from fake_lab import runner
from fake_lab.daemons import procs, reaper
from fake_lab.errors import DaemonFailed, UsageError
from fake_lab.lab import Lab

READY = "# fake-lab: ready"
SERVICES_FILE = "services.json"
# ``fake-lab stop-service`` asks the lab by a file here; the lab, which
# started the service and holds its process, stops it.
REQUESTS_DIR = "requests"
PROFILE = {"name": "up", "summary": "a lab that stays up", "workload": [],
           "config": {"lab": {"services": "conductor,scheduler,compute",
                              "compute_hosts": 2},
                      "DEFAULT": {"rpc_response_timeout": 30}}}


def clouds_yaml(path, api_url, image_url, identity_url, password):
    """Two clouds: ``fake-lab``, password authentication against the lab's
    minimal Keystone (its token names the one project, and its catalog the
    lab's endpoints), and ``fake-lab-noauth``, auth type none with every
    endpoint given (no token, so no project: ``openstack quota show`` then
    needs the project named). Mode 0600: it holds the password."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"""# Written by fake-lab up: the fake cloud.
clouds:
  fake-lab:
    auth_type: password
    auth:
      auth_url: {identity_url}
      username: fake-lab
      password: {password}
      project_name: fake-lab
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
  fake-lab-noauth:
    auth_type: none
    auth:
      endpoint: {api_url}
    compute_endpoint_override: {api_url}
    image_endpoint_override: {image_url}
    region_name: RegionOne
    identity_api_version: 3
""")
    return path


def exports(lab, run, password):
    api = lab.api_url + "/v2.1"
    image = lab.api_url + "/image"
    identity = lab.api_url + "/identity"
    broker = lab.broker
    return {
        "FAKE_LAB_URL": api,
        "FAKE_LAB_IMAGE_URL": image,
        # A cluster's every node, as its transport URL lists them.
        "FAKE_LAB_BROKER_URL": "rabbit://" + ",".join(
            f"{broker.user}@127.0.0.1:{node.port}"
            for node in getattr(broker, "nodes", [broker])) + "/",
        "FAKE_LAB_BROKER_CONFIG": run.file("etc", "30-lab.conf"),
        "FAKE_LAB_RUN_DIR": run.path,
        "FAKE_LAB_PID": str(os.getpid()),
        "OS_CLIENT_CONFIG_FILE": clouds_yaml(run.file("clouds.yaml"), api, image,
                                             identity, password),
        "OS_CLOUD": "fake-lab",
    }


def write_services(run, lab, stopped):
    """services.json: {"services": {name: {pid, process_group, log, state,
    stop_sent_at, stopped_at}}, "report_interval", "service_down_time"};
    ``stopped``: {name: (pid, stop sent, ended)} of the services stopped on
    request (epoch seconds: when the lab signalled the service to stop, after
    which it reports no more, and when its last process ended)."""
    services = {}
    for name, daemon in sorted(lab.services.items()):
        try:
            group = os.getpgid(daemon.pid)
        except OSError:
            group = None
        services[name] = {"pid": daemon.pid, "process_group": group,
                          "log": run.log(name), "state": "running",
                          "stop_sent_at": None, "stopped_at": None}
    for name, (pid, sent, ended) in stopped.items():
        services[name] = {"pid": pid, "process_group": None, "log": run.log(name),
                          "state": "stopped", "stop_sent_at": round(sent, 3),
                          "stopped_at": round(ended, 3)}
    run.write_json(SERVICES_FILE, {
        "report_interval": lab.settings.get("DEFAULT", "report_interval"),
        "service_down_time": lab.settings.get("DEFAULT", "service_down_time"),
        "services": dict(sorted(services.items()))})


def _serve_requests(run, lab, stopped, note):
    """Stop the services ``fake-lab stop-service`` asked for; True if any."""
    folder = run.file(REQUESTS_DIR)
    try:
        asked = sorted(os.listdir(folder))
    except OSError:
        return False
    for entry in asked:
        name = entry.removeprefix("stop-service.")
        os.remove(os.path.join(folder, entry))
        if not entry.startswith("stop-service.") or name not in lab.services:
            continue
        pid, sent = lab.services[name].pid, time.time()
        lab.stop_service(name)
        stopped[name] = (pid, sent, time.time())
        note(f"stopped {name} (PID {pid}) on request; the lab stays up without it")
    return bool(asked)


def up(overrides, user_files, runs_dir, api_port=0, say=print):
    """Start the lab, say the exports, wait for a signal, stop it all."""
    def note(line):  # standard output is for the export lines only
        try:
            print(f"# {line}", file=sys.stderr, flush=True)
        except OSError:
            # --daemon: the parent stopped reading once the lab was ready;
            # what happens next is in the run directory.
            sys.stderr = open(os.devnull, "w")

    with runner.prepared(runs_dir, "up", note) as run:
        lab = None
        stop = []

        def _stop(signum, frame):
            stop.append(signum)

        try:
            s = runner.configure(run, PROFILE, overrides, user_files)
            # The identity service's password: in the lab's mode-0600
            # config and clouds.yaml only, never printed.
            password = secrets.token_urlsafe(18)
            lab = Lab(run, s, api_port=api_port,
                      secrets={"identity": {"password": password}})
            lab.start()
            runner.record_imported(run, lab)
            stopped = {}
            write_services(run, lab, stopped)
            for name, value in exports(lab, run, password).items():
                say(f"export {name}={shlex.quote(value)}")
            say(READY)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, _stop)
            while not stop:
                time.sleep(0.2)
                if _serve_requests(run, lab, stopped, note):
                    write_services(run, lab, stopped)
                dead = [n for n, d in lab.services.items() if not d.alive()]
                if dead:
                    raise DaemonFailed(f"{', '.join(dead)} exited; stopping the lab")
        finally:
            with runner.signals_deferred():
                if lab is not None:
                    lab.stop()  # with the final read of the database
    return 0


def daemon(argv, say=print):
    """Run ``fake-lab up`` (``argv``) in the background; say its exports."""
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, start_new_session=True,
                             text=True)
    lines = []
    try:
        for line in child.stdout:
            if line.startswith(READY):
                for kept in lines:
                    say(kept)
                # From here the lab runs alone; its output is in its run
                # directory.
                child.stdout.close()
                child.stderr.close()
                return 0
            lines.append(line.rstrip("\n"))
    except BaseException:
        # Interrupted before the lab was ready: it must not stay up alone.
        child.terminate()
        child.wait(timeout=120)
        raise
    child.wait()
    err = child.stderr.read().strip()
    raise DaemonFailed(err.splitlines()[-1] if err else
                       f"fake-lab up exited with code {child.returncode}")


def _running_lab(run_dir, runs_dir):
    """The run directory of the one running ``up`` meant: ``run_dir``, else
    $FAKE_LAB_RUN_DIR, else the only one running in ``runs_dir``."""
    run_dir = run_dir or os.environ.get("FAKE_LAB_RUN_DIR")
    if not run_dir:
        try:
            names = sorted(os.listdir(runs_dir))
        except OSError:
            names = []
        running = [os.path.join(runs_dir, n) for n in names if n.startswith("up-")
                   and reaper.runner_alive(os.path.join(runs_dir, n))]
        if len(running) != 1:
            raise UsageError(f"{len(running) or 'no'} running labs in {runs_dir}: "
                             "give the run directory, or set FAKE_LAB_RUN_DIR")
        run_dir = running[0]
    if not reaper.runner_alive(run_dir):
        raise UsageError(f"{run_dir}: no lab is running there")
    return run_dir


def _services(run_dir):
    try:
        with open(os.path.join(run_dir, SERVICES_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        raise UsageError(f"{run_dir}: no readable {SERVICES_FILE} (not a lab "
                         "started by fake-lab up, or not ready yet)")


def stop_service(name, run_dir=None, runs_dir="runs", timeout=60):
    """Ask the running lab to stop its service ``name`` for good, and wait
    until it has; returns (run directory, the service's services.json
    entry, services.json)."""
    run_dir = _running_lab(run_dir, runs_dir)
    known = _services(run_dir)["services"]
    if name not in known:
        raise UsageError(f"{run_dir} has no service {name!r}; its services: "
                         f"{', '.join(known)}")
    if known[name]["state"] == "stopped":
        raise UsageError(f"{name} is already stopped")
    folder = os.path.join(run_dir, REQUESTS_DIR)
    os.makedirs(folder, exist_ok=True)
    request = os.path.join(folder, f"stop-service.{name}")
    with open(request + ".tmp", "w"):
        pass
    os.replace(request + ".tmp", request)  # whole, or not at all
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _services(run_dir)
        if state["services"][name]["state"] == "stopped":
            return run_dir, state["services"][name], state
        if not reaper.runner_alive(run_dir):
            raise DaemonFailed(f"the lab of {run_dir} stopped before {name} did")
        time.sleep(0.1)
    raise DaemonFailed(f"the lab of {run_dir} did not stop {name} within {timeout} s")


def down(run_dir=None, runs_dir="runs", timeout=60):
    """Stop the lab of ``run_dir`` (default: $FAKE_LAB_RUN_DIR, else every
    running ``up`` in ``runs_dir``); returns the run directories stopped."""
    run_dir = run_dir or os.environ.get("FAKE_LAB_RUN_DIR")
    if run_dir:
        targets = [run_dir]
    else:
        try:
            names = sorted(os.listdir(runs_dir))
        except OSError:
            names = []
        targets = [os.path.join(runs_dir, n) for n in names
                   if n.startswith("up-") and reaper.runner_alive(os.path.join(runs_dir, n))]
    if not targets:
        raise UsageError("no running lab found (give its run directory, or set "
                         "FAKE_LAB_RUN_DIR)")
    for target in targets:
        if not reaper.runner_alive(target):
            raise UsageError(f"{target}: no lab is running there")
        with open(os.path.join(target, reaper.RUNNER_FILE)) as f:
            pid = int(f.read().split()[0])
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while reaper.runner_alive(target) and time.monotonic() < deadline:
            time.sleep(0.1)
        if reaper.runner_alive(target) or procs.processes_under(target):
            raise DaemonFailed(f"the lab of {target} did not stop within {timeout} s")
    return targets
