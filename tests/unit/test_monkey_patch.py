import pytest

from fake_service import monkey_patch


def test_backend_defaults_to_eventlet(monkeypatch):
    monkeypatch.delenv(monkey_patch.ENV, raising=False)
    assert monkey_patch.backend() == "eventlet"


def test_backend_refuses_an_unknown_value(monkeypatch):
    monkeypatch.setenv(monkey_patch.ENV, "gevent")
    with pytest.raises(ValueError, match="gevent"):
        monkey_patch.backend()
