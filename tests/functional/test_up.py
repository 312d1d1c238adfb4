"""A lab that stays up, driven by the real openstack CLI (no Keystone)."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import pytest

from fake_lab.daemons import procs
from tests.functional.conftest import REPO, Lab

OPENSTACK = os.path.join(os.path.dirname(sys.executable), "openstack")


def require_openstack_cli():
    """Skip, or fail where nothing may be skipped, without the real CLI."""
    if not os.access(OPENSTACK, os.X_OK) and not shutil.which("openstack"):
        reason = "python-openstackclient is not installed (tox -e functional installs it)"
        if os.environ.get("FAKE_LAB_REQUIRE_ALL") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def openstack_cli():
    require_openstack_cli()


@contextlib.contextmanager
def shared_cloud(*up_args):
    """A ``fake-lab up --daemon`` for a module's tests to share (a lab costs
    more than all its commands): its exports; brought down, nothing left."""
    base = os.path.join(REPO, "runs")
    os.makedirs(base, exist_ok=True)
    runs = tempfile.mkdtemp(prefix="test-", dir=base)
    os.chmod(runs, 0o755)
    lab = Lab(runs)
    try:
        proc = lab.run("up", "--daemon", "--runs-dir", runs, *up_args, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        env = _exports(proc.stdout)
        yield env
        down = lab.run("down", env["FAKE_LAB_RUN_DIR"], timeout=120)
        assert down.returncode == 0, down.stdout + down.stderr
        assert procs.processes_under(env["FAKE_LAB_RUN_DIR"]) == []
    finally:
        lab.stop_all()
        shutil.rmtree(runs, ignore_errors=True)


def _exports(text):
    env = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            env[name] = value.strip("'")
    return env


@pytest.fixture(params=["eventlet", "threading"])
def cloud(request, lab):
    proc = lab.run("up", "--daemon", "--runs-dir", lab.runs_dir,
                   "--executor", request.param, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = _exports(proc.stdout)
    assert env["OS_CLOUD"] == "fake-lab" and os.path.exists(env["OS_CLIENT_CONFIG_FILE"])
    # It holds the identity service's password: only its owner reads it,
    # and nothing printed has it.
    assert os.stat(env["OS_CLIENT_CONFIG_FILE"]).st_mode & 0o077 == 0
    with open(env["OS_CLIENT_CONFIG_FILE"]) as f:
        password = next(line.split(":", 1)[1].strip() for line in f
                        if line.strip().startswith("password:"))
    assert password not in proc.stdout + proc.stderr
    assert ":" not in env["FAKE_LAB_BROKER_URL"].split("@")[0].split("//")[1]
    yield env
    down = lab.run("down", env["FAKE_LAB_RUN_DIR"], timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert procs.processes_under(env["FAKE_LAB_RUN_DIR"]) == []


def openstack(env, *args):
    binary = OPENSTACK if os.access(OPENSTACK, os.X_OK) else shutil.which("openstack")
    return subprocess.run([binary, "--os-cloud", "fake-lab", *args],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, **env))


def test_the_openstack_cli_boots_lists_shows_and_deletes(cloud):
    created = openstack(cloud, "server", "create", "--flavor", "m1.tiny",
                        "--image", "cirros", "--nic", "none", "--wait",
                        "-f", "json", "vm1")
    assert created.returncode == 0, created.stderr
    server = json.loads(created.stdout)
    assert server["status"] == "ACTIVE" and server["name"] == "vm1"

    listed = openstack(cloud, "server", "list", "-f", "json")
    assert listed.returncode == 0, listed.stderr
    assert [(s["Name"], s["Status"]) for s in json.loads(listed.stdout)] == [
        ("vm1", "ACTIVE")]

    shown = openstack(cloud, "server", "show", "vm1", "-f", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == server["id"]

    # It went through scheduler, compute and conductor over the broker.
    with open(os.path.join(cloud["FAKE_LAB_RUN_DIR"], "logs", "fake-scheduler.log")) as f:
        assert "selected fake-compute-" in f.read()

    deleted = openstack(cloud, "server", "delete", "--wait", "vm1")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(openstack(cloud, "server", "list", "-f", "json").stdout) == []

    missing = openstack(cloud, "server", "show", "vm1")
    assert missing.returncode == 1


def _call(url, method="GET", body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Content-Type": "application/json",
                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}"), resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), exc.headers


def test_versions_microversions_and_faults(cloud):
    url = cloud["FAKE_LAB_URL"]
    root = url.rsplit("/v2.1", 1)[0]
    status, body, _ = _call(root + "/")
    assert status == 200 and body["versions"][0]["version"] == "2.53"
    for path in ("/v2.1", "/v2.1/"):
        status, body, _ = _call(root + path)
        assert status == 200 and body["version"]["min_version"] == "2.1"
        assert body["version"]["links"][0]["rel"] == "self"
    status, _, headers = _call(url + "/servers",
                               headers={"OpenStack-API-Version": "compute 2.37"})
    assert status == 200 and headers["OpenStack-API-Version"] == "compute 2.37"
    status, body, _ = _call(url + "/servers",
                            headers={"OpenStack-API-Version": "compute 2.99"})
    assert status == 406 and "Version 2.99 is not supported" in body["computeFault"]["message"]
    for payload, code, key in [
            (b"{", 400, "badRequest"),
            (json.dumps({"server": {"name": "x", "flavorRef": "9"}}).encode(), 400,
             "badRequest"),
            (json.dumps({"server": {"name": "x", "flavorRef": "1",
                                    "imageRef": "nope"}}).encode(), 400, "badRequest")]:
        status, body, _ = _call(url + "/servers", "POST", payload)
        assert status == code and body[key]["code"] == code
    status, body, _ = _call(url + "/servers/nope")
    assert status == 404 and body["itemNotFound"]["code"] == 404
    status, body, _ = _call(url + "/flavors/nope")
    assert status == 404
    # Nothing was written for any of them.
    assert _call(url + "/servers/detail")[1]["servers"] == []
    assert _call(url + "/tasks")[1]["tasks"] == []
    status, body, _ = _call(cloud["FAKE_LAB_IMAGE_URL"] + "/v2/images?name=cirros")
    assert status == 200 and body["images"][0]["name"] == "cirros"


def test_ctrl_c_of_a_foreground_lab_leaves_nothing(lab):
    proc = lab.start("up", "--runs-dir", lab.runs_dir)
    for line in proc.stdout:
        if line.startswith("# fake-lab: ready"):
            break
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert lab.leftovers() == []
