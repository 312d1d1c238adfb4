import pytest

from fake_lab import checkers
from fake_lab.checkers import heartbeat_loss
from fake_lab.errors import UsageError
from tests.unit import runs

check = heartbeat_loss.check


def test_eventlet_run_is_reproduced_with_the_broker_lines(tmp_path):
    verdict = check(runs.eventlet_run(tmp_path).write())
    assert verdict["verdict"] == checkers.REPRODUCED
    text = "\n".join(verdict["evidence"])
    assert text.count("missed heartbeats from client") == 2
    assert "0 heartbeat check(s)" in text
    assert "is unreachable" in text and "Reconnected" in text
    assert "0 of the API worker's 2 connection(s) listed" in text
    assert verdict["details"]["missed"] == 2


def test_threading_run_is_not_reproduced_with_heartbeats_counted(tmp_path):
    verdict = check(runs.threading_run(tmp_path).write())
    assert verdict["verdict"] == checkers.NOT_REPRODUCED
    text = "\n".join(verdict["evidence"])
    assert "(native threads)" in text
    assert "2 of the API worker's 2 connection(s) listed" in text
    assert "second-request: ok (HTTP 200)" in text


def test_failed_first_request_is_unknown(tmp_path):
    fr = runs.FakeRun(tmp_path)
    fr.request("first-request", 5.0, outcome="fail", status=500)
    verdict = check(fr.write())
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "nothing to watch" in verdict["evidence"][-1]


def test_connections_of_another_process_do_not_count(tmp_path):
    fr = runs.eventlet_run(tmp_path)
    fr.broker = []
    other = fr.connection(5.01, pid=999, program="fake-compute")
    fr.missed_heartbeats(other, 8.0)
    verdict = check(fr.write())
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "cannot be matched" in verdict["evidence"][-1]


def test_close_for_another_reason_is_unknown(tmp_path):
    fr = runs.threading_run(tmp_path)
    conn = fr.connection(5.03, uid="third")
    fr.client_closed(conn, 6.0)
    verdict = check(fr.write())
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "client unexpectedly closed TCP connection" in verdict["evidence"][-1]


def test_short_idle_cannot_say_not_reproduced(tmp_path):
    fr = runs.threading_run(tmp_path)
    fr.records = [r for r in fr.records if r.get("f") != "idle"]
    fr.op("idle", "idle", 5.05, 6.5, slept=1.45)
    verdict = check(fr.write())
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "shorter than 3 heartbeat timeouts" in verdict["evidence"][-1]


def test_listing_that_contradicts_the_log_is_unknown(tmp_path):
    fr = runs.threading_run(tmp_path)
    fr.records = [r for r in fr.records if r.get("f") != "connections-listed"]
    fr.listing(9.2, ports=[])
    verdict = check(fr.write())
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "listing lacks" in verdict["evidence"][-1]


def test_failed_second_request_without_missed_heartbeats_is_unknown(tmp_path):
    fr = runs.threading_run(tmp_path)
    fr.records = [r for r in fr.records
                  if r.get("value", {}).get("name") != "second-request"]
    fr.request("second-request", 9.3, latency=3.0, outcome="info", status=504)
    verdict = check(fr.write())
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "second-request: info (HTTP 504)" in verdict["evidence"][-1]


def test_no_heartbeat_checks_and_no_close_is_unknown(tmp_path):
    fr = runs.threading_run(tmp_path)
    fr.api = []
    verdict = check(fr.write())
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "no heartbeat check ran" in verdict["evidence"][-1]


def test_without_observation_the_broker_alone_decides(tmp_path):
    fr = runs.threading_run(tmp_path)
    fr.config["options"]["lab"]["observe_heartbeats"] = False
    fr.api = []
    verdict = check(fr.write())
    assert verdict["verdict"] == checkers.NOT_REPRODUCED
    assert "(observation off)" in "\n".join(verdict["evidence"])


def test_history_on_a_full_disk_raises_storage_error():
    from fake_lab.errors import StorageError
    from fake_lab.history import History

    with pytest.raises(StorageError, match="No space left on device"):
        History("/dev/full").event("x")


def test_each_connection_is_cited_with_its_own_heartbeat_checks(tmp_path):
    # One connection kept its heartbeats, the other made none and was closed:
    # a sum over both ("N checks") would hide which one went silent.
    fr = runs.FakeRun(tmp_path)
    fr.request("first-request", 5.0)
    listen = fr.connection(5.01, uid="listen-conn")
    send = fr.connection(5.02, uid="send-conn")
    fr.op("idle", "idle", 5.05, 8.6, slept=3.55)
    fr.heartbeat_checks(listen, 5.1, 8.5, purpose="listen")
    fr.missed_heartbeats(send, 8.0)
    fr.request("second-request", 8.7, latency=1.0)
    verdict = check(fr.write())
    assert verdict["verdict"] == checkers.REPRODUCED
    lines = verdict["evidence"]
    send_line = next(e for e in lines if e.startswith("connection uwsgi:6243:send"))
    listen_line = next(e for e in lines if e.startswith("connection uwsgi:6243:list"))
    assert "0 heartbeat check(s) while idle" in send_line
    assert "closed by the broker at t=+8.00s for missed heartbeats" in send_line
    assert "(listen)" in listen_line and "still open" in listen_line
    assert verdict["details"]["idle_checks_per_connection"][send[2]] == 0
    assert verdict["details"]["idle_checks_per_connection"][listen[2]] > 10


def test_judge_uses_the_checker_recorded_in_the_run(tmp_path):
    run = runs.eventlet_run(tmp_path).write()
    assert checkers.judge(run)["verdict"] == checkers.REPRODUCED
    config = run.read_json("config.json")
    config["checker"]["name"] = "no-such-checker"
    run.write_json("config.json", config)
    with pytest.raises(UsageError, match="no checker this lab knows"):
        checkers.judge(run)


def _every(start, end, step):
    n, out = 0, []
    while start + n * step < end:
        out.append(start + n * step)
        n += 1
    return out


def test_the_wire_is_quoted_as_the_primary_witness(tmp_path):
    fr = runs.eventlet_run(tmp_path)
    a, b = [(None, None, f"uwsgi:{runs.API_PID}:{u}", n) for n, u in
            ((1, "reply"), (2, "send"))]
    for conn, closed in ((a, 8.05), (b, 8.06)):
        fr.wire(conn, 5.01, c2s=[], s2c=_every(5.5, closed, 0.5),
                end=("rst", "server", closed))
    verdict = check(fr.write())
    assert verdict["verdict"] == checkers.REPRODUCED
    wire = [e for e in verdict["evidence"] if e.startswith("wire:")]
    assert len(wire) == 2
    assert ("sent its last frame at t=+5.03s and no heartbeat for 3.0 s while "
            "the broker sent 6") in wire[0]
    assert "the server ended it (RST) at t=+8.05s" in wire[0]


def test_threading_wire_counts_the_workers_heartbeats(tmp_path):
    fr = runs.threading_run(tmp_path)
    for n, uid in ((1, "reply"), (2, "send")):
        conn = (None, None, f"uwsgi:{runs.API_PID}:{uid}", n)
        fr.wire(conn, 5.01, c2s=_every(5.3, 9.2, 0.33), s2c=_every(5.5, 9.2, 0.5))
    verdict = check(fr.write())
    assert verdict["verdict"] == checkers.NOT_REPRODUCED
    line = next(e for e in verdict["evidence"] if e.startswith("wire:"))
    assert "one every 0.33 s" in line and "still open" in line


def test_wire_and_observer_disagreeing_is_unknown(tmp_path):
    # The observer saw no check while idle, yet the wire carried the
    # worker's heartbeats: one witness is wrong, so no verdict.
    fr = runs.eventlet_run(tmp_path)
    for n, uid in ((1, "reply"), (2, "send")):
        conn = (None, None, f"uwsgi:{runs.API_PID}:{uid}", n)
        fr.wire(conn, 5.01, c2s=_every(5.3, 8.0, 0.33), s2c=_every(5.5, 8.0, 0.5))
    verdict = check(fr.write())
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "the two witnesses disagree" in verdict["evidence"][-1]
    assert verdict["details"]["wire_disagrees"]
