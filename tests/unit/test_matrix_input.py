"""``fake-lab matrix`` refuses bad input with one line before any cell
runs: nothing is started (moved from tests/functional/test_matrix.py)."""

import os

from fake_lab import cli, errors


def test_an_unknown_axis_is_one_line_before_any_cell(capsys, tmp_path):
    code = cli.main(["matrix", "--runs-dir", str(tmp_path), "--axis", "colour=red"])
    _, err = capsys.readouterr()
    assert code == errors.EXIT_USAGE, err
    assert "unknown axis 'colour'" in err and err.count("\n") == 1
    assert not os.path.exists(os.path.join(tmp_path, "latest"))


def test_a_missing_container_binary_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_LAB_UWSGI", str(tmp_path / "no-uwsgi"))
    code = cli.main(["matrix", "--runs-dir", str(tmp_path / "runs"),
                     "--axis", "container=uwsgi"])
    _, err = capsys.readouterr()
    assert code == errors.EXIT_MISSING, err
    assert "uwsgi not found" in err and err.count("\n") == 1
    assert not os.path.exists(tmp_path / "runs" / "latest")

