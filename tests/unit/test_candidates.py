"""Candidate builds of oslo.messaging: what names one, how each is keyed
(an edit gives a new key, nothing else does), and bad input in one line."""

import os
import subprocess

import pytest

from fake_lab.commands import matrix
from fake_lab.daemons import candidates
from fake_lab.errors import UsageError


def _git(cwd, *argv):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *argv],
                          cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def _tree(path, name="oslo.messaging"):
    os.makedirs(path / "oslo_messaging", exist_ok=True)
    (path / "setup.cfg").write_text(f"[metadata]\nname = {name}\n")
    (path / "oslo_messaging" / "__init__.py").write_text("")
    return path


@pytest.fixture
def repo(tmp_path):
    tree = _tree(tmp_path / "oslo.messaging")
    (tree / ".gitignore").write_text("*.egg-info\n")
    _git(tree, "init", "-q", "-b", "master")
    _git(tree, "add", "-A")
    _git(tree, "commit", "-q", "-m", "stock")
    return tree


@pytest.mark.parametrize("text", ["installed", "17", "18.3.1"])
def test_releases_are_not_candidates(text):
    assert not candidates.looks_like_one(text)


@pytest.mark.parametrize("text", ["../oslo.messaging", "/src/om", "om/",
                                  "oslo.messaging-1.0.tar.gz",
                                  "git+https://opendev.org/openstack/oslo.messaging"])
def test_paths_files_and_urls_are(text):
    assert candidates.looks_like_one(text)


def test_a_clean_git_tree_is_its_commit(repo):
    c = candidates.parse(str(repo))
    head = _git(repo, "rev-parse", "HEAD")
    assert (c.kind, c.key, c.commit) == ("tree", head, head)
    assert c.label == f"oslo.messaging@{head[:12]}"


def test_an_edit_an_untracked_file_or_a_commit_gives_a_new_key(repo):
    keys = [candidates.parse(str(repo)).key]
    (repo / "oslo_messaging" / "__init__.py").write_text("FIX = 1\n")
    keys.append(candidates.parse(str(repo)).key)
    (repo / "oslo_messaging" / "new.py").write_text("")
    keys.append(candidates.parse(str(repo)).key)
    (repo / "oslo_messaging" / "new.py").write_text("X = 2\n")
    keys.append(candidates.parse(str(repo)).key)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "fix")
    keys.append(candidates.parse(str(repo)).key)
    assert len(set(keys)) == len(keys), keys
    # What the build leaves (ignored files) does not change it.
    (repo / "oslo.messaging.egg-info").mkdir()
    assert candidates.parse(str(repo)).key == keys[-1]


def test_a_plain_tree_is_keyed_by_its_files(tmp_path):
    tree = _tree(tmp_path / "unpacked")
    first = candidates.parse(str(tree)).key
    (tree / "build").mkdir()  # build output says nothing of the source
    (tree / "build" / "x.py").write_text("")
    assert candidates.parse(str(tree)).key == first
    (tree / "oslo_messaging" / "__init__.py").write_text("FIX = 1\n")
    assert candidates.parse(str(tree)).key != first
    assert candidates.parse(str(tree)).commit is None


def test_a_file_is_keyed_by_its_hash(tmp_path):
    f = tmp_path / "oslo.messaging-18.3.1.tar.gz"
    f.write_bytes(b"one")
    a = candidates.parse(str(f))
    f.write_bytes(b"two")
    b = candidates.parse(str(f))
    assert a.kind == "file" and a.key != b.key
    assert a.version_hint() == "18.3.1"


def test_a_git_url_is_the_commit_its_ref_names(repo):
    head = _git(repo, "rev-parse", "HEAD")
    _git(repo, "branch", "fix")
    for ref in ("", "@master", "@fix", "@refs/heads/fix", f"@{head}"):
        c = candidates.parse(f"git+file://{repo}{ref}")
        assert (c.kind, c.key, c.url) == ("git", head, f"file://{repo}")
    assert c.label == f"oslo.messaging@{head[:12]}"


def test_a_git_candidate_is_checked_out_at_its_commit(repo, tmp_path):
    _git(repo, "checkout", "-q", "-b", "fix")
    (repo / "oslo_messaging" / "__init__.py").write_text("FIX = 1\n")
    _git(repo, "commit", "-q", "-am", "fix")
    c = candidates.parse(f"git+file://{repo}@fix")
    src = c.source(str(tmp_path / "work"))
    assert _git(src, "rev-parse", "HEAD") == c.commit
    assert (tmp_path / "work" / "src" / "oslo_messaging" / "__init__.py").read_text() \
        == "FIX = 1\n"


def test_a_tree_is_built_from_a_copy(repo, tmp_path):
    c = candidates.parse(str(repo))
    src = c.source(str(tmp_path / "work"))
    assert src != str(repo) and os.path.isfile(os.path.join(src, "setup.cfg"))


@pytest.mark.parametrize("make, text, says", [
    (None, "../no-such-tree", "no such file or directory"),
    ("other", None, "not an oslo.messaging source tree"),
    ("file", "notes.txt", "must be a wheel or an sdist"),
    ("file", "kombu-5.0.tar.gz", "not an oslo.messaging wheel or sdist"),
    (None, "https://example.invalid/om.tar.gz", "must be a git URL"),
    ("repo", "@no-such-branch", "no ref 'no-such-branch'"),
    (None, "git+file:///nonexistent/repo@master", "git ls-remote failed"),
])
def test_bad_candidates_fail_in_one_line(tmp_path, repo, make, text, says):
    if make == "other":
        text = str(_tree(tmp_path / "kombu", name="kombu"))
    elif make == "file":
        (tmp_path / text).write_text("")
        text = str(tmp_path / text)
    elif make == "repo":
        text = f"git+file://{repo}{text}"
    with pytest.raises(UsageError) as exc:
        candidates.parse(text)
    assert says in str(exc.value) and "\n" not in str(exc.value)


def test_a_candidate_cell_has_no_expectation():
    rules = [{"when": {"executor": "eventlet"}, "expect": "reproduced", "why": "x"}]
    cell = {"executor": "eventlet", "candidate": "tree"}
    expected, why = matrix.expect_for(rules, cell)
    assert expected is None and "candidate" in why
    assert matrix.expect_for(rules, {"executor": "eventlet"})[0] == "reproduced"


def test_the_same_build_twice_is_refused(repo):
    m = matrix.Matrix("heartbeat-loss", {"release": [str(repo), f"{repo}/"]},
                      runs_dir="/nonexistent")
    with pytest.raises(UsageError, match="the same build"):
        m.plan()


def _cell(release, verdict, executor="eventlet", version=None, commit=None):
    cell = {"axes": {"release": release, "executor": executor, "deps": "latest"},
            "status": "ran", "verdict": verdict,
            "effective": {"release_version": version or release}}
    if commit:
        cell["candidate"] = {"commit": commit}
    return cell


def test_the_ab_table_puts_releases_side_by_side():
    summary = {"axes": {"release": ["installed", "om@abc"],
                        "executor": ["eventlet", "threading"]},
               "cells": [_cell("installed", "reproduced", version="18.3.1"),
                         _cell("installed", "not-reproduced", "threading", "18.3.1"),
                         _cell("om@abc", "not-reproduced", version="18.3.1",
                               commit="abcdef0123456789"),
                         _cell("om@abc", "not-reproduced", "threading", "18.3.1",
                               commit="abcdef0123456789")]}
    lines = matrix.ab_table(summary)
    assert lines[2] == ("| executor | installed (18.3.1) | om@abc (18.3.1) "
                        "commit abcdef0123 | differs |")
    assert lines[4:6] == ["| eventlet | reproduced | not-reproduced | yes |",
                          "| threading | not-reproduced | not-reproduced | no |"]
    assert matrix.ab_table({"axes": {"release": ["installed"]}, "cells": []}) == []
