"""The private 3-node cluster for real: it forms at boot (classic-config
peer discovery), a killed node and a drained node leave it (as a surviving
node's cluster_status tells), and nothing of it outlives stop()."""

import time

import amqp
import pytest

from fake_lab.commands import soak
from fake_lab.daemons import procs, rabbit_cluster


def _connects(cluster, node):
    conn = amqp.Connection(f"127.0.0.1:{node.port}", userid=cluster.user,
                           password=cluster.password, connect_timeout=5)
    conn.connect()
    conn.close()
    return True


@pytest.fixture
def cluster(tmp_path):
    c = rabbit_cluster.RabbitCluster(str(tmp_path / "broker"), str(tmp_path / "logs"),
                                     queue_type="quorum")
    try:
        started = time.monotonic()
        c.start(timeout=120)
        c.timings["test_boot"] = round(time.monotonic() - started, 2)
        yield c
    finally:
        c.stop()
    ports = set(c.ports().values())
    assert procs.processes_under(str(tmp_path)) == []
    assert not ports & soak._listening_ports(), "a port of the cluster is still open"
    assert soak._erlang_processes(str(tmp_path), [c.epmd_port]) == []


def test_the_cluster_forms_and_each_loss_leaves_it(cluster):
    names = [n.nodename for n in cluster.nodes]
    status = cluster.cluster_status(cluster.nodes[2])
    assert status["running_nodes"] == sorted(names), status
    assert all(_connects(cluster, n) for n in cluster.nodes)
    # Booted in parallel: a generous bound (2 cores shared with others),
    # which a serial boot with join_cluster round trips would not need.
    assert cluster.timings["test_boot"] < 60, cluster.timings

    killed = cluster.kill_node(1)
    assert killed["pids"] and not set(killed["pids"]) & procs.tree(killed["pids"][0])
    status = cluster.cluster_status(cluster.nodes[1])
    assert names[0] not in status["running_nodes"]
    assert status["running_nodes"] == sorted(names[1:])

    drained = cluster.drain_node(2)
    assert drained["drain_seconds"] < 30
    status = cluster.cluster_status(cluster.nodes[2])
    assert status["running_nodes"] == [names[2]], status
    assert _connects(cluster, cluster.nodes[2])
    with pytest.raises(Exception):
        _connects(cluster, cluster.nodes[1])
    # The last node is not a node loss any more, but an outage.
    with pytest.raises(Exception, match="only one node is left"):
        cluster.kill_node(3)
