"""The private node's files: only the core applications on its code path."""

import os

from fake_lab.daemons import rabbitmq


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
    assert env["RABBITMQ_PLUGINS_DIR"] == str(plugins)
    # The VM starts distribution itself, on the node's own name and port.
    assert f"-sname {broker.nodename}" in env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
    assert "inet_dist_listen_min 25673" in env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
