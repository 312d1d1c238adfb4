"""The service-heartbeat-hang checker on run directories built from recorded
lines (shaped as a real 14.0.3 run with zed's constraints wrote them): every
verdict, and each reason for ``unknown``."""

import os

from fake_lab import checkers
from fake_lab.checkers import evidence, service_heartbeat_hang
from tests.unit.runs import T0, FakeRun, client_stamp

check = service_heartbeat_hang.check
COMPUTE_PID = 11224
READY = ("RPC transport ready: oslo.messaging {version}, kombu 5.2.4, amqp 5.1.1, "
         "eventlet 0.33.1, oslo.log {log}; eventlet patched={patched}, "
         "heartbeat_timeout_threshold=1 heartbeat_rate=3 heartbeat_in_pthread={pthread}")
GREENLET = [
    "Traceback (most recent call last):",
    '  File ".../eventlet/hubs/hub.py", line 476, in fire_timers',
    "    timer()",
    '  File ".../eventlet/semaphore.py", line 147, in _do_acquire',
    "    waiter.switch()",
    "greenlet.error: cannot switch to a different thread",
]


class HangRun(FakeRun):
    """A fake compute (PID 11224) answering a trickle of calls through the
    API worker, with its two connections (listen, send) on the wire."""

    def __init__(self, tmp_path, pthread="True", patched=True, version="14.0.3"):
        super().__init__(tmp_path)
        self.config["checker"] = {"name": "service-heartbeat-hang",
                                  "options": {"min_calls": 10}}
        self.compute = []
        self.stderr = []
        self.line(0.9, "fake_service.rpc", READY.format(
            version=version, log="5.0.0", patched=patched, pthread=pthread))
        self.calls = 0
        self.conns = {}

    def line(self, t, logger, msg, req="-"):
        self.compute.append(f"{client_stamp(t)} fake-compute-1[{COMPUTE_PID}] INFO "
                            f"{logger} [{req}] {msg}")

    def call(self, t, ok=True, received=True):
        self.calls += 1
        req = "req-%08d-0000-4000-8000-000000000000" % self.calls
        name = "first-request" if self.calls == 1 else f"trickle-{self.calls - 1}"
        if ok:
            self.op("call", name, t, t + 0.01, "ok", status=200, latency=0.01,
                    api_pid=6243, request_id=req)
        else:
            self.op("call", name, t, t + 2.0, "info", status=504, latency=2.0,
                    request_id=req)
        if received:
            self.line(t + 0.003, "fake_compute.manager", "ping: None", req)

    def trickle(self, start, end, every=0.1, **kw):
        t = start
        while t < end - 1e-9:
            self.call(t, **kw)
            t += every

    def compute_connections(self, silent_from=None, closed_at=None, every=0.25):
        """listen and send, frames from the compute every ``every`` s until
        ``silent_from`` (then nothing), the broker's heartbeats every 0.5 s,
        the broker's RST at ``closed_at``."""
        for uid, purpose, thread in (("listen", "listen", "green"),
                                     ("send", "send", "native")):
            conn = self.connection(1.0, pid=COMPUTE_PID, program="service.py", uid=uid)
            self.conns[purpose] = conn
            until = silent_from if silent_from is not None else 16.0
            end = closed_at if closed_at is not None else 16.0
            self.wire(conn, 1.0, c2s=[1.0 + k * every for k in range(
                int((until - 1.0) / every) + 1)],
                s2c=[1.5 + k * 0.5 for k in range(int((end - 1.5) / 0.5) + 1)],
                end=("rst", "server", closed_at) if closed_at else None)
            t = 1.0
            while t < until:
                self.line(t, "fake_service.observe",
                          f"heartbeat-check connection={conn[2]} purpose={purpose} "
                          f"thread={thread}")
                t += 0.167
            if closed_at is not None:
                self.missed_heartbeats(conn, closed_at)

    def workload_end(self, t):
        self.op("idle", "after", t, t + 3.0, slept=3.0)
        self._rec(t + 3.5, type="event", f="connections-listed", process="runner",
                  value={"connections": []})
        self._rec(t + 14.0, type="event", f="stopped", process="runner",
                  value={"reason": None})

    def write(self):
        run = super().write()
        with open(run.log("fake-compute-1"), "w") as f:
            f.write("\n".join(sorted(self.compute)) + "\n")
        with open(run.log("fake-compute-1.out"), "w") as f:
            f.write("\n".join(self.stderr) + "\n")
        return run


def hung_run(tmp_path):
    """As 14.0.3 with zed's constraints ran: answered until t=7, then the
    compute received one more call and went silent; the broker closed both
    of its connections for missed heartbeats about 2.8 s later."""
    fr = HangRun(tmp_path)
    fr.trickle(5.0, 7.0)
    fr.call(7.0, ok=False, received=True)
    fr.trickle(7.1, 12.0, ok=False, received=False)
    fr.compute_connections(silent_from=7.0, closed_at=9.8)
    for k in range(36):  # py-amqp's tick lines, at DEBUG, until the hang
        fr.line(1.0 + k * 0.167, "amqp.connection.Connection.heartbeat_tick",
                "heartbeat_tick : for connection 69c8780d80774024aea6648f89fcd135")
    fr.stderr += GREENLET
    fr.workload_end(14.0)
    return fr


def healthy_run(tmp_path, **kw):
    fr = HangRun(tmp_path, **kw)
    fr.trickle(5.0, 12.0)
    fr.compute_connections()
    fr.workload_end(12.1)
    return fr


def test_a_compute_whose_connections_went_silent_is_reproduced(tmp_path):
    res = check(hung_run(tmp_path).write())
    assert res["verdict"] == "reproduced", res["evidence"]
    text = "\n".join(res["evidence"])
    assert text.count("missed heartbeats from client") == 2
    assert "greenlet.error: cannot switch to a different thread" in text
    assert "heartbeat_in_pthread=True" in text
    assert "stopped sending at t=+7.00s" in text
    assert "received 1 call(s) it never answered" in text
    d = res["details"]
    assert len(d["silent"]) == 2 and len(d["missed"]) == 2
    assert d["received_unanswered"] == 1 and d["greenlet_errors"] == 1
    assert d["silent_from"] == 7.0
    assert d["amqp_lines"] == 36 and "36 line(s) of amqp's loggers" in text


def test_a_compute_that_answered_everything_is_not_reproduced(tmp_path):
    res = check(healthy_run(tmp_path, pthread="False").write())
    assert res["verdict"] == "not-reproduced", res["evidence"]
    text = "\n".join(res["evidence"])
    assert "answered all 70 call(s)" in text
    assert "ran on a green thread" not in text  # the send one was native here
    assert res["details"]["silent"] == [] and res["details"]["missed"] == []


def test_judged_through_the_registry(tmp_path):
    run = hung_run(tmp_path).write()
    assert checkers.CHECKERS["service-heartbeat-hang"] is check
    assert checkers.judge(run)["verdict"] == "reproduced"


def test_a_release_without_the_option_is_unknown_with_the_reason(tmp_path):
    res = check(healthy_run(tmp_path, pthread="n/a", version="18.3.1").write())
    assert res["verdict"] == "unknown"
    assert "18.3.1 has no heartbeat_in_pthread" in res["evidence"][-1]
    assert "observed anyway: the compute answered all 70" in res["evidence"][-2]


def test_a_release_without_the_option_says_so_even_when_it_hung(tmp_path):
    fr = hung_run(tmp_path)
    fr.compute[0] = fr.compute[0].replace("heartbeat_in_pthread=True",
                                          "heartbeat_in_pthread=n/a")
    res = check(fr.write())
    assert res["verdict"] == "unknown"
    assert "observed anyway: the compute hung" in res["evidence"][-2]


def test_an_unpatched_compute_is_judged_whatever_the_release(tmp_path):
    res = check(healthy_run(tmp_path, pthread="n/a", patched=False,
                            version="18.3.1").write())
    assert res["verdict"] == "not-reproduced", res["evidence"]
    assert any("nothing is patched" in line for line in res["evidence"])


def test_without_the_compute_log_it_is_unknown(tmp_path):
    run = hung_run(tmp_path).write()
    os.remove(run.log("fake-compute-1"))
    res = check(run)
    assert res["verdict"] == "unknown"
    assert "never said how it ran" in res["evidence"][-1]


def test_without_the_wire_it_is_unknown(tmp_path):
    run = healthy_run(tmp_path).write()
    os.remove(run.file("wire.jsonl"))
    res = check(run)
    assert res["verdict"] == "unknown"
    assert "no wire.jsonl" in res["evidence"][-1]


def test_a_close_the_wire_contradicts_is_unknown(tmp_path):
    fr = healthy_run(tmp_path)
    fr.missed_heartbeats(fr.conns["send"], 9.8)
    res = check(fr.write())
    assert res["verdict"] == "unknown"
    assert "the witnesses disagree" in res["evidence"][-1]


def test_calls_the_compute_never_received_are_not_its_failure(tmp_path):
    fr = HangRun(tmp_path)
    fr.trickle(5.0, 10.0)
    fr.trickle(10.0, 12.0, ok=False, received=False)
    fr.compute_connections()
    fr.workload_end(12.1)
    res = check(fr.write())
    assert res["verdict"] == "unknown"
    assert "the failure was not the compute's" in res["evidence"][-1]


def test_received_calls_never_answered_are_reproduced_without_silence(tmp_path):
    # A stuck green thread: the compute got the calls, its connections kept
    # sending, the replies never came.
    fr = HangRun(tmp_path)
    fr.trickle(5.0, 10.0)
    fr.trickle(10.0, 11.0, ok=False, received=True)
    fr.compute_connections()
    fr.workload_end(12.1)
    res = check(fr.write())
    assert res["verdict"] == "reproduced", res["evidence"]
    assert "received 10 call(s) it never answered" in res["evidence"][-1]
    assert res["details"]["silent"] == []


def test_a_few_calls_are_not_a_trickle(tmp_path):
    fr = HangRun(tmp_path)
    fr.trickle(5.0, 5.5)
    fr.compute_connections()
    fr.workload_end(9.0)
    res = check(fr.write())
    assert res["verdict"] == "unknown"
    assert "not a trickle" in res["evidence"][-1]


def test_no_call_is_unknown(tmp_path):
    fr = HangRun(tmp_path)
    fr.compute_connections()
    res = check(fr.write())
    assert res["verdict"] == "unknown"
    assert "no call was sent" in res["evidence"][-1]


def test_the_api_workers_connections_are_not_the_computes(tmp_path):
    fr = healthy_run(tmp_path)
    api = fr.connection(5.0, uid="api")  # uwsgi:6243:api
    fr.missed_heartbeats(api, 9.0)
    res = check(fr.write())
    assert res["verdict"] == "not-reproduced", res["evidence"]
    assert "1 closed for missed heartbeats" in "\n".join(res["evidence"])


def test_longest_silence_spans_the_gap_between_frames():
    conn = {"accept": T0, "beats": {"c2s": [T0 + 1, T0 + 5], "s2c": []},
            "frames": {"c2s": [T0 + 1.5], "s2c": []}}
    gap, since = evidence.longest_silence(conn, conn["accept"], T0 + 6)
    assert round(gap, 3) == 3.5 and since == T0 + 1.5
