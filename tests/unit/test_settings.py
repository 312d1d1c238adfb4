import json
import os
import subprocess
import sys

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


def test_the_clients_retry_from_the_command_line_or_a_scenario(tmp_path):
    """``[workload] retry``: the CLI's --retry, over a scenario's value."""
    scenario = dict(catalogue.load("db-failover"))
    scenario["config"] = dict(scenario["config"], workload={"retry": "no-key"})
    etc = tmp_path / "etc"
    etc.mkdir()
    s = settings.resolve(scenario, [], {}, str(etc))
    assert (s.get("workload", "retry"), s.get("workload", "retry_attempts"),
            s.get("workload", "retry_interval")) == ("no-key", 4, 0.5)
    s = settings.resolve(scenario, [], {"retry": "key", "retry_attempts": 2},
                         str(etc))
    assert s.values["workload"] == {"retry": "key", "retry_attempts": 2,
                                    "retry_interval": 0.5}


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


PASSWORD = "s3cr3t-Pa55word"


def _recorded(s):
    """Everything a run records of its settings, as config.json holds it."""
    return str(s.values) + json.dumps(s.values)


def test_a_database_password_from_a_config_file_is_not_recorded(tmp_path,
                                                                 scenario):
    url = f"mysql+pymysql://nova:{PASSWORD}@db.example/nova"
    user = tmp_path / "user.conf"
    user.write_text(f"[database]\nconnection = {url}\n")
    etc = tmp_path / "etc"
    etc.mkdir()
    s = settings.resolve(scenario, [str(user)], {}, str(etc))
    # The file did reach oslo.config: the runner still has the real URL.
    assert s.database_url == url
    assert PASSWORD not in _recorded(s)
    assert s.get("database", "connection") == "***"


def test_a_database_password_from_the_command_line_is_not_recorded(tmp_path,
                                                                   scenario):
    url = f"postgresql://nova:{PASSWORD}@db.example/nova"
    s = settings.resolve(scenario, [], {"database": url}, str(tmp_path))
    assert s.database_url == url
    assert PASSWORD not in _recorded(s)
    # Exactly the mask: fails if masking is removed or the URL leaks in part.
    assert s.values["database"]["connection"] == "***"


def test_an_unset_database_url_is_recorded_as_unset(tmp_path, scenario):
    s = settings.resolve(scenario, [], {}, str(tmp_path))
    assert s.get("database", "connection") is None


def test_oslo_messagings_own_options_are_registered_not_copies():
    # The rabbit driver registers its options again when it loads; a copy
    # registered first stops equalling its original once oslo.config marks
    # it (a logged deprecation: 17.x's heartbeat_in_pthread, when
    # oslo.service's launcher logs every option): DuplicateOptError.
    from oslo_config import cfg
    from oslo_messaging._drivers import impl_rabbit

    from fake_service import conf as lab_conf

    conf = lab_conf.register(cfg.ConfigOpts())
    original = next(o for o in impl_rabbit.rabbit_opts if o.name == "heartbeat_rate")
    assert conf._get_opt_info("heartbeat_rate", "oslo_messaging_rabbit")["opt"] is original
    original._logged_deprecation = True  # as oslo.config marks an option it warned of
    try:
        conf.register_opts(impl_rabbit.rabbit_opts, group="oslo_messaging_rabbit")
    finally:
        original._logged_deprecation = False


def test_a_thread_that_resolves_settings_can_be_joined():
    """eventlet, imported first in a thread, leaves that thread unjoinable:
    the lab imports it in the main thread (fake_lab/settings.py), before a
    matrix resolves its cells' settings in a pool."""
    code = (
        "import threading\n"
        "from fake_lab import catalogue, settings\n"
        "import tempfile\n"
        "def resolve():\n"
        "    settings.resolve(catalogue.load('heartbeat-loss'), [], {},\n"
        "                     tempfile.mkdtemp())\n"
        "    print('resolved')\n"
        "t = threading.Thread(target=resolve, daemon=True)\n"
        "t.start()\n"
        "t.join(timeout=20)\n"
        "raise SystemExit(1 if t.is_alive() else 0)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "resolved\n"



def test_the_lab_skips_eventlets_green_dns_but_no_daemon_inherits_the_switch():
    # The variable is set only while oslo.messaging (and eventlet) load in
    # the lab's own process; a daemon started from os.environ must not get
    # it, or its eventlet would resolve names otherwise than a deployment's.
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "EVENTLET_NO_GREENDNS"}
    out = subprocess.run(
        [sys.executable, "-c", "import os, sys, fake_lab.settings; "
         "print('EVENTLET_NO_GREENDNS' in os.environ, "
         "'eventlet.support.greendns' in sys.modules, 'eventlet' in sys.modules)"],
        env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False", "True"], out.stderr
