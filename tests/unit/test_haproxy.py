"""The private HAProxy's plumbing without a server: its config, its log's
lines, its runtime API's CSV, a missing binary; the server itself is in
tests/functional/test_api_failover.py."""

import os
import shutil
import socket
import subprocess
import threading

import pytest

from fake_lab.checkers import haproxy_log
from fake_lab.daemons import haproxy
from fake_lab.errors import LabError, MissingComponent
from fake_lab.workload import nemesis

DOWN = ('2026-11-24T08:59:25.739374+00:00 Server api/active is DOWN, reason: Layer4 '
        'connection problem, info: "Connection refused", check duration: 0ms. 0 active '
        'and 1 backup servers left. Running on backup. 0 sessions active, 0 requeued, '
        '0 remaining in queue.')
DRAIN = ('2026-11-24T09:00:03.409244+00:00 Server api/active enters drain state. 0 '
         'active and 1 backup servers online. Running on backup. 0 sessions requeued, '
         '0 total in queue.')
SERVED = ('2026-11-24T08:59:25.839752+00:00 request client=127.0.0.1:50616 '
          'server=api/standby status=202 ms=56 retries=+3 term=---- method=POST '
          'path=/v2.1/servers req={req-fe236892-4f95-46cd-98d4-b3213d5c30aa}')
ABORTED = ('2026-11-24T08:59:25.530126+00:00 request client=127.0.0.1:50594 '
           'server=api/active status=502 ms=43 retries=0 term=SH-- method=POST '
           'path=/v2.1/servers req={}')
WARNING = ('[WARNING]  (6558) : Server api/active is DOWN, reason: Layer4 connection '
           'problem, info: "Connection refused"')


def test_the_config_puts_the_standby_behind_the_active_as_a_backup():
    text = haproxy.config(20000, 20001, 20002, 30)
    assert "bind 127.0.0.1:20000" in text
    assert "server active 127.0.0.1:20001 check\n" in text
    assert "server standby 127.0.0.1:20002 check backup\n" in text
    # Short checks: a dead server is DOWN within about 0.4 s.
    assert "default-server inter 200ms fall 2 rise 2" in text
    # Its log on its standard output, dated by HAProxy; its runtime API a
    # UNIX socket relative to its working directory (the run directory).
    assert "log stdout format iso" in text
    assert f"stats socket unix@{haproxy.SOCKET} mode 600 level admin" in text
    assert "timeout server 30s" in text and "timeout client 30s" in text
    assert f'log-format "{haproxy.LOG_FORMAT}"' in text


@pytest.mark.skipif(not shutil.which("haproxy") and not os.path.exists(haproxy.BINARY),
                    reason="haproxy not installed (tools/setup.sh installs it)")
def test_haproxy_itself_accepts_the_config(tmp_path):
    path = tmp_path / "haproxy.cfg"
    path.write_text(haproxy.config(20000, 20001, 20002, 30))
    out = subprocess.run([haproxy.find_binary(), "-c", "-f", str(path)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr


def test_state_changes_are_read_with_haproxys_own_time(tmp_path):
    log = tmp_path / "haproxy.log"
    log.write_text("\n".join([WARNING, DRAIN, DOWN, SERVED, ABORTED]) + "\n")
    dated = haproxy_log.lines(str(log))
    assert len(dated) == 4  # the undated warning is the same event again
    changes = haproxy_log.state_changes(dated)
    assert [(c["server"], c["state"]) for c in changes] == [("active", "DRAIN"),
                                                             ("active", "DOWN")]
    assert changes[1]["time"] == pytest.approx(haproxy_log.parse_time(
        "2026-11-24T08:59:25.739374+00:00"))
    assert changes[1]["line"] == DOWN
    assert haproxy_log.first(changes, "active", "DOWN", after=changes[1]["time"] + 1) is None


def test_requests_name_the_server_the_status_and_the_request_id(tmp_path):
    log = tmp_path / "haproxy.log"
    log.write_text("\n".join([SERVED, ABORTED]) + "\n")
    served, aborted = haproxy_log.requests(haproxy_log.lines(str(log)))
    assert (served["server"], served["status"], served["retries"]) == ("standby", 202, 3)
    assert served["request_id"] == "req-fe236892-4f95-46cd-98d4-b3213d5c30aa"
    assert (aborted["server"], aborted["status"], aborted["term"]) == ("active", 502, "SH--")
    assert aborted["request_id"] is None  # no API answered it


def test_an_unreadable_log_has_no_lines(tmp_path):
    assert haproxy_log.lines(str(tmp_path / "none.log")) == []


def test_show_stat_is_read_as_rows():
    text = ("# pxname,svname,qcur,scur,status,check_status\n"
            "vip,FRONTEND,,0,OPEN,\n"
            "api,active,0,2,UP,L4OK\n"
            "api,standby,0,0,UP,L4OK\n\n")
    rows = haproxy.parse_stat(text)
    assert [(r["pxname"], r["svname"], r["scur"]) for r in rows] == [
        ("vip", "FRONTEND", "0"), ("api", "active", "2"), ("api", "standby", "0")]


def test_a_missing_haproxy_is_a_missing_component(tmp_path, monkeypatch):
    monkeypatch.setenv(haproxy.BINARY_ENV, str(tmp_path / "haproxy"))
    proxy = haproxy.HAProxy(tmp_path, str(tmp_path / "haproxy.log"), tmp_path)
    with pytest.raises(MissingComponent, match=r"^haproxy not found at .*/haproxy "
                       r"\(\$FAKE_LAB_HAPROXY\): install Debian's haproxy package"):
        proxy.check_installed()


def test_the_runtime_api_is_reached_even_past_a_sockets_path_limit(tmp_path):
    # A run directory deep enough that its socket's path passes 108 bytes.
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    proxy = haproxy.HAProxy(str(deep), str(deep / "haproxy.log"), str(deep))
    assert len(proxy.socket_path) > 108
    cwd = os.getcwd()
    os.chdir(deep)  # bind by a relative path, as HAProxy does
    try:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(haproxy.SOCKET)
    finally:
        os.chdir(cwd)
    server.listen(1)
    asked = []

    def answer():
        conn, _ = server.accept()
        asked.append(conn.recv(100))
        conn.sendall(b"# pxname,svname,scur\napi,active,0\n")
        conn.close()
    thread = threading.Thread(target=answer)
    thread.start()
    try:
        assert proxy.runtime("show stat").startswith("# pxname")
    finally:
        thread.join(timeout=5)
        server.close()
    assert asked == [b"show stat\n"]


def test_a_runtime_api_that_does_not_answer_is_a_lab_error(tmp_path):
    proxy = haproxy.HAProxy(str(tmp_path), str(tmp_path / "haproxy.log"), str(tmp_path))
    with pytest.raises(LabError, match="runtime API"):
        proxy.runtime("show stat")


def test_the_api_faults_need_a_pair():
    lab = type("NoPair", (), {"haproxy": None, "container": None})()
    with pytest.raises(LabError, match=r"\[api\] pair = true"):
        haproxy.fault(lab, "kill", {})


def test_the_api_faults_are_listed_and_validated():
    for verb in ("kill", "switchover"):
        fault, _ = nemesis.fault_of({"op": "fault", "target": "api", "verb": verb},
                                    "test")
        assert fault.target == "api"
    assert any(line.startswith("api      kill") for line in nemesis.describe())


def test_a_trace_shows_haproxys_line_of_the_request(tmp_path):
    from fake_lab.commands import tracing

    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "haproxy.log").write_text("\n".join([DOWN, SERVED]) + "\n")
    (tmp_path / "logs" / "fake-nova-api-standby.log").write_text(
        "2026-11-24T08:59:25.800000Z fake-nova-api[200] INFO fake_nova_api.middleware "
        "[req-fe236892-4f95-46cd-98d4-b3213d5c30aa] POST /v2.1/servers -> 202\n")
    found = tracing.trace(str(tmp_path), "req-fe236892-4f95-46cd-98d4-b3213d5c30aa")
    assert [line for _, line in found][-1] == SERVED  # after the API's, by time
    assert len(found) == 2
