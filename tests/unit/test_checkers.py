import pytest

from fake_lab import checkers
from fake_lab.checkers import heartbeat_loss
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


@pytest.mark.parametrize("builder", [runs.eventlet_run, runs.threading_run])
def test_the_same_run_judged_twice_gives_the_same_result(tmp_path, builder):
    run = builder(tmp_path).write()
    assert check(run) == check(run)


def test_history_on_a_full_disk_raises_storage_error():
    from fake_lab.errors import StorageError
    from fake_lab.history import History

    with pytest.raises(StorageError, match="No space left on device"):
        History("/dev/full").event("x")
