"""A/B of a candidate fix, end to end, as a reproducer runs it: oslo.messaging's
sdist for the installed release checked into git with a small fix applied
(patches/heartbeat-native-thread.patch: the heartbeat on native threads in
a patched process), and the matrix over it and the installed release. The
stock release reproduces the heartbeat loss; the fixed build does not, and
its evidence shows heartbeats sent while the worker idled."""

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata

from tests.functional.conftest import REPO

PATCH = os.path.join(REPO, "tests", "functional", "patches",
                     "heartbeat-native-thread.patch")


def _git(cwd, *argv):
    subprocess.run(["git", "-c", "user.name=lab", "-c", "user.email=lab@localhost",
                    *argv], cwd=cwd, check=True, capture_output=True)


def _stock_and_fixed(tmp_path):
    version = metadata.version("oslo.messaging")
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--no-binary", ":all:", f"oslo.messaging=={version}",
                    "-d", str(tmp_path)], check=True, capture_output=True)
    (sdist,) = [os.path.join(tmp_path, n) for n in os.listdir(tmp_path)
                if n.endswith(".tar.gz")]
    shutil.unpack_archive(sdist, tmp_path / "unpacked")
    (top,) = os.listdir(tmp_path / "unpacked")
    fixed = str(tmp_path / "oslo.messaging")
    shutil.copytree(tmp_path / "unpacked" / top, fixed)
    # The reproducer's clone: the release committed, the fix on top.
    _git(fixed, "init", "-q")
    _git(fixed, "add", "-A")
    _git(fixed, "commit", "-q", "-m", f"oslo.messaging {version}")
    _git(fixed, "apply", PATCH)
    _git(fixed, "commit", "-q", "-am", "Heartbeat on native threads when patched")
    return version, sdist, fixed


def test_a_candidate_fix_changes_the_verdict(lab, tmp_path):
    version, _, fixed = _stock_and_fixed(tmp_path)
    # The stock cell is the installed release (the same version as the
    # sdist): one candidate venv to build, and both cells run side by side.
    out = lab.run("matrix", "heartbeat-loss", "--axis",
                  f"release=installed,{fixed}", "--axis", "executor=eventlet",
                  "--axis", "container=uwsgi", "--runs-dir", lab.runs_dir,
                  timeout=900)
    # No cell disagrees: the candidates have no expectation, installed agrees.
    assert out.returncode == 0, out.stdout + out.stderr
    mdir = os.path.dirname([line for line in out.stdout.splitlines()
                            if line.startswith("table: ")][-1][len("table: "):])
    with open(os.path.join(mdir, "matrix.json")) as f:
        cells = json.load(f)["cells"]
    installed, candidate = cells
    assert installed["agreement"] == "agrees"
    assert installed["verdict"] == "reproduced"
    assert candidate["verdict"] == "not-reproduced", candidate
    # Labelled with the version and the commit it was built from.
    head = subprocess.run(["git", "-C", fixed, "rev-parse", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    assert candidate["candidate"]["commit"] == head
    assert candidate["candidate"]["version"] == version
    assert candidate["axes"]["release"] == f"oslo.messaging@{head[:12]}"
    # The fixed cell's evidence: every connection sent heartbeats on the
    # wire while the worker idled, and the broker closed none.
    with open(os.path.join(mdir, candidate["run_dir"], "report.md")) as f:
        report = f.read()
    sent = [int(n) for n in re.findall(r"sent (\d+) heartbeat\(s\) while idle", report)]
    assert len(sent) == 2 and min(sent) > 0, report
    assert "no 'missed heartbeats' close" in report
    # The table a reviewer reads: the release columns differ on one row.
    with open(os.path.join(mdir, "matrix.md")) as f:
        table = f.read().split("## A/B by release", 1)[1]
    row = [line for line in table.splitlines() if line.startswith("| eventlet")]
    assert row == ["| eventlet | uwsgi | reproduced | not-reproduced | yes |"]
