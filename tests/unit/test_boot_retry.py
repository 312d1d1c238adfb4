"""The client's retry of a boot (``[workload] retry``: off, key, no-key)
against a scripted HTTP server on loopback, and the fake nova-api's
deduplication on the idempotency key, on SQLite, without a broker."""

import http.server
import json
import socket
import threading

import pytest
import webob

from fake_compute import conductor, scheduler
from fake_lab import history
from fake_lab.workload import client as client_mod
from fake_nova_api import api
from fake_service import context, db

BODY = {"server": {"name": "during-1", "flavorRef": "m1.tiny", "imageRef": "cirros"}}


class Settings:
    def __init__(self, retry="off", attempts=3, interval=0.05):
        self.values = {"workload": {"retry": retry, "retry_attempts": attempts,
                                    "retry_interval": interval},
                       "DEFAULT": {"rpc_response_timeout": 5}}

    def get(self, group, name):
        return self.values[group][name]


class Script(http.server.ThreadingHTTPServer):
    """Answers each POST with the next of ``answers``: an HTTP status (202
    with a server and task, any other with a fault), or "reset" (the
    connection closed with no answer); records each request's headers."""

    daemon_threads = True

    def __init__(self, answers):
        super().__init__(("127.0.0.1", 0), Handler)
        self.answers, self.seen = list(answers), []


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        n = len(self.server.seen)
        self.server.seen.append(dict(self.headers))
        answer = self.server.answers[min(n, len(self.server.answers) - 1)]
        if answer == "reset":
            # No answer at all: the request may have been received.
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if answer == 202:
            body = {"server": {"id": "srv-1"}, "task": {"id": "task-1"},
                    "replayed": n > 0, "api_pid": 4242}
        else:
            body = {"computeFault": {"code": answer, "message": "boom"}}
        data = json.dumps(body).encode()
        self.send_response(answer)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-openstack-request-id", f"req-{n + 1}")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def serve():
    servers = []

    def start(*answers):
        server = Script(answers)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class Lab:
    def __init__(self, url):
        self.api_url = url


def boot(tmp_path, url, settings):
    hist = history.History(str(tmp_path / "history.jsonl"))
    client = client_mod.Client(Lab(url), hist, settings, say=lambda line: None)
    outcome, value = client.boot("during-1", BODY)
    hist.close()
    ops = list(history.operations(history.read(hist.path)).values())
    assert len(ops) == 1  # one operation per logical boot, whatever the attempts
    return outcome, value, ops[0]


def test_with_retry_off_a_5xx_is_one_unknown_attempt(tmp_path, serve):
    server = serve(500, 202)
    outcome, value, op = boot(tmp_path, f"http://127.0.0.1:{server.server_port}",
                              Settings("off"))
    assert outcome == history.INFO and len(server.seen) == 1
    assert [a["status"] for a in value["attempts"]] == [500]
    assert op["invoke"]["value"]["retry"] == "off"
    assert client_mod.IDEMPOTENCY_HEADER not in server.seen[0]


def test_with_a_key_every_attempt_carries_the_same_one(tmp_path, serve):
    server = serve(500, "reset", 202)
    outcome, value, op = boot(tmp_path, f"http://127.0.0.1:{server.server_port}",
                              Settings("key", attempts=4))
    assert outcome == history.OK
    keys = [h.get(client_mod.IDEMPOTENCY_HEADER) for h in server.seen]
    assert len(keys) == 3 and len(set(keys)) == 1 and keys[0]
    assert op["invoke"]["value"]["idempotency_key"] == keys[0]
    tried = op["done"]["value"]["attempts"]
    assert [(a["outcome"], a["status"]) for a in tried] == [
        ("info", 500), ("info", None), ("ok", 202)]
    assert tried[1]["error"]  # the reset, said
    assert (value["server_id"], value["task_id"], value["request_id"]) == (
        "srv-1", "task-1", "req-3")
    assert value["replayed"] is True and tried[2]["replayed"] is True
    # The backoff: 0.05 s, then twice that.
    gaps = [b["time"] - a["time"] - a["latency"] for a, b in zip(tried, tried[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1


def test_without_a_key_the_retries_carry_none(tmp_path, serve):
    server = serve(502, 202)
    outcome, value, op = boot(tmp_path, f"http://127.0.0.1:{server.server_port}",
                              Settings("no-key"))
    assert outcome == history.OK and len(server.seen) == 2
    assert all(client_mod.IDEMPOTENCY_HEADER not in h for h in server.seen)
    assert op["invoke"]["value"]["idempotency_key"] is None
    assert op["invoke"]["value"]["retry"] == "no-key"


def test_the_attempts_are_bounded_and_the_boot_stays_unknown(tmp_path, serve):
    server = serve(503)
    outcome, value, _ = boot(tmp_path, f"http://127.0.0.1:{server.server_port}",
                             Settings("key", attempts=3, interval=0))
    assert outcome == history.INFO and len(server.seen) == 3
    assert value["request_id"] == "req-3"  # the last answered attempt's


def test_a_4xx_is_not_retried(tmp_path, serve):
    server = serve(400, 202)
    outcome, value, _ = boot(tmp_path, f"http://127.0.0.1:{server.server_port}",
                             Settings("key"))
    assert outcome == history.FAIL and len(server.seen) == 1


def test_refused_every_time_is_a_failure_and_after_a_reset_unknown(tmp_path, serve):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome, value, _ = boot(tmp_path, f"http://127.0.0.1:{port}",
                             Settings("no-key", attempts=2, interval=0))
    assert outcome == history.FAIL  # nothing was ever received
    assert [a["outcome"] for a in value["attempts"]] == ["fail", "fail"]
    # Received (a reset), then refused: the first may have created it.
    server = serve("reset", 400)
    outcome, _, _ = boot(tmp_path, f"http://127.0.0.1:{server.server_port}",
                         Settings("no-key", attempts=2, interval=0))
    assert outcome == history.INFO


@pytest.mark.parametrize("outcome,status,again", [
    ("ok", 202, False), ("fail", 400, False), ("fail", 409, False),
    ("fail", None, True), ("info", 500, True), ("info", None, True)])
def test_what_is_retried(outcome, status, again):
    assert client_mod.retryable(outcome, status) is again


# -- the API's side: one server per key -----------------------------------------

class Compute:
    def __init__(self):
        self.builds = []

    def build_and_run_instance(self, ctxt, host, uuid, task_id):
        self.builds.append(uuid)


@pytest.fixture
def cloud(tmp_path):
    url = f"sqlite:///{tmp_path}/lab.sqlite"
    db.create_schema(url, ["fake-compute-1"])
    lab = api.LabAPI()
    # In the API's process, keeping the request's id, as RPC would.
    lab.conductor = api._InProcess(conductor.ConductorManager(url))
    lab.scheduler = api._InProcess(scheduler.SchedulerManager(url))
    lab.compute = Compute()
    lab.url = url
    return lab


def post(lab, key=None, name="during-1"):
    req = webob.Request.blank("/servers", method="POST")
    req.body = json.dumps({"server": dict(BODY["server"], name=name)}).encode()
    req.content_type = "application/json"
    if key is not None:
        req.headers[api.IDEMPOTENCY_HEADER] = key
    # What the request-id middleware sets before the app runs.
    context.set_request_id(f"req-{len(rows(lab)) + 1}")
    try:
        resp = req.get_response(lab)
    finally:
        context.set_request_id(None)
    return resp.status_int, json.loads(resp.body), resp


def rows(lab):
    import sqlalchemy as sa

    with db.engine(lab.url).connect() as conn:
        return db.rows(conn.execute(sa.select(db.instances)))


def test_the_same_key_twice_gives_one_server_and_its_task(cloud):
    status, first, _ = post(cloud, key="k-1")
    assert status == 202 and first["replayed"] is False
    status, again, resp = post(cloud, key="k-1")
    assert status == 202 and again["replayed"] is True
    assert again["server"]["id"] == first["server"]["id"]
    assert again["task"]["id"] == first["task"]["id"]
    assert again["task"]["status"] == "in-progress"  # read back from the database
    assert resp.headers["x-fake-lab-replayed"] == "true"
    assert [r["idempotency_key"] for r in rows(cloud)] == ["k-1"]
    assert cloud.compute.builds == [first["server"]["id"]]  # no second cast


def test_without_a_key_a_repeat_is_a_second_server(cloud):
    post(cloud)
    post(cloud)
    assert [r["name"] for r in rows(cloud)] == ["during-1", "during-1"]
    assert len(cloud.compute.builds) == 2


def test_a_key_reused_for_another_server_is_a_conflict(cloud):
    post(cloud, key="k-1")
    status, body, _ = post(cloud, key="k-1", name="other")
    assert status == 409 and "was used for server 'during-1'" in json.dumps(body)
    assert len(rows(cloud)) == 1


@pytest.mark.parametrize("key", ["", "   ", "k" * 256])
def test_a_bad_key_is_a_bad_request(cloud, key):
    status, _, _ = post(cloud, key=key)
    assert status == 400 and rows(cloud) == []


def test_two_attempts_past_the_lookup_cannot_both_insert(cloud):
    """Both attempts looked the key up before either inserted: the unique
    key makes the second insert fail, and it answers with the first."""
    ctxt = {"request_id": "req-a"}
    args = dict(name="during-1", flavor_id="1", image_id=None)
    first = cloud.conductor.instance_create(ctxt, request_id="req-a",
                                            idempotency_key="k-race", **args)
    second = cloud.conductor.instance_create(ctxt, request_id="req-b",
                                             idempotency_key="k-race", **args)
    assert first["replayed"] is False and second["replayed"] is True
    assert second["instance"]["uuid"] == first["instance"]["uuid"]
    assert second["task"]["id"] == first["task"]["id"]
    assert len(rows(cloud)) == 1


def test_a_replay_whose_task_cannot_be_read_back_is_a_5xx(cloud):
    post(cloud, key="k-1")

    class Forgetful(api._InProcess):
        def task_get(self, ctxt, task_id):
            return None

    cloud.conductor = Forgetful(cloud.conductor.manager)
    status, body, _ = post(cloud, key="k-1")
    assert status == 503 and "could not be read back" in json.dumps(body)


def test_a_database_made_before_the_key_gets_its_column(tmp_path):
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path}/old.sqlite"
    old = sa.MetaData()
    sa.Table("instances", old, *[sa.Column(c.name, c.type, primary_key=c.primary_key)
                                 for c in db.instances.columns
                                 if c.name != "idempotency_key"])
    engine = sa.create_engine(url)
    old.create_all(engine)
    engine.dispose()
    db.create_schema(url, ["fake-compute-1"])
    cond = conductor.ConductorManager(url)
    args = dict(name="vm", flavor_id="1", image_id=None, request_id="r")
    cond.instance_create({}, idempotency_key="k", **args)
    assert cond.instance_create({}, idempotency_key="k", **args)["replayed"] is True


def test_the_backoff_sleeps_between_attempts_only(tmp_path, serve, monkeypatch):
    slept = []
    monkeypatch.setattr(client_mod.time, "sleep", slept.append)
    server = serve(500)
    boot(tmp_path, f"http://127.0.0.1:{server.server_port}",
         Settings("key", attempts=4, interval=0.5))
    assert slept == [0.5, 1.0, 2.0] and len(server.seen) == 4
