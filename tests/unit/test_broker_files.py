"""The private node: its files, and finding a running one again (--broker)."""

import json
import os

import pytest

from fake_lab.daemons import rabbitmq
from fake_lab.errors import LabError, UsageError


def _app(root, name, version, deps):
    ebin = os.path.join(root, f"{name}-{version}", "ebin")
    os.makedirs(ebin)
    with open(os.path.join(ebin, name + ".app"), "w") as f:
        f.write("{application, %s, [{vsn, \"%s\"},\n {applications, [%s]}]}.\n"
                % (name, version, ",".join(deps)))


def test_core_plugins_follow_the_dependencies_of_the_app_files(tmp_path):
    root = str(tmp_path)
    _app(root, "rabbit", "3.10.8", ["kernel", "stdlib", "rabbit_common", "ra"])
    _app(root, "rabbit_common", "3.10.8", ["kernel", "jsx"])
    _app(root, "ra", "2.2.0", ["aten"])
    _app(root, "aten", "0.5.8", [])
    _app(root, "jsx", "3.1.0", [])
    _app(root, "rabbitmq_prelaunch", "3.10.8", ["rabbit_common"])
    _app(root, "cuttlefish", "3.0.1", ["getopt"])
    _app(root, "getopt", "1.0.2", [])
    _app(root, "rabbitmq_management", "3.10.8", ["rabbit", "cowboy"])
    _app(root, "cowboy", "2.8.0", [])
    os.makedirs(os.path.join(root, "README"))  # not an application

    found = rabbitmq.core_plugins(root)

    assert sorted(found) == sorted([
        "rabbit-3.10.8", "rabbit_common-3.10.8", "ra-2.2.0", "aten-0.5.8",
        "jsx-3.1.0", "rabbitmq_prelaunch-3.10.8", "cuttlefish-3.0.1",
        "getopt-1.0.2"])
    assert found["ra-2.2.0"] == os.path.join(root, "ra-2.2.0")


def test_the_node_boots_with_its_own_plugins_directory(tmp_path, monkeypatch):
    package = tmp_path / "lib" / "rabbitmq_server-3.10.8"
    _app(str(package / "plugins"), "rabbit", "3.10.8", [])
    _app(str(package / "plugins"), "rabbitmq_management", "3.10.8", ["rabbit"])
    (package / "sbin").mkdir()
    server = package / "sbin" / "rabbitmq-server"
    server.write_text("#!/bin/sh\n")
    server.chmod(0o755)
    broker = rabbitmq.PrivateBroker(str(tmp_path / "run"))
    broker.server_bin = str(server)
    broker.port, broker.dist_port, broker.epmd_port = 5673, 25673, 4370
    broker._write_files()

    plugins = tmp_path / "run" / "plugins"
    assert sorted(os.listdir(plugins)) == ["rabbit-3.10.8"]
    env = broker._env()
    # A home of its own: the package's scripts see RABBITMQ_HOME as
    # run/dist, so ERL_LIBS ($RABBITMQ_HOME/plugins) holds the core only,
    # under the very path the node's plugins directory has.
    dist = tmp_path / "run" / "dist"
    assert env["RABBITMQ_SCRIPTS_DIR"] == str(dist / "sbin")
    assert env["RABBITMQ_PLUGINS_DIR"] == str(dist / "plugins")
    assert os.path.realpath(dist / "sbin") == str(package / "sbin")
    assert os.path.realpath(dist / "plugins") == str(plugins)
    assert sorted(os.listdir(dist / "plugins")) == ["rabbit-3.10.8"]
    # The VM starts distribution itself, on the node's own name and port.
    assert f"-sname {broker.nodename}" in env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
    assert "inet_dist_listen_min 25673" in env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]


def _node_dir(tmp_path, name, port):
    workdir = tmp_path / name / "broker"
    workdir.mkdir(parents=True)
    broker = rabbitmq.PrivateBroker(str(workdir))
    broker.port, broker.dist_port, broker.epmd_port = port, port + 1, port + 2
    broker.server_bin = None  # no package: no plugins directory
    broker._write_files()
    broker._write_node_file()
    return broker


def test_attach_finds_the_node_again_without_owning_it(tmp_path, monkeypatch):
    started = _node_dir(tmp_path, "up-1", 5700)
    monkeypatch.setattr(rabbitmq.procs, "port_open", lambda port, *a: port == 5700)

    attached = rabbitmq.find(str(tmp_path / "up-1"))

    assert (attached.nodename, attached.user, attached.password, attached.port) == (
        started.nodename, started.user, started.password, 5700)
    assert attached.url_for("run-1") == started.url_for("run-1")
    assert attached.attached and not attached.running()
    with pytest.raises(LabError, match="belongs to another lab"):
        attached.freeze()
    assert attached.stop(fast=True) < 1  # nothing of it is this run's to stop


def test_a_url_names_a_running_lab_broker_by_its_port(tmp_path, monkeypatch):
    _node_dir(tmp_path, "up-1", 5700)
    wanted = _node_dir(tmp_path, "up-2", 5800)
    monkeypatch.setattr(rabbitmq.procs, "port_open", lambda port, *a: port == 5800)

    found = rabbitmq.find(f"rabbit://{wanted.user}@127.0.0.1:5800/", str(tmp_path))

    assert found.workdir == wanted.workdir
    with pytest.raises(UsageError, match="no running broker of this lab"):
        rabbitmq.find("rabbit://x@127.0.0.1:5900/", str(tmp_path))
    with pytest.raises(UsageError, match="neither a directory nor"):
        rabbitmq.find("no-such-thing", str(tmp_path))
    with pytest.raises(UsageError, match="no broker of this lab there"):
        rabbitmq.find(str(tmp_path), str(tmp_path))


def test_a_stopped_broker_cannot_be_attached(tmp_path, monkeypatch):
    _node_dir(tmp_path, "up-1", 5700)
    monkeypatch.setattr(rabbitmq.procs, "port_open", lambda *a: False)
    with pytest.raises(LabError, match="not running"):
        rabbitmq.find(str(tmp_path / "up-1"))


def test_vhost_expressions_take_only_lab_names(monkeypatch):
    broker = rabbitmq.PrivateBroker("/nonexistent")
    calls = []
    monkeypatch.setattr(broker, "eval", lambda expr: calls.append(expr))
    broker.add_vhost("heartbeat-loss-20261124T052954Z")
    assert '<<"heartbeat-loss-20261124T052954Z">>' in calls[0]
    with pytest.raises(LabError):
        broker.delete_vhost('x">>, evil')


def test_erl_call_results_are_read_and_refusals_are_lab_errors(tmp_path, monkeypatch):
    broker = rabbitmq.PrivateBroker(str(tmp_path))
    broker.dist_port = 1
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".erlang.cookie").write_text("c")
    printed = {}
    monkeypatch.setattr(rabbitmq.subprocess, "run", lambda *a, **k: type(
        "Out", (), {"returncode": 0, "stdout": printed["out"], "stderr": ""}))
    rows = [{"name": "127.0.0.1:5 -> 127.0.0.1:6", "peer_port": 5,
             "state": "running"}]
    printed["out"] = '{ok, "%s"}' % json.dumps(rows).encode().hex().upper()
    assert broker.list_connections() == [
        {"name": "127.0.0.1:5 -> 127.0.0.1:6", "peer_port": "5", "state": "running"}]
    printed["out"] = "{error, \"*** eval: {'EXIT',{undef,...}}\"}"
    with pytest.raises(LabError, match="the broker refused"):
        broker.list_connections()


def test_a_throwaway_node_is_killed_once_its_synced_log_stops_growing(tmp_path, monkeypatch):
    broker = rabbitmq.PrivateBroker(str(tmp_path))
    os.makedirs(broker.log_dir)
    with open(broker.log_file, "w") as f:
        f.write("x\n")
    synced = []
    monkeypatch.setattr(broker, "eval", lambda expr, timeout=30: synced.append(expr))
    broker._wait_log_quiet()
    # The logger was asked to write out before each look.
    assert synced and all("filesync" in e for e in synced)

    def refused(expr, timeout=30):
        raise LabError("the broker refused it")
    monkeypatch.setattr(broker, "eval", refused)
    import time
    started = time.monotonic()
    broker._wait_log_quiet()
    # Unsynced: the longer quiet stands for the logger's own write-out.
    assert time.monotonic() - started >= broker.QUIET_UNSYNCED
