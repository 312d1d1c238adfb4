"""A small matrix for real: 2 executors x 2 containers on the lab's release.

(Its input checks that run nothing are in tests/unit/test_matrix_input.py.)"""

import json
import os

import pytest

from fake_lab.daemons import containers


@pytest.fixture
def apache():
    """Only for the tests that run mod_wsgi cells."""
    if not containers.venv_binary("mod_wsgi-express"):
        reason = "mod_wsgi-express not installed (run tools/setup.sh)"
        if os.environ.get("FAKE_LAB_REQUIRE_ALL") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def test_two_by_two_matrix_agrees_with_the_catalogue(apache, lab):
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


def test_an_unknown_release_is_one_line_before_any_cell(lab):
    # Asks the package index (pip index versions): network, so functional.
    proc = lab.run("matrix", "--runs-dir", lab.runs_dir, "--axis", "release=99.99")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "oslo.messaging 99.99 is not a release" in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert not os.path.exists(os.path.join(lab.runs_dir, "latest"))
