"""The seed's whole lifecycle on a real PostgreSQL pair: the primary fails
and the replica is promoted, the old primary rejoins as the new primary's
standby (``db rejoin``: pg_rewind, standby.signal, primary_conninfo through
a relay), and a second failover promotes the original node again. Then no
PostgreSQL process, relay or port is left. The mechanism is driven through
the pair itself (seconds); the scenario db-failover-cycle once, end to
end, its counts taken from the history and the database, and interrupted
in the middle of its rejoin."""

import json
import os
import signal
import time

from fake_lab.daemons import postgres
from fake_lab.errors import EXIT_INTERRUPTED
from tests.functional.conftest import Output, assert_nothing_left, read_history, read_json
from tests.functional.test_db_failover import postgres_installed  # noqa: F401 (a fixture)


def _rows(pair, node):
    """The numbers in table t, read on ``node`` itself (a standby answers
    read-only queries), as the services' role."""
    import psycopg2

    conn = psycopg2.connect(host=postgres.HOST, port=node.port, user=pair.user,
                            password=pair.password, dbname=postgres.DATABASE,
                            connect_timeout=3)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT n FROM t ORDER BY n")
            return [n for (n,) in cur.fetchall()]
    finally:
        conn.close()


def _write(engine, statement):
    with engine.begin() as conn:
        conn.exec_driver_sql(statement)


def test_the_old_primary_rejoins_and_a_second_failover_promotes_it(lab):
    run_dir = os.path.join(lab.runs_dir, "rejoin")
    pair = postgres.PostgresPair(os.path.join(run_dir, "db"),
                                 os.path.join(run_dir, "logs"), run_dir)
    import sqlalchemy as sa

    try:
        pair.start()
        engine = sa.create_engine(pair.url)
        _write(engine, "CREATE TABLE t (n integer)")
        _write(engine, "INSERT INTO t VALUES (1)")
        pair.wait_caught_up()
        # Row 2 is acknowledged by the primary alone (async, link stalled):
        # the failover loses it, and the rewind must throw it away.
        pair.stall()
        _write(engine, "INSERT INTO t VALUES (2)")
        first = pair.kill_primary(lag=0)
        engine.dispose()
        assert (first["old_primary"], first["promoted"]) == ("primary", "replica")
        _write(engine, "INSERT INTO t VALUES (3)")  # on the promoted node alone

        done = pair.rejoin()
        assert (done["rejoined"], done["new_primary"]) == ("primary", "replica")
        assert done["old_state"] == "in production"  # it had been SIGKILLed
        assert done["rewound"] is True and done["diverged_timeline"] == 1
        assert any("servers diverged at WAL location" in line
                   for line in done["rewind_output"])
        assert done["through_relay"] is True and done["in_recovery"] is True
        relay = pair.relays["replica"]
        # In recovery, and streaming from the new primary through its relay.
        assert pair._sql(pair.primary, "SELECT pg_is_in_recovery()") == [(True,)]
        assert pair._sql(pair.primary, "SELECT status, sender_port, received_tli "
                         "FROM pg_stat_wal_receiver") == [("streaming", relay.port, 2)]
        assert pair._sql(pair.replica, "SELECT application_name, state FROM "
                         "pg_stat_replication") == [("primary", "streaming")]
        # A row committed on the new primary after the rejoin reaches it.
        _write(engine, "INSERT INTO t VALUES (4)")
        pair.wait_caught_up()
        assert _rows(pair, pair.primary) == [1, 3, 4]  # row 2 rewound away

        # The second failover: the promoted node killed while its link to
        # the rejoined one stalls; the original primary promoted again.
        pair.stall()
        _write(engine, "INSERT INTO t VALUES (5)")
        second = pair.kill_primary(lag=0)
        engine.dispose()
        assert (second["old_primary"], second["promoted"]) == ("replica", "primary")
        assert second["in_recovery_after"] is False
        serving = pair.serving()
        assert (serving["node"], serving["in_recovery"], serving["timeline"]) == (
            "primary", False, 3)
        with engine.connect() as conn:  # the services' URL finds it
            assert [n for (n,) in conn.exec_driver_sql(
                "SELECT n FROM t ORDER BY n")] == [1, 3, 4]
        engine.dispose()
        ports = pair.ports
        assert {"db_relay", "db_relay_to_replica"} <= set(ports)
    finally:
        pair.stop()
    assert_nothing_left(run_dir, ports)


def test_after_a_switchover_the_old_primary_rejoins_with_nothing_to_rewind(lab):
    run_dir = os.path.join(lab.runs_dir, "rejoin-switchover")
    pair = postgres.PostgresPair(os.path.join(run_dir, "db"),
                                 os.path.join(run_dir, "logs"), run_dir,
                                 replication="sync")
    import sqlalchemy as sa

    try:
        pair.start()
        engine = sa.create_engine(pair.url)
        _write(engine, "CREATE TABLE t (n integer)")
        _write(engine, "INSERT INTO t VALUES (1)")
        engine.dispose()
        pair.switchover()
        done = pair.rejoin()
        assert done["old_state"] == "shut down"
        assert done["rewound"] is False, done["rewind_output"]
        # sync: the new primary now waits for the rejoined node.
        assert done["synchronous_standby_names"] == '"primary"'
        assert pair._sql(pair.replica, "SELECT sync_state FROM pg_stat_replication "
                         "WHERE application_name = 'primary'") == [("sync",)]
        _write(engine, "INSERT INTO t VALUES (2)")
        pair.wait_caught_up()
        assert _rows(pair, pair.primary) == [1, 2]
        engine.dispose()
        back = pair.switchover()  # and back: the original primary again
        assert back["caught_up"] and back["promoted"] == "primary"
        _write(engine, "INSERT INTO t VALUES (3)")  # no standby to wait for
        engine.dispose()
        assert pair.serving()["node"] == "primary"
        ports = pair.ports
    finally:
        pair.stop()
    assert_nothing_left(run_dir, ports)


def test_the_cycle_scenario_counts_each_failovers_losses(lab):
    proc = lab.run("run", "db-failover-cycle", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = lab.latest
    records, state = read_history(run_dir), read_json(run_dir, "final-state.json")
    faults = [r for r in records if r.get("f") == "fault" and r["type"] != "invoke"]
    assert [(r["type"], r["value"]["verb"]) for r in faults] == [
        ("ok", "kill-primary"), ("ok", "rejoin"), ("ok", "kill-primary")]
    first, rejoin, second = (r["value"] for r in faults)
    assert (first["promoted"], rejoin["rejoined"], second["promoted"]) == (
        "replica", "primary", "primary")
    assert rejoin["rewound"] and rejoin["through_relay"]
    assert state["database"] == {**state["database"], "node": "primary",
                                 "in_recovery": False, "timeline": 3}
    # Counted from the history and the database, not from the scenario.
    ok = [r for r in records if r.get("f") == "boot" and r.get("type") == "ok"]
    sent = {r["id"]: r["time"] for r in records
            if r.get("f") == "boot" and r.get("type") == "invoke"}
    vanished = {r["value"]["request_id"]: (sent[r["id"]], r["time"]) for r in ok
                if r["value"]["server_id"] not in state["instances"]}
    result = json.load(open(os.path.join(run_dir, "result.json")))
    details = result["details"]
    assert sorted(details["vanished_request_ids"]) == sorted(vanished)
    # Acknowledged before a promotion, or (under load) sent before the last
    # kill and answered after its promotion: committed on the demoted node.
    per = [sorted(rid for rid, (_, at) in vanished.items() if at < first["promoted_at"]),
           sorted(rid for rid, (out, at) in vanished.items()
                  if first["promoted_at"] <= at < second["promoted_at"]
                  or (at >= second["promoted_at"] and out < second["killed_at"]))]
    assert [sorted(f["vanished_request_ids"]) for f in details["failovers"]] == per
    # Each failover that left committed boots without a row lost boots.
    if all(per):
        assert result["verdict"] == "reproduced", result["evidence"][-1]
    if result["verdict"] == "reproduced":
        assert all(f["vanished"] + f["rolled_back"] for f in details["failovers"])
    ports = read_json(run_dir, "ports.json")
    assert {"db_relay", "db_relay_to_replica"} <= set(ports)
    assert_nothing_left(run_dir, ports)


def test_ctrl_c_in_the_middle_of_the_rejoin_leaves_nothing(lab):
    proc = lab.start("run", "db-failover-cycle")
    out = Output(proc)
    out.wait_for("run directory:")
    run_dir = lab.latest
    history = os.path.join(run_dir, "history.jsonl")
    deadline = time.monotonic() + 180
    while True:  # the rejoin's invoke: pg_rewind runs, or the relay starts
        try:
            with open(history) as f:
                if '"verb": "rejoin"' in f.read():
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            out.fail("the rejoin never began")
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = out.finish(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, err
    result = read_json(run_dir, "result.json")
    assert result["verdict"] == "unknown" and "interrupted" in result["reason"]
    assert_nothing_left(run_dir)
