"""Nova's boot flow for real: broker, API under uWSGI, conductor, scheduler
and compute hosts as separate processes, SQLite in the run directory."""

import json
import time
import urllib.error
import urllib.request

import pytest
import sqlalchemy as sa

from fake_service import db
from tests.functional.conftest import started_lab


def test_boot_storm_builds_fifty_servers_and_loses_none(lab):
    proc = lab.run("run", "boot-storm", "--expect", "not-reproduced", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    details = lab.result()["details"]
    assert (details["accepted"], details["active"], details["lost"],
            details["duplicated"], details["failed"]) == (50, 50, 0, 0, 0)
    assert lab.leftovers() == []


def test_a_stopped_compute_host_loses_exactly_its_boots(lab):
    proc = lab.run("run", "boot-lost-cast", "--expect", "reproduced", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    details = lab.result()["details"]
    engine = sa.create_engine(f"sqlite:///{lab.latest}/fake-lab.sqlite")
    with engine.connect() as conn:
        on_stopped_host = {r["request_id"] for r in db.rows(conn.execute(
            sa.select(db.instances).where(db.instances.c.host == "fake-compute-2",
                                          db.instances.c.status == "BUILD")))}
    assert on_stopped_host, "the scheduler never chose the stopped host"
    assert set(details["lost_request_ids"]) == on_stopped_host
    assert details["active"] == details["accepted"] - len(on_stopped_host)
    # The trace of a lost boot ends at the API: no compute ever saw it.
    rid = sorted(on_stopped_host)[0]
    traced = lab.run("trace", lab.latest, rid)
    assert traced.returncode == 0
    assert "selected fake-compute-2" in traced.stdout
    assert "building instance" not in traced.stdout


@pytest.fixture
def boot_lab(tmp_path):
    with started_lab(tmp_path, "boot-storm",
                     {"step_delay": 0.4, "executor": "threading"}) as lab:
        yield lab


def _api(lab, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(lab.api_url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_a_slow_boot_shows_every_state_in_order(boot_lab):
    status, body = _api(boot_lab, "POST", "/v2.1/servers", {
        "server": {"name": "slow", "flavorRef": "m1.tiny", "imageRef": "cirros"}})
    assert status == 202, body
    server_id, task_id = body["server"]["id"], body["task"]["id"]
    seen = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _, shown = _api(boot_lab, "GET", f"/v2.1/servers/{server_id}")
        state = (shown["server"]["status"], shown["server"]["OS-EXT-STS:task_state"],
                 shown["server"]["OS-EXT-STS:power_state"])
        if not seen or seen[-1] != state:
            seen.append(state)
        if state[0] != "BUILD":
            break
        time.sleep(0.05)
    assert seen == [("BUILD", "scheduling", 0), ("BUILD", "networking", 0),
                    ("BUILD", "block_device_mapping", 0), ("BUILD", "spawning", 0),
                    ("ACTIVE", None, 1)]
    # The compute marks the instance ACTIVE, then completes its task: a
    # busy machine may show the one before the other.
    deadline = time.monotonic() + 10
    while True:
        _, task = _api(boot_lab, "GET", f"/v2.1/tasks/{task_id}")
        if task["task"]["status"] != "in-progress" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert task["task"]["status"] == "completed"
    assert task["task"]["finished_at"]


@pytest.mark.parametrize("body, status, key, needle", [
    (b"{not json", 400, "badRequest", "Malformed request body"),
    ({"server": {"name": "x", "flavorRef": "m1.huge", "imageRef": "cirros"}},
     400, "badRequest", "Flavor m1.huge could not be found"),
    ({"server": {"name": "x", "flavorRef": "1", "imageRef": "ubuntu"}},
     400, "badRequest", "Image ubuntu could not be found"),
    ({"server": {"flavorRef": "1"}}, 400, "badRequest", "name"),
    ({"servers": {}}, 400, "badRequest", "'server' is a required property"),
])
def test_bad_boots_get_nova_faults_and_write_nothing(boot_lab, body, status, key,
                                                     needle):
    before = _api(boot_lab, "GET", "/v2.1/tasks")[1]["tasks"]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(boot_lab.api_url + "/v2.1/servers", data=data,
                                 method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=15)
    fault = json.loads(err.value.read())
    assert err.value.code == status
    assert needle in fault[key]["message"] and fault[key]["code"] == status
    assert _api(boot_lab, "GET", "/v2.1/tasks")[1]["tasks"] == before
    assert _api(boot_lab, "GET", "/v2.1/servers")[1]["servers"] == []


def test_unknown_server_and_task_are_404(boot_lab):
    status, body = _api(boot_lab, "GET", "/v2.1/servers/nope")
    assert status == 404 and "itemNotFound" in body
    status, body = _api(boot_lab, "GET", "/v2.1/tasks/nope")
    assert status == 404 and "itemNotFound" in body


def test_a_bad_database_url_is_one_line(lab):
    proc = lab.run("run", "boot-storm", "--database", "nosuchdriver://x/y")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1
    assert "the database nosuchdriver://x/y is not usable" in proc.stderr
    assert lab.leftovers() == []
