"""wsgi-threads (LP#1829062) and its control, for real: an eventlet-patched
worker with 4 container threads loses calls to the hubs' refusal to switch
threads; with one thread, the same calls are all answered."""

import os

import pytest

from fake_lab.daemons import containers


@pytest.fixture
def apache():
    if not containers.venv_binary("mod_wsgi-express"):
        reason = "mod_wsgi-express not installed (run tools/setup.sh)"
        if os.environ.get("FAKE_LAB_REQUIRE_ALL") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def test_four_threads_lose_calls_to_greenlet_errors(lab):
    proc = lab.run("run", "wsgi-threads", "--expect", "reproduced")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    details = result["details"]
    assert details["hub_errors"] >= 1 and details["threads_used"] >= 2, details
    evidence = "\n".join(result["evidence"])
    assert "greenlet.error: Cannot switch to a different thread" in evidence
    # Each lost call was answered by the compute at once: the reply was
    # dropped in the worker, not late.
    if details["lost"]:
        assert "MessagingTimeout" in evidence and "the compute answered it" in evidence
    assert lab.leftovers() == []


def test_one_thread_answers_every_call(lab):
    proc = lab.run("run", "wsgi-threads", "--control")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = lab.result()
    assert result["verdict"] == "not-reproduced", result
    assert result["details"]["lost"] == 0 and result["details"]["hub_errors"] == 0
    assert lab.leftovers() == []


def test_mod_wsgi_daemon_threads_do_the_same(apache, lab):
    proc = lab.run("run", "wsgi-threads", "--container", "mod_wsgi",
                   "--expect", "reproduced")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "apache-error.log" in "\n".join(lab.result()["evidence"])
    assert lab.leftovers() == []
