import pytest

from fake_lab import catalogue
from fake_lab.errors import UsageError


def test_every_scenario_loads_and_validates():
    for name in catalogue.names():
        assert catalogue.load(name)["name"] == name


def test_unknown_scenario_suggests_the_closest(tmp_path):
    with pytest.raises(UsageError, match="did you mean heartbeat-loss"):
        catalogue.load("heartbeat-los")


def test_unknown_op_is_refused():
    with pytest.raises(UsageError, match="op 'sleep'"):
        catalogue.validate({"name": "x", "summary": "x", "checker":
                            "heartbeat-loss", "workload": [{"op": "sleep"}]},
                           "x.toml")


def test_unknown_checker_is_refused():
    with pytest.raises(UsageError, match="unknown checker"):
        catalogue.validate({"name": "x", "summary": "x", "checker": "nope",
                            "workload": []}, "x.toml")
