"""Sharding a matrix and merging the shards, on matrix directories built by
hand (the functional test runs real ones)."""

import json
import os

import pytest

from fake_lab import errors
from fake_lab.commands import matrix

PLANNED = [f"executor=e{i}" for i in range(7)]


def cells(ids, agreement="agrees"):
    return [{"id": cid, "axes": {"executor": cid[-2:]}, "status": "ran",
             "verdict": "reproduced", "expected": "reproduced", "agreement": agreement,
             "run_dir": f"cells/{cid}"} for cid in ids]


def shard_dir(tmp_path, k, n, ids=None, agreement="agrees", scenario="heartbeat-loss"):
    ids = ids if ids is not None else [c["id"] for c in matrix.shard_of(
        [{"id": cid} for cid in PLANNED], (k, n))]
    d = tmp_path / f"shard-{k}-{n}-{len(os.listdir(tmp_path))}"
    d.mkdir()
    summary = {"scenario": scenario, "axes": {"executor": ["e"]}, "seconds": 10.0 + k,
               "cells": cells(ids, agreement), "disagreements":
               ids if agreement == "DISAGREES" else [],
               "shard": {"k": k, "n": n, "planned": PLANNED}}
    for cid in ids:
        (d / "cells" / cid).mkdir(parents=True)
        (d / "cells" / cid / "report.md").write_text(cid)
    (d / "matrix.json").write_text(json.dumps(summary))
    return str(d)


def test_parse_shard():
    assert matrix.parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "3", "a/b", "", "1/0"):
        with pytest.raises(errors.UsageError):
            matrix.parse_shard(bad)


def test_shards_partition_the_plan_and_mix_it():
    plan = [{"id": cid} for cid in PLANNED]
    shards = [matrix.shard_of(plan, (k, 3)) for k in (1, 2, 3)]
    ids = [c["id"] for s in shards for c in s]
    assert sorted(ids) == sorted(PLANNED) and len(ids) == len(set(ids))
    assert [len(s) for s in shards] == [3, 2, 2]


def test_merge_equals_the_whole_in_the_planned_order(tmp_path):
    runs = tmp_path / "runs"
    dirs = [shard_dir(tmp_path, k, 3) for k in (3, 1, 2)]
    summary, mdir = matrix.merge(dirs, str(runs), say=lambda s: None)
    assert [c["id"] for c in summary["cells"]] == PLANNED
    assert summary["seconds"] == 13.0
    for cid in PLANNED:  # every cell's report came along
        assert open(mdir.file("cells", cid, "report.md")).read() == cid
    assert "| executor |" in open(mdir.file("matrix.md")).read()
    assert matrix.exit_code(summary, print) == errors.EXIT_OK


def test_a_missing_shard_is_named(tmp_path):
    dirs = [shard_dir(tmp_path, 1, 3), shard_dir(tmp_path, 3, 3)]
    with pytest.raises(errors.Incomplete, match=r"shard\(s\) 2/3 missing"):
        matrix.merge(dirs, str(tmp_path / "runs"))


def test_a_shard_given_twice_is_refused(tmp_path):
    dirs = [shard_dir(tmp_path, 1, 2), shard_dir(tmp_path, 1, 2), shard_dir(tmp_path, 2, 2)]
    with pytest.raises(errors.UsageError, match="given twice"):
        matrix.merge(dirs, str(tmp_path / "runs"))


def test_overlapping_shards_are_refused(tmp_path):
    dirs = [shard_dir(tmp_path, 1, 2, ids=PLANNED[:4]), shard_dir(tmp_path, 2, 2, ids=PLANNED[3:])]
    with pytest.raises(errors.UsageError, match="in two shards"):
        matrix.merge(dirs, str(tmp_path / "runs"))


def test_shards_of_different_matrices_are_refused(tmp_path):
    dirs = [shard_dir(tmp_path, 1, 2), shard_dir(tmp_path, 2, 2, scenario="pool-expiry")]
    with pytest.raises(errors.UsageError, match="another matrix"):
        matrix.merge(dirs, str(tmp_path / "runs"))


def test_a_whole_matrix_is_not_a_shard(tmp_path):
    d = tmp_path / "whole"
    d.mkdir()
    (d / "matrix.json").write_text(json.dumps({"scenario": "x", "cells": []}))
    with pytest.raises(errors.UsageError, match="not a shard"):
        matrix.merge([str(d)], str(tmp_path / "runs"))


def test_a_disagreement_in_one_shard_fails_the_merge(tmp_path):
    dirs = [shard_dir(tmp_path, 1, 2), shard_dir(tmp_path, 2, 2, agreement="DISAGREES")]
    summary, _ = matrix.merge(dirs, str(tmp_path / "runs"), say=lambda s: None)
    assert matrix.exit_code(summary, print) == errors.EXIT_EXPECTATION
