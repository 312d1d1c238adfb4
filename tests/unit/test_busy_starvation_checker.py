"""The busy-starvation checker on run directories built from recorded lines:
every verdict, and each reason for ``unknown``."""

from fake_lab.checkers import busy_starvation
from tests.unit.runs import FakeRun, client_stamp

COMPUTE_PID = 7001


def compute_run(tmp_path, starved=True, casts=150, wire=True, broker=True,
                probe=True, flood_ok=True, wire_silent=None):
    """A flood from t=5 to t=7.5 watched until t=13.5; the compute runs
    ``casts`` casts from t=5 on. ``starved``: the compute's connection goes
    silent at t=5 and the broker closes it at t=8 (eventlet); else its
    heartbeats cross every 0.4 s (threading)."""
    fr = FakeRun(tmp_path)
    fr.config["checker"]["name"] = "busy-starvation"
    fr.op("flood", "flood", 5.0, 7.5, "ok" if flood_ok else "info", requests=15, ok=15,
          casts=150)
    fr.records[-2]["value"]["senders"] = 3
    fr.op("idle", "busy", 7.5, 13.5, slept=6.0)
    lines = []

    def line(t, logger, msg):
        lines.append(f"{client_stamp(t)} fake-compute-1[{COMPUTE_PID}] INFO {logger} "
                     f"[-] {msg}")

    for n in range(casts):
        line(5.0 + n * 0.05, "fake_compute.manager", f"cast {n + 1}: {{}}")
    if probe:
        t = 4.0
        while t < 13.5:
            late = 4.5 if starved and 5.0 <= t < 5.05 else 0.001
            line(t, "fake_service.observe", f"hub-probe interval=0.050 late={late:.6f} "
                 f"thread={'green' if starved else 'native'}")
            t += 0.05 + late
    conn = fr.connection(1.0, pid=COMPUTE_PID, program="fake-compute", uid="listen")
    silent = starved if wire_silent is None else wire_silent
    if broker and starved:
        fr.missed_heartbeats(conn, 8.0)
    if wire:
        beats = [1.0 + k * 0.4 for k in range(12 if silent else 32)]
        fr.wire(conn, 1.0, c2s=[b for b in beats if b < 5.0 or not silent],
                s2c=[6.0, 7.0, 8.0],
                end=("rst", "server", 8.0) if silent else None)
    run = fr.write()
    with open(run.log("fake-compute-1"), "w") as f:
        f.write("\n".join(sorted(lines)) + "\n")
    return run


def test_a_starved_compute_dropped_by_the_broker_is_reproduced(tmp_path):
    res = busy_starvation.check(compute_run(tmp_path))
    assert res["verdict"] == "reproduced", res
    text = "\n".join(res["evidence"])
    assert "missed heartbeats from client" in text
    assert "sent 0 heartbeat(s) while the compute was busy" in text
    assert "max 4500 ms" in text
    assert res["details"]["longest_silence"] >= 1.0


def test_a_busy_compute_that_kept_its_heartbeats_is_not_reproduced(tmp_path):
    res = busy_starvation.check(compute_run(tmp_path, starved=False))
    assert res["verdict"] == "not-reproduced", res
    assert "native thread" in "\n".join(res["evidence"])


def test_a_compute_that_was_not_busy_cannot_say(tmp_path):
    res = busy_starvation.check(compute_run(tmp_path, starved=False, casts=10))
    assert res["verdict"] == "unknown"
    assert "not kept busy" in res["evidence"][-1]


def test_a_failed_flood_is_unknown(tmp_path):
    res = busy_starvation.check(compute_run(tmp_path, flood_ok=False))
    assert res["verdict"] == "unknown"


def test_a_close_the_wire_contradicts_is_unknown(tmp_path):
    res = busy_starvation.check(compute_run(tmp_path, wire_silent=False))
    assert res["verdict"] == "unknown"
    assert "the wire shows the compute silent for" in res["evidence"][-1]


def test_a_long_silence_without_a_close_is_unknown(tmp_path):
    res = busy_starvation.check(compute_run(tmp_path, broker=False))
    assert res["verdict"] == "unknown"
    assert "should have closed it" in res["evidence"][-1]


def test_without_the_wire_no_close_cannot_say_not_reproduced(tmp_path):
    res = busy_starvation.check(compute_run(tmp_path, starved=False, wire=False))
    assert res["verdict"] == "unknown"


def test_without_the_probe_the_verdict_stands_and_says_so(tmp_path):
    res = busy_starvation.check(compute_run(tmp_path, probe=False))
    assert res["verdict"] == "reproduced"
    assert any("no hub-probe line" in line for line in res["evidence"])


def test_probe_figures():
    samples = [{"time": float(t), "late": t / 100} for t in range(100)]
    f = busy_starvation.probe_figures(samples, 0, 99, 1.0)
    assert f["n"] == 100 and f["max"] == 0.99 and f["p50"] in (0.49, 0.5)
