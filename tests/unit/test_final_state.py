"""final-state.json's read of the database: the servers with their
vm_state, and the services table as the API would show it."""

import datetime
import json

from fake_compute import conductor
from fake_lab.lab import final_state
from fake_service import db


def test_services_are_up_or_down_as_the_api_computes_it(tmp_path):
    url = f"sqlite:///{tmp_path}/lab.sqlite"
    db.create_schema(url, ["fake-compute-1", "fake-compute-2"])
    engine = db.engine(url)
    for host, binary in [("fake-compute-1", "nova-compute"),
                         ("fake-compute-2", "nova-compute"),
                         ("lab", "nova-conductor")]:
        conductor.report_state(engine, host, binary)
    old = db.now() - datetime.timedelta(seconds=30)
    with engine.begin() as conn:
        conn.execute(db.services.update().where(
            db.services.c.host == "fake-compute-2").values(updated_at=old))
        conn.execute(db.services.update().where(
            db.services.c.binary == "nova-conductor").values(
            forced_down=True, disabled=True, disabled_reason="maintenance"))
        conn.execute(db.instances.insert(), [{
            "uuid": "u1", "name": "vm", "flavor_id": "1", "status": "SHUTOFF",
            "task_state": None, "power_state": "Shutdown", "request_id": "req-1",
            "deleted": False, "created_at": db.now(), "updated_at": db.now()}])
    state = final_state(url, service_down_time=10)
    services = {s["host"]: s for s in state["services"]}
    assert services["fake-compute-1"]["state"] == "up"
    assert services["fake-compute-1"]["report_count"] == 1
    two = services["fake-compute-2"]
    assert (two["state"], two["forced_down"], two["disabled"]) == ("down", False, False)
    assert two["last_report"] == old.isoformat()
    lab = services["lab"]
    assert (lab["binary"], lab["state"], lab["forced_down"], lab["disabled"],
            lab["disabled_reason"]) == ("nova-conductor", "down", True, True,
                                        "maintenance")
    assert state["service_down_time"] == 10 and state["read_at"]
    assert state["instances"]["u1"]["vm_state"] == "stopped"
    json.dumps(state)  # every value JSON-ready
