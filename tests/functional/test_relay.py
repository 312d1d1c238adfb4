"""The relay for real: a private broker, the relay in front of it, and
py-amqp (what oslo.messaging's rabbit driver uses) talking through it."""

import json
import os
import socket
import time

import amqp
import pytest

from fake_lab.daemons import procs, rabbitmq
from fake_lab.daemons.relay import RelayDaemon


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    node = rabbitmq.PrivateBroker(str(tmp_path_factory.mktemp("broker")))
    node.start()
    yield node
    node.stop()


@pytest.fixture
def relay(broker, tmp_path):
    daemon = RelayDaemon(str(tmp_path), str(tmp_path / "relay.log"), broker.port)
    daemon.launch()
    daemon.wait_ready()
    yield daemon
    daemon.stop()
    assert procs.processes_under(str(tmp_path)) == []


def connect(broker, relay, name, heartbeat=1):
    conn = amqp.Connection(f"127.0.0.1:{relay.port}", userid=broker.user,
                           password=broker.password, heartbeat=heartbeat,
                           client_properties={"connection_name": name})
    conn.connect()
    return conn


def wire(relay):
    with open(relay.wire_path) as f:
        return [json.loads(line) for line in f]


def keep_heartbeats(conn, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.heartbeat_tick()
        try:
            conn.drain_events(timeout=0.1)
        except socket.timeout:
            pass


def test_the_wire_names_the_connection_and_its_heartbeats(broker, relay):
    conn = connect(broker, relay, "test-program:4242:abcd")
    keep_heartbeats(conn, 2.0)
    conn.close()
    time.sleep(0.2)
    events = wire(relay)
    mine = {e["conn"] for e in events if e.get("name") == "test-program:4242:abcd"}
    assert len(mine) == 1
    cid = mine.pop()
    of_conn = [e for e in events if e.get("conn") == cid]
    tune_ok = next(e for e in of_conn if e["event"] == "tune-ok")
    assert tune_ok["heartbeat"] == 1
    beats = {d: len([e for e in of_conn if e["event"] == "heartbeat" and e["dir"] == d])
             for d in ("c2s", "s2c")}
    assert beats["c2s"] >= 2 and beats["s2c"] >= 2, beats
    close = next(e for e in of_conn if e["event"] == "close")
    assert close["by"] == "client" and close["reply_code"] in (0, 200)  # py-amqp sends 0
    assert next(e for e in of_conn if e["event"] == "end")["how"] == "fin"
    accept = next(e for e in of_conn if e["event"] == "accept")
    assert accept["upstream_local"] > 0


def test_blackhole_forwards_no_byte_and_heal_resumes(broker, relay):
    conn = connect(broker, relay, "test-program:4243:bh", heartbeat=0)
    before = relay.fault("stats")["connections"]
    relay.fault("blackhole")
    for _ in range(5):
        conn.send_heartbeat()
    time.sleep(0.3)
    during = relay.fault("stats")["connections"]
    (cid, stats), = [(k, v) for k, v in during.items()
                     if v["name"] == "test-program:4243:bh"]
    assert stats["blackholed"] and stats["dropped"]["c2s"] == 5 * 8
    assert stats["forwarded"] == before[cid]["forwarded"]
    relay.fault("heal")
    conn.send_heartbeat()
    time.sleep(0.2)
    after = relay.fault("stats")["connections"][cid]
    assert after["forwarded"]["c2s"] == stats["forwarded"]["c2s"] + 8
    conn.close()


def test_reset_reaches_the_client_as_an_rst(broker, relay):
    conn = connect(broker, relay, "test-program:4244:rst", heartbeat=0)
    relay.fault("reset")
    time.sleep(0.2)
    with pytest.raises((ConnectionResetError, OSError, amqp.exceptions.AMQPError)) as err:
        conn.send_heartbeat()
        conn.drain_events(timeout=1)
    assert isinstance(err.value, (ConnectionResetError, amqp.exceptions.AMQPError)) \
        or "reset" in str(err.value).lower()
    ends = [e for e in wire(relay) if e["event"] == "end" and e["by"] == "relay"]
    assert ends and ends[0]["how"] == "rst"


def test_an_unknown_verb_is_refused(relay):
    with pytest.raises(ValueError, match="unknown verb"):
        relay.fault("explode")
    with pytest.raises(ValueError, match="ms >= 0"):
        relay.fault("latency", ms=-5)
    assert os.path.exists(relay.wire_path)


def test_latency_delays_each_way_and_heal_removes_it(broker, relay):
    conn = connect(broker, relay, "test-program:4245:lat", heartbeat=0)
    channel = conn.channel()

    def round_trip():
        started = time.monotonic()
        channel.queue_declare(queue="", exclusive=True)
        return time.monotonic() - started

    base = min(round_trip() for _ in range(3))
    relay.fault("latency", ms=100)
    delayed = min(round_trip() for _ in range(3))
    relay.fault("heal")
    healed = min(round_trip() for _ in range(3))
    conn.close()
    # 100 ms each way; a millisecond of slack: the base round trip, taken
    # once, is no floor for the delayed one (CI missed by 0.1 ms)
    assert delayed >= base + 0.2 - 0.001
    assert healed < base + 0.1
