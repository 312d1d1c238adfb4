"""The send-pool-contention checker, on run directories built from recorded
lines: every verdict, and each reason for ``unknown``."""

from fake_lab.checkers import send_pool_contention
from tests.unit.runs import API_PID, FakeRun, client_stamp

OBSERVE = "fake_service.observe [-]"
LIMIT = ("Connection pool limit exceeded: current size {size} surpasses max "
         "configured rpc_conn_pool_size {size}")


def uid(i):
    return f"{i:08x}-aaaa-bbbb-cccc-dddddddddddd"


def contention_run(tmp_path, size=2, casts=8, waits=True, limits=None,
                   pool_lines=True, waited_field=True, missing_gets=0,
                   burst_ok=True, mode="threading"):
    """A warm-up at t=4 opens ``size`` connections (min(size, casts)); the
    burst at t=5 casts ``casts`` times. ``waits``: every get beyond the
    first ``size`` is handed a connection given back 2 ms after it asked
    (the pool was full); else each finds an idle one. ``limits``: how many
    driver limit lines (default: one per waiting get)."""
    fr = FakeRun(tmp_path)
    fr.config["checker"]["name"] = "send-pool-contention"
    fr.config["options"]["oslo_messaging_rabbit"].update(rpc_conn_pool_size=size)
    fr.config["options"]["lab"].update(executor=mode)
    opened = min(size, casts)
    conns = [fr.connection(4.01, uid=uid(i)) for i in range(opened)]
    fr.op("cast", "warm-up", 4.0, 4.05, status=202, latency=0.05, api_pid=API_PID,
          body={"api_pid": API_PID, "casts": casts, "rpc_seconds": 0.049})
    if pool_lines:
        for i, c in enumerate(conns):
            fr.api_line(4.01 + i / 1000, "INFO", OBSERVE,
                        f"pool-get connection={c[2]} reused=no waited=0.000010 "
                        "opened=0.008000")
            fr.api_line(4.04 + i / 1000, "INFO", OBSERVE, f"pool-put connection={c[2]}")
    end = 5.0 + 0.002 * casts + 0.01
    fr.op("cast", "burst", 5.0, end, outcome="ok" if burst_ok else "info",
          status=202 if burst_ok else None, latency=end - 5.0, api_pid=API_PID,
          body={"api_pid": API_PID, "casts": casts, "rpc_seconds": end - 5.001})
    waiting = 0
    if pool_lines:
        t = 5.001
        for i in range(casts - missing_gets):
            c = conns[i % opened]
            full = waits and i >= opened
            waited = 0.002 * (i // opened) if full else 0.00002
            asked = t
            got = asked + waited
            if full:
                waiting += 1
                # The connection given back after this get asked.
                fr.api_line(got - 0.0005, "INFO", OBSERVE, f"pool-put connection={c[2]}")
            field = f" waited={waited:.6f}" if waited_field else ""
            fr.api_line(got, "INFO", OBSERVE,
                        f"pool-get connection={c[2]} reused=yes idle=0.900{field}")
            if not full:
                fr.api_line(got + 0.0001, "INFO", OBSERVE, f"pool-put connection={c[2]}")
            t += 0.0001
    for i in range(waiting if limits is None else limits):
        fr.api_line(5.0015 + i / 10000, "WARNING",
                    "oslo.messaging._drivers.pool [-]", LIMIT.format(size=size))
    return fr.write()


def check(tmp_path, **kw):
    return send_pool_contention.check(contention_run(tmp_path, **kw))


def test_waits_for_a_full_pool_are_reproduced(tmp_path):
    res = check(tmp_path)
    assert res["verdict"] == "reproduced", res
    text = "\n".join(res["evidence"])
    assert "Connection pool limit exceeded: current size 2" in text
    assert "6 of 8 get(s) waited for a connection given back after they asked" in text
    assert "longest 6.0 ms" in text
    assert "rpc_conn_pool_size = 2; the API runs in threading mode" in text
    d = res["details"]
    assert d["waited"] == 6 and d["limit_lines"] == 6 and d["connections"] == 2
    assert d["max_wait"] == 0.006 and d["casts"] == 8


def test_a_pool_sized_for_the_burst_is_not_reproduced(tmp_path):
    res = check(tmp_path, size=8, waits=False)
    assert res["verdict"] == "not-reproduced", res
    text = "\n".join(res["evidence"])
    assert "logged no 'Connection pool limit exceeded' line" in text
    assert "none of the 8 get(s) waited" in text
    assert res["details"]["connections"] == 8


def test_a_small_pool_that_never_filled_is_not_reproduced(tmp_path):
    # Casts that never overlap: a pool of 2 is enough, whatever the burst.
    res = check(tmp_path, waits=False)
    assert res["verdict"] == "not-reproduced", res
    assert res["details"]["waited"] == 0


def test_eventlet_mode_is_judged_alike(tmp_path):
    res = check(tmp_path, mode="eventlet")
    assert res["verdict"] == "reproduced", res
    assert res["details"]["api_mode"] == "eventlet"


def test_limit_lines_without_a_wait_are_unknown(tmp_path):
    res = check(tmp_path, waits=False, limits=3)
    assert res["verdict"] == "unknown", res
    assert "the driver logged the limit, yet no get" in res["evidence"][-1]


def test_waits_without_a_limit_line_are_unknown(tmp_path):
    res = check(tmp_path, limits=0)
    assert res["verdict"] == "unknown", res
    assert "yet the driver logged no limit" in res["evidence"][-1]


def test_no_pool_lines_is_unknown(tmp_path):
    res = check(tmp_path, pool_lines=False)
    assert res["verdict"] == "unknown", res
    assert "no pool-get/pool-put line" in res["evidence"][-1]


def test_missing_gets_are_unknown(tmp_path):
    res = check(tmp_path, missing_gets=2)
    assert res["verdict"] == "unknown", res
    assert "6 pool-get line(s) during the burst for 8 casts" in res["evidence"][-1]


def test_gets_without_waited_are_unknown(tmp_path):
    res = check(tmp_path, waited_field=False)
    assert res["verdict"] == "unknown", res
    assert "do not say how long each get waited" in res["evidence"][-1]


def test_a_failed_burst_is_unknown(tmp_path):
    res = check(tmp_path, burst_ok=False)
    assert res["verdict"] == "unknown", res
    assert "the burst did not succeed" in res["evidence"][-1]


def test_no_pool_size_is_unknown(tmp_path):
    run = contention_run(tmp_path)
    config = run.read_json("config.json")
    del config["options"]["oslo_messaging_rabbit"]["rpc_conn_pool_size"]
    run.write_json("config.json", config)
    res = send_pool_contention.check(run)
    assert res["verdict"] == "unknown", res
    assert "no rpc_conn_pool_size" in res["evidence"][-1]


def test_another_workers_lines_are_not_counted(tmp_path):
    run = contention_run(tmp_path, waits=False)
    with open(run.log("fake-nova-api"), "a") as f:
        f.write(f"{client_stamp(5.002)} fake-nova-api[9999] WARNING "
                "oslo.messaging._drivers.pool [-] " + LIMIT.format(size=2) + "\n")
    res = send_pool_contention.check(run)
    assert res["verdict"] == "not-reproduced", res
