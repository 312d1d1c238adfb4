"""A matrix whose cells all fail to run exits non-zero (8), never 0."""

import json
import os


def test_a_matrix_whose_cells_cannot_run_exits_8(lab, tmp_path, monkeypatch):
    # A release venv marked unavailable, as the lab marks one pip could not
    # build: its cell never runs.
    venvs = tmp_path / "venvs"
    venvs.mkdir()
    (venvs / "om-17.3.2-latest.unavailable").write_text("pip: marked by the test\n")
    monkeypatch.setenv("FAKE_LAB_VENVS", str(venvs))
    proc = lab.run("matrix", "--runs-dir", lab.runs_dir, "--axis", "release=17.3.2",
                   "--axis", "executor=eventlet", timeout=180)
    assert proc.returncode == 8, proc.stdout + proc.stderr
    assert "gave no evidence" in proc.stderr
    with open(os.path.join(lab.latest, "matrix.json")) as f:
        cells = json.load(f)["cells"]
    assert [c["status"] for c in cells] == ["unavailable"]
    assert "marked by the test" in cells[0]["reason"]
    assert lab.leftovers() == []
