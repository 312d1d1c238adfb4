"""What service-heartbeat-hang adds around its checker: the trickle of
calls (``rate`` and ``seconds`` of a ``call`` step), the matrix's rules for
it, the effective heartbeat_in_pthread of a cell, and the API's own
executor."""

import threading
import time

import pytest

from fake_lab import catalogue
from fake_lab.commands import matrix
from fake_lab.daemons import pyenvs
from fake_lab.workload.generator import Player


class _Client:
    def __init__(self):
        self.sent = []
        self.lock = threading.Lock()

    def request(self, step, op, *args, **kwargs):
        with self.lock:
            self.sent.append((time.monotonic(), step["name"]))
        return "ok", {}


def test_a_trickle_is_paced_and_stops_at_its_budget():
    player = Player.__new__(Player)
    player.client, player.say = _Client(), lambda line: None
    started = time.monotonic()
    player._call({"op": "call", "name": "trickle", "count": 100, "rate": 20,
                  "seconds": 0.5, "concurrency": 2})
    sent = sorted(player.client.sent)
    # 20 a second for half a second: at most the calls due by then, none of
    # them before its time (a sleep never wakes early; a loaded machine only
    # sends fewer, later: what must hold whatever the load).
    assert 1 <= len(sent) <= 11, sent
    for t, name in sent:
        n = int(name.rsplit("-", 1)[1])
        assert n <= 11 and t - started >= (n - 1) * 0.05 - 0.005, (name, t - started)


def test_a_trickle_with_a_budget_does_not_wait_for_the_calls_it_will_not_send():
    player = Player.__new__(Player)
    player.client, player.say = _Client(), lambda line: None
    started = time.monotonic()
    player._call({"op": "call", "name": "trickle", "count": 600, "rate": 10,
                  "seconds": 0.2, "concurrency": 4})
    assert time.monotonic() - started < 1.0


RULES = matrix.expectations("service-heartbeat-hang")


@pytest.mark.parametrize("cell, expected", [
    ({"executor": "threading", "heartbeat_in_pthread": "true"}, "not-reproduced"),
    ({"executor": "eventlet", "heartbeat_in_pthread": "false", "deps": "series",
      "release_version": "14.0.3"}, "not-reproduced"),
    ({"executor": "eventlet", "heartbeat_in_pthread": "true", "deps": "series",
      "release": "14.0.3", "release_version": "14.0.3"}, "reproduced"),
    ({"executor": "eventlet", "heartbeat_in_pthread": "true", "deps": "series",
      "release": "14.2.5", "release_version": "14.2.5"}, "not-reproduced"),
    ({"executor": "eventlet", "heartbeat_in_pthread": "true", "deps": "latest",
      "release": "14.0.3", "release_version": "14.0.3"}, "not-reproduced"),
    ({"executor": "eventlet", "heartbeat_in_pthread": "true", "deps": "latest",
      "release": "17.3.2", "release_version": "17.3.2"}, "not-reproduced"),
    ({"executor": "eventlet", "heartbeat_in_pthread": "ignored", "deps": "latest",
      "release": "18.3.1", "release_version": "18.3.1"}, None),
])
def test_the_rules_follow_oslo_log_and_the_option(cell, expected):
    assert matrix.expect_for(RULES, cell)[0] == expected


class _Env:
    def __init__(self, default):
        self.label = "fake"
        self.default = default

    def probe(self):
        return {"versions": {"oslo.messaging": "14.0.3", "uWSGI": "2.0.31"},
                "heartbeat_in_pthread": self.default}


@pytest.mark.parametrize("default, expected", [(False, "true"), (None, "ignored")])
def test_a_cell_takes_heartbeat_in_pthread_from_the_scenario(monkeypatch, default,
                                                             expected):
    # The scenario sets it to true: that, not the release's default, is
    # what the cell ran with (or "ignored" where the option does not exist).
    monkeypatch.setattr(pyenvs, "get", lambda *a, **k: _Env(default))
    m = matrix.Matrix.__new__(matrix.Matrix)
    m.candidates = {}
    m.scenario, m.say = catalogue.load("service-heartbeat-hang"), lambda line: None
    cell = {"id": "c", "axes": {"release": "14.0.3", "deps": "series"}}
    m.prepare(cell)
    assert cell["effective"]["heartbeat_in_pthread"] == expected


def test_the_scenario_runs_its_api_on_threads():
    scenario = catalogue.load("service-heartbeat-hang")
    assert scenario["config"]["lab"] == {"executor": "eventlet",
                                         "api_executor": "threading",
                                         "container": "uwsgi"}
    assert scenario["control"]["executor"] == "threading"
