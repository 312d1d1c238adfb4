"""fake-lab bench, the workers' side: the calls and casts loops with fake
calls, what a process says of itself, and that the concurrency mode is
decided on the worker's first line (short Python subprocesses, no broker)."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from fake_service import bench_driver, bench_kombu

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_run_calls_issues_every_call_once_across_its_callers():
    seen = []
    lock = threading.Lock()

    def call(i, n):
        with lock:
            seen.append(n)
        if n % 10 == 0:
            raise TimeoutError("lost")
        time.sleep(0.001)

    block = bench_driver.run_calls(call, 4, 40, 30)
    assert sorted(seen) == list(range(1, 41))
    assert block["sent"] == 40
    assert len(block["latencies"]) == 36 and block["errors"] == {"TimeoutError": 4}
    assert all(x > 0 for x in block["latencies"]) and block["seconds"] > 0
    # Unpatched: each caller is a native thread of its own.
    assert len(block["threads"]) == 4
    assert len({t["native_id"] for t in block["threads"]}) == 4
    assert not any(t["green"] for t in block["threads"])


def test_run_calls_stops_issuing_after_its_duration():
    block = bench_driver.run_calls(lambda i, n: time.sleep(0.02), 1, 1000, 0.1)
    assert 1 <= block["sent"] < 1000
    assert len(block["latencies"]) == block["sent"]  # what was issued was answered


def test_run_casts_waits_until_the_server_counted_them_all():
    count = [0]
    pending = []

    def cast(n):
        pending.append(n)

    def status():
        # The server takes what was cast a little later, a few at a time.
        for _ in range(min(3, len(pending))):
            pending.pop()
            count[0] += 1
        return {"casts": count[0], "handler": {"green": False}}

    block = bench_driver.run_casts(cast, status, 20, 10)
    assert block["sent"] == 20 and block["received"] == 20
    assert block["seconds"] >= block["send_seconds"] > 0
    assert block["server"] == {"green": False}


def test_run_casts_gives_up_after_its_duration():
    block = bench_driver.run_casts(lambda n: None, lambda: {"casts": 0}, 5, 0.05)
    assert block["sent"] == 5 and block["received"] == 0


def test_this_process_describes_itself_unpatched():
    record = bench_driver.describe_process()
    assert record["pid"] == os.getpid()
    assert not any(record["patched"].values())
    assert record["socket_class"] == "socket.socket"
    assert record["main_thread"]["green"] is False


def _describe(module, mode):
    code = (f"import json, sys, {module}; from fake_service import bench_driver; "
            "print(json.dumps(dict(bench_driver.describe_process(), "
            "loaded=sorted(m for m in sys.modules if m.split('.')[0] == 'eventlet'))))")
    env = dict(os.environ, OS_NOVA_DISABLE_EVENTLET_PATCHING=mode, PYTHONPATH=REPO)
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                         text=True, env=env, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_an_eventlet_worker_is_patched_before_anything_else():
    record = _describe("fake_service.bench_worker", "false")
    assert all(record["patched"].values()), record["patched"]
    assert record["socket_class"] == "eventlet.greenio.base.GreenSocket"
    assert record["oslo_service_backend"] == "eventlet"
    assert not record["eventlet_poisoned"]


def test_a_threading_worker_is_never_patched_and_eventlet_is_poisoned():
    record = _describe("fake_service.bench_worker", "true")
    assert not any(record["patched"].values()), record["patched"]
    assert record["socket_class"] == "socket.socket"
    assert record["oslo_service_backend"] == "threading"
    assert record["eventlet_poisoned"]


def test_the_kombu_baseline_never_imports_eventlet():
    record = _describe("fake_service.bench_kombu", "false")
    assert record["loaded"] == [] and not record["eventlet_imported"]
    assert not any(record["patched"].values())


@pytest.mark.parametrize("url, expected", [
    ("rabbit://u:p@127.0.0.1:5672/bench-c1", "amqp://u:p@127.0.0.1:5672/bench-c1"),
    ("amqp://u:p@h:1/", "amqp://u:p@h:1/"),
])
def test_kombu_url(url, expected):
    assert bench_kombu.kombu_url(url) == expected


# ---------------------------------------------------------------- the lab's observation

_WIRING = """
import json, sys, types
from fake_service import bench_worker, logs
from fake_compute import manager
from oslo_messaging._drivers import impl_rabbit

conf_file, kind, role = sys.argv[1:4]
worker = bench_worker.KINDS[kind, role]
bench_worker.lab_wiring({"config_file": conf_file, "url": "rabbit://u:p@127.0.0.1:9/x"},
                        "fake-bench-test", kind, worker.LOGGER, role)
# What a call and a cast write in the fake compute, and a heartbeat check.
if role == "server":
    logs.info(manager.LOG, "ping: 1")
    logs.info(manager.LOG, "cast 1: 1")
try:
    impl_rabbit.Connection._heartbeat_check(types.SimpleNamespace(name="c", purpose="listen"))
except Exception:
    pass  # the driver's own check, on no connection
print(json.dumps(bench_worker.observation(worker.EVIDENCE)))
"""


def _wired(tmp_path, kind, role):
    """A lab-wired process set up as the bench's ``kind`` worker of ``role``
    (its config file as the runner writes it), no broker: what it says of
    its observation, and the lines of its log."""
    from fake_lab.bench import workers
    from fake_lab.commands import bench
    from fake_lab.settings import write_ini

    log = tmp_path / f"{kind}-{role}.log"
    conf = write_ini(str(tmp_path / f"{kind}-{role}.conf"), bench.lab_config(kind, str(log)))
    env = dict(os.environ, OS_NOVA_DISABLE_EVENTLET_PATCHING="true", PYTHONPATH=REPO)
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", _WIRING, conf, kind, role],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1]), workers.log_lines(str(log))


@pytest.mark.parametrize("role", ["server", "client"])
def test_the_quiet_worker_is_the_lab_worker_without_its_observation(tmp_path, role):
    """The worker's own wiring, from the config file the runner writes: the
    lab's has the observation the runner expects of it, the quiet one none
    (workers.OBSERVATION, which the runner checks every process against);
    the same call writes the lab's lines in the one and none in the other,
    and oslo.log's own lines are the same in both."""
    from fake_lab.bench import workers

    lab, lab_lines = _wired(tmp_path, "lab", role)
    quiet, quiet_lines = _wired(tmp_path, "quiet", role)
    for kind, seen in (("lab", lab), ("quiet", quiet)):
        expected = workers.OBSERVATION[kind][role]
        assert {k: seen[k] for k in expected} == expected, kind
        assert workers.observation_problem(kind, role, {"observation": seen}) is None
        other = "quiet" if kind == "lab" else "lab"
        assert workers.observation_problem(other, role, {"observation": seen})
    assert lab_lines["heartbeat_check"] == 1
    assert lab_lines["ping"] == lab_lines["cast"] == (1 if role == "server" else 0)
    assert {k: quiet_lines[k] for k in workers.EVIDENCE_KINDS} == dict.fromkeys(
        workers.EVIDENCE_KINDS, 0)
    assert lab_lines["other"] == quiet_lines["other"] > 0  # the startup lines, in both
