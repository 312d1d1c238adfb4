"""The private cluster without booting it: what each node is given (names,
ports, cookie, cluster formation, the mirroring policy), the transport URL,
what a Lab asks of the module, and how a fault chooses its node."""

import json
import os
import socket
import stat
import urllib.parse

import pytest

from fake_lab.daemons import rabbit_cluster
from fake_lab.errors import LabError, UsageError
from fake_lab.history import History, operations, read
from fake_lab.rundir import RunDir
from fake_lab.workload import nemesis


class Settings:
    def __init__(self, nodes=3, queue_type="classic", relay=False, node_loss="kill"):
        self.values = {"lab": {"rabbit_nodes": nodes, "queue_type": queue_type,
                               "relay": relay, "node_loss": node_loss}}

    def get(self, group, name):
        return self.values[group][name]


def cluster(tmp_path, **kwargs):
    return rabbit_cluster.RabbitCluster(str(tmp_path / "broker"), str(tmp_path / "logs"),
                                        **kwargs)


def test_every_node_is_its_own_but_shares_user_cookie_and_name(tmp_path):
    c = cluster(tmp_path)
    names = [n.nodename for n in c.nodes]
    assert names == [f"{c.name}-{i}@localhost" for i in (1, 2, 3)]
    assert c.name.startswith("fake-lab-")  # what soak looks for in a system epmd
    assert {n.user for n in c.nodes} == {c.user} and c.user != "guest"
    assert len({n.workdir for n in c.nodes}) == 3
    assert len({n.log_file for n in c.nodes}) == 3


def test_the_url_names_every_node_with_quoted_credentials(tmp_path):
    c = cluster(tmp_path)
    c.password = "p/w:@x"
    for port, node in zip((5001, 5002, 5003), c.nodes):
        node.port = port
    url = c.url_for("cell-1")
    hosts = url[len("rabbit://"):].split("/")[0].split(",")
    assert [h.rsplit(":", 1)[1] for h in hosts] == ["5001", "5002", "5003"]
    assert all(urllib.parse.unquote(h.split("@")[0].split(":")[1]) == "p/w:@x"
               for h in hosts)
    assert url.endswith("/cell-1") and c.url.endswith(":5003/")
    # Through the relay: each node through its own route.
    relayed = c.url_for("/", via={5001: 6001, 5002: 6002, 5003: 6003})
    hosts = relayed[len("rabbit://"):].split("/")[0].split(",")
    assert [h.rsplit(":", 1)[1] for h in hosts] == ["6001", "6002", "6003"]


def test_node_files_cookie_and_cluster_formation(tmp_path):
    c = cluster(tmp_path)
    for port, node in enumerate(c.nodes, 7001):
        node.port, node.dist_port, node.epmd_port = port, port + 100, 7999
        node._write_files()
    first, second = c.nodes[0], c.nodes[1]
    cookie = os.path.join(second.workdir, "home", ".erlang.cookie")
    assert open(cookie).read() == c.cookie
    assert stat.S_IMODE(os.stat(cookie).st_mode) == 0o400
    conf1 = open(os.path.join(first.workdir, "rabbitmq.config")).read()
    conf2 = open(os.path.join(second.workdir, "rabbitmq.config")).read()
    assert "classic_config" not in conf1  # node 1 boots alone
    assert f"{{cluster_nodes, {{['{first.nodename}'], disc}}}}" in conf2
    assert "rabbit_peer_discovery_classic_config" in conf2
    assert '{tcp_listeners, [{"127.0.0.1", 7002}]}' in conf2
    env = second._env()
    assert env["ERL_EPMD_PORT"] == "7999" and env["RABBITMQ_NODENAME"] == second.nodename
    assert "-start_epmd false" in env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
    assert "-start_epmd false" in env["RABBITMQ_CTL_ERL_ARGS"]
    # Writing again (a node started once more) keeps the cookie readable.
    second._write_files()
    assert open(cookie).read() == c.cookie


def test_mirrored_queues_get_an_ha_policy_loaded_at_boot(tmp_path):
    c = cluster(tmp_path, queue_type="mirrored")
    node = c.nodes[0]
    node.port, node.dist_port, node.epmd_port = 7001, 7101, 7999
    node._write_files()
    conf = open(os.path.join(node.workdir, "rabbitmq.config")).read()
    path = conf.split('{load_definitions, "')[1].split('"')[0]
    (policy,) = json.load(open(path))["policies"]
    assert policy["definition"]["ha-mode"] == "all" and policy["vhost"] == "/"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # it holds the user's hash


def test_a_joiner_that_booted_alone_is_told_apart(tmp_path):
    c = cluster(tmp_path)
    node = c.nodes[1]
    os.makedirs(node.log_dir)
    with open(node.log_file, "w") as f:
        f.write("... Node 'fake-lab-x-1@localhost' selected for auto-clustering\n")
    assert node.joined() is True
    with open(node.log_file, "w") as f:
        f.write("... Could not successfully contact any node of: x. Starting as a "
                "blank standalone node...\n")
    assert node.joined() is False
    assert c.nodes[0].joined() is True


def test_the_version_is_read_from_node_1s_banner(tmp_path):
    c = cluster(tmp_path)
    os.makedirs(c.nodes[0].log_dir)
    with open(c.nodes[0].log_file, "w") as f:
        f.write("2026-11-24 05:10:21.568971+00:00 [info] <0.223.0>  Starting "
                "RabbitMQ 3.10.8 on Erlang 25.2.3 [jit]\n")
    assert c.version() == (3, 10)


@pytest.mark.parametrize("settings, needle", [
    (Settings(nodes=1, queue_type="mirrored"), "needs a cluster"),
])
def test_what_a_cluster_cannot_do_is_refused_before_anything_starts(tmp_path, settings,
                                                                     needle):
    with pytest.raises(UsageError, match=needle):
        rabbit_cluster.broker_for(RunDir(str(tmp_path)), settings)


def test_a_lab_asks_the_module_and_a_single_node_is_unchanged(tmp_path):
    run = RunDir(str(tmp_path))
    assert rabbit_cluster.broker_for(run, Settings(nodes=1)) is None
    assert rabbit_cluster.owned_options(Settings(nodes=1)) == {}
    assert rabbit_cluster.ports_of(object()) == {}
    c = rabbit_cluster.broker_for(run, Settings(nodes=3, queue_type="quorum"), port=5999)
    assert len(c.nodes) == 3 and c.queue_type == "quorum" and c.first_port == 5999
    assert set(rabbit_cluster.ports_of(c)) == {"epmd", "amqp_1", "amqp_2", "amqp_3",
                                              "distribution_1", "distribution_2",
                                              "distribution_3"}
    quorum = {"oslo_messaging_rabbit": {"rabbit_quorum_queue": True}}
    assert rabbit_cluster.owned_options(Settings(nodes=3, queue_type="quorum")) == quorum
    assert rabbit_cluster.owned_options(Settings(nodes=1, queue_type="quorum")) == quorum
    assert rabbit_cluster.owned_options(Settings(nodes=3)) == {
        "oslo_messaging_rabbit": {"rabbit_quorum_queue": False}}
    with pytest.raises(UsageError, match="matrix"):
        rabbit_cluster.check_shared(Settings(nodes=3))
    rabbit_cluster.check_shared(Settings(nodes=1))


def test_a_fault_chooses_its_node_by_number_connections_or_queue(tmp_path):
    c = cluster(tmp_path)
    assert c.choose("2", {})[0] == 2
    assert c.choose("connections", {1: 3, 2: 5, 3: 5})[0] == 2  # a tie: the lowest
    with pytest.raises(LabError, match="no fake service"):
        c.choose("connections", {})
    c.last_listing["/"] = [{"name": "compute.fake-compute-1", "type": "quorum",
                            "node": c.nodes[2].nodename}]
    index, why = c.choose("queue:compute.fake-compute-1", {})
    assert index == 3 and "quorum queue compute.fake-compute-1" in why
    with pytest.raises(LabError, match="no node hosts"):
        c.choose("queue:nothing", {})
    with pytest.raises(LabError, match="no such node"):
        c.choose("leader", {})


def test_connections_are_counted_by_the_node_port_they_reach(tmp_path):
    c = cluster(tmp_path)
    servers, clients = [], []
    try:
        for node in c.nodes:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen()
            servers.append(s)
            node.port = s.getsockname()[1]
        for port in (c.nodes[0].port, c.nodes[2].port, c.nodes[2].port):
            clients.append(socket.create_connection(("127.0.0.1", port)))
        assert c.connection_nodes([os.getpid()]) == {1: 1, 3: 2}
    finally:
        for s in clients + servers:
            s.close()


def test_losing_the_last_running_node_is_refused(tmp_path):
    c = cluster(tmp_path)
    with pytest.raises(LabError, match="not running"):
        c.kill_node(1)
    with pytest.raises(LabError, match="has no node 4"):
        c.drain_node(4)


def test_a_cluster_fault_on_a_single_node_run_is_info(tmp_path):
    history = History(str(tmp_path / "history.jsonl"))
    lab = type("Lab", (), {"broker": object(), "services": {}})()
    nemesis.Nemesis(lab, history, say=lambda s: None).run(
        {"op": "fault", "target": "cluster", "verb": "kill-node"})
    history.close()
    (op,) = operations(read(str(tmp_path / "history.jsonl"))).values()
    assert op["done"]["type"] == "info"
    assert "--rabbit-nodes 3" in op["done"]["value"]["error"]


class FakeCluster(rabbit_cluster.RabbitCluster):
    """A cluster whose faults and status are recorded, not run."""

    def __init__(self, tmp_path):
        super().__init__(str(tmp_path / "broker"), str(tmp_path / "logs"))
        self.calls = []

    def kill_node(self, index):
        self.calls.append(("kill", index))
        return {"node": self.node(index).nodename, "index": index, "killed_at": 1.0}

    def drain_node(self, index, timeout=60):
        self.calls.append(("drain", index))
        return {"node": self.node(index).nodename, "index": index, "drain_began": 1.0}

    def cluster_status(self, node=None):
        return {"asked": self.nodes[0].nodename, "running_nodes": ["a", "b"]}


@pytest.mark.parametrize("node_loss, call", [("kill", "kill"), ("drain", "drain")])
def test_lose_node_follows_node_loss_and_records_the_status(tmp_path, node_loss, call):
    c = FakeCluster(tmp_path)
    settings = Settings(node_loss=node_loss)
    lab = type("Lab", (), {"broker": c, "services": {}, "settings": settings})()
    history = History(str(tmp_path / "history.jsonl"))
    nemesis.Nemesis(lab, history, say=lambda s: None).run(
        {"op": "fault", "target": "cluster", "verb": "lose-node", "node": "2"})
    history.close()
    records = read(str(tmp_path / "history.jsonl"))
    (op,) = operations(records).values()
    assert c.calls == [(call, 2)]
    assert op["done"]["value"]["applied"] == f"{call}-node"
    assert op["done"]["value"]["connections_by_node"] == {}
    (status,) = [r for r in records if r["f"] == "cluster-status"]
    assert status["value"]["running_nodes"] == ["a", "b"]
    assert "cluster_status" not in op["done"]["value"]


def test_cluster_faults_are_validated_like_the_others():
    with pytest.raises(UsageError, match="no option 'signal'"):
        nemesis.fault_of({"op": "fault", "target": "cluster", "verb": "kill-node",
                          "signal": 9}, "x")
    with pytest.raises(UsageError, match="must be a name"):
        nemesis.fault_of({"op": "fault", "target": "cluster", "verb": "drain-node",
                          "node": 2}, "x")


def test_soak_finds_an_unmarked_erlang_process_tied_to_the_runs_epmd(tmp_path):
    # An epmd that a node's epmd-starter daemonized, or a CLI's VM, carries
    # no owner mark; soak knows it by the run's private epmd port.
    import shutil
    import subprocess
    import time

    from fake_lab.commands import soak

    fake = tmp_path / "epmd"
    shutil.copy(shutil.which("sleep"), fake)
    proc = subprocess.Popen([str(fake), "30"], env={"ERL_EPMD_PORT": "45999"})
    try:
        for _ in range(100):  # until the exec shows in /proc
            if open(f"/proc/{proc.pid}/comm").read().strip() == "epmd":
                break
            time.sleep(0.01)
        found = soak._erlang_processes("/nonexistent-run", [45999])
        assert [line.split()[0] for line in found] == [str(proc.pid)]
        assert soak._erlang_processes("/nonexistent-run", [45998]) == []
    finally:
        proc.kill()
        proc.wait()
