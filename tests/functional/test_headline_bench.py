"""fake-lab bench --headline for real, kept short: two runs of the headline,
each a `fake-lab run heartbeat-loss` of its own. It checks what the bench
read back (every phase of each run, the wall time, the verdicts) and that
nothing is left behind; it never asserts a timing."""

import json
import os

from fake_lab.daemons import procs


def test_two_headline_runs_give_their_phases_and_verdicts(lab):
    out = lab.run("bench", "--headline", "--runs", "2", "--runs-dir", lab.runs_dir,
                  timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stderr == ""  # no status line when stderr is not a terminal
    assert "expected reproduced in every run: yes" in out.stdout
    for which in ("min", "median", "max"):
        assert any(line.startswith(which) for line in out.stdout.splitlines())

    bench_dir = next(os.path.join(lab.runs_dir, d) for d in os.listdir(lab.runs_dir)
                     if d.startswith("bench-headline-"))
    with open(os.path.join(bench_dir, "headline.json")) as f:
        headline = json.load(f)
    assert headline["status"] == "complete" and headline["as_expected"]
    assert [r["verdict"] for r in headline["runs"]] == ["reproduced", "reproduced"]
    for row in headline["runs"]:
        assert row["exit"] == 0
        for phase in ("configure", "broker_boot", "services_up", "start", "workload",
                      "cleanup", "judging", "total", "wall"):
            assert row["timings"][phase] >= 0, (phase, row)
        assert row["timings"]["wall"] >= row["timings"]["total"]
        assert os.path.realpath(os.path.dirname(row["run_dir"])) == os.path.realpath(
            lab.runs_dir)
        assert procs.processes_under(row["run_dir"]) == []
    assert headline["spreads"]["total"]["n"] == 2
