"""The broker's fault verbs for real, each checked on the node itself:
restart and kill change its PID and keep its ports and data; freeze stops
every process of the node (state T) until thaw."""

import socket

import amqp
import pytest

from fake_lab.daemons import procs, rabbitmq


def _state(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return stat[stat.rindex(")") + 2]


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("broker"))
    node = rabbitmq.PrivateBroker(workdir)
    node.start()
    yield node
    node.stop()
    assert procs.processes_under(workdir) == []


def _connects(broker, timeout=5):
    conn = amqp.Connection(f"127.0.0.1:{broker.port}", userid=broker.user,
                           password=broker.password, connect_timeout=timeout)
    conn.connect()
    conn.close()
    return True


@pytest.mark.parametrize("kill", [False, True], ids=["restart", "kill"])
def test_restart_and_kill_bring_a_new_node_on_the_same_port(broker, kill):
    port = broker.port
    old, new = broker.restart(kill=kill)
    assert old and new and not set(old) & set(new)
    assert broker.port == port and _connects(broker)


def test_freeze_stops_every_process_of_the_node_until_thaw(broker):
    frozen = broker.freeze()
    try:
        assert frozen and {_state(pid) for pid in frozen} == {"T"}
        with pytest.raises((socket.timeout, TimeoutError, OSError)):
            _connects(broker, timeout=1)
    finally:
        broker.thaw()
    assert {_state(pid) for pid in frozen} <= {"S", "R"}
    assert _connects(broker)


def test_a_frozen_node_is_thawed_before_it_is_stopped(tmp_path):
    node = rabbitmq.PrivateBroker(str(tmp_path))
    node.start()
    node.freeze()
    took = node.stop(grace=10)
    assert procs.processes_under(str(tmp_path)) == []
    assert took < 9, "SIGTERM reached a stopped node: it waited for KILL"
