"""The fork-after-connect checker judges from the processes the run
inspected: a shared AMQP socket is reproduced, own sockets each are not,
and missing workers or inspections are unknown."""

import pytest

from fake_lab.checkers import fork_after_connect
from tests.unit.runs import FakeRun, client_stamp

RELAY = 41000
MASTER = 500


def _sock(inode, port):
    return {"inode": inode, "local": f"127.0.0.1:{port}", "remote": f"127.0.0.1:{RELAY}"}


def _run(tmp_path, procs, serving, workers=3, method="fork", inspected=True,
         failed_calls=0):
    fake = FakeRun(tmp_path)
    fake.config.update(checker={"name": "fork-after-connect", "options": {}})
    fake.config["options"]["service"] = {"workers": workers, "start_method": method,
                                         "connect_before_fork": True}
    fake.request("first", 1.0)
    if inspected:
        fake._rec(1.5, type="event", f="processes-inspected", process="runner",
                  value={"services": {"fake-compute-1": procs}})
    for n in range(4):
        fake.request(f"call-{n}", 2.0 + n * 0.1,
                     outcome="fail" if n < failed_calls else "ok",
                     status=500 if n < failed_calls else 200)
    fake.write()
    fake.run.write_json("ports.json", {"relay": RELAY, "amqp": RELAY + 1})
    with open(fake.run.log("fake-compute-1"), "w") as f:
        for pid in serving:
            f.write(f"{client_stamp(0.5)} fake-compute-1[{pid}] INFO fake_compute [-] "
                    f"RPC server started: role=compute pid={pid} parent={MASTER}\n")
    return fake.run


def _proc(pid, *sockets, ppid=MASTER):
    return {"pid": pid, "ppid": ppid, "sockets": list(sockets)}


FORKED = [_proc(MASTER, _sock(7, 100), ppid=1),
          *[_proc(pid, _sock(7, 100), _sock(pid, pid)) for pid in (501, 502, 503)]]
SPAWNED = [_proc(MASTER, _sock(7, 100), ppid=1), _proc(599),  # the resource tracker
           *[_proc(pid, _sock(pid, pid)) for pid in (501, 502, 503)]]


def test_a_socket_shared_by_the_parent_and_its_workers_is_reproduced(tmp_path):
    run = _run(tmp_path, FORKED, serving=(501, 502, 503), failed_calls=1)
    result = fork_after_connect.check(run)
    assert result["verdict"] == "reproduced"
    assert result["details"]["shared_sockets"] == {"7": [500, 501, 502, 503]}
    assert any("is open in PIDs 500, 501, 502, 503" in e for e in result["evidence"])
    assert result["details"]["calls_failed"] == 1


def test_own_sockets_each_is_not_reproduced(tmp_path):
    run = _run(tmp_path, SPAWNED, serving=(501, 502, 503), method="spawn")
    result = fork_after_connect.check(run)
    assert result["verdict"] == "not-reproduced", result
    assert "not serving RPC: 599" in result["evidence"][1]


@pytest.mark.parametrize("kwargs, says", [
    (dict(procs=FORKED, serving=(501, 502, 503), inspected=False), "did not inspect"),
    (dict(procs=FORKED, serving=(501, 502)), "only 2 of the 3 worker(s)"),
    (dict(procs=SPAWNED[:2] + [_proc(501, _sock(501, 501)), _proc(502), _proc(503)],
          serving=(501, 502, 503)), "held no AMQP socket"),
])
def test_what_cannot_tell_is_unknown(tmp_path, kwargs, says):
    result = fork_after_connect.check(_run(tmp_path, **kwargs))
    assert result["verdict"] == "unknown"
    assert says in result["evidence"][-1]
