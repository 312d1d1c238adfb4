"""Service state as nova keeps it, for real: service-flap and its control
(a busy compute's reports, eventlet against native threads), and the
services through the real openstack CLI against ``fake-lab up``."""

import json

import pytest

from tests.functional.test_up import openstack, require_openstack_cli, shared_cloud


def test_eventlet_compute_is_called_down_while_alive_and_connected(lab):
    proc = lab.run("run", "service-flap", "--expect", "reproduced", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    details = result["details"]
    assert details["down_seconds"] > 0, result["evidence"]
    # The reports paused past service_down_time (3 s) on a green thread.
    assert details["max_report_gap"] > 3, result["evidence"]
    assert details["report_thread"] == "green"
    assert lab.leftovers() == []


def test_threading_compute_stays_up_while_busy(lab):
    proc = lab.run("run", "service-flap", "--control", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "not-reproduced", result["evidence"]
    details = result["details"]
    assert details["down_samples"] == 0
    assert details["max_report_gap"] < 3, result["evidence"]
    assert details["report_thread"] == "native"
    assert details["casts_run"] >= 0.5 * details["casts_sent"], result["evidence"]
    assert lab.leftovers() == []


@pytest.fixture(scope="module")
def cloud(real_parts):
    require_openstack_cli()
    with shared_cloud() as env:
        yield env


def ok(env, *args):
    done = openstack(env, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def services(env):
    rows = json.loads(ok(env, "compute", "service", "list", "--long", "-f", "json"))
    return {(r["Host"], r["Binary"]): r for r in rows}


def test_the_services_through_the_openstack_cli(cloud):
    found = services(cloud)
    binaries = sorted(b for _, b in found)
    assert binaries == ["nova-compute", "nova-compute", "nova-conductor",
                        "nova-scheduler"], found
    assert all(r["State"] == "up" and r["Status"] == "enabled"
               for r in found.values()), found
    # What the client sends to an API under 2.53: disable-log-reason, then
    # force-down at 2.11.
    ok(cloud, "compute", "service", "set", "--disable", "--disable-reason",
       "maintenance", "fake-compute-2", "nova-compute")
    ok(cloud, "compute", "service", "set", "--down", "fake-compute-1", "nova-compute")
    found = services(cloud)
    two, one = found[("fake-compute-2", "nova-compute")], found[("fake-compute-1",
                                                                 "nova-compute")]
    assert (two["Status"], two["Disabled Reason"]) == ("disabled", "maintenance")
    assert (one["State"], one["Forced Down"]) == ("down", True)
    # The scheduler skips both: no valid host.
    created = openstack(cloud, "server", "create", "--flavor", "m1.tiny", "--image",
                        "cirros", "--nic", "none", "--wait", "vm-nohost")
    assert created.returncode != 0
    shown = json.loads(ok(cloud, "server", "show", "vm-nohost", "-f", "json"))
    assert shown["status"] == "ERROR" and "No valid host" in json.dumps(shown)
    ok(cloud, "server", "delete", "--wait", "vm-nohost")
    # Back up: the next boot lands on fake-compute-1, the one enabled.
    ok(cloud, "compute", "service", "set", "--up", "fake-compute-1", "nova-compute")
    server = json.loads(ok(cloud, "server", "create", "--flavor", "m1.tiny",
                           "--image", "cirros", "--nic", "none", "--wait",
                           "-f", "json", "vm-up"))
    assert server["OS-EXT-SRV-ATTR:host"] == "fake-compute-1", server
    ok(cloud, "compute", "service", "set", "--enable", "fake-compute-2", "nova-compute")
    found = services(cloud)
    assert all(r["State"] == "up" and r["Status"] == "enabled"
               and not r["Forced Down"] for r in found.values()), found
    ok(cloud, "server", "delete", "--wait", "vm-up")
