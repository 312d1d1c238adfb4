"""A small matrix for real: 2 executors x 2 containers on the lab's release."""

import json
import os

import pytest

from fake_lab.daemons import containers


@pytest.fixture(autouse=True)
def apache():
    if not containers.venv_binary("mod_wsgi-express"):
        reason = "mod_wsgi-express not installed (run tools/setup.sh)"
        if os.environ.get("FAKE_LAB_REQUIRE_ALL") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def test_two_by_two_matrix_agrees_with_the_catalogue(lab):
    proc = lab.run("matrix", "--runs-dir", lab.runs_dir,
                   "--axis", "container=uwsgi,mod_wsgi",
                   "--axis", "executor=eventlet,threading", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(os.path.join(lab.latest, "matrix.json")) as f:
        summary = json.load(f)
    verdicts = {(c["axes"]["container"], c["axes"]["executor"]): c["verdict"]
                for c in summary["cells"]}
    assert verdicts == {
        ("uwsgi", "eventlet"): "reproduced",
        ("uwsgi", "threading"): "not-reproduced",
        ("mod_wsgi", "eventlet"): "reproduced",
        ("mod_wsgi", "threading"): "not-reproduced",
    }
    for cell in summary["cells"]:
        assert cell["agreement"] == "agrees"
        assert cell["imported"]["oslo.messaging"]
        assert os.path.exists(os.path.join(lab.latest, cell["run_dir"], "result.json"))
    for name in ("matrix.md", "matrix.html"):
        assert os.path.exists(os.path.join(lab.latest, name))
    assert lab.leftovers() == []


@pytest.mark.parametrize("args, needle", [
    (("--axis", "colour=red"), "unknown axis 'colour'"),
    (("--axis", "release=99.99"), "oslo.messaging 99.99 is not a release"),
])
def test_bad_matrix_input_is_one_line_before_any_cell(lab, args, needle):
    proc = lab.run("matrix", "--runs-dir", lab.runs_dir, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert needle in proc.stderr and proc.stderr.count("\n") == 1
    assert not os.path.exists(os.path.join(lab.runs_dir, "latest"))


def test_a_missing_container_binary_is_one_line(lab, monkeypatch, tmp_path):
    import subprocess

    env = dict(os.environ, FAKE_LAB_UWSGI=str(tmp_path / "no-uwsgi"))
    proc = subprocess.run(lab.argv("matrix", "--runs-dir", lab.runs_dir,
                                   "--axis", "container=uwsgi"),
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "uwsgi not found" in proc.stderr
