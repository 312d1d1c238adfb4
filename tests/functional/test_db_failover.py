"""db-failover for real: a private PostgreSQL primary and its streaming
replica (run as the postgres user), the primary SIGKILLed while the
replication link stalls, the replica promoted. With async replication
committed boots are lost; with sync none is; the control loses nothing.
Whatever happens, including a Ctrl-C in the middle of the fault, no
PostgreSQL process and no port of the run is left. The client's retry
(``--retry key``, ``no-key``): one server per key on the live API, and the
duplicates the checker counts are the database's."""

import concurrent.futures
import json
import os
import pathlib
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from fake_lab import lab as lab_mod
from fake_lab.commands import soak
from fake_lab.daemons import postgres, procs
from fake_lab.errors import EXIT_INTERRUPTED, EXIT_MISSING, EXIT_USAGE
from tests.functional.conftest import (
    LAB,
    REPO,
    Output,
    assert_nothing_left,
    read_history,
    read_json,
    started_lab,
)


@pytest.fixture(scope="module", autouse=True)
def postgres_installed():
    missing = []
    if not postgres.find_bin_dir():
        missing.append("PostgreSQL's binaries (/usr/lib/postgresql/*/bin)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        missing.append("psycopg2 (pip install -e '.[postgres]')")
    if missing:
        reason = f"{', '.join(missing)} not installed (run tools/setup.sh)"
        if os.environ.get("FAKE_LAB_REQUIRE_ALL") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def _accepted(records):
    """{server uuid: request id} of the boots the API accepted (202)."""
    return {r["value"]["server_id"]: r["value"]["request_id"] for r in records
            if r.get("f") == "boot" and r.get("type") == "ok"}


def _fault(records):
    done = [r for r in records if r.get("f") == "fault" and r.get("type") != "invoke"]
    assert len(done) == 1, done
    return done[0]


def test_async_failover_loses_committed_boots(lab):
    proc = lab.run("run", "db-failover", "--expect", "reproduced", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = lab.latest
    records, state = read_history(run_dir), read_json(run_dir, "final-state.json")
    fault = _fault(records)
    assert fault["type"] == "ok" and fault["value"]["promoted"] == "replica"
    assert fault["value"]["in_recovery_after"] is False
    # The final read was made on the promoted replica, out of recovery.
    assert state["database"]["node"] == "replica"
    assert state["database"]["in_recovery"] is False
    assert state["database"]["timeline"] == 2
    # Counted from the history and the database, not from the scenario.
    accepted = _accepted(records)
    vanished = sorted(rid for uuid, rid in accepted.items()
                      if uuid not in state["instances"])
    assert vanished, "no accepted boot is missing from the promoted node"
    details = lab.result()["details"]
    assert sorted(details["vanished_request_ids"]) == vanished
    assert details["recovery_seconds"] is not None
    assert_nothing_left(run_dir, named={"db_primary", "db_replica", "db_relay"})


def test_sync_failover_loses_no_committed_boot(lab):
    proc = lab.run("run", "db-failover", "--db-replication", "sync",
                   "--expect", "not-reproduced", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = lab.latest
    records, state = read_history(run_dir), read_json(run_dir, "final-state.json")
    assert read_json(run_dir, "config.json")["options"]["postgres"]["replication"] == "sync"
    fault = _fault(records)
    assert fault["type"] == "ok" and fault["value"]["promoted"] == "replica"
    assert state["database"] == {**state["database"], "node": "replica",
                                 "in_recovery": False}
    accepted = _accepted(records)
    assert accepted and all(uuid in state["instances"] for uuid in accepted)
    details = lab.result()["details"]
    assert details["vanished"] == details["rolled_back"] == 0
    # The premise held: boots were in flight while the replica lagged (they
    # waited for it, and failed at the kill instead of being acknowledged).
    assert details["in_flight_while_lagging"] >= 1
    assert_nothing_left(run_dir, named={"db_primary", "db_replica", "db_relay"})


def test_the_same_boots_without_the_fault_lose_none(lab):
    proc = lab.run("run", "db-failover", "--control", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = lab.latest
    state = read_json(run_dir, "final-state.json")
    assert state["database"]["node"] == "primary"
    accepted = _accepted(read_history(run_dir))
    assert len(accepted) == 63
    assert all(state["instances"][u]["status"] == "ACTIVE" for u in accepted)
    assert_nothing_left(run_dir, named={"db_primary", "db_replica", "db_relay"})


def test_ctrl_c_in_the_middle_of_the_fault_leaves_nothing(lab):
    proc = lab.start("run", "db-failover")
    out = Output(proc)
    out.wait_for("run directory:")
    run_dir = lab.latest
    history = os.path.join(run_dir, "history.jsonl")
    deadline = time.monotonic() + 180
    while True:  # the fault's invoke: the replication link is stalled now
        try:
            with open(history) as f:
                if any('"f": "fault"' in line for line in f):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            out.fail("the fault never began")
        time.sleep(0.05)
    time.sleep(0.5)  # inside the 2 s stall, before the kill
    proc.send_signal(signal.SIGINT)
    _, err = out.finish(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, err
    result = read_json(run_dir, "result.json")
    assert result["verdict"] == "unknown" and "interrupted" in result["reason"]
    assert_nothing_left(run_dir, named={"db_primary", "db_replica", "db_relay"})


def test_a_switchover_promotes_the_replica_with_every_commit(lab):
    run_dir = os.path.join(lab.runs_dir, "switchover")
    pair = postgres.PostgresPair(os.path.join(run_dir, "db"),
                                 os.path.join(run_dir, "logs"), run_dir)
    import sqlalchemy as sa

    try:
        pair.start()
        engine = sa.create_engine(pair.url)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (n integer)")
            conn.exec_driver_sql("INSERT INTO t SELECT generate_series(1, 100)")
        engine.dispose()
        done = pair.switchover()
        assert done["caught_up"] and done["old_state"] == "shut down"
        assert done["promoted"] == "replica" and done["in_recovery_after"] is False
        assert pair.serving()["node"] == "replica"
        engine = sa.create_engine(pair.url)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 100
        engine.dispose()
    finally:
        pair.stop()
    assert procs.processes_under(run_dir) + soak._working_in(run_dir) == []
    assert {pair.primary.port, pair.replica.port} & soak._listening_ports() == set()


@pytest.mark.parametrize("replication", ["async", "sync"])
def test_a_commit_during_the_stall_is_lost_only_with_async(lab, replication):
    """The mechanism alone: one row inserted while the replication link is
    stalled, then the primary killed and the replica promoted."""
    run_dir = os.path.join(lab.runs_dir, f"stall-{replication}")
    pair = postgres.PostgresPair(os.path.join(run_dir, "db"),
                                 os.path.join(run_dir, "logs"), run_dir,
                                 replication=replication)
    import sqlalchemy as sa

    outcome = {}
    try:
        pair.start()
        engine = sa.create_engine(pair.url)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (n integer)")
        pair.wait_caught_up()  # the table is on the replica
        pair.stall()

        def insert():
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql("INSERT INTO t VALUES (1)")
                outcome["committed"] = True
            except sa.exc.DBAPIError as exc:
                outcome["error"] = str(exc).splitlines()[0]
        writer = threading.Thread(target=insert)
        writer.start()
        if replication == "async":
            writer.join(timeout=30)  # acknowledged by the primary alone
            assert outcome == {"committed": True}
        else:
            writer.join(timeout=2)
            assert writer.is_alive(), outcome  # waiting for the replica
        done = pair.kill_primary(lag=0)
        writer.join(timeout=30)
        engine.dispose()
        assert done["in_recovery_after"] is False
        engine = sa.create_engine(pair.url)
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
        engine.dispose()
    finally:
        pair.stop()
    if replication == "async":
        assert outcome == {"committed": True} and rows == 0  # acknowledged, gone
    else:
        assert "committed" not in outcome and rows == 0  # never acknowledged
        assert "server closed the connection" in outcome["error"]
    assert procs.processes_under(run_dir) + soak._working_in(run_dir) == []


def test_missing_postgresql_is_exit_3(lab, monkeypatch):
    monkeypatch.setenv(postgres.DIR_ENV, os.path.join(lab.runs_dir, "nowhere"))
    proc = lab.run("run", "db-failover", timeout=120)
    assert proc.returncode == EXIT_MISSING, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "fake-lab: initdb, postgres, pg_basebackup, pg_controldata, pg_rewind not "
        "found in "
        f"{os.path.join(lab.runs_dir, 'nowhere')}"]


@pytest.mark.skipif(os.geteuid() != 0, reason="as root only: the servers then "
                    "run as the postgres user")
def test_a_runs_dir_the_postgres_user_cannot_reach_is_exit_2(tmp_path):
    # pytest's tmp_path is closed to other users (0700).
    proc = subprocess.run(LAB + ["run", "db-failover", "--runs-dir",
                                 str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == EXIT_USAGE, proc.stdout + proc.stderr
    assert proc.stderr.startswith("fake-lab: PostgreSQL runs as postgres, which "
                                  "cannot reach the run directory")
    assert procs.processes_under(str(tmp_path)) == []


def _boots(records):
    """{op id: {"invoke", "done"}} of the boots: one operation per logical
    boot, whatever its attempts."""
    ops = {}
    for r in records:
        if r.get("f") == "boot":
            ops.setdefault(r["id"], {})["invoke" if r["type"] == "invoke" else "done"] = r
    return ops


def _rows_by_name(state):
    found = {}
    for inst in state["instances"].values():
        found.setdefault(inst["name"], []).append(inst)
    return found


def _post(api_url, name, key=None):
    body = json.dumps({"server": {"name": name, "flavorRef": "m1.tiny",
                                  "imageRef": "cirros"}}).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    req = urllib.request.Request(api_url + "/v2.1/servers", data=body,
                                 method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.status, json.loads(resp.read())


def test_one_key_sent_four_times_at_once_makes_one_server(lab):
    """Deterministic: four attempts of one boot with the same key, at once,
    across the API's two uWSGI workers, on the PostgreSQL primary; then the
    same without a key. Counted in the database itself."""
    with started_lab(pathlib.Path(lab.runs_dir), "db-failover") as live:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: _post(live.api_url, "keyed", "k-1"),
                                    range(4)))
        _post(live.api_url, "unkeyed")
        _post(live.api_url, "unkeyed")
        state = lab_mod.final_state(live.database_url)
    assert {status for status, _ in answers} == {202}
    assert len({body["server"]["id"] for _, body in answers}) == 1
    assert len({body["task"]["id"] for _, body in answers}) == 1
    # One created it; the others were answered with it, its task read back.
    assert sorted(body["replayed"] for _, body in answers) == [False, True, True, True]
    rows = _rows_by_name(state)
    assert [r["idempotency_key"] for r in rows["keyed"]] == ["k-1"]
    assert state["builds"].get(rows["keyed"][0]["uuid"]) == 1
    assert len(rows["unkeyed"]) == 2  # no key: a repeat is a second server


def test_retry_with_a_key_duplicates_no_boot(lab):
    proc = lab.run("run", "db-failover", "--retry", "key", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = lab.latest
    records, state = read_history(run_dir), read_json(run_dir, "final-state.json")
    boots = _boots(records)
    keys = [b["invoke"]["value"]["idempotency_key"] for b in boots.values()]
    assert all(keys) and len(set(keys)) == len(keys) == 63
    # From the database: at most one server per boot, each keyed as its boot.
    rows = _rows_by_name(state)
    for b in boots.values():
        mine = rows.get(b["invoke"]["value"]["name"], [])
        assert [r["idempotency_key"] for r in mine] in (
            [], [b["invoke"]["value"]["idempotency_key"]]), mine
    accepted = _accepted(records)
    vanished = sorted(rid for uuid, rid in accepted.items()
                      if uuid not in state["instances"])
    details = lab.result()["details"]
    assert details["retry"] == "key" and details["duplicated"] == 0
    assert details["attempts"] == sum(len(b["done"]["value"]["attempts"])
                                      for b in boots.values())
    assert details["retried"] == sum(len(b["done"]["value"]["attempts"]) > 1
                                     for b in boots.values())
    assert sorted(details["vanished_request_ids"]) == vanished
    assert_nothing_left(run_dir, named={"db_primary", "db_replica", "db_relay"})


def test_retry_without_a_key_counts_the_duplicates_the_database_has(lab):
    proc = lab.run("run", "db-failover", "--retry", "no-key", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = lab.latest
    records, state = read_history(run_dir), read_json(run_dir, "final-state.json")
    boots = _boots(records)
    assert all(b["invoke"]["value"]["idempotency_key"] is None for b in boots.values())
    assert all(r["idempotency_key"] is None for r in state["instances"].values())
    # Whether a retry made a second server depends on where the failover
    # caught it: the checker must count exactly what the database shows.
    rows = _rows_by_name(state)
    twice = sorted(b["done"]["value"].get("request_id") or b["invoke"]["value"]["name"]
                   for b in boots.values()
                   if len(rows.get(b["invoke"]["value"]["name"], [])) > 1
                   or state["builds"].get(b["done"]["value"].get("server_id"), 0) > 1)
    result = lab.result()
    details = result["details"]
    assert details["retry"] == "no-key"
    assert sorted(details["duplicated_request_ids"]) == twice
    lost = details["vanished"] + details["rolled_back"]
    assert result["verdict"] == ("reproduced" if lost or twice else "not-reproduced")
    assert_nothing_left(run_dir, named={"db_primary", "db_replica", "db_relay"})
