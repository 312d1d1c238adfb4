"""The uWSGI release axis: the side-by-side build (without touching the
lab's own uWSGI), the ini it changes, the option's validation, and the
matrix's matching of the expectations' version specifiers."""

import configparser
import os
import subprocess
import sys
import types

import pytest

from fake_lab import catalogue, settings
from fake_lab.commands import matrix
from fake_lab.daemons import containers, uwsgi_releases
from fake_lab.errors import UsageError
from fake_lab.rundir import RunDir


@pytest.fixture
def venvs(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_LAB_VENVS", str(tmp_path / "venvs"))
    return tmp_path / "venvs"


def _fake_pip(calls, version="2.0.26", returncode=0):
    """subprocess.run standing in for pip (it writes a uwsgi that prints
    ``version``) and for ``uwsgi --version``."""
    real = subprocess.run

    def run(argv, **kwargs):
        if argv[1:4] == ["-m", "pip", "install"]:
            calls.append(argv)
            prefix = argv[argv.index("--prefix") + 1]
            os.makedirs(os.path.join(prefix, "bin"))
            path = os.path.join(prefix, "bin", "uwsgi")
            with open(path, "w") as f:
                f.write(f"#!/bin/sh\necho {version}\n")
            os.chmod(path, 0o755)
            return types.SimpleNamespace(returncode=returncode, stdout="",
                                         stderr="ERROR: no matching distribution")
        return real(argv, **kwargs)
    return run


def test_a_release_is_built_once_beside_the_labs_own(venvs, monkeypatch):
    calls = []
    monkeypatch.setattr(uwsgi_releases.subprocess, "run", _fake_pip(calls))
    path = uwsgi_releases.binary("2.0.26", say=lambda s: None)
    assert path == str(venvs / "uwsgi-2.0.26" / "bin" / "uwsgi")
    assert uwsgi_releases.version(path) == "2.0.26"
    argv = calls[0]
    # --ignore-installed: without it pip uninstalled the venv's own uWSGI.
    assert argv[0] == sys.executable
    assert {"--no-deps", "--ignore-installed", "--prefix"} <= set(argv)
    assert argv[-1] == "uWSGI==2.0.26"
    assert uwsgi_releases.binary("2.0.26") == path  # cached: no second build
    assert len(calls) == 1


def test_a_release_that_cannot_be_built_is_unavailable_and_remembered(
        venvs, monkeypatch):
    calls = []
    monkeypatch.setattr(uwsgi_releases.subprocess, "run",
                        _fake_pip(calls, returncode=1))
    for _ in range(2):
        with pytest.raises(uwsgi_releases.Unavailable, match="no matching"):
            uwsgi_releases.binary("2.0.99", say=lambda s: None)
    assert len(calls) == 1
    assert not os.path.exists(venvs / "uwsgi-2.0.99")


def test_a_build_of_another_release_is_refused(venvs, monkeypatch):
    monkeypatch.setattr(uwsgi_releases.subprocess, "run",
                        _fake_pip([], version="2.0.31"))
    with pytest.raises(uwsgi_releases.Unavailable, match="not 2.0.26"):
        uwsgi_releases.binary("2.0.26", say=lambda s: None)


def test_only_exact_releases_are_built(venvs):
    with pytest.raises(uwsgi_releases.Unavailable, match="not an exact"):
        uwsgi_releases.binary("2.0")
    with pytest.raises(uwsgi_releases.Unavailable, match="not built yet"):
        uwsgi_releases.binary("2.0.26", build=False)


def _ini(tmp_path, **uwsgi):
    run = RunDir(str(tmp_path))
    os.makedirs(run.etc, exist_ok=True)
    values = {"processes": 1, "threads": 1, "enable_threads": True,
              "lazy_apps": True, "release": "installed", **uwsgi}
    container = containers.UWSGI(run, types.SimpleNamespace(values={"uwsgi": values}))
    container.port = 8000
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(container.write_ini())
    return ini["uwsgi"]


def test_threads_are_left_out_only_when_they_would_turn_threads_on(tmp_path):
    # uWSGI <= 2.0.26 turns Python threads on for any `threads` option.
    assert "threads" not in _ini(tmp_path, enable_threads=False)
    assert _ini(tmp_path, enable_threads=False)["enable-threads"] == "false"
    assert _ini(tmp_path)["threads"] == "1"
    assert _ini(tmp_path, enable_threads=False, threads=4)["threads"] == "4"


def test_a_release_option_selects_the_side_by_side_binary(tmp_path, monkeypatch):
    monkeypatch.setattr(uwsgi_releases, "binary", lambda release: f"/x/{release}/uwsgi")
    values = {"processes": 1, "threads": 1, "enable_threads": False,
              "lazy_apps": True, "release": "2.0.26"}
    container = containers.UWSGI(RunDir(str(tmp_path)),
                                 types.SimpleNamespace(values={"uwsgi": values}))
    container.check_installed()
    assert container.binary == "/x/2.0.26/uwsgi"


def test_an_unbuildable_release_is_a_missing_component(tmp_path, monkeypatch):
    def refuse(release):
        raise uwsgi_releases.Unavailable("pip: no network")
    monkeypatch.setattr(uwsgi_releases, "binary", refuse)
    values = {"processes": 1, "threads": 1, "enable_threads": False,
              "lazy_apps": True, "release": "2.0.26"}
    container = containers.UWSGI(RunDir(str(tmp_path)),
                                 types.SimpleNamespace(values={"uwsgi": values}))
    with pytest.raises(containers.MissingComponent, match="uWSGI 2.0.26 is not "
                       "available here: pip: no network"):
        container.check_installed()


def test_the_release_option_is_validated_and_recorded(tmp_path):
    scenario = catalogue.load("uwsgi-without-enable-threads")
    s = settings.resolve(scenario, [], {}, str(tmp_path))
    assert s.get("uwsgi", "release") == "2.0.26"
    s = settings.resolve(scenario, [], {"uwsgi_release": "installed"}, str(tmp_path))
    assert s.values["uwsgi"]["release"] == "installed"
    with pytest.raises(UsageError, match="bad configuration"):
        settings.resolve(scenario, [], {"uwsgi_release": "latest"}, str(tmp_path))


def test_matrix_axis_and_specifiers():
    assert matrix.parse_axes(["uwsgi_release=2.0.26,installed"]) == {
        "uwsgi_release": ["2.0.26", "installed"]}
    with pytest.raises(UsageError, match="neither 'installed' nor an exact"):
        matrix.parse_axes(["uwsgi_release=newest"])
    old = {"uwsgi_release": "2.0.26", "uwsgi_version": "2.0.26"}
    new = {"uwsgi_release": "installed", "uwsgi_version": "2.0.31"}
    assert matrix._matches("uwsgi_release", "<2.0.27", old)
    assert not matrix._matches("uwsgi_release", "<2.0.27", new)
    assert matrix._matches("uwsgi_release", [">=2.0.27"], new)


def test_a_cell_without_the_axes_has_the_scenarios_values(monkeypatch):
    # Only the executor is swept: enable_threads and the uWSGI release come
    # from the scenario, so the expectations can name them.
    env = types.SimpleNamespace(probe=lambda: {
        "versions": {"oslo.messaging": "18.3.1", "uWSGI": "2.0.31"},
        "heartbeat_in_pthread": None})
    monkeypatch.setattr(matrix.pyenvs, "get", lambda *a, **k: env)
    monkeypatch.setattr(uwsgi_releases, "binary", lambda release, say=None: "/x")
    grid = matrix.Matrix("uwsgi-without-enable-threads", {"executor": ["threading"]},
                         "runs", say=lambda s: None)
    cell = {"id": "c", "axes": {"executor": "threading", "deps": "latest"}}
    assert grid.prepare(cell) is env
    effective = cell["effective"]
    assert effective["uwsgi_enable_threads"] == "false"
    assert effective["uwsgi_release"] == "2.0.26"
    assert effective["uwsgi_version"] == "2.0.26"
    expected, why = matrix.expect_for(matrix.expectations(grid.scenario["name"]),
                                      effective)
    assert expected == "reproduced" and "2.0.26" in why
