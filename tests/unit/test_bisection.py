"""bisect's search on a fake grid: an unknown probe is run once more, and a
second unknown makes the range inconclusive, never a change of verdict."""

import contextlib

import pytest

from fake_lab import cli, errors
from fake_lab.commands import bisection

VERSIONS = ["17.0.0", "17.1.0", "17.2.0", "17.3.0", "18.0.0"]


class FakeGrid:
    """Answers each release with scripted verdicts, one per probe."""

    script = {}

    def __init__(self, *args, **kwargs):
        self.probes = []

    @contextlib.contextmanager
    def session(self, kind, vhosts):
        yield type("M", (), {"path": "mdir"})(), "broker"

    def run_cells(self, mdir, broker, cells):
        for cell in cells:
            release = cell["axes"]["release"]
            self.probes.append(release)
            answers = FakeGrid.script[release]
            cell.update(status="ran", verdict=answers.pop(0) if len(answers) > 1
                        else answers[0])

    def finish(self, mdir, cells):
        return {"cells": cells, "probes": list(self.probes)}


@pytest.fixture
def grid(monkeypatch):
    monkeypatch.setattr(bisection, "candidates", lambda good, bad: list(VERSIONS))
    monkeypatch.setattr(bisection.matrix, "Matrix", FakeGrid)
    return FakeGrid


def test_the_first_release_that_differs_is_found(grid):
    grid.script = {v: ["not-reproduced"] for v in VERSIONS[:4]}
    grid.script["18.0.0"] = ["reproduced"]
    summary, _ = bisection.bisect("heartbeat-loss", "17.0.0", "18.0.0", {}, "runs")
    assert summary["first_different"] == "18.0.0"
    assert summary["inconclusive"] is None


def test_an_unknown_probe_is_run_again_and_its_second_verdict_counts(grid):
    grid.script = {v: ["not-reproduced"] for v in VERSIONS[:4]}
    grid.script["17.2.0"] = ["unknown", "not-reproduced"]
    grid.script["18.0.0"] = ["reproduced"]
    summary, _ = bisection.bisect("heartbeat-loss", "17.0.0", "18.0.0", {}, "runs")
    assert summary["first_different"] == "18.0.0"
    assert summary["probes"].count("17.2.0") == 2


def test_a_probe_unknown_twice_makes_the_range_inconclusive(grid, capsys,
                                                            monkeypatch):
    grid.script = {v: ["not-reproduced"] for v in VERSIONS[:4]}
    grid.script["17.2.0"] = ["unknown", "unknown"]
    grid.script["18.0.0"] = ["reproduced"]
    summary, _ = bisection.bisect("heartbeat-loss", "17.0.0", "18.0.0", {}, "runs")
    assert summary["first_different"] is None
    assert summary["inconclusive"] == ("17.0.0", "18.0.0")

    monkeypatch.setattr(bisection, "bisect", lambda *a, **k: (
        summary, type("M", (), {"file": lambda self, n: n})()))
    code = cli.main(["bisect", "--good", "17.0.0", "--bad", "18.0.0"])
    assert code == errors.EXIT_UNKNOWN
    assert "inconclusive" in capsys.readouterr().out


def test_an_unknown_end_is_inconclusive_too(grid):
    grid.script = {v: ["not-reproduced"] for v in VERSIONS}
    grid.script["18.0.0"] = ["unknown"]
    summary, _ = bisection.bisect("heartbeat-loss", "17.0.0", "18.0.0", {}, "runs")
    assert summary["inconclusive"] == ("17.0.0", "18.0.0")
