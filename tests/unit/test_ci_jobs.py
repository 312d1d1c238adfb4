"""The CI job definitions users copy cannot run here: check that they parse,
that they shard the matrix completely, and that every command they run is
one the README and tox.ini give."""

import configparser
import os
import re

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKFLOW = os.path.join(REPO, ".github", "workflows", "matrix.yml")


def _tox_envs():
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(os.path.join(REPO, "tox.ini"))
    return {s.split(":", 1)[1] for s in ini.sections() if s.startswith("testenv:")}


def _runs(workflow):
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            if "run" in step:
                yield name, job, step["run"].strip()


def test_the_workflow_parses_and_shards_the_whole_matrix():
    with open(WORKFLOW) as f:
        workflow = yaml.safe_load(f)
    shard = workflow["jobs"]["shard"]
    ks = shard["strategy"]["matrix"]["shard"]
    (run,) = [r for n, _, r in _runs(workflow) if "--shard" in r]
    n = int(re.search(r"--shard \$\{\{ matrix.shard \}\}/(\d+)", run).group(1))
    assert sorted(ks) == list(range(1, n + 1))
    assert workflow["jobs"]["merge"]["needs"] == "shard"


def test_the_workflow_runs_only_the_readmes_and_toxs_commands():
    with open(WORKFLOW) as f:
        workflow = yaml.safe_load(f)
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    envs = _tox_envs()
    for _, _, run in _runs(workflow):
        command = run.removeprefix("sudo ")
        if command == "tools/setup.sh":
            assert "tools/setup.sh" in readme
        elif command.startswith(".venv/bin/tox -e "):
            env = command.split()[2]
            assert env in envs, f"{env} is no tox env"
            assert f"tox -e {env}" in readme
        else:
            assert command.startswith(".venv/bin/fake-lab matrix merge "), command
            assert "fake-lab matrix merge DIR" in readme
