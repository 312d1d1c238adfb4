from fake_lab.checkers import evidence
from tests.unit import runs


def test_broker_connections_follow_one_connection_through_its_life(tmp_path):
    fr = runs.FakeRun(tmp_path)
    conn = fr.connection(1.0, uid="abc")
    fr.missed_heartbeats(conn, 4.0)
    run = fr.write()
    [c] = evidence.broker_connections(run.broker_log)
    assert c["name"] == f"uwsgi:{runs.API_PID}:abc"
    assert c["pid"] == runs.API_PID
    assert round(c["closed"] - c["opened"], 3) == 3.0
    assert c["close_reason"] == "missed heartbeats from client, timeout: 1s"
    assert len(c["lines"]) == 4


def test_a_connection_reopened_under_the_same_name_is_a_new_connection(tmp_path):
    fr = runs.FakeRun(tmp_path)
    first = fr.connection(1.0, uid="same")
    fr.missed_heartbeats(first, 4.0)
    fr.connection(5.0, uid="same")
    conns = evidence.broker_connections(fr.write().broker_log)
    assert [c["closed"] is None for c in conns] == [False, True]


def test_probe_connections_without_a_name_are_kept_nameless(tmp_path):
    log = tmp_path / "broker.log"
    log.write_text(
        "2026-11-23 05:57:25.796705+00:00 [info] <0.674.0> accepting AMQP "
        "connection <0.674.0> (127.0.0.1:43840 -> 127.0.0.1:25672)\n"
        "2026-11-23 05:57:25.796885+00:00 [warning] <0.674.0> closing AMQP "
        "connection <0.674.0> (127.0.0.1:43840 -> 127.0.0.1:25672):\n"
        "2026-11-23 05:57:25.796885+00:00 [warning] <0.674.0> client "
        "unexpectedly closed TCP connection\n")
    [c] = evidence.broker_connections(str(log))
    assert c["name"] is None and c["pid"] is None
    assert c["close_reason"] == "client unexpectedly closed TCP connection"


def test_client_events_find_the_driver_lines_in_either_spelling(tmp_path):
    fr = runs.FakeRun(tmp_path)
    fr.api_line(1, "WARNING", "oslo.messaging._drivers.impl_rabbit",
                "Unexpected error during heartbeart thread processing, "
                "retrying...")
    fr.api_line(2, "WARNING", "oslo.messaging._drivers.impl_rabbit",
                "Unexpected error during heartbeat thread processing, "
                "retrying...")
    fr.api_line(3, "INFO", "oslo.messaging._drivers.impl_rabbit",
                "A recoverable connection/channel error occurred, trying to "
                "reconnect: [Errno 104] Connection reset by peer")
    fr.api_line(4, "INFO", "fake_service.observe",
                "heartbeat-check connection=uwsgi:1:x purpose=send "
                "thread=green(GreenThread-1)")
    fr.api_line(5, "INFO", "fake_nova_api.middleware", "req-1 GET /")
    events = evidence.client_events(fr.write().log("fake-nova-api"))
    assert [e["kind"] for e in events] == [
        "heartbeat-warning", "heartbeat-warning", "recoverable-error",
        "heartbeat-check"]
    assert events[-1]["thread"] == "green"
    assert events[-1]["name"] == "uwsgi:1:x"


def test_missing_logs_are_no_evidence_not_an_error(tmp_path):
    assert evidence.broker_connections(str(tmp_path / "none.log")) == []
    assert evidence.client_events(str(tmp_path / "none.log")) == []


def test_connection_pid():
    assert evidence.connection_pid("uwsgi:123:uuid") == 123
    assert evidence.connection_pid("weird") is None
    assert evidence.connection_pid(None) is None


def test_a_connection_knows_its_vhost(tmp_path):
    # A matrix's cells share one broker log: the vhost tells whose it is.
    log = tmp_path / "broker.log"
    log.write_text(
        "2026-11-24 02:32:48.693314+00:00 [info] <0.916.0> connection <0.916.0> "
        "(127.0.0.1:44526 -> 127.0.0.1:53455 - fake-compute:17984:f548c4f8): user "
        "'lab-626db5f9' authenticated and granted access to vhost 'cell-a'\n"
        "2026-11-24 02:32:48.693591+00:00 [info] <0.913.0> connection <0.913.0> "
        "(127.0.0.1:44524 -> 127.0.0.1:53455 - uwsgi:17981:8ae86e3e): user "
        "'lab-626db5f9' authenticated and granted access to vhost '/'\n")
    conns = evidence.broker_connections(str(log))
    assert [(c["pid"], c["vhost"]) for c in conns] == [(17984, "cell-a"), (17981, "/")]
