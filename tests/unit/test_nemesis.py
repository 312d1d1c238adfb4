"""Faults as verbs: validated before anything starts, recorded as history
operations, an impossible one mid-run recorded as info."""

import pytest

from fake_lab import catalogue, cli, errors
from fake_lab.errors import LabError, UsageError
from fake_lab.history import History, operations, read
from fake_lab.workload import nemesis


def scenario(*steps):
    return {"name": "x", "summary": "x", "checker": "heartbeat-loss",
            "workload": list(steps)}


@pytest.mark.parametrize("step, needle", [
    ({"op": "fault", "target": "broker", "verb": "explode"}, "unknown fault broker explode"),
    ({"op": "fault", "target": "moon", "verb": "freeze"}, "unknown fault moon freeze"),
    ({"op": "fault", "target": "broker", "verb": "freeze", "seconds": -1}, ">= 0"),
    ({"op": "fault", "target": "broker", "verb": "freeze", "seconds": "a"}, ">= 0"),
    ({"op": "fault", "target": "relay", "verb": "latency"}, "needs ms"),
    ({"op": "fault", "target": "broker", "verb": "kill", "signal": 9}, "no option 'signal'"),
    ({"op": "stop-service"}, "needs service"),
    ({"op": "fault", "target": "db", "verb": "rejoin", "lag": 2}, "no option 'lag'"),
])
def test_a_bad_fault_is_refused_before_anything_starts(step, needle):
    with pytest.raises(UsageError, match=needle):
        catalogue.validate(scenario(step), "test.toml")


def test_good_faults_pass():
    catalogue.validate(scenario(
        {"op": "fault", "target": "broker", "verb": "freeze", "seconds": 2.5},
        {"op": "fault", "target": "relay", "verb": "latency", "ms": 20},
        {"op": "stop-service", "service": "fake-compute-2"}), "test.toml")


def test_faults_lists_every_verb(capsys):
    assert cli.main(["faults"]) == errors.EXIT_OK
    out = capsys.readouterr().out
    for target, verb in nemesis.FAULTS:
        assert f"{target:8} {verb:10}" in out


class FakeBroker:
    def __init__(self, running=True):
        self.running, self.calls = running, []

    def freeze(self):
        if not self.running:
            raise LabError("the broker is not running")
        self.calls.append("freeze")
        return [11, 12]

    def thaw(self):
        self.calls.append("thaw")
        return [11, 12]


def test_a_timed_freeze_is_one_operation_with_its_thaw(tmp_path):
    history = History(str(tmp_path / "history.jsonl"))
    lab = type("Lab", (), {"broker": FakeBroker()})()
    nemesis.Nemesis(lab, history, say=lambda s: None).run(
        {"op": "fault", "target": "broker", "verb": "freeze", "seconds": 0.05})
    history.close()
    (op,) = operations(read(str(tmp_path / "history.jsonl"))).values()
    assert op["invoke"]["value"] == {"target": "broker", "verb": "freeze", "seconds": 0.05}
    assert op["done"]["type"] == "ok"
    assert op["done"]["value"]["undo"]["verb"] == "thaw"
    assert op["done"]["time"] - op["invoke"]["time"] >= 0.05
    assert lab.broker.calls == ["freeze", "thaw"]


def test_a_fault_its_target_cannot_take_mid_run_is_info(tmp_path):
    history = History(str(tmp_path / "history.jsonl"))
    lab = type("Lab", (), {"broker": FakeBroker(running=False)})()
    nemesis.Nemesis(lab, history, say=lambda s: None).run(
        {"op": "fault", "target": "broker", "verb": "freeze"})
    history.close()
    (op,) = operations(read(str(tmp_path / "history.jsonl"))).values()
    assert op["done"]["type"] == "info"
    assert "not running" in op["done"]["value"]["error"]


def test_a_negative_at_is_refused():
    with pytest.raises(UsageError, match="at must be"):
        catalogue.validate(scenario({"op": "fault", "target": "broker",
                                     "verb": "restart", "at": -1}), "test.toml")


def test_a_control_without_faults_drops_every_fault_step(monkeypatch, tmp_path):
    from fake_lab import runner

    seen = {}

    def fake_run(scenario, *args, **kwargs):
        seen["ops"] = [s["op"] for s in scenario["workload"]]
        raise KeyboardInterrupt  # nothing is started

    monkeypatch.setattr(runner, "run", fake_run)
    assert cli.main(["run", "broker-restart", "--control", "--runs-dir",
                     str(tmp_path)]) == errors.EXIT_INTERRUPTED
    assert "fault" not in seen["ops"] and "boot" in seen["ops"]
