"""nova's per-process switch, read as nova/monkey_patch.py reads it."""

import os
import subprocess
import sys

import pytest

from fake_service import monkey_patch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_unset_is_the_services_default_threading_as_in_nova_2026_2(monkeypatch):
    monkeypatch.delenv(monkey_patch.ENV, raising=False)
    assert monkey_patch.backend() == "threading"
    assert monkey_patch.backend(default="eventlet") == "eventlet"


@pytest.mark.parametrize("value, mode", [("true", "threading"), ("1", "threading"),
                                         ("YES", "threading"), ("false", "eventlet"),
                                         ("0", "eventlet"), ("no", "eventlet")])
def test_true_asks_for_threading_anything_else_for_eventlet(monkeypatch, value, mode):
    monkeypatch.setenv(monkey_patch.ENV, value)
    assert monkey_patch.backend() == mode


@pytest.mark.parametrize("mode", ["eventlet", "threading"])
def test_value_for_round_trips(monkeypatch, mode):
    monkeypatch.setenv(monkey_patch.ENV, monkey_patch.value_for(mode))
    assert monkey_patch.backend() == mode


def _startup(value):
    code = ("from fake_service import monkey_patch; monkey_patch.patch();"
            "print(monkey_patch.startup_line('t'))")
    env = dict(os.environ, PYTHONPATH=REPO, **{monkey_patch.ENV: value})
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_each_mode_selects_its_oslo_service_backend_and_says_so():
    threading = _startup("true")
    assert "asked=threading eventlet_patched=False backend=threading" in threading
    eventlet = _startup("false")
    assert "asked=eventlet eventlet_patched=True backend=eventlet" in eventlet


def test_threading_mode_forbids_patching_later():
    code = ("from fake_service import monkey_patch; monkey_patch.patch();"
            "import eventlet; eventlet.monkey_patch()")
    env = dict(os.environ, PYTHONPATH=REPO, **{monkey_patch.ENV: "true"})
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "a bug" in out.stderr
