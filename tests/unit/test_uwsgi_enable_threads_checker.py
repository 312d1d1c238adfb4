"""The uwsgi-enable-threads checker on recorded runs: heartbeat-loss's
judgement, plus what uWSGI said of its Python threads, without which the
run cannot test the claim."""

from fake_lab import checkers
from fake_lab.checkers import container_logs, uwsgi_enable_threads
from tests.unit import runs

# The first lines of uwsgi.log as 2.0.26 and 2.0.31 wrote them in the lab.
HEAD = """[uWSGI] getting INI configuration from /x/etc/uwsgi.ini
*** Starting uWSGI {version} (64bit) on [Mon Nov 23 23:13:56 2026] ***
compiled with version: 12.2.0 on 23 November 2026 23:13:28
detected binary path: /work/main/.venvs/uwsgi-{version}/bin/uwsgi
Python main interpreter initialized at 0x7f8203360018
{threads}
spawned uWSGI master process (pid: 6240)
spawned uWSGI worker 1 (pid: 6243, cores: 1)
"""
OFF = "*** Python threads support is disabled. You can enable it with --enable-threads ***"
ON = "python threads support enabled"


def _write(fr, version, threads, enable):
    fr.config["checker"] = {"name": "uwsgi-enable-threads", "options": {}}
    fr.config["options"]["lab"]["executor"] = "threading"
    fr.config["options"]["uwsgi"] = {"enable_threads": enable, "release": version}
    run = fr.write()
    if version:
        with open(run.log("uwsgi"), "w") as f:
            f.write(HEAD.format(version=version, threads=threads))
    return run


def test_threads_off_and_missed_heartbeats_reproduce(tmp_path):
    # The heartbeat-loss shape: silence while idle, the broker's closes.
    verdict = uwsgi_enable_threads.check(
        _write(runs.eventlet_run(tmp_path), "2.0.26", OFF, False))
    assert verdict["verdict"] == checkers.REPRODUCED
    said = verdict["evidence"][0]
    assert said.startswith("uWSGI 2.0.26 (/work/main/.venvs/uwsgi-2.0.26/bin/uwsgi), "
                           "enable-threads=false, executor threading: Python "
                           "threads off, uwsgi.log:6: *** Python threads support "
                           "is disabled")
    assert "missed heartbeats from client" in "\n".join(verdict["evidence"])
    assert verdict["details"]["python_threads"] == "off"
    assert verdict["details"]["uwsgi_version"] == "2.0.26"


def test_threads_on_and_heartbeats_kept_is_not_reproduced(tmp_path):
    verdict = uwsgi_enable_threads.check(
        _write(runs.threading_run(tmp_path), "2.0.31", ON, False))
    assert verdict["verdict"] == checkers.NOT_REPRODUCED
    assert "Python threads on, uwsgi.log:6: python threads support enabled" in \
        verdict["evidence"][0]


def test_without_uwsgis_word_the_claim_is_untested(tmp_path):
    # The broker closed the connections, but which uWSGI ran, and with
    # threads or not, is unknown: so is the verdict.
    verdict = uwsgi_enable_threads.check(
        _write(runs.eventlet_run(tmp_path), None, OFF, False))
    assert verdict["verdict"] == checkers.UNKNOWN
    assert "cannot test the claim" in verdict["evidence"][-1]


def test_the_uwsgi_log_parser(tmp_path):
    path = tmp_path / "uwsgi.log"
    path.write_text(HEAD.format(version="2.0.26", threads=OFF)
                    + "WSGI app 0 (mountpoint='') ready in 1 seconds on interpreter "
                    "0x7f82 pid: 6243 (default app)\n"
                    "[pid: 6243|app: 0|req: 1/1] 127.0.0.1 () {26 vars in 301 bytes} "
                    "[Mon Nov 23 22:19:21 2026] GET /v2.1/ => generated 301 bytes in "
                    "1 msecs (HTTP/1.1 200) 8 headers in 317 bytes (1 switches on "
                    "core 0)\n")
    found = container_logs.uwsgi_log(str(path))
    assert found["version"] == "2.0.26" and found["python_threads"] == "off"
    assert found["master"] == 6240 and found["workers"] == [6243]
    assert found["app_loaded_by"] == [6243] and found["served"] == {6243: 1}
    assert container_logs.uwsgi_log(str(tmp_path / "none"))["version"] is None
