"""The idle step's end: the broker has closed every connection of the API
worker, read from the relay's wire when there is one (it records the RST
at once) or else from the broker log; files are read again only once they
have changed."""

import json
import types

from fake_lab.workload.generator import Player

API_PID = 4242
BROKER_LINE = ("2026-11-24 13:13:53.719204+00:00 [error] <0.2131.0> closing AMQP "
               "connection <0.2131.0> (127.0.0.1:55952 -> 127.0.0.1:29284 - "
               "uwsgi:4242:2f60810d-8a0f-4dee-9ec3-392cc1a94da5):\n"
               "2026-11-24 13:13:53.719204+00:00 [error] <0.2131.0> missed "
               "heartbeats from client, timeout: 1s\n")


def _player(tmp_path, relay=True):
    wire = tmp_path / "wire.jsonl"
    broker_log = tmp_path / "broker.log"
    broker_log.write_text("")
    wire.write_text("")
    player = Player.__new__(Player)
    player._seen = {}
    player.client = types.SimpleNamespace(api_pid=API_PID)
    player.lab = types.SimpleNamespace(
        relay=types.SimpleNamespace(wire_path=str(wire)) if relay else None,
        broker=types.SimpleNamespace(log_file=str(broker_log)))
    return player, wire, broker_log


def _wire(path, *events):
    with open(path, "a") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")


def _named(conn, pid):
    return {"conn": conn, "event": "connection-name", "time": 1.0,
            "name": f"uwsgi:{pid}:0000000{conn}-0000-0000-0000-000000000000"}


def _end(conn):
    return {"conn": conn, "event": "end", "by": "server", "how": "rst", "time": 2.0}


def test_the_wire_ends_the_idle_once_every_api_connection_has_ended(tmp_path):
    player, wire, _ = _player(tmp_path)
    _wire(wire, _named(1, API_PID), _named(2, API_PID), _named(3, 99))
    assert not player._api_all_closed()
    _wire(wire, _end(1))
    assert not player._api_all_closed()
    # Another process's connection still open does not matter.
    _wire(wire, _end(2))
    assert player._api_all_closed()


def test_without_a_relay_the_broker_log_decides(tmp_path):
    player, _, broker_log = _player(tmp_path, relay=False)
    assert not player._api_all_closed()
    broker_log.write_text(BROKER_LINE)
    assert player._api_all_closed()


def test_an_unchanged_file_is_not_read_again(tmp_path, monkeypatch):
    player, wire, _ = _player(tmp_path)
    _wire(wire, _named(1, API_PID))
    reads = []
    from fake_lab.checkers import evidence
    real = evidence.wire_connections
    monkeypatch.setattr(evidence, "wire_connections",
                        lambda path: reads.append(path) or real(path))
    for _ in range(5):
        assert not player._api_all_closed()
    assert len(reads) == 1
    _wire(wire, _end(1))
    assert player._api_all_closed()
    assert len(reads) == 2


def test_no_api_worker_yet_is_never_closed(tmp_path):
    player, wire, _ = _player(tmp_path)
    player.client.api_pid = None
    _wire(wire, _named(1, API_PID), _end(1))
    assert not player._api_all_closed()
