"""Service state as nova's servicegroup DB driver keeps it (the reports, the
conductor's services table, is_up, GET/PUT /os-services, the scheduler's
ComputeFilter), and the service-flap checker on run directories built from
recorded lines: every verdict, and each reason for ``unknown``."""

import datetime
import json
import logging
import time

import pytest
import sqlalchemy as sa
import webob

from fake_compute import conductor, scheduler, servicegroup
from fake_lab.checkers import service_flap
from fake_nova_api import api
from fake_service import db
from tests.unit.runs import T0, FakeRun, client_stamp

# -- is_up and the report loop ------------------------------------------------

NOW = datetime.datetime(2026, 11, 24, 12, 0, 0)


def _svc(age, forced=False, created_age=None):
    updated = None if age is None else NOW - datetime.timedelta(seconds=age)
    created = NOW - datetime.timedelta(seconds=created_age or 100)
    return {"updated_at": updated, "created_at": created, "forced_down": forced}


def test_is_up_as_novas_db_driver():
    assert servicegroup.is_up(_svc(2.9), 3, NOW)
    assert servicegroup.is_up(_svc(3.0), 3, NOW)
    assert not servicegroup.is_up(_svc(3.1), 3, NOW)
    assert not servicegroup.is_up(_svc(0, forced=True), 3, NOW)
    # never reported: created_at stands for the last report
    assert servicegroup.is_up(_svc(None, created_age=1), 3, NOW)
    assert not servicegroup.is_up(_svc(None, created_age=10), 3, NOW)
    # ISO strings as the conductor's RPC replies carry them
    assert servicegroup.is_up({"updated_at": (NOW.isoformat() + "Z")}, 3, NOW)


def test_a_lost_report_is_logged_once_and_its_recovery(caplog):
    calls = []

    def report(timeout):
        calls.append(1)
        if len(calls) in (2, 3):
            raise RuntimeError("MessagingTimeout")
        return {"report_count": len(calls)}

    r = servicegroup.Reporter(report, 1, "h", "nova-compute", "native")
    with caplog.at_level(logging.INFO, logger="fake_compute.servicegroup"):
        for _ in range(4):
            r.report_once(late=0.25)
    text = caplog.text
    assert text.count("Lost connection to nova-conductor") == 1
    assert text.count("Recovered from being unable to report status.") == 1
    assert ("report-state host=h binary=nova-compute report_count=4 late=0.250"
            in text)


def test_the_loop_reports_every_interval_until_stopped():
    times, timeouts = [], []

    def report(timeout):
        timeouts.append(timeout)
        if len(timeouts) <= 2:  # the conductor is not there yet
            raise TimeoutError("no reply")
        times.append(time.monotonic())
        return {}

    r = servicegroup.Reporter(report, 0.05, "h", "nova-compute", "native",
                              join_timeout=0.02)
    r.start()
    time.sleep(0.35)
    r.stop()
    r._thread.join(1)
    assert not r._thread.is_alive()
    # the join retried with its own timeout; the reports with none
    assert timeouts[:3] == [0.02, 0.02, 0.02] and set(timeouts[3:]) == {None}
    assert 3 <= len(times) <= 8
    assert all(b - a >= 0.04 for a, b in zip(times, times[1:]))


# -- the conductor, the API and the scheduler, without a broker -----------------

class KwargsOnly:
    """The conductor as rpcapi.ConductorAPI reaches it: the context, then
    keyword arguments only (what RPC carries)."""

    def __init__(self, manager):
        self.manager = manager

    def __getattr__(self, name):
        def call(ctxt, **kwargs):
            return getattr(self.manager, name)(ctxt, **kwargs)
        return call


@pytest.fixture
def cloud(tmp_path):
    url = f"sqlite:///{tmp_path}/lab.sqlite"
    db.create_schema(url, ["fake-compute-1", "fake-compute-2"])
    cond = conductor.ConductorManager(url)
    for host in ("fake-compute-1", "fake-compute-2"):
        cond.service_report({}, host=host, binary="nova-compute", topic="compute")
    cond.service_report({}, host="ctl", binary="nova-conductor", topic="conductor")
    lab = api.LabAPI()
    lab.conductor = KwargsOnly(cond)
    lab.url = url
    return lab


def _req(lab, method, path, body=None, version=(2, 1)):
    req = webob.Request.blank(path, method=method)
    req.environ["fake_lab.microversion"] = version
    if body is not None:
        req.body = json.dumps(body).encode()
        req.content_type = "application/json"
    resp = req.get_response(lab)
    return resp.status_int, json.loads(resp.body) if resp.body else None


def _age(lab, host, seconds):
    with db.engine(lab.url).begin() as conn:
        conn.execute(db.services.update().where(db.services.c.host == host).values(
            updated_at=db.now() - datetime.timedelta(seconds=seconds)))


def test_reports_count_up_on_one_row(cloud):
    again = cloud.conductor.service_report({}, host="fake-compute-1",
                                           binary="nova-compute")
    assert again["report_count"] == 2
    assert len(cloud.conductor.service_list({}, host="fake-compute-1")) == 1


def test_the_service_list_in_novas_json(cloud):
    _age(cloud, "fake-compute-2", 120)
    status, body = _req(cloud, "GET", "/os-services", version=(2, 11))
    assert status == 200
    by_host = {s["host"]: s for s in body["services"]}
    one = by_host["fake-compute-1"]
    assert set(one) == {"id", "binary", "host", "zone", "status", "state",
                        "updated_at", "disabled_reason", "forced_down"}
    assert (one["binary"], one["zone"], one["status"], one["state"],
            one["forced_down"]) == ("nova-compute", "nova", "enabled", "up", False)
    assert isinstance(one["id"], int)
    assert by_host["fake-compute-2"]["state"] == "down"  # 120 s > nova's 60
    assert by_host["ctl"]["zone"] == "internal"
    # before 2.11 no forced_down; ?binary= filters
    _, old = _req(cloud, "GET", "/os-services?binary=nova-conductor")
    assert [s["host"] for s in old["services"]] == ["ctl"]
    assert "forced_down" not in old["services"][0]


def test_put_as_2_53_forces_down_and_disables(cloud):
    svc = cloud.conductor.service_list({}, host="fake-compute-1")[0]
    status, body = _req(cloud, "PUT", f"/os-services/{svc['uuid']}",
                        {"forced_down": True}, version=(2, 11))
    assert status == 200 and body["service"]["state"] == "down"
    assert body["service"]["forced_down"] is True
    status, body = _req(cloud, "PUT", f"/os-services/{svc['uuid']}",
                        {"status": "disabled", "disabled_reason": "maintenance"})
    assert (status, body["service"]["status"],
            body["service"]["disabled_reason"]) == (200, "disabled", "maintenance")
    status, body = _req(cloud, "PUT", f"/os-services/{svc['uuid']}",
                        {"status": "enabled", "forced_down": False})
    assert (body["service"]["status"], body["service"]["state"],
            body["service"]["disabled_reason"]) == ("enabled", "up", None)
    assert _req(cloud, "PUT", "/os-services/nope", {"forced_down": True})[0] == 404
    ctl = cloud.conductor.service_list({}, host="ctl")[0]
    assert _req(cloud, "PUT", f"/os-services/{ctl['uuid']}",
                {"forced_down": True})[0] == 400
    assert _req(cloud, "PUT", f"/os-services/{svc['uuid']}", {})[0] == 400


def test_from_2_53_the_id_is_a_uuid_and_the_actions_are_gone(cloud):
    svc = cloud.conductor.service_list({}, host="fake-compute-1")[0]
    status, body = _req(cloud, "GET", "/os-services?host=fake-compute-1",
                        version=(2, 53))
    assert body["services"][0]["id"] == svc["uuid"]
    status, body = _req(cloud, "PUT", f"/os-services/{svc['uuid']}",
                        {"forced_down": True}, version=(2, 53))
    assert status == 200 and body["service"]["id"] == svc["uuid"]
    for id in ("disable", str(svc["id"])):
        status, body = _req(cloud, "PUT", f"/os-services/{id}",
                            {"host": "fake-compute-1", "binary": "nova-compute"},
                            version=(2, 53))
        assert status == 400 and body["badRequest"]["message"] == f"Invalid uuid {id}"


def test_the_actions_the_client_sends_below_2_53(cloud):
    target = {"host": "fake-compute-1", "binary": "nova-compute"}
    assert _req(cloud, "PUT", "/os-services/disable", target) == (
        200, {"service": dict(target, status="disabled")})
    assert _req(cloud, "PUT", "/os-services/disable-log-reason",
                dict(target, disabled_reason="why")) == (
        200, {"service": dict(target, status="disabled", disabled_reason="why")})
    assert _req(cloud, "PUT", "/os-services/enable", target)[1]["service"][
        "status"] == "enabled"
    # force-down needs 2.11 (the client pins it)
    assert _req(cloud, "PUT", "/os-services/force-down",
                dict(target, forced_down=True))[0] == 404
    assert _req(cloud, "PUT", "/os-services/force-down",
                dict(target, forced_down=True), version=(2, 11)) == (
        200, {"service": dict(target, forced_down=True)})
    assert _req(cloud, "PUT", "/os-services/disable",
                {"host": "nowhere", "binary": "nova-compute"})[0] == 404


def test_the_scheduler_skips_down_and_disabled_computes(cloud):
    sched = scheduler.SchedulerManager(cloud.url, service_down_time=3)
    flavor = cloud.conductor.flavor_find({}, ref="1")
    # fake-compute-1 has more RAM free: it would win
    with db.engine(cloud.url).begin() as conn:
        conn.execute(db.hosts.update().where(db.hosts.c.name == "fake-compute-2")
                     .values(ram_free=db.hosts.c.ram_free - 4096))
    assert sched.select_destinations({}, flavor=flavor, request_id="r") == "fake-compute-1"
    _age(cloud, "fake-compute-1", 10)
    assert sched.select_destinations({}, flavor=flavor, request_id="r") == "fake-compute-2"
    cloud.conductor.service_update({}, values={"disabled": True}, host="fake-compute-2",
                                   binary="nova-compute")
    with pytest.raises(scheduler.NoValidHost):
        sched.select_destinations({}, flavor=flavor, request_id="r")
    with db.engine(cloud.url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.services)).scalar() == 3


# -- the checker ------------------------------------------------------------------

COMPUTE_PID = 7001


def flap_run(tmp_path, starved=True, casts=150, samples=True, closed=False,
             forced=False, reports=True, flood_ok=True, listing=True,
             down_without_gap=False):
    """A flood from t=5 to t=7.5, watched until t=14 (reports every 1 s,
    service_down_time 3 s). ``starved``: the compute's report at t=5 comes
    back at t=12 (sent t=5.0, took 7 s) and its next leaves at t=12; the API
    calls it down from t=8.5 to t=12.5. Else it reports every second and
    stays up."""
    fr = FakeRun(tmp_path, timeout=30)
    fr.config["checker"]["name"] = "service-flap"
    fr.config["options"]["DEFAULT"] = {"report_interval": 1, "service_down_time": 3}
    fr.op("flood", "flood", 5.0, 7.5, "ok" if flood_ok else "info", requests=15,
          ok=15, casts=150)
    fr.op("idle", "busy", 7.5, 14.0, slept=6.5)
    lines = []

    def line(t, logger, msg):
        lines.append(f"{client_stamp(t)} fake-compute-1[{COMPUTE_PID}] INFO {logger} "
                     f"[-] {msg}")

    line(0.5, "fake_compute.service", "RPC server started: role=compute")
    for n in range(casts):
        line(5.0 + n * 0.05, "fake_compute.manager", f"cast {n + 1}: {{}}")
    if reports:
        sent = ([1.0, 2.0, 3.0, 4.0, 5.0, 12.0, 13.0, 14.0, 15.0] if starved
                else [1.0 + k for k in range(15)])
        for k, s in enumerate(sent, 1):
            took = 7.0 if starved and s == 5.0 else 0.01
            line(s + took, "fake_compute.servicegroup",
                 f"report-state host=fake-compute-1 binary=nova-compute "
                 f"report_count={k} late=0.000 took={took:.3f} "
                 f"thread={'green' if starved else 'native'}")
    line(16.0, "fake_compute.manager", "ping: {}")
    conn = fr.connection(0.6, pid=COMPUTE_PID, program="fake-compute", uid="listen")
    if closed:
        fr.missed_heartbeats(conn, 9.0)
    if samples:
        t = 4.0
        while t < 14.0:
            down = (starved or down_without_gap) and 8.5 <= t < 12.5
            fr._rec(t, type="event", f="services-listed", process="runner",
                    value={"watch": "watch", "asked": T0 + t, "services": [
                        {"host": "fake-compute-1", "binary": "nova-compute",
                         "state": "down" if down or forced else "up",
                         "forced_down": forced and t > 6}]})
            t += 0.5
    if listing:
        fr.listing(14.5, [conn[3]])
    run = fr.write()
    with open(run.log("fake-compute-1"), "w") as f:
        f.write("\n".join(sorted(lines)) + "\n")
    return run


def test_a_busy_compute_called_down_while_alive_is_reproduced(tmp_path):
    res = service_flap.check(flap_run(tmp_path))
    assert res["verdict"] == "reproduced", res
    text = "\n".join(res["evidence"])
    assert "missed reports: none sent from t=+5.00s to t=+12.00s (7.00 s" in text
    assert "called the compute down from t=+8.50s to t=+12.50s (4.00 s)" in text
    assert "1 of the compute's 1 connection(s) listed" in text
    assert res["details"]["down_seconds"] == 4.0
    assert res["details"]["max_report_gap"] == 7.0


def test_a_compute_that_kept_reporting_is_not_reproduced(tmp_path):
    res = service_flap.check(flap_run(tmp_path, starved=False))
    assert res["verdict"] == "not-reproduced", res
    assert res["details"]["max_report_gap"] <= 1.01
    assert "up throughout" in res["evidence"][-1]


@pytest.mark.parametrize("kwargs,reason", [
    ({"samples": False}, "no GET /os-services sample"),
    ({"closed": True}, "the broker closed"),
    ({"forced": True, "starved": False}, "forced down"),
    ({"reports": False}, "no report-state line"),
    ({"flood_ok": False}, "the flood did not run"),
    ({"casts": 10}, "not kept busy"),
    ({"starved": False, "down_without_gap": True}, "clocks disagree"),
])
def test_missing_or_contradicting_evidence_is_unknown(tmp_path, kwargs, reason):
    res = service_flap.check(flap_run(tmp_path, **kwargs))
    assert res["verdict"] == "unknown", res
    assert reason in res["evidence"][-1], res["evidence"]


def test_a_starved_report_never_seen_by_a_sample_is_unknown(tmp_path):
    """Reports paused past service_down_time, yet every sample said up."""
    run = flap_run(tmp_path)
    path = run.history
    kept = []
    with open(path) as f:
        for raw in f:
            rec = json.loads(raw)
            if rec.get("f") == "services-listed":
                rec["value"]["services"][0]["state"] = "up"
            kept.append(json.dumps(rec))
    with open(path, "w") as f:
        f.write("\n".join(kept) + "\n")
    res = service_flap.check(run)
    assert res["verdict"] == "unknown"
    assert "yet no sample called it down" in res["evidence"][-1]
