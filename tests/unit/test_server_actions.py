"""The server actions' state machine (fake_compute/states.py), and the whole
path without a broker: the API's handlers, the conductor on SQLite and the
compute's actions, wired by direct calls in place of RPC."""

import datetime
import json
import uuid as uuid_module

import pytest
import webob

from fake_compute import conductor, manager, scheduler, states
from fake_nova_api import api
from fake_service import db

ID = "0b5b4d1e-0000-4000-8000-000000000001"


# -- the state machine ----------------------------------------------------------

@pytest.mark.parametrize("status,task_state,allowed", [
    ("ACTIVE", None, ["reboot-soft", "reboot-hard", "stop", "pause", "suspend"]),
    ("SHUTOFF", None, ["reboot-hard", "start"]),
    ("PAUSED", None, ["reboot-hard", "unpause"]),
    ("SUSPENDED", None, ["reboot-hard", "resume"]),
    ("ERROR", None, ["reboot-hard", "stop"]),
    ("BUILD", "spawning", []),
    ("BUILD", None, []),
    # busy: only a hard reboot may take over, from ALLOW_REBOOT's states
    ("ACTIVE", "rebooting", ["reboot-hard"]),
    ("ACTIVE", "pausing", ["reboot-hard"]),
    ("ACTIVE", "powering-off", []),
    ("SHUTOFF", "powering-on", []),
    ("ACTIVE", "rebooting_hard", ["reboot-hard"]),
    ("ACTIVE", "reboot_pending_hard", []),
])
def test_allowed_transitions(status, task_state, allowed):
    assert states.allowed_actions(status, task_state) == allowed


@pytest.mark.parametrize("key,status,task_state,message", [
    ("stop", "SHUTOFF", None,
     f"Cannot 'stop' instance {ID} while it is in vm_state stopped"),
    ("start", "ACTIVE", None,
     f"Cannot 'start' instance {ID} while it is in vm_state active"),
    ("pause", "PAUSED", None,
     f"Cannot 'pause' instance {ID} while it is in vm_state paused"),
    ("unpause", "ACTIVE", None,
     f"Cannot 'unpause' instance {ID} while it is in vm_state active"),
    ("resume", "ACTIVE", None,
     f"Cannot 'resume' instance {ID} while it is in vm_state active"),
    ("suspend", "BUILD", "spawning",
     f"Cannot 'suspend' instance {ID} while it is in vm_state building"),
    ("reboot-soft", "SHUTOFF", None,
     f"Cannot 'reboot' instance {ID} while it is in vm_state stopped"),
    ("reboot-soft", "ACTIVE", "rebooting",
     f"Cannot 'reboot' instance {ID} while it is in task_state rebooting"),
    ("stop", "ACTIVE", "powering-off",
     f"Cannot 'stop' instance {ID} while it is in task_state powering-off"),
    ("reboot-hard", "ACTIVE", "powering-off",
     f"Cannot 'reboot' instance {ID} while it is in task_state powering-off"),
])
def test_a_wrong_state_is_novas_conflict(key, status, task_state, message):
    with pytest.raises(states.InvalidState) as caught:
        states.check(key, ID, status, task_state)
    assert str(caught.value) == message


@pytest.mark.parametrize("key,status,power", [
    ("stop", "SHUTOFF", "Shutdown"), ("start", "ACTIVE", "Running"),
    ("pause", "PAUSED", "Paused"), ("unpause", "ACTIVE", "Running"),
    ("suspend", "SUSPENDED", "Shutdown"), ("resume", "ACTIVE", "Running"),
    ("reboot-soft", "ACTIVE", "Running"), ("reboot-hard", "ACTIVE", "Running")])
def test_each_action_ends_in_novas_state(key, status, power):
    assert states.final_values(key) == {"status": status, "task_state": None,
                                        "power_state": power}


def test_statuses_as_novas_api_shows_them():
    assert states.display_status("ACTIVE", "rebooting") == "REBOOT"
    assert states.display_status("ACTIVE", "reboot_started") == "REBOOT"
    assert states.display_status("ACTIVE", "reboot_pending_hard") == "HARD_REBOOT"
    assert states.display_status("SHUTOFF", "rebooting_hard") == "SHUTOFF"
    assert states.display_status("ACTIVE", "powering-off") == "ACTIVE"
    assert states.vm_state("SHUTOFF") == "stopped"
    assert states.vm_state("SUSPENDED") == "suspended"
    assert states.action_key("reboot", "hard") == "reboot-hard"
    assert states.action_key("reboot", "SOFT") == "reboot-soft"
    with pytest.raises(KeyError):
        states.action_key("shelve")


# -- the path through API, conductor and compute, without a broker ---------------

class Compute:
    """The API's compute RPC client, delivering each cast at once to a real
    ComputeManager whose conductor is the real ConductorManager."""

    def __init__(self, cond, step_delay=0.0, deliver=True):
        self.managers = {}
        self.cond, self.step_delay, self.deliver = cond, step_delay, deliver
        self.casts = []

    def instance_action(self, ctxt, host, method, instance_uuid, task_id, **kw):
        self.casts.append((host, method, kw))
        if not self.deliver:
            return
        m = self.managers.get(host)
        if m is None:
            m = self.managers[host] = manager.ComputeManager(host, self.step_delay)
            m.conductor = self.cond
        getattr(m, method)(dict(ctxt), instance_uuid=instance_uuid,
                           task_id=task_id, **kw)


@pytest.fixture
def cloud(tmp_path):
    url = f"sqlite:///{tmp_path}/lab.sqlite"
    db.create_schema(url, ["fake-compute-1", "fake-compute-2"])
    cond = conductor.ConductorManager(url)
    lab = api.LabAPI()
    lab.conductor = cond
    lab.compute = Compute(cond)
    lab.sched = scheduler.SchedulerManager(url)
    return lab


def _server(lab, name="vm1", flavor="1"):
    """An ACTIVE server, placed by the real scheduler's claim."""
    ctxt = {"request_id": "req-test"}
    made = lab.conductor.instance_create(ctxt, name=name, flavor_id=flavor,
                                         image_id=None, request_id="req-test")
    uuid = made["instance"]["uuid"]
    host = lab.sched.select_destinations(
        ctxt, flavor=lab.conductor.flavor_find(ctxt, ref=flavor), request_id="r")
    lab.conductor.instance_update(ctxt, uuid=uuid, values={
        "host": host, "status": "ACTIVE", "task_state": None, "power_state": "Running"})
    lab.conductor.task_finish(ctxt, task_id=made["task"]["id"], status="completed")
    return uuid


def _req(lab, method, path, body=None, version=None):
    req = webob.Request.blank(path, method=method)
    if version is not None:  # what the Microversion middleware negotiated
        req.environ["fake_lab.microversion"] = version
    if body is not None:
        req.body = json.dumps(body).encode()
        req.content_type = "application/json"
    resp = req.get_response(lab)
    return resp.status_int, (json.loads(resp.body) if resp.body else None), resp


def _show(lab, uuid):
    server = _req(lab, "GET", f"/servers/{uuid}")[1]["server"]
    return (server["status"], server["OS-EXT-STS:vm_state"],
            server["OS-EXT-STS:task_state"], server["OS-EXT-STS:power_state"])


def test_every_action_walks_to_novas_state_and_completes_its_task(cloud):
    uuid = _server(cloud)
    steps = [({"reboot": {"type": "SOFT"}}, ("ACTIVE", "active", None, 1)),
             ({"reboot": {"type": "HARD"}}, ("ACTIVE", "active", None, 1)),
             ({"os-stop": None}, ("SHUTOFF", "stopped", None, 4)),
             ({"reboot": {"type": "HARD"}}, ("ACTIVE", "active", None, 1)),
             ({"os-stop": None}, ("SHUTOFF", "stopped", None, 4)),
             ({"os-start": None}, ("ACTIVE", "active", None, 1)),
             ({"pause": None}, ("PAUSED", "paused", None, 3)),
             ({"unpause": None}, ("ACTIVE", "active", None, 1)),
             ({"suspend": None}, ("SUSPENDED", "suspended", None, 4)),
             ({"resume": None}, ("ACTIVE", "active", None, 1))]
    for body, expected in steps:
        status, answer, resp = _req(cloud, "POST", f"/servers/{uuid}/action", body)
        assert (status, answer) == (202, None), (body, answer)
        task = _req(cloud, "GET", f"/tasks/{resp.headers['x-fake-lab-task-id']}")[1]
        assert task["task"]["status"] == "completed", (body, task)
        assert task["task"]["kind"] == next(iter(body)).replace("os-", "")
        assert _show(cloud, uuid) == expected, body
    kinds = [t["kind"] for t in _req(cloud, "GET", "/tasks")[1]["tasks"]]
    assert kinds == ["boot", "reboot", "reboot", "stop", "reboot", "stop", "start",
                     "pause", "unpause", "suspend", "resume"]
    # each went to the instance's own host
    host = cloud.conductor.instance_get({}, uuid=uuid)["host"]
    assert {c[0] for c in cloud.compute.casts} == {host}
    assert ("reboot_instance", {"reboot_type": "HARD"}) in [
        c[1:] for c in cloud.compute.casts]


def test_the_task_state_while_the_cast_is_on_its_way(cloud):
    cloud.compute.deliver = False
    uuid = _server(cloud)
    assert _req(cloud, "POST", f"/servers/{uuid}/action",
                {"reboot": {"type": "SOFT"}})[0] == 202
    assert _show(cloud, uuid) == ("REBOOT", "active", "rebooting", 1)
    # a soft reboot cannot start again, a hard one takes over
    status, body, _ = _req(cloud, "POST", f"/servers/{uuid}/action",
                           {"reboot": {"type": "SOFT"}})
    assert status == 409 and body["conflictingRequest"]["message"] == (
        f"Cannot 'reboot' instance {uuid} while it is in task_state rebooting")
    assert _req(cloud, "POST", f"/servers/{uuid}/action",
                {"reboot": {"type": "HARD"}})[0] == 202
    assert _show(cloud, uuid) == ("HARD_REBOOT", "active", "rebooting_hard", 1)
    tasks = _req(cloud, "GET", "/tasks?status=in-progress")[1]["tasks"]
    assert [t["kind"] for t in tasks] == ["reboot", "reboot"]
    # the soft reboot's compute finds the hard one's task_state: preempted
    soft_task = tasks[0]["id"]
    cloud.compute.deliver = True
    m = manager.ComputeManager("fake-compute-x")
    m.conductor = cloud.conductor
    m.reboot_instance({}, instance_uuid=uuid, task_id=soft_task, reboot_type="SOFT")
    task = cloud.conductor.task_get({}, task_id=soft_task)
    assert task["status"] == "failed" and "UnexpectedTaskStateError" in task["reason"]
    assert _show(cloud, uuid)[2] == "rebooting_hard"
    m.reboot_instance({}, instance_uuid=uuid, task_id=tasks[1]["id"],
                      reboot_type="HARD")
    assert _show(cloud, uuid) == ("ACTIVE", "active", None, 1)


def test_conflicts_and_bad_requests(cloud):
    uuid = _server(cloud)
    action = f"/servers/{uuid}/action"
    assert _req(cloud, "POST", action, {"os-start": None})[1] == {
        "conflictingRequest": {"code": 409, "message":
                               f"Cannot 'start' instance {uuid} while it is in "
                               "vm_state active"}}
    assert _req(cloud, "POST", action, {"os-stop": None})[0] == 202
    status, body, _ = _req(cloud, "POST", action, {"os-stop": None})
    assert status == 409 and body["conflictingRequest"]["message"] == (
        f"Cannot 'stop' instance {uuid} while it is in vm_state stopped")
    for verb in ("pause", "suspend", "unpause", "resume"):
        status, body, _ = _req(cloud, "POST", action, {verb: None})
        assert status == 409, verb
    status, body, _ = _req(cloud, "POST", action, {"shelve": None})
    assert status == 400 and body["badRequest"]["message"] == (
        "There is no such action: shelve")
    assert _req(cloud, "POST", action, {"reboot": {"type": "WARM"}})[0] == 400
    assert _req(cloud, "POST", action, {"reboot": {}})[0] == 400
    assert _req(cloud, "POST", "/servers/nope/action", {"os-stop": None})[0] == 404
    # a conflict opened no task and cast nothing
    kinds = [t["kind"] for t in _req(cloud, "GET", "/tasks")[1]["tasks"]]
    assert kinds == ["boot", "stop"]
    assert [c[1] for c in cloud.compute.casts] == ["stop_instance"]


def test_a_server_without_a_host_is_not_ready(cloud):
    made = cloud.conductor.instance_create({}, name="x", flavor_id="1",
                                           image_id=None, request_id="r")
    uuid = made["instance"]["uuid"]
    cloud.conductor.instance_update({}, uuid=uuid, values={
        "status": "ERROR", "task_state": None})
    status, body, _ = _req(cloud, "POST", f"/servers/{uuid}/action", {"os-stop": None})
    assert status == 409 and body["conflictingRequest"]["message"] == (
        f"Instance {uuid} is not ready")


def test_hypervisors_limits_and_quotas(cloud):
    first = _server(cloud, "a", flavor="2")    # m1.small: 1 vcpu, 2048 MB, 20 GB
    _server(cloud, "b", flavor="3")            # m1.medium: 2 vcpus, 4096 MB, 40 GB
    _server(cloud, "c", flavor="1")            # m1.tiny: 1 vcpu, 512 MB, 1 GB
    listed = _req(cloud, "GET", "/os-hypervisors")[1]["hypervisors"]
    assert [(h["id"], h["hypervisor_hostname"], h["state"], h["status"])
            for h in listed] == [(1, "fake-compute-1", "up", "enabled"),
                                 (2, "fake-compute-2", "up", "enabled")]
    detail = _req(cloud, "GET", "/os-hypervisors/detail")[1]["hypervisors"]
    assert sum(h["running_vms"] for h in detail) == 3
    assert sum(h["vcpus_used"] for h in detail) == 4
    assert sum(h["memory_mb_used"] for h in detail) == 2048 + 4096 + 512
    assert sum(h["local_gb_used"] for h in detail) == 61
    for h in detail:
        assert h["vcpus"] == db.HOST_VCPUS and h["memory_mb"] == db.HOST_RAM
        assert h["free_ram_mb"] == h["memory_mb"] - h["memory_mb_used"]
        assert h["free_disk_gb"] == h["local_gb"] - h["local_gb_used"]
    shown = _req(cloud, "GET", "/os-hypervisors/1")[1]["hypervisor"]
    assert shown["hypervisor_hostname"] == "fake-compute-1"
    assert _req(cloud, "GET", "/os-hypervisors/9")[0] == 404

    absolute = _req(cloud, "GET", "/limits")[1]["limits"]["absolute"]
    assert (absolute["totalInstancesUsed"], absolute["totalCoresUsed"],
            absolute["totalRAMUsed"]) == (3, 4, 6656)
    assert absolute["maxTotalInstances"] == -1

    quota = _req(cloud, "GET", "/os-quota-sets/fake-lab")[1]["quota_set"]
    assert quota["id"] == "fake-lab" and quota["instances"] == -1
    detail = _req(cloud, "GET", "/os-quota-sets/fake-lab/detail")[1]["quota_set"]
    assert detail["cores"] == {"limit": -1, "in_use": 4, "reserved": 0}
    assert _req(cloud, "GET", "/os-quota-sets/fake-lab/defaults")[0] == 200

    # deleting gives the claim back, as placement does
    assert _req(cloud, "DELETE", f"/servers/{first}")[0] == 204
    detail = _req(cloud, "GET", "/os-hypervisors/detail")[1]["hypervisors"]
    assert sum(h["vcpus_used"] for h in detail) == 3
    assert sum(h["memory_mb_used"] for h in detail) == 4096 + 512
    assert sum(h["running_vms"] for h in detail) == 2


def test_what_quota_show_asks_of_the_one_endpoint(cloud):
    """With auth type none the client sends Keystone's and neutron's
    requests to the compute endpoint too (seen with --debug)."""
    assert _req(cloud, "GET", "/projects/fake-lab")[1]["project"]["id"] == "fake-lab"
    assert _req(cloud, "GET", "/projects/other")[0] == 404
    assert [p["name"] for p in _req(cloud, "GET", "/projects?name=fake-lab")[1][
        "projects"]] == ["fake-lab"]
    assert _req(cloud, "GET", "/projects?name=other")[1]["projects"] == []
    assert _req(cloud, "GET", "/quotas/fake-lab")[1]["quota"]["network"] == -1
    assert _req(cloud, "GET", "/quotas/fake-lab/default")[0] == 200
    assert _req(cloud, "GET", "/quotas/fake-lab/details")[1]["quota"]["port"] == {
        "limit": -1, "used": 0, "reserved": 0}
    assert _req(cloud, "GET", "/os-quota-sets/defaults")[0] == 200


def test_what_hypervisor_show_and_stats_ask(cloud):
    _server(cloud, "a", flavor="2")
    assert _req(cloud, "GET", "/os-aggregates")[1] == {"aggregates": []}
    up = _req(cloud, "GET", "/os-hypervisors/fake-compute-1/uptime")[1]["hypervisor"]
    assert up["hypervisor_hostname"] == "fake-compute-1" and "uptime" in up
    stats = _req(cloud, "GET", "/os-hypervisors/statistics")[1]["hypervisor_statistics"]
    assert (stats["count"], stats["vcpus_used"], stats["memory_mb_used"],
            stats["running_vms"]) == (2, 1, 2048, 1)


def test_the_flavor_is_embedded_from_2_47(cloud):
    uuid = _server(cloud, "a", flavor="2")
    old = _req(cloud, "GET", f"/servers/{uuid}", version=(2, 46))[1]["server"]
    assert old["flavor"]["id"] == "2" and "original_name" not in old["flavor"]
    new = _req(cloud, "GET", "/servers/detail", version=(2, 47))[1]["servers"][0]
    assert new["flavor"] == {"original_name": "m1.small", "vcpus": 1, "ram": 2048,
                             "disk": 20, "ephemeral": 0, "swap": 0, "extra_specs": {}}


def test_hypervisors_by_uuid_from_2_53(cloud):
    cloud.conductor.service_report({}, host="fake-compute-1", binary="nova-compute")
    cloud.conductor.service_report({}, host="fake-compute-2", binary="nova-compute")
    cloud.conductor.service_update({}, values={"disabled": True, "disabled_reason":
                                               "maintenance"},
                                   host="fake-compute-2", binary="nova-compute")
    with cloud.conductor.engine.begin() as conn:
        conn.execute(db.services.update().where(
            db.services.c.host == "fake-compute-1").values(
            updated_at=db.now() - datetime.timedelta(seconds=120)))
    listed = _req(cloud, "GET", "/os-hypervisors", version=(2, 53))[1]["hypervisors"]
    one, two = listed
    assert (one["hypervisor_hostname"], one["state"], one["status"]) == (
        "fake-compute-1", "down", "enabled")  # 120 s > nova's 60
    assert (two["state"], two["status"]) == ("up", "disabled")
    assert str(uuid_module.UUID(one["id"])) == one["id"]
    assert _req(cloud, "GET", "/os-hypervisors", version=(2, 52))[1][
        "hypervisors"][0]["id"] == 1
    shown = _req(cloud, "GET", f"/os-hypervisors/{two['id']}",
                 version=(2, 53))[1]["hypervisor"]
    assert shown["hypervisor_hostname"] == "fake-compute-2"
    svc = cloud.conductor.service_list({}, host="fake-compute-2")[0]
    assert shown["service"] == {"host": "fake-compute-2", "id": svc["uuid"],
                                "disabled_reason": "maintenance"}
    # by name: nova's 400, after which the client lists and matches names
    status, body, _ = _req(cloud, "GET", "/os-hypervisors/fake-compute-2",
                           version=(2, 53))
    assert status == 400 and body["badRequest"]["message"] == (
        "Invalid uuid fake-compute-2")
    assert _req(cloud, "GET", f"/os-hypervisors/{two['id']}/uptime",
                version=(2, 53))[0] == 200
    matched = _req(cloud, "GET", "/os-hypervisors/detail?hypervisor_hostname_pattern="
                   "compute-2&with_servers=true", version=(2, 53))[1]["hypervisors"]
    assert [(h["hypervisor_hostname"], h["servers"]) for h in matched] == [
        ("fake-compute-2", [])]
    assert _req(cloud, "GET", "/os-hypervisors?hypervisor_hostname_pattern=nope",
                version=(2, 53))[0] == 404


def test_limits_and_quotas_drop_the_proxies_as_nova_does(cloud):
    def absolute(version):
        return _req(cloud, "GET", "/limits", version=version)[1]["limits"]["absolute"]

    assert "maxImageMeta" in absolute((2, 38)) and "maxTotalFloatingIps" in absolute(
        (2, 35))
    assert "maxTotalFloatingIps" not in absolute((2, 36))
    assert "maxImageMeta" not in absolute((2, 39))
    quota = _req(cloud, "GET", "/os-quota-sets/fake-lab", version=(2, 36))[1][
        "quota_set"]
    assert "floating_ips" not in quota and quota["instances"] == -1
    assert "floating_ips" in _req(cloud, "GET", "/os-quota-sets/fake-lab")[1][
        "quota_set"]


def test_a_direct_save_keeps_the_request_id_and_logs_what_each_step_took(
        cloud, caplog):
    """[api] instance_save = direct: the state check and save run in the
    API's process, as nova-api's instance.save(); the request keeps its id
    (a manager's context.bind clears it when it returns)."""
    from fake_service import context

    uuid = _server(cloud)
    cloud.conductor = _CountingConductor(cloud.conductor)
    cloud._database = api._InProcess(cloud.conductor.manager)
    cloud.compute.deliver = False  # a cast does not run in the API's process
    context.set_request_id("req-direct")
    try:
        with caplog.at_level("INFO", logger="fake_nova_api.api"):
            resp = _req(cloud, "POST", f"/servers/{uuid}/action", {"os-stop": None})
        assert context.request_id() == "req-direct"
    finally:
        context.set_request_id(None)
    assert resp[0] == 202
    assert cloud.conductor.calls == []  # no RPC call before the cast
    assert [c[1] for c in cloud.compute.casts] == ["stop_instance"]
    assert _show(cloud, uuid) == ("ACTIVE", "active", "powering-off", 1)
    line = next(r.getMessage() for r in caplog.records
                if r.getMessage().startswith("server-action"))
    assert line.startswith(f"server-action stop of {uuid}: saved by the database in ")
    assert ", cast to fake-compute-" in line


class _CountingConductor:
    """The conductor as the API's RPC client: counts what is called on it."""

    def __init__(self, manager):
        self.manager, self.calls = manager, []

    def __getattr__(self, method):
        self.calls.append(method)
        return getattr(self.manager, method)
