"""fake-lab bench, the runner's side: input, figures, ratios and overheads,
bench.json's shape, the tables, the exit code and the CLI. No broker."""

import json
import sys
import time
import types

import pytest

from fake_lab import cli, errors
from fake_lab.bench import figures, tables, workers
from fake_lab.commands import bench
from fake_lab.daemons import pyenvs
from fake_lab.errors import UsageError
from fake_lab.rundir import RunDir

# ---------------------------------------------------------------- input


def test_axes_default_to_the_installed_release_under_both_executors():
    assert bench.parse_axes([]) == {"release": ["installed"], "deps": ["latest"],
                                    "executor": ["eventlet", "threading"]}


def test_axes_are_parsed_and_keep_their_order():
    axes = bench.parse_axes(["release=installed,14.0.3", "executor=threading",
                             "deps=series"])
    assert axes == {"release": ["installed", "14.0.3"], "deps": ["series"],
                    "executor": ["threading"]}


@pytest.mark.parametrize("spec, needle", [
    ("nope=1", "unknown bench axis 'nope'"),
    ("executor=gevent", "'gevent' is not one of eventlet, threading"),
    ("deps=old", "'old' is not one of latest, series"),
    ("release", "expected NAME=V1,V2"),
    ("release=", "expected NAME=V1,V2"),
    ("executor=eventlet,eventlet", "a value is given twice"),
])
def test_bad_axes_say_why(spec, needle):
    with pytest.raises(UsageError, match=needle):
        bench.parse_axes([spec])


def test_an_axis_given_twice_is_refused():
    with pytest.raises(UsageError, match="given twice"):
        bench.parse_axes(["executor=eventlet", "executor=threading"])


@pytest.mark.parametrize("text, callers", [("1,8", [1, 8]), ("4", [4]), (" 1, 2 ", [1, 2])])
def test_callers(text, callers):
    assert bench.parse_callers(text) == callers


@pytest.mark.parametrize("text", ["0", "x", "1,1", "65", ""])
def test_bad_callers(text):
    with pytest.raises(UsageError):
        bench.parse_callers(text)


def _record(mode):
    patched = mode == "eventlet"
    return {"pid": 1, "patched": {"thread": patched, "socket": patched, "select": patched,
                                  "time": patched, "os": patched},
            "eventlet_imported": True, "eventlet_poisoned": not patched,
            "oslo_service_backend": mode}


def _thread(green, native=7, main=7):
    return {"type": "Thread", "green": green, "native_id": native, "main_native_id": main}


# ---------------------------------------------------------------- bench.json


def _calls_block(latency, n=10, callers=1):
    # CPU: half the latency in each process, so a call's CPU tracks its latency.
    return {"latencies": [latency] * n, "sent": n, "seconds": latency * n / callers,
            "errors": {}, "cpu_s": {"client": latency * n / 2, "server": latency * n / 2}}


def _repeat(latency, casts_per_s):
    return {"calls": {"1": figures.call_stats(_calls_block(latency)),
                      "8": figures.call_stats(_calls_block(latency * 4, callers=8))},
            "casts": figures.cast_stats({"sent": 100, "received": 100,
                                       "seconds": 100 / casts_per_s,
                                       "cpu_s": {"client": 50 / casts_per_s,
                                                 "server": 50 / casts_per_s}})}


def _pair(pair_id, path, mode, cell, latency, casts_per_s):
    pair = workers.Pair(pair_id, path, mode, pyenvs.LAB, cell)
    pair.status = "ran"
    pair.records = {"server": dict(_record(mode), executor=mode),
                    "client": _record(mode)}
    green = mode == "eventlet"
    pair.threads = {"server": [_thread(green, 7 if green else 9)],
                    "client": [_thread(green, 7 if green else 20 + i) for i in range(8)]}
    pair.thread_groups = [pair.threads["client"]]
    pair.repeats = [_repeat(latency * f, casts_per_s / f) for f in (1.0, 1.1, 0.9)]
    pair.samples = {"1": [latency * 1000] * 10, "8": [latency * 4000] * 10}
    return pair


def fake_bench(tmp_path):
    """A Bench that ran (figures made up, no process): a baseline at 1 ms,
    the bare pair at 2 ms, the lab's path at 2.1 ms, the relay at 2.2 ms."""
    b = bench.Bench(bench.parse_axes([]), [1, 8], 10, 100, 5.0, 3, str(tmp_path),
                    say=lambda line: None)
    b.started, b.wall, b.status = time.time(), time.monotonic(), "complete"
    b.load = {"before": (0.5, 0.5, 0.5), "after": (1.0, 1.0, 1.0)}
    b.baseline = _pair("kombu", "kombu", "threading", None, 0.001, 4000)
    b.pairs = [b.baseline]
    for n, mode in ((1, "eventlet"), (2, "threading")):
        cell = {"id": f"release=installed-deps=latest-executor={mode}", "n": n,
                "axes": {"release": "installed", "deps": "latest", "executor": mode},
                "status": "pending", "paths": {}, "env": "installed",
                "versions": {"oslo.messaging": "18.3.1"}}
        b.cells.append(cell)
        for path, latency in (("om", 0.002), ("lab", 0.0021), ("relay", 0.0022)):
            b.pairs.append(_pair(f"c{n}-{path}", path, mode, cell, latency,
                                 1000 * 0.002 / latency))
    return b


def test_bench_json_shape(tmp_path):
    summary = json.loads(json.dumps(fake_bench(tmp_path).summary()))
    assert {"command", "status", "options", "machine", "how", "target_pct", "relay",
            "baseline", "cells", "seconds", "started"} <= set(summary)
    assert "tools/simulator.py" in summary["how"]
    assert summary["options"]["callers"] == [1, 8]
    base = summary["baseline"]
    assert base["path"] == "kombu" and base["answered"]["all"]
    assert len(summary["cells"]) == 2
    for cell in summary["cells"]:
        assert cell["status"] == "ran" and set(cell["paths"]) == {"om", "lab", "relay"}
        mode = cell["axes"]["executor"]
        for entry in cell["paths"].values():
            assert entry["mode"] == mode and entry["status"] == "ran"
            assert len(entry["repeats"]) == 3
            for role in ("server", "client"):
                assert entry["processes"][role]["asked"] == mode
                assert entry["processes"][role]["really"] == mode
            assert set(entry["summary"]) == {"1", "8", "casts"}
            assert set(entry["summary"]["1"]) == {"calls_per_s", "p50_ms", "p99_ms", "max_ms",
                                                  "cpu_us"}
            assert set(entry["summary"]["casts"]) == {"casts_per_s", "cpu_us"}
            assert entry["summary"]["1"]["p50_ms"]["n"] == 3
            assert entry["answered"] == {"calls_sent": 60, "calls_answered": 60,
                                         "casts_sent": 300, "casts_received": 300,
                                         "all": True}
        om = cell["paths"]["om"]
        # 2 ms against the baseline's 1 ms, repeat by repeat: twice as slow.
        assert om["vs_baseline"]["1"]["p50_ms"]["median"] == pytest.approx(2.0)
        assert om["vs_baseline"]["casts"]["casts_per_s"]["median"] == pytest.approx(0.25)
        lab = cell["overhead"]["lab"]
        assert lab["1"]["p50_ms"]["median"] == pytest.approx(5.0, abs=0.01)
        assert lab["1"]["calls_per_s"]["median"] == pytest.approx(5.0, abs=0.01)
        assert lab["casts"]["casts_per_s"]["median"] == pytest.approx(5.0, abs=0.01)
        assert lab["1"]["cpu_us"]["median"] == pytest.approx(5.0, abs=0.01)
        assert lab["casts"]["cpu_us"]["median"] == pytest.approx(5.0, abs=0.1)
        assert cell["overhead"]["relay"]["1"]["p50_ms"]["median"] == pytest.approx(10.0, abs=0.01)


def test_tables_and_files(tmp_path):
    b = fake_bench(tmp_path)
    run = RunDir.create(str(tmp_path), "bench")
    summary = b.write(run)
    lines = tables.render_text(summary)
    text = "\n".join(lines)
    assert "RPC calls, 1 concurrent caller(s)" in text and "casts/s" in text
    assert "lab path vs bare pair" in text and "+5.0 %" in text and "under 5 %" in text
    assert "relay vs direct" in text and "+10.0 %" in text and "over 5 %" in text
    assert "x2.00" in text  # the ratio to the baseline
    assert "callers native, each on its own OS thread" in text
    assert "handlers green, all on the main OS thread" in text
    assert "tools/simulator.py" in text
    with open(run.file("bench.json")) as f:
        assert json.load(f)["cells"][0]["paths"]["lab"]["path"] == "lab"
    with open(run.file("samples.json")) as f:
        assert json.load(f)["c1-om"]["1"] == [2.0] * 10
    with open(run.file("bench.html")) as f:
        page = f.read()
    assert 'id="plotly-gz"' in page and "bench-overhead" in page
    assert "plots unavailable" not in page
    with open(run.file("result.json")) as f:
        assert json.load(f)["exit_code"] == 0


def test_the_status_line_says_what_the_bench_does_and_the_last_figures(tmp_path):
    b = fake_bench(tmp_path)
    b.activity = "repeat 2 of 3, 8 caller(s) calls, slice 1 of 4: c1-lab"
    assert b._doing().startswith("bench ") and b.activity in b._doing()
    assert "last:" not in b._doing()
    b._record(b.pairs[1], 0, "calls", 1, [_calls_block(0.002)])
    assert "last: c1-om 1 caller(s): 500 calls/s, p50 2.00 ms, 10/10 answered" in b._doing()


def test_exit_code_wants_every_path_and_every_answer(tmp_path):
    summary = fake_bench(tmp_path).summary()
    assert bench.exit_code(summary) == (errors.EXIT_OK, [])
    lost = fake_bench(tmp_path)
    lost.pairs[2].repeats[0]["calls"]["1"]["answered"] = 9
    code, why = bench.exit_code(lost.summary())
    assert code == errors.EXIT_INCOMPLETE and "lost calls or casts" in why[0]
    failed = fake_bench(tmp_path)
    failed.pairs[3].fail("server", "it exited with code 1")
    code, why = bench.exit_code(failed.summary())
    assert code == errors.EXIT_INCOMPLETE and any("failed" in w for w in why)
    interrupted = fake_bench(tmp_path)
    interrupted.status = "interrupted"
    assert bench.exit_code(interrupted.summary())[0] == errors.EXIT_INTERRUPTED


def test_a_process_that_ran_otherwise_than_asked_fails_its_path(tmp_path):
    b = fake_bench(tmp_path)
    lab = b.pairs[2]
    lab.records["client"] = _record("threading")  # asked eventlet
    lab.threads["client"] = [_thread(False, 30)]
    b.pairs = [lab]
    b.repeat, b.calls = 0, 0
    b._measure()
    assert lab.failed and "asked for eventlet but really ran threading" in lab.reason


# ---------------------------------------------------------------- the command line


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, needle", [
    (("bench", "--axis", "nope=1"), "unknown bench axis"),
    (("bench", "--axis", "executor=gevent"), "not one of eventlet, threading"),
    (("bench", "--calls", "0"), "not a positive number"),
    (("bench", "--calls", "x"), "not a whole number"),
    (("bench", "--duration", "0"), "not between 0 and 600"),
    (("bench", "--callers", "0"), "distinct numbers from 1 to 64"),
    (("bench", "--runs", "3"), "--runs, --broker and --control go with --headline"),
    (("bench", "--control"), "--runs, --broker and --control go with --headline"),
])
def test_bad_bench_input_is_one_line_and_exit_2(capsys, tmp_path, argv, needle):
    code, out, err = run_cli(capsys, *argv, "--runs-dir", str(tmp_path))
    assert code == errors.EXIT_USAGE
    assert needle in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_headline_calls_the_headline_module(capsys, monkeypatch):
    seen = []
    module = types.ModuleType("fake_lab.commands.headline_bench")
    module.main = lambda args: seen.append(args) or 0
    monkeypatch.setitem(sys.modules, "fake_lab.commands.headline_bench", module)
    code, _, _ = run_cli(capsys, "bench", "--headline", "--runs", "3", "--broker", "b")
    assert code == 0
    assert seen[0].headline and seen[0].runs == 3 and seen[0].broker == "b"


def test_headline_without_its_module_is_one_line(capsys, monkeypatch):
    import importlib

    def missing(name, *args, **kwargs):
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(importlib, "import_module", missing)
    code, out, err = run_cli(capsys, "bench", "--headline")
    assert code == errors.EXIT_MISSING
    assert "headline_bench.py" in err and len(err.strip().splitlines()) == 1
