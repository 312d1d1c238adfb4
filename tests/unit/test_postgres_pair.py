"""The PostgreSQL pair's plumbing without a server: its binaries, its
URL, its settings, the rejoin's bookkeeping; the servers themselves are in
tests/functional/test_db_failover.py and test_db_rejoin.py."""

import os
import subprocess
import sys
import time
import types

import pytest

from fake_lab.commands import soak
from fake_lab.daemons import postgres
from fake_lab.errors import LabError, MissingComponent, UsageError
from fake_lab.rundir import RunDir


def test_a_wal_position_is_a_number_of_bytes():
    assert postgres.lsn("0/3000148") == 0x3000148
    assert postgres.lsn("1/0") - postgres.lsn("0/FFFFFFFF") == 1


def test_missing_binaries_are_a_missing_component(tmp_path, monkeypatch):
    monkeypatch.setenv(postgres.DIR_ENV, str(tmp_path))
    pair = postgres.PostgresPair(tmp_path / "db", tmp_path / "logs", tmp_path)
    with pytest.raises(MissingComponent, match="initdb, postgres, pg_basebackup, "
                       "pg_controldata, pg_rewind not found in"):
        pair.check_installed()


def test_the_services_url_names_both_nodes_and_asks_for_the_writer(tmp_path):
    pair = postgres.PostgresPair(tmp_path / "db", tmp_path / "logs", tmp_path)
    pair.primary.port, pair.replica.port = 5001, 5002
    url = pair.url
    assert url.startswith(f"postgresql+psycopg2://{pair.user}:{pair.password}@/fake_lab?")
    assert "host=127.0.0.1:5001&host=127.0.0.1:5002" in url
    assert "target_session_attrs=read-write" in url
    sa = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg2")
    engine = sa.create_engine(url)
    _, kwargs = engine.dialect.create_connect_args(engine.url)
    # psycopg2 hands libpq one multi-host conninfo.
    assert (kwargs["host"], kwargs["port"]) == ("127.0.0.1,127.0.0.1", "5001,5002")
    assert kwargs["target_session_attrs"] == "read-write"


def test_credentials_are_random_and_need_no_quoting(tmp_path):
    a = postgres.PostgresPair(tmp_path / "a", tmp_path, tmp_path)
    b = postgres.PostgresPair(tmp_path / "b", tmp_path, tmp_path)
    assert a.password != b.password and a.admin_password != b.admin_password
    assert all(c in "0123456789abcdef" for c in a.password + a.admin_password)


def test_bad_replication_is_refused(tmp_path):
    with pytest.raises(UsageError, match="async, sync"):
        postgres.PostgresPair(tmp_path, tmp_path, tmp_path, replication="semi")


def _settings(pair, replication="async", url=None):
    return types.SimpleNamespace(
        values={"postgres": {"pair": pair, "replication": replication,
                             "os_user": "postgres"}},
        database_url=url)


def test_no_pair_unless_asked(tmp_path):
    run = types.SimpleNamespace(file=lambda *p: str(tmp_path.joinpath(*p)),
                                logs=str(tmp_path), path=str(tmp_path))
    assert postgres.pair_for(run, _settings(False)) is None


def test_a_pair_and_a_database_url_exclude_each_other(tmp_path):
    run = types.SimpleNamespace(file=lambda *p: str(tmp_path.joinpath(*p)),
                                logs=str(tmp_path), path=str(tmp_path))
    with pytest.raises(UsageError, match="exclude each other"):
        postgres.pair_for(run, _settings(True, url="sqlite:///x"))


def test_a_db_fault_without_a_pair_cannot_act():
    with pytest.raises(Exception, match="no PostgreSQL pair"):
        postgres.fault(types.SimpleNamespace(db_pair=None), "kill-primary", {})


def test_soak_counts_a_process_working_in_the_run_directory(tmp_path):
    # A PostgreSQL child whose postmaster was killed shows no owner mark,
    # but it works in its data directory, inside the run directory.
    work = tmp_path / "db" / "primary"
    work.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                            cwd=work, env={k: v for k, v in os.environ.items()
                                           if not k.startswith("FAKE_LAB")})
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            found = dict(soak._working_in(str(tmp_path)))
            if proc.pid in found:
                break
            time.sleep(0.05)
        assert proc.pid in found
        assert proc.pid not in dict(soak._working_in(str(tmp_path / "db" / "replica")))
    finally:
        proc.kill()
        proc.wait()


# -- the rejoin, its servers faked ------------------------------------------------

REWOUND = "\n".join([
    'pg_rewind: executing "/usr/lib/postgresql/15/bin/postgres" for target server '
    "to complete crash recovery",
    "2026-11-24 10:00:00.000 UTC [4242] LOG:  database system was interrupted; last "
    "known up at 2026-11-24 09:59:58 UTC",
    "pg_rewind: servers diverged at WAL location 0/304B9D8 on timeline 1",
    "pg_rewind: rewinding from last common checkpoint at 0/2000060 on timeline 1",
    "pg_rewind: Done!"]) + "\n"
NOTHING = """pg_rewind: source and target cluster are on the same timeline
pg_rewind: no rewind required
"""


def test_what_pg_rewind_said_is_read():
    found = postgres.parse_rewind(REWOUND)
    assert found["rewound"] is True
    assert (found["diverged_lsn"], found["diverged_timeline"]) == ("0/304B9D8", 1)
    assert found["rewound_from_checkpoint_lsn"] == "0/2000060"
    assert found["rewind_output"][-1] == "pg_rewind: Done!"
    found = postgres.parse_rewind(NOTHING)
    assert found["rewound"] is False and "diverged_lsn" not in found


class FakeDaemon:
    def __init__(self, alive=True):
        self._alive = alive

    def alive(self):
        return self._alive


class FakeRelay:
    def __init__(self, port):
        self.port, self.control_port = port, port + 1


def failed_over(tmp_path, monkeypatch, replication="async", rewind=REWOUND):
    """A pair just after a failover (the replica takes writes, the primary
    is down), its servers and tools faked; ``calls`` lists what it ran."""
    pair = postgres.PostgresPair(tmp_path / "db", tmp_path / "logs", tmp_path,
                                 replication=replication)
    pair.primary.port, pair.replica.port = 5001, 5002
    pair.writer, pair.standby = pair.replica, None
    pair.relays["primary"] = pair.relay = FakeRelay(5003)
    pair.primary.daemon, pair.replica.daemon = FakeDaemon(False), FakeDaemon(True)
    os.makedirs(pair.primary.datadir)
    # What pg_rewind leaves: the source's settings, with its own link.
    with open(os.path.join(pair.primary.datadir, "postgresql.auto.conf"), "w") as f:
        f.write("# Do not edit this file manually!\n"
                "primary_conninfo = 'host=127.0.0.1 port=5003 user=x'\n"
                "synchronous_standby_names = '\"replica\"'\n")
    calls = []

    def tool(name, *args, **kwargs):
        calls.append((name, args))
        if name == "pg_controldata":
            return ("Database cluster state:               in production\n"
                    "Latest checkpoint location:           0/2000060\n"
                    "Latest checkpoint's TimeLineID:       1\n")
        return rewind

    def sql(node, *statements):
        calls.append((node.name, statements))
        text = " ".join(statements)
        if "pg_walfile_name" in text:
            return [("0/3100000", "000000020000000000000003")]
        if "sent_lsn" in text:
            return [("streaming", replication, "0/3100100", "0/3100100")]
        if "sync_state FROM" in text:
            return [("streaming", "sync")]
        if "pg_stat_wal_receiver" in text:
            return [("streaming", 5006, 2, "0/3100100")]
        if "pg_is_in_recovery" in text:
            return [(True,)]
        return None

    def relay_to(node, avoid=(), timeout=60):
        relay = pair.relays.setdefault(node.name, FakeRelay(5006))
        return relay

    def spawn(node, *args):
        calls.append(("spawn", node.name, args))
        node.daemon = FakeDaemon(True)

    monkeypatch.setattr(pair, "_tool", tool)
    monkeypatch.setattr(pair, "_sql", sql)
    monkeypatch.setattr(pair, "_relay_to", relay_to)
    monkeypatch.setattr(pair, "_spawn", spawn)
    monkeypatch.setattr(pair, "_wait_line", lambda *a: None)
    return pair, calls


def test_a_rejoin_makes_the_old_primary_the_standby_of_the_new(tmp_path, monkeypatch):
    pair, calls = failed_over(tmp_path, monkeypatch)
    done = pair.rejoin()
    assert (pair.writer, pair.standby) == (pair.replica, pair.primary)
    # The second failover's roles: the promoted node killed, the rejoined
    # original promoted; its stall stalls the new link.
    assert pair._roles() == (pair.replica, pair.primary)
    assert pair.relay is pair.relays["replica"] and pair.relay.port == 5006
    # Rewound against the new primary's own port, after a checkpoint there.
    rewind = next(args for name, args in calls if name == "pg_rewind")
    assert "port=5002" in " ".join(rewind) and pair.primary.datadir in rewind
    assert calls.index(("replica", ("CHECKPOINT",))) < calls.index(("pg_rewind", rewind))
    with open(os.path.join(pair.primary.datadir, "postgresql.auto.conf")) as f:
        conf = f.read().splitlines()
    links = [line for line in conf if line.startswith("primary_conninfo")]
    assert len(links) == 1 and "port=5006" in links[0]
    assert "application_name=primary" in links[0]
    assert [line for line in conf if line.startswith("synchronous_standby_names")] == [
        "synchronous_standby_names = ''"]
    assert conf[0] == "# Do not edit this file manually!"
    assert os.path.exists(os.path.join(pair.primary.datadir, "standby.signal"))
    assert done["rewound"] and done["diverged_lsn"] == "0/304B9D8"
    assert (done["old_state"], done["old_timeline"]) == ("in production", 1)
    assert done["new_primary_timeline"] == 2 and done["through_relay"] is True
    assert done["in_recovery"] is True
    assert done["pair"] == {"primary": "replica", "standby": "primary"}
    assert done["began_at"] <= done["started_at"] <= done["streaming_at"]
    assert done["seconds_to_streaming"] >= 0
    assert "synchronous_standby_names" not in done
    # Once rejoined, there is nothing more to rejoin.
    with pytest.raises(LabError, match="nothing to rejoin: the primary is the "
                       "replica's standby already"):
        pair.rejoin()


def test_a_sync_rejoin_makes_the_new_primary_wait_for_it(tmp_path, monkeypatch):
    pair, calls = failed_over(tmp_path, monkeypatch, replication="sync", rewind=NOTHING)
    done = pair.rejoin()
    assert done["rewound"] is False and done["synchronous_standby_names"] == '"primary"'
    assert ("replica", ("ALTER SYSTEM SET synchronous_standby_names = '\"primary\"'",
                        "SELECT pg_reload_conf()")) in calls


def test_a_rejoin_needs_a_writer_and_a_stopped_old_primary(tmp_path, monkeypatch):
    pair, _ = failed_over(tmp_path, monkeypatch)
    pair.primary.daemon = FakeDaemon(True)
    with pytest.raises(LabError, match="the primary still runs"):
        pair.rejoin()
    pair.primary.daemon, pair.replica.daemon = FakeDaemon(False), FakeDaemon(False)
    with pytest.raises(LabError, match="no PostgreSQL node takes writes"):
        pair.rejoin()
    fresh = postgres.PostgresPair(tmp_path / "x", tmp_path, tmp_path)
    with pytest.raises(LabError, match="nothing to rejoin"):
        fresh.rejoin()


def test_every_relay_of_the_pair_has_its_ports(tmp_path):
    pair = postgres.PostgresPair(tmp_path / "db", tmp_path / "logs", tmp_path)
    pair.primary.port, pair.replica.port = 5001, 5002
    pair.relays = {"primary": FakeRelay(5003), "replica": FakeRelay(5005)}
    assert pair.ports == {"db_primary": 5001, "db_replica": 5002, "db_relay": 5003,
                          "db_relay_control": 5004, "db_relay_to_replica": 5005,
                          "db_relay_to_replica_control": 5006}


@pytest.mark.parametrize("fails", [False, True])
def test_a_rejoins_relay_goes_into_ports_json(tmp_path, fails):
    run = RunDir(str(tmp_path))
    run.write_json("ports.json", {"api": 8774, "db_relay": 5003})

    class Pair:
        ports = {"db_relay": 5003, "db_relay_to_replica": 5005}

        def rejoin(self):
            if fails:
                raise LabError("the primary did not stream")
            return {"rejoined": "primary"}

    lab = types.SimpleNamespace(db_pair=Pair(), run=run)
    if fails:
        with pytest.raises(LabError):
            postgres.fault(lab, "rejoin", {})
    else:
        assert postgres.fault(lab, "rejoin", {}) == {"rejoined": "primary"}
    assert run.read_json("ports.json") == {"api": 8774, "db_relay": 5003,
                                           "db_relay_to_replica": 5005}
