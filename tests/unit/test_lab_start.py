"""The lab's start: what it takes for a service to be ready, or failed."""

import pytest

from fake_lab import lab as lab_mod
from fake_lab.errors import DaemonFailed


def test_a_worker_that_ends_before_its_rpc_server_started_fails_the_start(tmp_path):
    # Both launchers fork a dead worker again: without this the lab would
    # wait for the ready line for the whole timeout.
    log = tmp_path / "fake-compute-1.log"
    fake = lab_mod.Lab.__new__(lab_mod.Lab)
    fake.run = type("Run", (), {"log": lambda self, name: str(log)})()
    fake.settings = type("S", (), {"get": lambda self, *a: 1})()
    log.write_text("INFO cotyledon Starting 1 workers\n")
    assert fake._service_ready("fake-compute-1") is False
    log.write_text("ERROR ... ImportError: no module\n"
                   "INFO cotyledon._service_manager Child 4242 exited with status 1\n")
    with pytest.raises(DaemonFailed, match="Child 4242 exited with status 1"):
        fake._service_ready("fake-compute-1")
    log.write_text("INFO ... RPC server started\n")
    assert fake._service_ready("fake-compute-1") is True
