"""Service state as nova keeps it, for real: service-flap and its control
(a busy compute's reports, eventlet against native threads), and the
services through the real openstack CLI against ``fake-lab up``."""

import json
import os
import subprocess
import time
import urllib.request

import pytest

from fake_lab.daemons import procs
from tests.functional.conftest import LAB, REPO
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


# Short, so that a stopped compute is down within seconds: reports every
# 2 s, down 10 s after the last one (nova's ratio is 10 s and 60 s).
REPORT_INTERVAL, SERVICE_DOWN_TIME = 2, 10


@pytest.fixture(scope="module")
def cloud(real_parts):
    require_openstack_cli()
    with shared_cloud("--report-interval", str(REPORT_INTERVAL),
                      "--service-down-time", str(SERVICE_DOWN_TIME)) as env:
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


def _compute_states(env):
    """{host: (state, forced_down)} of the nova-compute services, from the
    API itself (a CLI call costs about a second)."""
    req = urllib.request.Request(env["FAKE_LAB_URL"] + "/os-services?binary=nova-compute",
                                 headers={"OpenStack-API-Version": "compute 2.11"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return {s["host"]: (s["state"], s["forced_down"])
                for s in json.loads(resp.read())["services"]}


def test_a_stopped_compute_is_shown_down_within_service_down_time(cloud):
    """Runs last in the module: the lab goes on without fake-compute-2."""
    run_dir = cloud["FAKE_LAB_RUN_DIR"]
    with open(os.path.join(run_dir, "services.json")) as f:
        entry = json.load(f)["services"]["fake-compute-2"]
    assert entry["state"] == "running" and entry["process_group"] == entry["pid"]
    # Asked of the lab, which stops that service's process tree only.
    stopped = subprocess.run(LAB + ["stop-service", "fake-compute-2", run_dir],
                             capture_output=True, text=True, timeout=90, cwd=REPO,
                             stdin=subprocess.DEVNULL)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "service_down_time (10 s" in stopped.stdout
    with open(os.path.join(run_dir, "services.json")) as f:
        entry = json.load(f)["services"]["fake-compute-2"]
    assert entry["state"] == "stopped"
    assert not any(pid == entry["pid"] for pid, _ in procs.processes_under(run_dir))
    # Down once its last report is older than service_down_time: not at
    # once (the last report, before the lab signalled it to stop, is at
    # most report_interval old), and within service_down_time of that
    # signal (a loaded machine's late reports and the polling get a few
    # seconds more).
    down_after = None
    while time.time() - entry["stop_sent_at"] < SERVICE_DOWN_TIME + 15:
        states = _compute_states(cloud)
        if states["fake-compute-2"][0] == "down":
            down_after = time.time() - entry["stop_sent_at"]
            break
        assert states["fake-compute-1"] == ("up", False), states
        time.sleep(0.25)
    assert down_after is not None, "fake-compute-2 never shown down"
    assert SERVICE_DOWN_TIME - REPORT_INTERVAL - 1 <= down_after <= SERVICE_DOWN_TIME + 3, \
        down_after
    found = services(cloud)
    two = found[("fake-compute-2", "nova-compute")]
    assert (two["State"], two["Forced Down"], two["Status"]) == ("down", False,
                                                                 "enabled"), two
    assert found[("fake-compute-1", "nova-compute")]["State"] == "up"
    # The scheduler skips the down host: the next boot lands on the other.
    server = json.loads(ok(cloud, "server", "create", "--flavor", "m1.tiny",
                           "--image", "cirros", "--nic",
                           "none", "--wait", "-f", "json", "vm-after-stop"))
    assert server["OS-EXT-SRV-ATTR:host"] == "fake-compute-1", server
    ok(cloud, "server", "delete", "--wait", "vm-after-stop")
    again = subprocess.run(LAB + ["stop-service", "fake-compute-2", run_dir],
                           capture_output=True, text=True, timeout=60, cwd=REPO,
                           stdin=subprocess.DEVNULL)
    assert again.returncode == 2 and again.stderr.strip() == (
        "fake-lab: fake-compute-2 is already stopped"), again.stderr
