"""``fake-lab up``'s services.json and ``fake-lab stop-service``: what the
lab writes, how it serves a request, and the one-line refusals."""

import json
import os

import pytest

from fake_lab.commands import up
from fake_lab.daemons import reaper
from fake_lab.errors import UsageError
from fake_lab.rundir import RunDir


class _Daemon:
    def __init__(self, pid):
        self.pid = pid


class _Settings:
    def get(self, group, name):
        return {"report_interval": 2, "service_down_time": 10}[name]


class _Lab:
    """What up() uses of a Lab: its services, settings and stop_service."""

    def __init__(self):
        self.settings = _Settings()
        self.services = {"fake-compute-1": _Daemon(os.getpid()),
                         "fake-compute-2": _Daemon(os.getpid())}
        self.stopped = []

    def stop_service(self, name):
        self.stopped.append(name)
        self.services.pop(name)


def _services(run):
    with open(run.file(up.SERVICES_FILE)) as f:
        return json.load(f)


def test_a_request_stops_that_service_and_services_json_says_so(tmp_path):
    run, lab, stopped = RunDir(str(tmp_path)), _Lab(), {}
    up.write_services(run, lab, stopped)
    state = _services(run)
    assert state["service_down_time"] == 10 and state["report_interval"] == 2
    entry = state["services"]["fake-compute-2"]
    assert entry["state"] == "running" and entry["pid"] == os.getpid()
    assert entry["process_group"] == os.getpgid(os.getpid())
    assert up._serve_requests(run, lab, stopped, print) is False  # nothing asked

    os.makedirs(run.file(up.REQUESTS_DIR))
    open(run.file(up.REQUESTS_DIR, "stop-service.fake-compute-2"), "w").close()
    notes = []
    assert up._serve_requests(run, lab, stopped, notes.append) is True
    up.write_services(run, lab, stopped)
    assert lab.stopped == ["fake-compute-2"]
    assert os.listdir(run.file(up.REQUESTS_DIR)) == []
    entry = _services(run)["services"]["fake-compute-2"]
    assert entry["state"] == "stopped"
    assert entry["stop_sent_at"] <= entry["stopped_at"]
    assert _services(run)["services"]["fake-compute-1"]["state"] == "running"
    assert notes == [f"stopped fake-compute-2 (PID {os.getpid()}) on request; the "
                     "lab stays up without it"]


def test_stop_service_refuses_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("FAKE_LAB_RUN_DIR", raising=False)
    with pytest.raises(UsageError, match="no running labs in"):
        up.stop_service("fake-compute-2", runs_dir=str(tmp_path))
    with pytest.raises(UsageError, match="no lab is running there"):
        up.stop_service("fake-compute-2", str(tmp_path))
    # A lab that runs (this process stands for its runner).
    reaper.mark_runner(str(tmp_path))
    with pytest.raises(UsageError, match="no readable services.json"):
        up.stop_service("fake-compute-2", str(tmp_path))
    run, lab, stopped = RunDir(str(tmp_path)), _Lab(), {}
    stopped["fake-compute-2"] = (123, 1.0, 2.0)
    lab.services.pop("fake-compute-2")
    up.write_services(run, lab, stopped)
    with pytest.raises(UsageError, match="has no service 'fake-compute-9'; its "
                       "services: fake-compute-1, fake-compute-2"):
        up.stop_service("fake-compute-9", str(tmp_path))
    with pytest.raises(UsageError, match="fake-compute-2 is already stopped"):
        up.stop_service("fake-compute-2", str(tmp_path))


def test_the_broker_url_names_every_node_of_a_cluster_and_no_password(tmp_path):
    class Node:
        def __init__(self, port):
            self.port, self.user, self.password = port, "lab-1", "secret"

    class Cluster(Node):
        nodes = [Node(5001), Node(5002), Node(5003)]

    run = RunDir(str(tmp_path))
    for broker, url in ((Node(5001), "rabbit://lab-1@127.0.0.1:5001/"),
                        (Cluster(5001), "rabbit://lab-1@127.0.0.1:5001,"
                         "lab-1@127.0.0.1:5002,lab-1@127.0.0.1:5003/")):
        lab = type("Lab", (), {"api_url": "http://127.0.0.1:1", "broker": broker})()
        env = up.exports(lab, run, "pw")
        assert env["FAKE_LAB_BROKER_URL"] == url
        assert "secret" not in "".join(env.values())
