"""fake-lab bench for real: a tiny bench (few calls, the installed release,
both executors, the kombu baseline) against a private broker. It checks the
structure of bench.json, that every call and cast was answered, and that
each process really ran as asked, as it reported from inside itself. It
never asserts a timing: the figures are whatever this machine gives."""

import json
import os


def test_a_tiny_bench_answers_every_call_and_runs_each_process_as_asked(lab):
    out = lab.run("bench", "--calls", "16", "--casts", "16", "--repeat", "2",
                  "--callers", "1,8", "--axis", "release=installed",
                  "--axis", "executor=eventlet,threading", "--runs-dir", lab.runs_dir,
                  timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stderr == ""  # no progress when stderr is not a terminal
    assert "RPC calls, 8 concurrent caller(s)" in out.stdout
    assert "lab path vs bare pair" in out.stdout and "relay vs direct" in out.stdout
    assert "observation: lab over quiet" in out.stdout
    assert "nova's wiring: quiet over om" in out.stdout
    assert "tools/simulator.py" in out.stdout

    run = lab.latest
    assert os.path.basename(run).startswith("bench-")
    with open(os.path.join(run, "bench.json")) as f:
        bench = json.load(f)
    assert bench["status"] == "complete"
    assert bench["options"]["callers"] == [1, 8]

    base = bench["baseline"]
    assert base["status"] == "ran" and base["answered"]["all"]
    for role in ("server", "client"):
        # The baseline is plain kombu on native threads: eventlet never imported.
        assert not base["processes"][role]["eventlet_imported"]
        assert base["processes"][role]["really"] == "threading"

    assert [c["axes"]["executor"] for c in bench["cells"]] == ["eventlet", "threading"]
    for cell in bench["cells"]:
        mode = cell["axes"]["executor"]
        assert cell["status"] == "ran", cell.get("reason")
        assert set(cell["paths"]) == {"om", "lab", "quiet", "relay"}
        for path, entry in cell["paths"].items():
            assert entry["status"] == "ran", entry["reason"]
            assert len(entry["repeats"]) == 2
            for repeat in entry["repeats"]:
                for callers in ("1", "8"):
                    block = repeat["calls"][callers]
                    assert block["sent"] > 0 and block["answered"] == block["sent"]
                    assert block["p50_ms"] > 0 and block["calls_per_s"] > 0
                    assert block["cpu_us"] > 0 and block["cpu_s"]["server"] > 0
                    assert ("relay" in block["cpu_s"]) == (path == "relay")
                assert repeat["casts"]["received"] == repeat["casts"]["sent"] == 16
            assert entry["answered"]["all"]
            assert entry["vs_baseline"]["1"]["p50_ms"]["median"] > 0
            server, client = entry["processes"]["server"], entry["processes"]["client"]
            for record in (server, client):
                assert record["asked"] == mode and record["really"] == mode
                assert record["oslo_service_backend"] == mode
            assert server["executor"] == mode
            handlers, callers = server["threads_seen"], client["threads_seen"]
            if mode == "eventlet":
                for record in (server, client):
                    assert record["patched"]["thread"] and record["patched"]["socket"]
                    assert record["socket_class"] == "eventlet.greenio.base.GreenSocket"
                assert handlers["green"] == handlers["count"]
                assert callers["green"] == callers["count"]
                assert callers["on_main_native_thread"] == callers["count"]
            else:
                for record in (server, client):
                    assert not any(record["patched"].values()), record["patched"]
                    assert record["eventlet_poisoned"]
                    assert record["socket_class"] == "socket.socket"
                assert handlers["green"] == 0 and handlers["on_main_native_thread"] == 0
                assert callers["green"] == 0 and callers["own_native_thread_each"]
                assert callers["most_at_once"] == 8
        for key in ("lab", "observation", "wiring", "relay"):
            assert cell["overhead"][key]["1"]["p50_ms"]["n"] == 2
        # The quiet path: the lab's wiring without its observation, as its
        # processes reported it and as their logs show.
        for role in ("server", "client"):
            quiet = cell["paths"]["quiet"]["processes"][role]
            lab_ = cell["paths"]["lab"]["processes"][role]
            assert not quiet["observation"]["heartbeats"] and not quiet["observation"]["pool"]
            assert lab_["observation"]["heartbeats"]
            assert {k: quiet["log_lines"][k] for k in ("heartbeat_check", "pool", "ping",
                                                       "cast")} == dict.fromkeys(
                ("heartbeat_check", "pool", "ping", "cast"), 0)
        assert cell["paths"]["lab"]["processes"]["server"]["log_lines"]["ping"] >= 64

    with open(os.path.join(run, "samples.json")) as f:
        samples = json.load(f)
    assert len(samples["c1-om"]["1"]) == 32
    with open(os.path.join(run, "bench.html")) as f:
        page = f.read()
    assert 'id="plotly-gz"' in page and "plots unavailable" not in page
    assert lab.leftovers() == []
