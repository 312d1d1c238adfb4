"""The pool-expiry checker, on run directories built from recorded lines:
every verdict, and each reason for ``unknown``."""

from fake_lab.checkers import pool_expiry
from tests.unit.runs import API_PID, FakeRun

OBSERVE = "fake_service.observe [-]"


def uid(i):
    return f"{i:08x}-aaaa-bbbb-cccc-dddddddddddd"


def pool_run(tmp_path, dead=True, n=4, ttl=2, next_at=8.5, expire_at=None,
             wire=True, broker=True, wire_dead=None, reconnect=None, pool_lines=True):
    """A burst of ``n`` casts at t=4, idle, then the next request at
    ``next_at``; the pool expires the two oldest and hands out the newest.
    ``dead``: the broker closed every connection at t=7 for missed
    heartbeats (eventlet); else heartbeats crossed the wire (threading).
    ``reconnect``: "path" (the request reconnects its connection) or None."""
    fr = FakeRun(tmp_path)
    fr.config["checker"]["name"] = "pool-expiry"
    fr.config["options"]["oslo_messaging_rabbit"].update(
        conn_pool_ttl=ttl, conn_pool_min_size=1, rpc_conn_pool_size=4)
    fr.op("cast", "burst", 4.0, 4.03, status=202, latency=0.03, api_pid=API_PID)
    conns = []
    for i in range(n):
        c = fr.connection(4.01, uid=uid(i))
        conns.append(c)
        if pool_lines:
            fr.api_line(4.01 + i / 1000, "INFO", OBSERVE,
                        f"pool-get connection={c[2]} reused=no")
            fr.api_line(4.02 + i / 1000, "INFO", OBSERVE, f"pool-put connection={c[2]}")
        if dead and broker:
            fr.missed_heartbeats(c, 7.0)
        wire_is_dead = dead if wire_dead is None else wire_dead
        if wire:
            if wire_is_dead:
                fr.wire(c, 4.01, s2c=[5.0, 6.0], end=("rst", "server", 7.0))
            else:
                fr.wire(c, 4.01, c2s=[4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0],
                        s2c=[5.0, 6.0, 7.0, 8.0])
    latency = 1.01 if reconnect == "path" else 0.02
    fr.op("cast", "next-request", next_at, next_at + latency, status=202,
          latency=latency, api_pid=API_PID)
    if pool_lines:
        for c in conns[:2]:
            fr.api_line(expire_at or next_at + 0.002, "INFO", OBSERVE,
                        f"pool-expire connection={c[2]}")
        fr.api_line(next_at + 0.005, "DEBUG", "oslo.messaging._drivers.pool [req-x]",
                    "Idle connection has expired and been closed. Pool size: 2")
        fr.api_line(next_at + 0.006, "INFO", OBSERVE,
                    f"pool-get connection={conns[-1][2]} reused=yes "
                    f"idle={next_at - 4.02:.3f}")
    if reconnect == "path":
        c = conns[-1]
        fr.api_line(next_at + 0.007, "ERROR", "oslo.messaging._drivers.impl_rabbit "
                    "[req-x]", f"[{uid(n - 1)}] AMQP server on 127.0.0.1:5672 is "
                    "unreachable: [Errno 104] Connection reset by peer. Trying "
                    "again in 1 seconds.")
        fr.api_line(next_at + 1.0, "INFO", "oslo.messaging._drivers.impl_rabbit "
                    "[req-x]", f"[{uid(n - 1)}] Reconnected to AMQP server on "
                    "127.0.0.1:5672 via [amqp] client with port 1.")
        if wire:
            fr.wire(c, next_at + 1.0, cid=99)
    return fr.write()


def test_a_dead_connection_handed_out_is_reproduced(tmp_path):
    res = pool_expiry.check(pool_run(tmp_path, reconnect="path"))
    assert res["verdict"] == "reproduced", res
    text = "\n".join(res["evidence"])
    assert "missed heartbeats from client" in text
    assert "a dead connection kept past its ttl" in text
    assert "at the next request's get()" in text
    assert "0 heartbeat(s) sent" in text
    assert "on the request's path [req-x]" in text
    assert "Idle connection has expired and been closed" in text
    assert res["details"]["lazy"] is True
    assert res["details"]["handed"].endswith(uid(3))


def test_a_live_connection_handed_out_is_not_reproduced(tmp_path):
    res = pool_expiry.check(pool_run(tmp_path, dead=False))
    assert res["verdict"] == "not-reproduced", res
    text = "\n".join(res["evidence"])
    assert "still open on the broker and on the wire" in text
    assert "8 heartbeat(s) sent" in text


def test_expiry_before_any_get_contradicts_the_claim(tmp_path):
    res = pool_expiry.check(pool_run(tmp_path, dead=False, expire_at=6.5))
    assert res["verdict"] == "unknown"
    assert "not lazy" in res["evidence"][-1]


def test_within_the_ttl_a_dead_connection_is_handed_out_alike(tmp_path):
    res = pool_expiry.check(pool_run(tmp_path, ttl=10, reconnect="path"))
    assert res["verdict"] == "reproduced"
    assert "within its ttl (idle 4.48 s of 10 s), unchecked" in "\n".join(res["evidence"])


def test_one_pooled_connection_does_not_exercise_the_pool(tmp_path):
    res = pool_expiry.check(pool_run(tmp_path, n=1))
    assert res["verdict"] == "unknown"
    assert "fewer than two" in res["evidence"][-1]


def test_without_the_observer_nothing_names_the_handed_connection(tmp_path):
    res = pool_expiry.check(pool_run(tmp_path, pool_lines=False))
    assert res["verdict"] == "unknown"
    assert "observer" in res["evidence"][-1]


def test_broker_and_wire_disagreeing_is_unknown(tmp_path):
    res = pool_expiry.check(pool_run(tmp_path, dead=True, wire_dead=False))
    assert res["verdict"] == "unknown"
    assert "witnesses disagree" in res["evidence"][-1]


def test_without_the_wire_the_broker_log_decides(tmp_path):
    res = pool_expiry.check(pool_run(tmp_path, wire=False, reconnect="path"))
    assert res["verdict"] == "reproduced"


def test_an_open_connection_that_reconnects_anyway_is_unknown(tmp_path):
    res = pool_expiry.check(pool_run(tmp_path, dead=False, reconnect="path"))
    assert res["verdict"] == "unknown"
    assert "yet it reconnected" in res["evidence"][-1]
