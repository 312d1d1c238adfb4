"""report.html: the verdict, its evidence and the run's timeline, written
from a run directory of recorded lines (tests/unit/runs.py)."""

import json
import os
import re

from fake_lab import checkers, report, timeline
from fake_lab.rundir import RunDir
from tests.unit import runs


def _model(page):
    """The timeline's data as report.html embeds it."""
    m = re.search(r"<script type=application/json id=timeline-data>(.*?)</script>",
                  page, re.S)
    assert m, "no timeline data in report.html"
    return json.loads(m.group(1).replace("<\\/", "</"))


def _judged(fr):
    run = fr.write()
    result = dict(checkers.judge(run), scenario="heartbeat-loss",
                  timings={"configure": 0.04, "start": 4.9, "workload": 5.0,
                           "cleanup": 2.0, "judging": 0.01, "broker_boot": 4.8,
                           "services_up": 4.9, "total": 12.0})
    return run, result


def test_report_html_holds_the_verdict_and_the_workers_closes(tmp_path):
    run, result = _judged(runs.eventlet_run(tmp_path))
    assert result["verdict"] == checkers.REPRODUCED
    report.write(run, result)  # report.md, and report.html beside it
    assert os.path.exists(run.file("report.md"))
    with open(run.file("report.html")) as f:
        page = f.read()

    # Self-contained: plotly's JavaScript inline, nothing fetched.
    assert "Plotly.newPlot" in page and 'id="timeline"' in page
    assert not re.search(r"<script[^>]+src=", page)
    assert "reproduced" in page and "missed heartbeats from client" in page
    for line in result["evidence"]:
        assert line.replace("&", "&amp;").replace("<", "&lt;").replace(
            ">", "&gt;").replace('"', "&quot;").replace("'", "&#x27;") in page

    model = _model(page)
    worker = model["processes"][0]
    assert worker["pid"] == runs.API_PID and worker["api"]
    assert "API worker" in worker["label"]
    conns = {c["name"]: c for c in worker["connections"]}
    assert set(conns) == {f"uwsgi:{runs.API_PID}:reply", f"uwsgi:{runs.API_PID}:send"}
    close = conns[f"uwsgi:{runs.API_PID}:send"]["broker"][0]
    assert close["missed_heartbeats"] and abs(close["closed"] - 8.06) < 1e-3
    assert "missed heartbeats from client" in close["reason"]
    # The driver's lines (no uuid in these): on the worker's own row.
    assert [m["kind"] for m in worker["log"]] == ["unreachable", "reconnected"]
    # The requests with their latencies, the phases end to end.
    calls = {o["name"]: o for o in model["ops"] if o["f"] == "call"}
    assert calls["second-request"]["latency"] == 1.02
    assert calls["second-request"]["outcome"] == "ok"
    assert [p["name"] for p in model["phases"]] == list(timeline.PHASES)
    assert model["phases"][2]["start"] == 4.94
    # No relay here: the page says where the heartbeats came from instead.
    assert any("no wire.jsonl" in n for n in model["notes"])
    # The close is drawn, written on the plot at its time.
    assert (f'"broker closed uwsgi:{runs.API_PID}:send: missed heartbeats from client"'
            in page)


def test_the_wire_gives_each_connection_its_lifetime_and_heartbeats(tmp_path):
    fr = runs.FakeRun(tmp_path)
    fr.request("first-request", 5.0)
    uuid = "7f95daf8-e83f-400d-ba47-c2c0479b4a74"
    a = fr.connection(5.01, uid=uuid)
    c = fr.connection(5.02, pid=4242, program="fake-compute", uid="listen")
    fr.op("idle", "idle", 5.05, 8.2, slept=3.15)
    fr.missed_heartbeats(a, 8.05)
    fr.wire(a, 5.01, c2s=[], s2c=[5.5, 6.0, 6.5, 7.0, 7.5], end=("rst", "server", 8.05))
    fr.wire(c, 5.02, c2s=[5.4, 5.9, 6.4, 6.9, 7.4, 7.9], s2c=[5.5, 6.0])
    fr.request("second-request", 8.81, latency=1.02)
    fr.api_line(9.8, "INFO", "oslo.messaging._drivers.impl_rabbit",
                f"[-] [{uuid}] Reconnected to AMQP server on 127.0.0.1:54491 via "
                "[amqp] client with port 50998.")
    run, result = _judged(fr)
    path = timeline.write(run, result)
    with open(path) as f:
        model = _model(f.read())
    worker, compute = model["processes"]
    assert worker["pid"] == runs.API_PID and compute["pid"] == 4242
    tcp = worker["connections"][0]["tcp"][0]
    assert tcp["c2s"] == [] and len(tcp["s2c"]) == 5
    assert tcp["end"] == {"time": 8.05, "how": "rst", "by": "server"}
    assert len(compute["connections"][0]["tcp"][0]["c2s"]) == 6
    # The driver names the connection by its uuid: on that connection's row.
    assert [m["kind"] for m in worker["connections"][0]["driver"]] == ["reconnected"]
    assert worker["connections"][0]["short"] == f"uwsgi:{runs.API_PID}:7f95daf8"
    assert not any("wire" in n for n in model["notes"])


def test_a_fault_is_on_the_timeline(tmp_path):
    fr = runs.eventlet_run(tmp_path)
    fr.ids += 1
    fr._rec(6.0, type="invoke", id=fr.ids, f="fault", process="nemesis",
            value={"target": "broker", "verb": "freeze", "seconds": 2})
    fr._rec(8.0, type="ok", id=fr.ids, f="fault", process="nemesis",
            value={"target": "broker", "verb": "freeze", "seconds_taken": 2.0})
    run, result = _judged(fr)
    with open(timeline.write(run, result)) as f:
        model = _model(f.read())
    assert [(x["name"], x["start"], x["end"]) for x in model["faults"]] == [
        ("broker freeze", 6.0, 8.0)]
    assert all(o["f"] != "fault" for o in model["ops"])


def test_an_empty_run_directory_still_gets_a_page_saying_what_is_missing(tmp_path):
    run = RunDir(str(tmp_path))
    path = timeline.write(run, {"scenario": "heartbeat-loss", "verdict": "unknown",
                                "reason": "interrupted during the start phase"})
    with open(path) as f:
        page = f.read()
    assert "interrupted during the start phase" in page
    notes = _model(page)["notes"]
    assert any("no history.jsonl" in n for n in notes)
    assert any("no timings" in n for n in notes)
    assert any("no AMQP connection" in n for n in notes)


def test_a_broken_timeline_never_fails_the_run(tmp_path, monkeypatch):
    run, result = _judged(runs.eventlet_run(tmp_path))

    def broken(model, result):
        raise RuntimeError("no plot today")

    monkeypatch.setattr(timeline, "figure", broken)
    with open(timeline.write(run, result)) as f:
        page = f.read()
    assert "timeline unavailable: RuntimeError: no plot today" in page
    assert "reproduced" in page
    # Unwritable: None, no exception.
    assert timeline.write(RunDir(str(tmp_path / "gone")), result) is None
