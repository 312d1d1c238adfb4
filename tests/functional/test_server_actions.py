"""nova's server actions, hypervisors, limits and quotas through the real
openstack CLI against ``fake-lab up``, one lab per executor shared by the
module's tests (a lab costs more than all its commands)."""

import json
import time
import urllib.request

import pytest

from tests.functional.test_up import openstack, require_openstack_cli, shared_cloud


@pytest.fixture(scope="module", params=["eventlet", "threading"])
def cloud(request, real_parts):
    require_openstack_cli()
    with shared_cloud("--executor", request.param) as env:
        yield env


def ok(env, *args):
    done = openstack(env, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def state(env, server):
    shown = json.loads(ok(env, "server", "show", server, "-f", "json"))
    return (shown["status"], shown["OS-EXT-STS:vm_state"],
            shown["OS-EXT-STS:task_state"], shown["OS-EXT-STS:power_state"])


def settled(env, server_id, timeout=30):
    """Wait (polling the API itself: a CLI call costs about a second) until
    no task is running on the server; then its state by ``server show``."""
    deadline = time.monotonic() + timeout
    url = f"{env['FAKE_LAB_URL']}/servers/{server_id}"
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=30) as resp:
            if json.loads(resp.read())["server"]["OS-EXT-STS:task_state"] is None:
                break
        time.sleep(0.1)
    return state(env, server_id)


# nova's power_state numbers: 1 Running, 3 Paused, 4 Shutdown.
RUNNING = ("ACTIVE", "active", None, 1)
SHUTOFF = ("SHUTOFF", "stopped", None, 4)
PAUSED = ("PAUSED", "paused", None, 3)
SUSPENDED = ("SUSPENDED", "suspended", None, 4)


def test_server_actions_through_the_openstack_cli(cloud):
    server = json.loads(ok(cloud, "server", "create", "--flavor", "m1.tiny",
                           "--image", "cirros", "--nic", "none", "--wait",
                           "-f", "json", "vm-actions"))
    assert server["status"] == "ACTIVE"
    ok(cloud, "server", "reboot", "--wait", "vm-actions")
    assert state(cloud, "vm-actions") == RUNNING
    ok(cloud, "server", "reboot", "--hard", "--wait", "vm-actions")
    assert state(cloud, "vm-actions") == RUNNING
    for verb, expected in [("stop", SHUTOFF), ("start", RUNNING), ("pause", PAUSED),
                           ("unpause", RUNNING), ("suspend", SUSPENDED),
                           ("resume", RUNNING)]:
        ok(cloud, "server", verb, "vm-actions")
        assert settled(cloud, server["id"]) == expected, verb
        if verb == "stop":
            again = openstack(cloud, "server", "stop", "vm-actions")
            assert again.returncode == 1
            assert (f"Cannot 'stop' instance {server['id']} while it is in "
                    "vm_state stopped") in again.stderr
    # every action is a tracked task, completed
    tasks = [t for t in _tasks(cloud) if t["resource_id"] == server["id"]]
    assert [(t["kind"], t["status"]) for t in tasks] == [
        (kind, "completed") for kind in ("boot", "reboot", "reboot", "stop", "start",
                                         "pause", "unpause", "suspend", "resume")]
    ok(cloud, "server", "delete", "--wait", "vm-actions")
    assert json.loads(ok(cloud, "server", "list", "-f", "json")) == []


def _tasks(env):
    with urllib.request.urlopen(env["FAKE_LAB_URL"] + "/tasks", timeout=30) as resp:
        return sorted(json.loads(resp.read())["tasks"], key=lambda t: t["created_at"])


def test_hypervisors_limits_and_quotas_through_the_openstack_cli(cloud):
    ok(cloud, "server", "create", "--flavor", "m1.small", "--image", "cirros",
       "--nic", "none", "--wait", "vm-usage")
    hypervisors = json.loads(ok(cloud, "hypervisor", "list", "--long", "-f", "json"))
    assert sorted(h["Hypervisor Hostname"] for h in hypervisors) == [
        "fake-compute-1", "fake-compute-2"]
    assert sum(h["vCPUs Used"] for h in hypervisors) == 1
    assert sum(h["Memory MB Used"] for h in hypervisors) == 2048
    shown = json.loads(ok(cloud, "hypervisor", "show", "fake-compute-1", "-f", "json"))
    assert shown["vcpus"] == 64
    limits = {r["Name"]: r["Value"] for r in json.loads(
        ok(cloud, "limits", "show", "--absolute", "-f", "json"))}
    assert limits["total_cores_used"] == 1 and limits["total_ram_used"] == 2048
    assert limits["total_instances_used"] == 1
    ok(cloud, "quota", "show", "fake-lab")
    ok(cloud, "quota", "show", "--usage", "fake-lab")
    # No project named: the client takes the token's, which the lab's
    # identity service scoped to fake-lab (under auth type none it has none).
    quota = {r["Resource"]: r["Limit"] for r in json.loads(
        ok(cloud, "quota", "show", "-f", "json"))}
    assert quota["instances"] == -1 and quota["cores"] == -1
    noauth = openstack(cloud, "--os-cloud", "fake-lab-noauth", "quota", "show")
    assert noauth.returncode == 1 and "project_id" in noauth.stderr
    ok(cloud, "server", "delete", "--wait", "vm-usage")
    hypervisors = json.loads(ok(cloud, "hypervisor", "list", "--long", "-f", "json"))
    assert sum(h["vCPUs Used"] for h in hypervisors) == 0
