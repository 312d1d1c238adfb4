"""A small matrix run whole, and again as three shards (side by side, as
three CI jobs would run them) merged: the same cells, the same verdicts."""

import json
import os
import subprocess
import time

from tests.functional.conftest import LAB, REPO

AXES = ["--axis", "executor=eventlet",
        "--axis", "container=uwsgi,eventlet-wsgi,paste-httpserver"]


def _summary(path):
    with open(os.path.join(path, "matrix.json")) as f:
        return json.load(f)


def _matrix_dir(stdout):
    return os.path.dirname([line for line in stdout.splitlines()
                            if line.startswith("table: ")][-1][len("table: "):])


def test_sharded_and_merged_equals_whole(lab):
    started = time.monotonic()
    whole = lab.run("matrix", "heartbeat-loss", *AXES, "--runs-dir", lab.runs_dir,
                    timeout=300)
    whole_seconds = time.monotonic() - started
    assert whole.returncode == 0, whole.stdout + whole.stderr
    started = time.monotonic()
    shards = [subprocess.Popen(LAB + ["matrix", "heartbeat-loss", *AXES, "--shard",
                                      f"{k}/3", "--runs-dir", lab.runs_dir],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=REPO, stdin=subprocess.DEVNULL)
              for k in (1, 2, 3)]
    outputs = [p.communicate(timeout=300) for p in shards]
    shard_seconds = time.monotonic() - started
    assert [p.returncode for p in shards] == [0, 0, 0], outputs
    dirs = [_matrix_dir(out) for out, _ in outputs]
    merged = lab.run("matrix", "merge", *dirs, "--runs-dir", lab.runs_dir)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    a, b = _summary(_matrix_dir(whole.stdout)), _summary(_matrix_dir(merged.stdout))
    assert [(c["id"], c["verdict"], c["agreement"]) for c in a["cells"]] == \
        [(c["id"], c["verdict"], c["agreement"]) for c in b["cells"]]
    for c in b["cells"]:  # each cell's evidence came along
        assert os.path.isfile(os.path.join(_matrix_dir(merged.stdout), c["run_dir"],
                                           "report.md"))
    # A missing shard is named, with the matrix's "incomplete" exit code.
    partial = lab.run("matrix", "merge", dirs[0], dirs[2], "--runs-dir", lab.runs_dir)
    assert partial.returncode == 8 and "2/3 missing" in partial.stderr
    print(f"whole {whole_seconds:.1f} s; 3 shards side by side {shard_seconds:.1f} s")
