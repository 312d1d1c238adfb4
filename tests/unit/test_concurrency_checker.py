"""Every verdict depends on the processes' concurrency mode: a process that
ran otherwise than the run configured makes any verdict unknown."""

import json
import os

import pytest

from fake_lab import checkers
from fake_lab.checkers import concurrency
from fake_lab.rundir import RunDir

LINE = ("2026-11-24T01:56:07.116362Z {program}[{pid}] INFO fake_compute [-] "
        "concurrency: program={program} pid={pid} OS_NOVA_DISABLE_EVENTLET_PATCHING={env} "
        "asked={asked} eventlet_patched={patched} backend={backend} "
        "oslo.service=4.8.0 oslo.messaging=18.3.1\n")


def _run(tmp_path, lab, lines):
    run = RunDir(str(tmp_path))
    os.makedirs(run.logs, exist_ok=True)
    for program, fields in lines.items():
        with open(run.log(program), "w") as f:
            f.write(LINE.format(program=program, pid=100, **fields))
    config = {"options": {"lab": lab}}
    with open(run.file("config.json"), "w") as f:
        json.dump(config, f)
    return run, config


THREADING = dict(env="true", asked="threading", patched="False", backend="threading")
EVENTLET = dict(env="false", asked="eventlet", patched="True", backend="eventlet")


def test_processes_as_configured_change_nothing(tmp_path):
    run, config = _run(tmp_path, {"executor": "eventlet", "api_executor": "threading"},
                       {"fake-nova-api": THREADING, "fake-compute-1": EVENTLET})
    result = {"verdict": "reproduced", "evidence": ["x"], "details": {}}
    assert concurrency.verify(run, config, result) is result
    assert concurrency.summary(run)["fake-nova-api"].startswith("native threads")


@pytest.mark.parametrize("mode, fields, says", [
    ("threading", dict(THREADING, patched="True"),
     "asked for threading but runs eventlet-patched"),
    ("eventlet", dict(EVENTLET, patched="False"), "asked for eventlet but runs unpatched"),
    ("threading", dict(THREADING, backend="eventlet"),
     "oslo.service runs its eventlet backend"),
    ("threading", EVENTLET, "was configured for threading but asked for eventlet"),
])
def test_a_process_in_another_mode_makes_the_verdict_unknown(tmp_path, mode, fields, says):
    run, config = _run(tmp_path, {"executor": mode}, {"fake-compute-1": fields})
    result = concurrency.verify(run, config, {"verdict": "reproduced",
                                              "evidence": ["x"], "details": {}})
    assert result["verdict"] == checkers.UNKNOWN
    assert says in result["evidence"][1] and result["evidence"][-1] == "x"


def test_an_old_oslo_service_without_backends_is_not_a_problem(tmp_path):
    run, config = _run(tmp_path, {"executor": "threading"},
                       {"fake-compute-1": dict(THREADING, backend="none")})
    assert concurrency.problems(run, config) == []


@pytest.mark.parametrize("program, role", [("fake-nova-api", "api"),
                                           ("fake-compute-12", "compute"),
                                           ("fake-scheduler", "scheduler"),
                                           ("fake-conductor", "conductor"),
                                           ("uwsgi", None)])
def test_roles(program, role):
    assert concurrency.role_of(program) == role
