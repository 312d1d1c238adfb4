"""A missing component is exit 3 with one line (moved from
tests/unit/test_cli.py): each test hides one part and relies on the others
being installed, since the lab checks RabbitMQ's binaries (rabbitmq-server,
rabbitmqctl, the system's epmd) before the WSGI container's."""

from fake_lab import cli, errors


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_missing_rabbitmq_is_exit_3_and_leaves_a_result(capsys, tmp_path,
                                                        monkeypatch):
    # The exact list needs the installed epmd: it is also looked up on PATH,
    # so FAKE_LAB_RABBITMQ_DIR does not hide it.
    monkeypatch.setenv("FAKE_LAB_RABBITMQ_DIR", str(tmp_path))
    code, out, err = run_cli(capsys, "run", "heartbeat-loss", "--runs-dir",
                             str(tmp_path / "runs"))
    assert code == errors.EXIT_MISSING
    assert "rabbitmq-server, rabbitmqctl not found" in err
    assert (tmp_path / "runs" / "latest" / "result.json").exists()


def test_missing_uwsgi_is_exit_3(capsys, tmp_path, monkeypatch):
    # Needs the installed RabbitMQ: its binaries are checked first.
    monkeypatch.setenv("FAKE_LAB_UWSGI", str(tmp_path / "uwsgi"))
    code, out, err = run_cli(capsys, "run", "heartbeat-loss", "--runs-dir",
                             str(tmp_path / "runs"))
    assert code == errors.EXIT_MISSING
    assert "uwsgi not found" in err
