"""uwsgi-without-enable-threads and its control, for real, on uWSGI 2.0.26
(built once beside the lab's own: about 35 s the first time) and on the
lab's newer uWSGI, which ignores the switch."""

import os

import pytest

from fake_lab.daemons import uwsgi_releases


@pytest.fixture(scope="module")
def uwsgi_2026():
    try:
        return uwsgi_releases.binary("2.0.26", say=lambda s: None)
    except uwsgi_releases.Unavailable as exc:
        reason = f"uWSGI 2.0.26 cannot be built here: {exc}"
        if os.environ.get("FAKE_LAB_REQUIRE_ALL") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def test_without_enable_threads_native_heartbeats_starve(uwsgi_2026, lab):
    proc = lab.run("run", "uwsgi-without-enable-threads", "--expect", "reproduced")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["details"]["uwsgi_version"] == "2.0.26"
    assert result["details"]["python_threads"] == "off"
    evidence = "\n".join(result["evidence"])
    assert "Python threads support is disabled" in evidence
    assert "missed heartbeats from client" in evidence
    assert "0 heartbeat check(s)" in evidence
    assert lab.leftovers() == []


def test_enable_threads_keeps_them(uwsgi_2026, lab):
    proc = lab.run("run", "uwsgi-without-enable-threads", "--control")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "not-reproduced"
    assert result["details"]["python_threads"] == "on"
    assert lab.leftovers() == []


def test_the_newest_uwsgi_ignores_the_switch(lab):
    proc = lab.run("run", "uwsgi-without-enable-threads", "--uwsgi-release",
                   "installed", "--expect", "not-reproduced")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["details"]["python_threads"] == "on"
    assert result["details"]["uwsgi_version"] != "2.0.26"
    assert lab.leftovers() == []


def test_a_bad_release_is_one_line(lab):
    proc = lab.run("run", "uwsgi-without-enable-threads", "--uwsgi-release", "newest")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "bad configuration" in proc.stderr
