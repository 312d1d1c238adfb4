"""The fake nova-api's REST resources (paste.deploy app factories).

Shaped like the compute API v2.1, in nova's JSON and fault formats:
- ``POST /servers`` writes the instance (BUILD, task_state scheduling) and
  its boot task through the conductor, calls the scheduler, casts
  ``build_and_run_instance`` to the chosen host, and answers 202 at once
  with the server id and the task id. With an ``Idempotency-Key`` header
  (not nova's: the lab's CMP client's), a boot whose key an earlier
  attempt already created is answered 202 with that server and its task,
  read back from the database, ``"replayed": true``, and nothing else is
  done; the key is unique in the instances table;
- ``GET /servers[/detail]``, ``GET /servers/<id>``, ``DELETE /servers/<id>``,
  ``GET /flavors[/detail]``, ``GET /flavors/<id>``, ``GET /tasks[/<id>]``:
  synchronous, each an RPC call to the conductor that waits for its reply;
- ``POST /servers/<id>/action``: nova's server actions (``reboot`` SOFT or
  HARD, ``os-stop``, ``os-start``, ``pause``, ``unpause``, ``suspend``,
  ``resume``): the conductor checks the state and sets the task_state (409
  in nova's words otherwise) and opens a task, the API casts to the
  instance's host and answers 202 (fake_compute/states.py, power.py);
- ``GET /os-hypervisors[/detail|/<id>]`` (the hosts, what is claimed and
  free), ``GET /limits`` and ``GET /os-quota-sets/<project>[/detail|
  /defaults]`` (no quota: -1, the use from the live servers' flavors), and
  what ``openstack quota show PROJECT`` asks of this one endpoint under
  auth type none (Keystone's ``/projects``, neutron's ``/quotas``);
- ``GET /os-services`` (each service's state, up or down, from its last
  report and ``[DEFAULT] service_down_time``, as nova's servicegroup
  decides it) and ``PUT /os-services/<id>`` (2.53's forced_down, status
  and disabled_reason; the older ``enable``, ``disable``,
  ``disable-log-reason`` and ``force-down`` too);
- ``GET /lab/long?seconds=S&payload=NAME``: an RPC call to the compute
  that holds one of its executor threads for S seconds
  (executor-pool-exhaustion);
- ``GET /lab/ping`` (an RPC call to the compute) and ``POST /lab/casts``
  (a cast; ``?count=N``: N casts at once, each on its own thread, which
  makes the send pool open several connections), which the heartbeat and
  pool scenarios use.
Every response says which worker process served it, because the lab matches
the broker's connections to that PID.
"""

import json
import os
import re
import threading
import time
import uuid

import oslo_messaging as messaging
import webob
import webob.dec
from oslo_log import log as logging

from fake_compute import rpcapi, servicegroup, states
from fake_nova_api import compute_rpcapi
from fake_service import context

LOG = logging.getLogger(__name__)

# 2.37: networks "none"; 2.47: the server's flavor embedded; 2.53: services
# and hypervisors by uuid, PUT /os-services/<uuid>.
MIN_VERSION, MAX_VERSION = (2, 1), (2, 53)
VERSION = {"id": "v2.1", "status": "CURRENT",
           "version": "%d.%d" % MAX_VERSION, "min_version": "%d.%d" % MIN_VERSION,
           "updated": "2013-07-23T11:33:21Z",
           "media-types": [{"base": "application/json",
                            "type": "application/vnd.openstack.compute+json;version=2.1"}],
           "links": [{"rel": "self", "href": "/v2.1/"}]}
POWER_STATES = states.POWER_STATES
# The header a client's retried boot carries (fake_lab/workload/client.py
# says why this name): every attempt of one boot has the same key, and the
# API answers a repeat with the server the first attempt created.
IDEMPOTENCY_HEADER = "Idempotency-Key"
# nova's Fault names; any other status is a computeFault (406 included).
FAULT_KEYS = {400: "badRequest", 401: "unauthorized", 403: "forbidden",
              404: "itemNotFound", 405: "badMethod", 409: "conflictingRequest"}


class Fault(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _json(status, body, headers=None):
    resp = webob.Response(status=status, content_type="application/json",
                          charset="utf-8", body=json.dumps(body).encode())
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def fault(status, message):
    """An error in nova's fault format."""
    key = FAULT_KEYS.get(status, "computeFault")
    return _json(status, {key: {"code": status, "message": message}})


class Versions:
    """``GET /``: the version document."""

    @classmethod
    def factory(cls, global_conf, **local_conf):
        return cls()

    @webob.dec.wsgify
    def __call__(self, req):
        version = dict(VERSION, links=[{"rel": "self",
                                        "href": req.host_url + "/v2.1/"}])
        return _json(200, {"versions": [version]})


def _server_view(req, inst, brief=False):
    base = req.host_url + "/v2.1"
    links = [{"rel": "self", "href": f"{base}/servers/{inst['uuid']}"},
             {"rel": "bookmark", "href": f"{req.host_url}/servers/{inst['uuid']}"}]
    if brief:
        return {"id": inst["uuid"], "name": inst["name"], "links": links}
    view = {
        "id": inst["uuid"], "name": inst["name"],
        "status": states.display_status(inst["status"], inst["task_state"]),
        "tenant_id": "fake-lab", "user_id": "fake-lab", "metadata": {},
        "hostId": "", "created": inst["created_at"], "updated": inst["updated_at"],
        "addresses": {}, "accessIPv4": "", "accessIPv6": "", "progress": 0,
        "key_name": None, "config_drive": "", "security_groups": [],
        "flavor": _embedded_flavor(req, inst),
        "image": {"id": inst["image_id"], "links": []} if inst["image_id"] else "",
        "OS-EXT-STS:task_state": inst["task_state"],
        "OS-EXT-STS:vm_state": states.vm_state(inst["status"]),
        "OS-EXT-STS:power_state": POWER_STATES.get(inst["power_state"], 0),
        "OS-EXT-SRV-ATTR:host": inst["host"],
        "OS-EXT-AZ:availability_zone": "nova",
        "OS-DCF:diskConfig": "MANUAL",
        "os-extended-volumes:volumes_attached": [],
        "links": links,
    }
    if inst.get("fault"):
        view["fault"] = {"code": 500, "message": inst["fault"],
                         "created": inst["updated_at"]}
    return view


def _embedded_flavor(req, inst):
    """The server's flavor: a link to it before 2.47, nova's copy of it on
    the instance from 2.47 on (original_name, no id)."""
    if _microversion(req) < (2, 47):
        return {"id": inst["flavor_id"], "links": [
            {"rel": "bookmark",
             "href": f"{req.host_url}/flavors/{inst['flavor_id']}"}]}
    flavor = inst.get("flavor") or {}
    return {"original_name": flavor.get("name", inst["flavor_id"]),
            "vcpus": flavor.get("vcpus", 0), "ram": flavor.get("ram", 0),
            "disk": flavor.get("disk", 0), "ephemeral": 0, "swap": 0,
            "extra_specs": {}}


def _service_down_time():
    """``[DEFAULT] service_down_time`` of the API's configuration (nova's
    default, 60, where none is loaded)."""
    from oslo_config import cfg

    try:
        return cfg.CONF.service_down_time
    except cfg.Error:
        return 60


def _is_uuid(text):
    try:
        uuid.UUID(str(text))
    except ValueError:
        return False
    return True


def _microversion(req):
    """The microversion the Microversion middleware negotiated."""
    return req.environ.get("fake_lab.microversion", MIN_VERSION)


def _flavor_view(req, flavor, brief=False):
    links = [{"rel": "self", "href": f"{req.host_url}/v2.1/flavors/{flavor['id']}"}]
    if brief:
        return {"id": flavor["id"], "name": flavor["name"], "links": links}
    return {"id": flavor["id"], "name": flavor["name"], "vcpus": flavor["vcpus"],
            "ram": flavor["ram"], "disk": flavor["disk"], "swap": 0,
            "OS-FLV-EXT-DATA:ephemeral": 0, "rxtx_factor": 1.0,
            "os-flavor-access:is_public": True, "OS-FLV-DISABLED:disabled": False,
            "description": None, "extra_specs": {}, "links": links}


class _InProcess:
    """The conductor's methods run in the API's own process (straight to
    the database), keeping the request's id: an endpoint's context.bind
    clears it when it returns, as it does in a service between messages."""

    def __init__(self, manager):
        self.manager = manager

    def __getattr__(self, method):
        bound = getattr(self.manager, method)

        def run(*args, **kwargs):
            request_id = context.request_id()
            try:
                return bound(*args, **kwargs)
            finally:
                context.set_request_id(request_id)
        return run


class LabAPI:
    """The /v2.1 resources, routed by method and path."""

    ROUTES = [
        ("GET", r"/", "version"),
        ("GET", r"/lab/ping", "ping"),
        ("POST", r"/lab/casts", "cast"),
        ("GET", r"/lab/long", "long_operation"),
        ("POST", r"/servers", "server_create"),
        ("GET", r"/servers", "server_list"),
        ("GET", r"/servers/detail", "server_detail"),
        ("GET", r"/servers/(?P<id>[^/]+)", "server_show"),
        ("DELETE", r"/servers/(?P<id>[^/]+)", "server_delete"),
        ("POST", r"/servers/(?P<id>[^/]+)/action", "server_action"),
        ("GET", r"/os-hypervisors", "hypervisor_list"),
        ("GET", r"/os-hypervisors/detail", "hypervisor_detail"),
        ("GET", r"/os-hypervisors/statistics", "hypervisor_statistics"),
        ("GET", r"/os-hypervisors/(?P<id>[^/]+)", "hypervisor_show"),
        ("GET", r"/os-hypervisors/(?P<id>[^/]+)/uptime", "hypervisor_uptime"),
        ("GET", r"/os-aggregates", "aggregate_list"),
        ("GET", r"/os-services", "service_list"),
        ("PUT", r"/os-services/(?P<id>[^/]+)", "service_update"),
        ("GET", r"/limits", "limits"),
        ("GET", r"/os-quota-sets/(?P<project>[^/]+)", "quota_show"),
        ("GET", r"/os-quota-sets/(?P<project>[^/]+)/detail", "quota_detail"),
        ("GET", r"/os-quota-sets/(?P<project>[^/]+)/defaults", "quota_defaults"),
        ("GET", r"/projects", "project_list"),
        ("GET", r"/quotas/(?P<project>[^/]+)", "network_quota_show"),
        ("GET", r"/quotas/(?P<project>[^/]+)/details(\.json)?", "network_quota_detail"),
        ("GET", r"/quotas/(?P<project>[^/]+)/default", "network_quota_show"),
        ("GET", r"/projects/(?P<id>[^/]+)", "project_show"),
        ("GET", r"/flavors", "flavor_list"),
        ("GET", r"/flavors/detail", "flavor_detail"),
        ("GET", r"/flavors/(?P<id>[^/]+)", "flavor_show"),
        ("GET", r"/tasks", "task_list"),
        ("GET", r"/tasks/(?P<id>[^/]+)", "task_show"),
    ]

    def __init__(self):
        self.compute = compute_rpcapi.ComputeAPI()
        self.conductor = rpcapi.ConductorAPI()
        self.scheduler = rpcapi.SchedulerAPI()
        self.routes = [(m, re.compile(p + "$"), h) for m, p, h in self.ROUTES]
        self._database = self._direct_database()

    @classmethod
    def factory(cls, global_conf, **local_conf):
        return cls()

    @webob.dec.wsgify
    def __call__(self, req):
        path = req.path_info.rstrip("/") or "/"
        allowed = []
        for method, pattern, handler in self.routes:
            m = pattern.match(path)
            if m:
                if method == req.method:
                    try:
                        return getattr(self, handler)(req, **m.groupdict())
                    except Fault as exc:
                        return fault(exc.status, str(exc))
                    except messaging.MessagingTimeout as exc:
                        return fault(504, f"MessagingTimeout: {exc}")
                allowed.append(method)
        if allowed:
            return fault(405, f"{req.method} is not allowed on {req.path_info}")
        return fault(404, f"{req.method} {req.path_info} is not a resource "
                          "of the fake nova-api")

    def _ctx(self):
        return context.rpc_context()

    # -- the heartbeat scenarios' resources ------------------------------

    def version(self, req):
        return _json(200, {"version": dict(VERSION, links=[
            {"rel": "self", "href": req.host_url + "/v2.1/"}])})

    def ping(self, req):
        started = time.monotonic()
        reply = self.compute.ping(self._ctx(), payload=req.params.get("payload"))
        return _json(200, {"reply": reply, "api_pid": os.getpid(),
                           "rpc_seconds": time.monotonic() - started})

    MAX_LONG = 60

    def long_operation(self, req):
        try:
            seconds = float(req.params.get("seconds", 1))
        except ValueError:
            seconds = -1
        if not 0 <= seconds <= self.MAX_LONG:
            raise Fault(400, f"seconds must be a number from 0 to {self.MAX_LONG}")
        started = time.monotonic()
        reply = self.compute.long_operation(self._ctx(), seconds,
                                            payload=req.params.get("payload"))
        return _json(200, {"reply": reply, "api_pid": os.getpid(),
                           "rpc_seconds": time.monotonic() - started})

    MAX_BURST = 64

    def cast(self, req):
        payload = self._body(req)
        try:
            count = int(req.params.get("count", 1))
        except ValueError:
            count = 0
        if not 1 <= count <= self.MAX_BURST:
            raise Fault(400, f"count must be an integer from 1 to {self.MAX_BURST}")
        ctxt = self._ctx()
        started = time.monotonic()
        if count == 1:
            self.compute.record(ctxt, payload=payload)
        else:
            self._burst(ctxt, count, payload)
        return _json(202, {"api_pid": os.getpid(), "casts": count,
                           "rpc_seconds": time.monotonic() - started})

    def _burst(self, ctxt, count, payload):
        """``count`` casts at once, each on its own thread (a green thread in
        a patched worker): they find the send pool empty together, so the
        pool opens up to rpc_conn_pool_size connections, as a busy nova-api
        worker's pool does."""
        errors = []
        # Released together: started one by one, the first threads could
        # have cast and given their connection back before the last one
        # started (16 casts took 0.05 s here), and the pool saw no burst.
        start = threading.Barrier(count)

        def one():
            try:
                start.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass  # a thread that never started: cast anyway
            try:
                self.compute.record(ctxt, payload=payload)
            except Exception as exc:  # re-raised in the request's thread
                errors.append(exc)

        threads = [threading.Thread(target=one) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    # -- servers ------------------------------------------------------------

    def _body(self, req):
        try:
            return json.loads(req.body or b"{}")
        except ValueError:
            raise Fault(400, "Malformed request body: not JSON")

    def server_create(self, req):
        body = self._body(req)
        server = body.get("server") if isinstance(body, dict) else None
        if not isinstance(server, dict):
            raise Fault(400, "Invalid input for field/attribute server: "
                             "'server' is a required property")
        name = server.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise Fault(400, "Invalid input for field/attribute name: a "
                             "non-empty string of at most 255 characters is required")
        flavor_ref, image_ref = server.get("flavorRef"), server.get("imageRef")
        if not flavor_ref:
            raise Fault(400, "Invalid input for field/attribute flavorRef: "
                             "'flavorRef' is a required property")
        key = req.headers.get(IDEMPOTENCY_HEADER)
        if key is not None and not 0 < len(key.strip()) <= 255:
            raise Fault(400, f"Invalid {IDEMPOTENCY_HEADER}: a non-empty string "
                             "of at most 255 characters is required")
        key = key.strip() if key else None
        ctxt = self._ctx()
        if key:
            # A retry of a boot this API already created: answer with it,
            # and make no second server, scheduling or cast.
            found = self.conductor.instance_find_by_key(ctxt, idempotency_key=key)
            if found is not None:
                return self._replay(req, ctxt, key, name, found)
        flavor = self.conductor.flavor_find(ctxt, ref=str(flavor_ref))
        if flavor is None:
            raise Fault(400, f"Flavor {flavor_ref} could not be found.")
        image = None
        if image_ref:
            image = self.conductor.image_find(ctxt, ref=str(image_ref))
            if image is None:
                raise Fault(400, f"Image {image_ref} could not be found.")
        created = self.conductor.instance_create(
            ctxt, name=name, flavor_id=flavor["id"],
            image_id=image["id"] if image else None,
            request_id=context.request_id(), idempotency_key=key)
        if created.get("replayed"):  # another attempt inserted it first
            return self._replay(req, ctxt, key, name, created)
        inst, task = created["instance"], created["task"]
        try:
            host = self.scheduler.select_destinations(
                ctxt, flavor=flavor, request_id=context.request_id())
            self.conductor.instance_update(ctxt, uuid=inst["uuid"],
                                           values={"host": host})
            self.compute.build_and_run_instance(ctxt, host, inst["uuid"], task["id"])
        except Exception as exc:
            # Accepted all the same, as nova does: the server goes to ERROR
            # and its task says why.
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            LOG.warning("boot of %s failed before the compute: %s", inst["uuid"], reason)
            self.conductor.instance_update(ctxt, uuid=inst["uuid"], values={
                "status": "ERROR", "task_state": None, "fault": reason})
            self.conductor.task_finish(ctxt, task_id=task["id"], status="failed",
                                       reason=reason)
        view = _server_view(req, inst, brief=True)
        view.update({"adminPass": "fake-lab", "OS-DCF:diskConfig": "MANUAL",
                     "security_groups": [{"name": "default"}]})
        return _json(202, {"server": view, "task": {"id": task["id"]},
                           "replayed": False, "api_pid": os.getpid()},
                     headers={"Location": view["links"][0]["href"],
                              "x-fake-lab-task-id": task["id"]})

    def _replay(self, req, ctxt, key, name, found):
        """202 with the server and task an earlier attempt of this boot (its
        idempotency key) created, once the task is read back from the
        database: an answer for a row the database no longer has (a
        failover lost it) would tell the client a lie. 409 when the key
        came with another server's name: not a retry but a reused key."""
        inst = found["instance"]
        if inst["name"] != name:
            raise Fault(409, f"{IDEMPOTENCY_HEADER} {key} was used for server "
                             f"{inst['name']!r}, not {name!r}")
        task_id = (found.get("task") or {}).get("id")
        task = self.conductor.task_get(ctxt, task_id=task_id) if task_id else None
        if task is None:
            # Unknown to the client, as any 5xx: it may retry.
            raise Fault(503, f"the boot task of server {inst['uuid']} "
                             f"({IDEMPOTENCY_HEADER} {key}) could not be read back")
        LOG.info("boot of %s replayed for %s %s: server %s (created by %s), "
                 "task %s %s, read back", name, IDEMPOTENCY_HEADER, key,
                 inst["uuid"], inst["request_id"], task["id"], task["status"])
        view = _server_view(req, inst, brief=True)
        view.update({"OS-DCF:diskConfig": "MANUAL",
                     "security_groups": [{"name": "default"}]})
        return _json(202, {"server": view,
                           "task": {"id": task["id"], "status": task["status"]},
                           "replayed": True, "api_pid": os.getpid()},
                     headers={"Location": view["links"][0]["href"],
                              "x-fake-lab-task-id": task["id"],
                              "x-fake-lab-replayed": "true"})

    def _servers(self, req):
        return self.conductor.instance_list(
            self._ctx(), name=req.params.get("name"),
            status=req.params.get("status"), limit=req.params.get("limit"))

    def server_list(self, req):
        return _json(200, {"servers": [_server_view(req, i, brief=True)
                                       for i in self._servers(req)]})

    def server_detail(self, req):
        return _json(200, {"servers": [_server_view(req, i) for i in self._servers(req)]})

    def _instance(self, server_id):
        inst = self.conductor.instance_get(self._ctx(), uuid=server_id)
        if inst is None:
            raise Fault(404, f"Instance {server_id} could not be found.")
        return inst

    def server_show(self, req, id):
        return _json(200, {"server": _server_view(req, self._instance(id))})

    def server_delete(self, req, id):
        self._instance(id)
        self.conductor.instance_delete(self._ctx(), uuid=id)
        return webob.Response(status=204)

    def server_action(self, req, id):
        """nova's server actions: reboot (SOFT or HARD), os-stop, os-start,
        pause, unpause, suspend, resume. Checked and saved by the conductor
        (nova's 409 on a wrong state), cast to the instance's host, 202 with
        no body (the task's id in ``x-fake-lab-task-id``)."""
        body = self._body(req)
        if not isinstance(body, dict) or len(body) != 1:
            raise Fault(400, "Malformed request body: one action expected")
        (name, args), = body.items()
        if name not in states.BODY_KEYS:
            raise Fault(400, f"There is no such action: {name}")
        reboot_type = None
        if name == "reboot":
            reboot_type = args.get("type") if isinstance(args, dict) else None
            if reboot_type not in states.REBOOT_TYPES:
                raise Fault(400, f"Invalid input for field/attribute type. Value: "
                                 f"{reboot_type}. {reboot_type!r} is not one of "
                                 f"{list(states.REBOOT_TYPES)}")
            key = states.action_key("reboot", reboot_type)
        else:
            key = states.BODY_KEYS[name]
        ctxt = self._ctx()
        saver, via = self._instance_saver()
        began = time.monotonic()
        started = saver.instance_action_start(
            ctxt, uuid=id, action=key, request_id=context.request_id() or "-")
        checked = time.monotonic()
        if started is None:
            raise Fault(404, f"Instance {id} could not be found.")
        if "conflict" in started:
            raise Fault(409, started["conflict"])
        inst, task = started["instance"], started["task"]
        action = states.ACTIONS[key]
        kwargs = {"reboot_type": reboot_type.upper()} if reboot_type else {}
        try:
            self.compute.instance_action(ctxt, inst["host"], action.method,
                                         inst["uuid"], task["id"], **kwargs)
        except Exception as exc:
            # nova would answer 500 with the task_state left set; the lab
            # puts it back and fails the task, so that the server can be
            # acted on again.
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            LOG.warning("%s of %s not cast: %s", key, inst["uuid"], reason)
            saver.instance_update_expected(
                ctxt, uuid=inst["uuid"], values={"task_state": None},
                expected_task_state=[action.task_state])
            saver.task_finish(ctxt, task_id=task["id"], status="failed",
                              reason=reason)
            raise Fault(500, f"Unexpected API Error: {reason}")
        # What each step of the action cost, read back by the
        # action-during-heartbeat-loss checker: the state check and save
        # (an RPC call, or the database) and the cast to the host.
        LOG.info("server-action %s of %s: saved by the %s in %.3f s, cast to %s "
                 "in %.3f s", key, inst["uuid"], via, checked - began, inst["host"],
                 time.monotonic() - checked)
        resp = webob.Response(status=202)
        resp.headers["x-fake-lab-task-id"] = task["id"]
        return resp

    def _instance_saver(self):
        """(where a server action's state is checked and saved, its name):
        the conductor over RPC, or with ``[api] instance_save = direct`` the
        database itself, as nova-api's instance.save() writes it."""
        if self._database is None:
            return self.conductor, "conductor"
        return self._database, "database"

    @staticmethod
    def _direct_database():
        """The database, opened in the API's process, when ``[api]
        instance_save = direct``; else None. Made when the app loads, so
        that the first action does not pay for it."""
        from oslo_config import cfg

        try:
            if cfg.CONF.api.instance_save != "direct":
                return None
            url = cfg.CONF.database.connection
        except cfg.Error:  # no configuration loaded (unit tests)
            return None
        if not url:  # a run without a database has no servers to act on
            return None
        from fake_compute import conductor

        return _InProcess(conductor.ConductorManager(url))

    # -- hypervisors, limits and quotas ---------------------------------------

    def _hypervisors(self):
        return self.conductor.hypervisor_list(self._ctx())

    @staticmethod
    def _hypervisor_view(req, h, brief=False, servers=None):
        """nova's hypervisor: its state and status from its nova-compute
        service (is_up, disabled; a host that has not reported yet is not
        judged, as the scheduler has it), the ids integers before 2.53 and
        uuids from it."""
        version = _microversion(req)
        uuids = version >= (2, 53)
        svc = h.get("service") or {}
        up = not svc or servicegroup.is_up(svc, _service_down_time())
        view = {"id": h["uuid"] if uuids else h["id"],
                "hypervisor_hostname": h["name"], "state": "up" if up else "down",
                "status": "disabled" if svc.get("disabled") else "enabled"}
        if servers is not None:
            view["servers"] = servers
        if brief:
            return view
        view.update({
            "hypervisor_type": "fake", "hypervisor_version": 1000,
            "host_ip": "127.0.0.1",
            "vcpus": h["vcpus"], "vcpus_used": h["vcpus_used"],
            "memory_mb": h["ram"], "memory_mb_used": h["ram_used"],
            "free_ram_mb": h["ram"] - h["ram_used"],
            "local_gb": h["disk"], "local_gb_used": h["disk_used"],
            "free_disk_gb": h["disk"] - h["disk_used"],
            "disk_available_least": h["disk"] - h["disk_used"],
            "current_workload": 0, "running_vms": h["running_vms"],
            "cpu_info": {} if version >= (2, 28) else "{}",
            "service": {"host": h["name"],
                        "id": svc.get("uuid" if uuids else "id", h["id"]),
                        "disabled_reason": svc.get("disabled_reason")}})
        return view

    def _hypervisor_views(self, req, brief):
        """GET /os-hypervisors[/detail]; from 2.53 with nova's filters
        ``hypervisor_hostname_pattern`` (a substring, as nova's LIKE
        %pattern%) and ``with_servers``."""
        found = self._hypervisors()
        with_servers = False
        if _microversion(req) >= (2, 53):
            pattern = req.params.get("hypervisor_hostname_pattern")
            if pattern is not None:
                found = [h for h in found if pattern in h["name"]]
                if not found:
                    raise Fault(404, f"No hypervisor matching '{pattern}' could "
                                     "be found.")
            with_servers = req.params.get("with_servers", "").lower() in (
                "1", "true", "yes", "on")
        servers = {}
        if with_servers:
            for inst in self.conductor.instance_list(self._ctx()):
                servers.setdefault(inst["host"], []).append(
                    {"name": inst["name"], "uuid": inst["uuid"]})
        return _json(200, {"hypervisors": [
            self._hypervisor_view(req, h, brief=brief, servers=servers.get(
                h["name"], []) if with_servers else None) for h in found]})

    def hypervisor_list(self, req):
        return self._hypervisor_views(req, brief=True)

    def hypervisor_detail(self, req):
        return self._hypervisor_views(req, brief=False)

    def _hypervisor(self, req, id):
        """By uuid from 2.53 (nova's 400 for anything else: the client then
        lists and matches the name itself); before it by id, or by name."""
        if _microversion(req) >= (2, 53):
            if not _is_uuid(id):
                raise Fault(400, f"Invalid uuid {id}")
            keys = ("uuid",)
        else:
            keys = ("id", "name")
        found = next((h for h in self._hypervisors()
                      if any(str(h[k]) == id for k in keys)), None)
        if found is None:
            raise Fault(404, f"Hypervisor with ID {id} could not be found.")
        return found

    def hypervisor_show(self, req, id):
        return _json(200, {"hypervisor": self._hypervisor_view(
            req, self._hypervisor(req, id))})

    def hypervisor_uptime(self, req, id):
        view = self._hypervisor_view(req, self._hypervisor(req, id), brief=True)
        view["uptime"] = " 00:00:00 up 0 min,  0 users,  load average: 0.00, 0.00, 0.00"
        return _json(200, {"hypervisor": view})

    def hypervisor_statistics(self, req):
        views = [self._hypervisor_view(req, h) for h in self._hypervisors()]
        keys = ("vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "free_ram_mb",
                "local_gb", "local_gb_used", "free_disk_gb", "disk_available_least",
                "current_workload", "running_vms")
        stats = {k: sum(v[k] for v in views) for k in keys}
        stats["count"] = len(views)
        return _json(200, {"hypervisor_statistics": stats})

    def aggregate_list(self, req):
        """The lab has no host aggregates (``hypervisor show`` asks)."""
        return _json(200, {"aggregates": []})

    # -- services (nova's os-services, state from the servicegroup) ----------

    LEGACY_SERVICE_ACTIONS = ("enable", "disable", "disable-log-reason", "force-down")

    @staticmethod
    def _service_view(req, svc, down_time, now):
        """nova's service view: the state from the last report (is_up), the
        id an integer before 2.53 and the uuid from it, forced_down from 2.11."""
        version = _microversion(req)
        view = {"id": svc["uuid"] if version >= (2, 53) else svc["id"],
                "binary": svc["binary"], "host": svc["host"],
                "zone": "nova" if svc["binary"] == "nova-compute" else "internal",
                "status": "disabled" if svc["disabled"] else "enabled",
                "state": "up" if servicegroup.is_up(svc, down_time, now) else "down",
                "updated_at": (svc["updated_at"] or "").rstrip("Z") or None,
                "disabled_reason": svc["disabled_reason"]}
        if version >= (2, 11):
            view["forced_down"] = bool(svc["forced_down"])
        return view

    def service_list(self, req):
        services = self.conductor.service_list(
            self._ctx(), host=req.params.get("host"),
            binary=req.params.get("binary"))
        now, down_time = servicegroup.utcnow(), _service_down_time()
        return _json(200, {"services": [self._service_view(req, s, down_time, now)
                                        for s in services]})

    def service_update(self, req, id):
        """``PUT /os-services/<id>`` as 2.53 has it (status enabled or
        disabled with a disabled_reason, forced_down), and the actions
        before it, which the client sends to an API whose maximum is under
        2.53: ``enable``, ``disable``, ``disable-log-reason`` and (2.11)
        ``force-down``, each naming the host and binary."""
        body = self._body(req)
        if not isinstance(body, dict):
            raise Fault(400, "Malformed request body")
        if _microversion(req) >= (2, 53):
            # nova: from 2.53 the id is the service's uuid, and the actions
            # below are gone.
            if not _is_uuid(id):
                raise Fault(400, f"Invalid uuid {id}")
        elif id in self.LEGACY_SERVICE_ACTIONS:
            return self._service_action(req, id, body)
        values = {}
        status = body.get("status")
        if status is not None:
            if status not in ("enabled", "disabled"):
                raise Fault(400, f"Invalid input for field/attribute status. "
                                 f"Value: {status}. {status!r} is not one of "
                                 "['enabled', 'disabled']")
            values["disabled"] = status == "disabled"
            values["disabled_reason"] = (body.get("disabled_reason")
                                         if status == "disabled" else None)
        elif "disabled_reason" in body:
            raise Fault(400, "Specifying 'disabled_reason' with status "
                             "'enabled' is invalid.")
        if "forced_down" in body:
            if not isinstance(body["forced_down"], bool):
                raise Fault(400, "Invalid input for field/attribute forced_down.")
            values["forced_down"] = body["forced_down"]
        if not values:
            raise Fault(400, "No updates were requested. Fields 'status' or "
                             "'forced_down' should be specified.")
        found = self.conductor.service_list(self._ctx())
        svc = next((s for s in found if id in (s["uuid"], str(s["id"]))), None)
        if svc is None:
            raise Fault(404, f"Service {id} could not be found.")
        if svc["binary"] != "nova-compute":
            raise Fault(400, f"Updating a {svc['binary']} service is not "
                             "supported. Only nova-compute services can be "
                             "updated.")
        svc = self.conductor.service_update(self._ctx(), values=values,
                                            id=svc["uuid"])
        return _json(200, {"service": self._service_view(
            req, svc, _service_down_time(), servicegroup.utcnow())})

    def _service_action(self, req, action, body):
        host, binary = body.get("host"), body.get("binary")
        if not host or not binary:
            raise Fault(400, "Invalid input: 'host' and 'binary' are required")
        if action == "force-down":
            if _microversion(req) < (2, 11):
                raise Fault(404, "PUT /os-services/force-down needs "
                                 "microversion 2.11 or later")
            forced = body.get("forced_down")
            if not isinstance(forced, bool):
                raise Fault(400, "Invalid input for field/attribute forced_down.")
            values, shown = {"forced_down": forced}, {"forced_down": forced}
        elif action == "enable":
            values = {"disabled": False, "disabled_reason": None}
            shown = {"status": "enabled"}
        else:
            reason = body.get("disabled_reason") if action == "disable-log-reason" else None
            if action == "disable-log-reason" and not reason:
                raise Fault(400, "Missing disabled reason field")
            values = {"disabled": True, "disabled_reason": reason}
            shown = {"status": "disabled"}
            if reason:
                shown["disabled_reason"] = reason
        svc = self.conductor.service_update(self._ctx(), values=values, host=host,
                                            binary=binary)
        if svc is None:
            raise Fault(404, f"Service {binary} on host {host} could not be found.")
        return _json(200, {"service": dict({"host": host, "binary": binary}, **shown)})

    # The lab enforces no quota (only the hosts' capacity, by the
    # scheduler): every limit is nova's "unlimited", -1; what is used comes
    # from the flavors of the live servers.
    QUOTAS = ("instances", "cores", "ram", "metadata_items", "injected_files",
              "injected_file_content_bytes", "injected_file_path_bytes",
              "key_pairs", "server_groups", "server_group_members",
              "fixed_ips", "floating_ips", "security_groups",
              "security_group_rules")

    # nova's proxies to neutron and glance, dropped from the answers at 2.36
    # (the network quotas and limits) and 2.39 (maxImageMeta).
    NETWORK_PROXIES = ("fixed_ips", "floating_ips", "security_groups",
                       "security_group_rules")
    NETWORK_LIMITS = ("maxTotalFloatingIps", "maxSecurityGroups",
                      "maxSecurityGroupRules", "totalFloatingIpsUsed",
                      "totalSecurityGroupsUsed")

    def limits(self, req):
        used = self.conductor.usage(self._ctx())
        absolute = {
            "maxTotalInstances": -1, "maxTotalCores": -1, "maxTotalRAMSize": -1,
            "maxServerMeta": -1, "maxImageMeta": -1, "maxPersonality": -1,
            "maxPersonalitySize": -1, "maxTotalKeypairs": -1,
            "maxServerGroups": -1, "maxServerGroupMembers": -1,
            "maxTotalFloatingIps": -1, "maxSecurityGroups": -1,
            "maxSecurityGroupRules": -1,
            "totalInstancesUsed": used["instances"], "totalCoresUsed": used["vcpus"],
            "totalRAMUsed": used["ram"], "totalFloatingIpsUsed": 0,
            "totalSecurityGroupsUsed": 0, "totalServerGroupsUsed": 0}
        version = _microversion(req)
        if version >= (2, 36):
            for name in self.NETWORK_LIMITS:
                absolute.pop(name)
        if version >= (2, 39):
            absolute.pop("maxImageMeta")
        return _json(200, {"limits": {"rate": [], "absolute": absolute}})

    def _quota_set(self, req, project, detail):
        used = self.conductor.usage(self._ctx()) if detail else {}
        in_use = {"instances": used.get("instances", 0),
                  "cores": used.get("vcpus", 0), "ram": used.get("ram", 0)}
        quota = {"id": project}
        dropped = self.NETWORK_PROXIES if _microversion(req) >= (2, 36) else ()
        for name in self.QUOTAS:
            if name not in dropped:
                quota[name] = ({"limit": -1, "in_use": in_use.get(name, 0),
                                "reserved": 0} if detail else -1)
        return _json(200, {"quota_set": quota})

    def quota_show(self, req, project):
        return self._quota_set(req, project, detail=False)

    def quota_detail(self, req, project):
        return self._quota_set(req, project, detail=True)

    def quota_defaults(self, req, project):
        return self._quota_set(req, project, detail=False)

    # With auth type "none" the client sends every service's requests to
    # the compute endpoint, Keystone's too: ``openstack quota show PROJECT``
    # looks the project up here. The lab has one project, the one every
    # server belongs to (tenant_id "fake-lab").
    PROJECT = {"id": "fake-lab", "name": "fake-lab", "domain_id": "default",
               "parent_id": "default", "enabled": True, "is_domain": False,
               "description": "the fake lab's only project", "tags": [],
               "options": {}}

    def _project_view(self, req):
        return dict(self.PROJECT, links={
            "self": f"{req.host_url}/v2.1/projects/{self.PROJECT['id']}"})

    NETWORK_QUOTAS = ("network", "subnet", "port", "router", "floatingip",
                      "security_group", "security_group_rule", "rbac_policy",
                      "subnetpool")

    def network_quota_show(self, req, project):
        """Neutron's quotas, asked of this endpoint too (auth type none):
        the lab has no network service, so nothing is used or limited."""
        return _json(200, {"quota": {n: -1 for n in self.NETWORK_QUOTAS}})

    def network_quota_detail(self, req, project):
        return _json(200, {"quota": {n: {"limit": -1, "used": 0, "reserved": 0}
                                     for n in self.NETWORK_QUOTAS}})

    def project_list(self, req):
        name = req.params.get("name")
        found = [] if name not in (None, self.PROJECT["name"]) else [
            self._project_view(req)]
        return _json(200, {"projects": found, "links": {
            "self": req.url, "previous": None, "next": None}})

    def project_show(self, req, id):
        if id != self.PROJECT["id"]:
            raise Fault(404, f"Could not find project: {id}.")
        return _json(200, {"project": self._project_view(req)})

    # -- flavors and tasks ----------------------------------------------------

    def flavor_list(self, req):
        return _json(200, {"flavors": [_flavor_view(req, f, brief=True)
                                       for f in self.conductor.flavor_list(self._ctx())]})

    def flavor_detail(self, req):
        return _json(200, {"flavors": [_flavor_view(req, f)
                                       for f in self.conductor.flavor_list(self._ctx())]})

    def flavor_show(self, req, id):
        flavor = next((f for f in self.conductor.flavor_list(self._ctx())
                       if f["id"] == id), None)
        if flavor is None:
            raise Fault(404, f"Flavor {id} could not be found.")
        return _json(200, {"flavor": _flavor_view(req, flavor)})

    def task_list(self, req):
        return _json(200, {"tasks": self.conductor.task_list(
            self._ctx(), status=req.params.get("status"))})

    def task_show(self, req, id):
        task = self.conductor.task_get(self._ctx(), task_id=id)
        if task is None:
            raise Fault(404, f"Task {id} could not be found.")
        return _json(200, {"task": task})
