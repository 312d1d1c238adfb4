"""The PostgreSQL pair's plumbing without a server: its binaries, its
URL, its settings; the servers themselves are in
tests/functional/test_db_failover.py."""

import os
import subprocess
import sys
import time
import types

import pytest

from fake_lab.commands import soak
from fake_lab.daemons import postgres
from fake_lab.errors import MissingComponent, UsageError


def test_a_wal_position_is_a_number_of_bytes():
    assert postgres.lsn("0/3000148") == 0x3000148
    assert postgres.lsn("1/0") - postgres.lsn("0/FFFFFFFF") == 1


def test_missing_binaries_are_a_missing_component(tmp_path, monkeypatch):
    monkeypatch.setenv(postgres.DIR_ENV, str(tmp_path))
    pair = postgres.PostgresPair(tmp_path / "db", tmp_path / "logs", tmp_path)
    with pytest.raises(MissingComponent, match="initdb, postgres, pg_basebackup, "
                       "pg_controldata not found in"):
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
