"""A cloud half-way through the threading upgrade, for real: the scenario's
control, then the matrix an operator wants before upgrading, the API's mode
against the computes' (4 cells), each process in the mode it was given."""

import json
import os

from tests.functional.test_matrix_shards import _matrix_dir, _summary


def test_the_api_threading_computes_eventlet_control(lab):
    proc = lab.run("run", "mixed-upgrade", "--control", timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "not-reproduced", result
    assert result["details"]["active"] == 6
    with open(os.path.join(lab.latest, "report.md")) as f:
        report = f.read()
    assert "- fake-nova-api: native threads" in report
    assert "- fake-compute-1: eventlet-patched" in report


def test_the_upgrade_matrix(lab):
    proc = lab.run("matrix", "mixed-upgrade", "--axis", "api_executor=eventlet,threading",
                   "--axis", "compute_executor=eventlet,threading",
                   "--runs-dir", lab.runs_dir, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    mdir = _matrix_dir(proc.stdout)
    cells = {(c["axes"]["api_executor"], c["axes"]["compute_executor"]): c
             for c in _summary(mdir)["cells"]}
    # The API's mode decides; the computes' changes nothing.
    for (api, compute), c in cells.items():
        assert c["agreement"] == "agrees", c
        assert c["verdict"] == ("reproduced" if api == "eventlet" else "not-reproduced")
    # What reproduced is the API's heartbeat loss, no service's.
    for compute in ("eventlet", "threading"):
        with open(os.path.join(mdir, cells[("eventlet", compute)]["run_dir"],
                               "result.json")) as f:
            details = json.load(f)["details"]
        assert set(details["heartbeat_closes_by_program"]) == {"uwsgi"}, details
    # A threading compute runs as oslo.service's threading ServiceLauncher
    # does: a cotyledon master and one worker, two processes sampled.
    with open(os.path.join(mdir, cells[("threading", "threading")]["run_dir"],
                           "resources.jsonl")) as f:
        pids = {r["pid"] for r in map(json.loads, f) if r["name"] == "fake-compute-1"}
    assert len(pids) == 2, pids
