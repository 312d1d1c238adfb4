import os

import pytest

from fake_lab import catalogue, settings
from fake_lab.errors import UsageError


@pytest.fixture
def scenario():
    return catalogue.load("heartbeat-loss")


def test_command_line_beats_user_file_beats_scenario(tmp_path, scenario):
    user = tmp_path / "user.conf"
    user.write_text("[oslo_messaging_rabbit]\nheartbeat_timeout_threshold = 5\n"
                    "heartbeat_rate = 2\n")
    etc = tmp_path / "etc"
    etc.mkdir()
    s = settings.resolve(scenario, [str(user)], {"heartbeat_timeout": 7},
                         str(etc))
    assert s.get("oslo_messaging_rabbit", "heartbeat_timeout_threshold") == 7
    assert s.get("oslo_messaging_rabbit", "heartbeat_rate") == 2
    assert s.get("lab", "executor") == "eventlet"
    assert [os.path.basename(f) for f in s.files] == [
        "00-scenario.conf", "10-user-0.conf", "20-command-line.conf"]


def test_bad_value_in_a_config_file_is_one_usage_error(tmp_path, scenario):
    user = tmp_path / "user.conf"
    user.write_text("[lab]\nexecutor = gevent\n")
    with pytest.raises(UsageError) as err:
        settings.resolve(scenario, [str(user)], {}, str(tmp_path))
    assert "gevent" in str(err.value) and "\n" not in str(err.value)


def test_zero_heartbeat_timeout_is_refused(tmp_path, scenario):
    user = tmp_path / "user.conf"
    user.write_text("[oslo_messaging_rabbit]\nheartbeat_timeout_threshold = 0\n")
    with pytest.raises(UsageError, match="at least 1 s"):
        settings.resolve(scenario, [str(user)], {}, str(tmp_path))


def test_unreadable_config_file(tmp_path, scenario):
    with pytest.raises(UsageError, match="cannot read config file"):
        settings.resolve(scenario, [str(tmp_path / "missing.conf")], {},
                         str(tmp_path))


def test_no_credentials_in_the_recorded_values(tmp_path, scenario):
    s = settings.resolve(scenario, [], {}, str(tmp_path))
    assert "transport_url" not in str(s.values)
