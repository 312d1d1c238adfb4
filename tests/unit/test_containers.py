"""The containers' files: a second API (the standby of an [api] pair) never
shares one with the first."""

import types

from fake_lab.daemons import containers
from fake_lab.rundir import RunDir


def _settings():
    return types.SimpleNamespace(values={"uwsgi": {
        "processes": 2, "threads": 2, "enable_threads": True, "lazy_apps": True,
        "fork_hooks": False, "release": "installed"}})


def test_a_tagged_uwsgi_writes_files_of_its_own(tmp_path):
    run = RunDir(str(tmp_path))
    (tmp_path / "etc").mkdir()
    active = containers.UWSGI(run, _settings())
    standby = containers.UWSGI(run, _settings(), tag="standby")
    active.port, standby.port = 20001, 20002
    a, b = active.write_ini(), standby.write_ini()
    assert (a, b) == (str(tmp_path / "etc" / "uwsgi.ini"),
                      str(tmp_path / "etc" / "uwsgi-standby.ini"))
    text = open(b).read()
    assert "http-socket = 127.0.0.1:20002" in text
    assert f"pidfile = {tmp_path}/uwsgi-standby.pid" in text
    assert standby.named("apache-error") == "apache-error-standby"
    assert active.named("apache-error") == "apache-error"
