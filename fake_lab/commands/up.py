"""``fake-lab up`` / ``fake-lab down``: a lab that stays up for people and
their tools (the ``openstack`` CLI, openstacksdk, novaclient, scripts).

``up`` starts the private broker, the conductor, the scheduler, the compute
hosts and the fake nova-api (with its image service) in the chosen container
and executor, writes a ``clouds.yaml`` (auth type ``none``), prints what a
user needs as shell-exportable lines in the style of pifpaf, and stays up
until Ctrl-C, SIGTERM or ``fake-lab down``, then stops everything.
``--daemon`` returns once the lab is ready, leaving it running in the
background: ``eval "$(fake-lab up --daemon)"``.

The broker's password is never printed: FAKE_LAB_BROKER_URL carries the user
only, and FAKE_LAB_BROKER_CONFIG names the mode-0600 file that has it all.
"""

import os
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
PROFILE = {"name": "up", "summary": "a lab that stays up", "workload": [],
           "config": {"lab": {"services": "conductor,scheduler,compute",
                              "compute_hosts": 2},
                      "DEFAULT": {"rpc_response_timeout": 30}}}


def clouds_yaml(path, api_url, image_url):
    with open(path, "w") as f:
        f.write(f"""# Written by fake-lab up: the fake cloud, with no Keystone.
clouds:
  fake-lab:
    auth_type: none
    auth:
      endpoint: {api_url}
    compute_endpoint_override: {api_url}
    image_endpoint_override: {image_url}
    region_name: RegionOne
    identity_api_version: 3
""")
    return path


def exports(lab, run):
    api = lab.api_url + "/v2.1"
    image = lab.api_url + "/image"
    broker = lab.broker
    return {
        "FAKE_LAB_URL": api,
        "FAKE_LAB_IMAGE_URL": image,
        "FAKE_LAB_BROKER_URL": f"rabbit://{broker.user}@127.0.0.1:{broker.port}/",
        "FAKE_LAB_BROKER_CONFIG": run.file("etc", "30-lab.conf"),
        "FAKE_LAB_RUN_DIR": run.path,
        "FAKE_LAB_PID": str(os.getpid()),
        "OS_CLIENT_CONFIG_FILE": clouds_yaml(run.file("clouds.yaml"), api, image),
        "OS_CLOUD": "fake-lab",
    }


def up(overrides, user_files, runs_dir, api_port=0, say=print):
    """Start the lab, say the exports, wait for a signal, stop it all."""
    def note(line):  # standard output is for the export lines only
        print(f"# {line}", file=sys.stderr)

    with runner.prepared(runs_dir, "up", note) as run:
        lab = None
        stop = []

        def _stop(signum, frame):
            stop.append(signum)

        try:
            s = runner.configure(run, PROFILE, overrides, user_files)
            lab = Lab(run, s, api_port=api_port)
            lab.start()
            runner.record_imported(run, lab)
            for name, value in exports(lab, run).items():
                say(f"export {name}={shlex.quote(value)}")
            say(READY)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, _stop)
            while not stop:
                time.sleep(0.2)
                dead = [n for n, d in lab.services.items() if not d.alive()]
                if dead:
                    raise DaemonFailed(f"{', '.join(dead)} exited; stopping the lab")
        finally:
            with runner.signals_deferred():
                if lab is not None:
                    lab.stop()
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
