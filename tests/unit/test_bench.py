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


def test_axes_default_to_the_installed_release_under_both_executors_every_path():
    assert bench.parse_axes([]) == {"release": ["installed"], "deps": ["latest"],
                                    "executor": ["eventlet", "threading"],
                                    "path": ["om", "lab", "quiet", "relay"]}


def test_axes_are_parsed_and_keep_their_order():
    axes = bench.parse_axes(["release=installed,14.0.3", "executor=threading",
                             "deps=series"])
    assert axes == {"release": ["installed", "14.0.3"], "deps": ["series"],
                    "executor": ["threading"], "path": ["om", "lab", "quiet", "relay"]}


def test_the_path_axis_leaves_paths_out_and_keeps_the_paths_order():
    assert bench.parse_axes(["path=relay,om,lab"])["path"] == ["om", "lab", "relay"]


@pytest.mark.parametrize("spec, needle", [
    ("nope=1", "unknown bench axis 'nope'"),
    ("executor=gevent", "'gevent' is not one of eventlet, threading"),
    ("deps=old", "'old' is not one of latest, series"),
    ("release", "expected NAME=V1,V2"),
    ("release=", "expected NAME=V1,V2"),
    ("executor=eventlet,eventlet", "a value is given twice"),
    ("path=om,silent", "'silent' is not one of om, lab, quiet, relay"),
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


def _record(mode, path=None, role="server"):
    patched = mode == "eventlet"
    record = {"pid": 1, "patched": {"thread": patched, "socket": patched, "select": patched,
                                    "time": patched, "os": patched},
              "eventlet_imported": True, "eventlet_poisoned": not patched,
              "oslo_service_backend": mode}
    if path is not None:  # what its path's processes have of the lab's observation
        record["observation"] = dict(workers.OBSERVATION[path][role])
        if path in workers.LAB_WIRED:
            record["observation"]["evidence_logger"] = (
                "fake_compute.manager" if role == "server" else "fake_nova_api.compute_rpcapi")
    return record


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


FACTORS = (1.0, 1.1, 0.9)  # each repeat's latency, times the path's
# The lab's observation in fake_bench, repeat by repeat: the lab's path is
# the quiet path's time times 1.02, 1.04, 1.06 (a median of +4 %), while
# the lab's path stays at +5 % over the bare pair in every repeat.
OBSERVATION = (2.0, 4.0, 6.0)


def _pair(pair_id, path, mode, cell, latency, casts_per_s, factors=FACTORS):
    pair = workers.Pair(pair_id, path, mode, pyenvs.LAB, cell)
    pair.status = "ran"
    known = path if path in workers.OBSERVATION else None
    pair.records = {"server": dict(_record(mode, known), executor=mode),
                    "client": _record(mode, known, "client")}
    green = mode == "eventlet"
    pair.threads = {"server": [_thread(green, 7 if green else 9)],
                    "client": [_thread(green, 7 if green else 20 + i) for i in range(8)]}
    pair.thread_groups = [pair.threads["client"]]
    pair.repeats = [_repeat(latency * f, casts_per_s / f) for f in factors]
    pair.samples = {"1": [latency * 1000] * 10, "8": [latency * 4000] * 10}
    return pair


def fake_bench(tmp_path, axes=()):
    """A Bench that ran (figures made up, no process): a baseline at 1 ms,
    the bare pair at 2 ms, the lab's path at 2.1 ms, the relay at 2.2 ms,
    the quiet path at the lab's divided by 1 + OBSERVATION, repeat by repeat
    (times FACTORS, as every path)."""
    b = bench.Bench(bench.parse_axes(list(axes)), [1, 8], 10, 100, 5.0, 3, str(tmp_path),
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
        for path, latency in (("om", 0.002), ("lab", 0.0021), ("quiet", 0.0021),
                              ("relay", 0.0022)):
            if path not in b.paths:
                continue
            factors = FACTORS if path != "quiet" else [
                f / (1 + o / 100) for f, o in zip(FACTORS, OBSERVATION)]
            b.pairs.append(_pair(f"c{n}-{path}", path, mode, cell, latency,
                                 1000 * 0.002 / latency, factors))
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
    assert summary["options"]["paths"] == ["om", "lab", "quiet", "relay"]
    assert summary["overheads"]["observation"] == {
        "path": "lab", "reference": "quiet", "what": "observation: lab over quiet",
        "judged": True}
    assert summary["overheads"]["wiring"]["path"] == "quiet"
    assert summary["overheads"]["wiring"]["reference"] == "om"
    assert summary["observation"]["quiet"]["server"] == {
        "heartbeats": False, "pool": False, "evidence_lines": False}
    for cell in summary["cells"]:
        assert cell["status"] == "ran"
        assert set(cell["paths"]) == {"om", "lab", "quiet", "relay"}
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
        assert set(cell["overhead"]) == {"lab", "observation", "wiring", "relay"}


def test_the_observation_is_the_lab_over_the_quiet_path_of_the_same_repeat(tmp_path):
    """lab over quiet, repeat by repeat: +2, +4, +6 % (OBSERVATION), though
    the lab's path is +5 % over the bare pair in every repeat and the quiet
    path's repeats are not in the lab's order of speed. Computed from the
    medians instead (lab 2.1 ms, repeat 1's; quiet 2.1/1.02 ms, repeat 1's
    too: +2 % flat), or from the wrong repeat, or against the bare pair, it
    would not be these."""
    summary = json.loads(json.dumps(fake_bench(tmp_path).summary()))
    for cell in summary["cells"]:
        over = cell["overhead"]
        for section, key in (("1", "p50_ms"), ("1", "cpu_us"), ("8", "p50_ms"),
                             ("casts", "cpu_us"), ("casts", "casts_per_s")):
            obs = over["observation"][section][key]
            assert obs["by_repeat"] == pytest.approx(list(OBSERVATION), abs=0.01)
            assert (obs["min"], obs["median"], obs["max"]) == pytest.approx((2, 4, 6), abs=0.01)
            lab = over["lab"][section][key]["by_repeat"]
            wiring = over["wiring"][section][key]["by_repeat"]
            assert lab == pytest.approx([5.0] * 3, abs=0.01)
            # quiet over om: 1.05 / (1 + observation), repeat by repeat...
            assert wiring == pytest.approx([(1.05 / (1 + o / 100) - 1) * 100
                                            for o in OBSERVATION], abs=0.01)
            # ... so that the two compose into the lab's, each repeat alone.
            for lb, ob, wi in zip(lab, obs["by_repeat"], wiring):
                assert 1 + lb / 100 == pytest.approx((1 + ob / 100) * (1 + wi / 100), abs=1e-4)
        # Not the ratio of the medians (+2 %, where the median of the ratios is +4 %).
        quiet = cell["paths"]["quiet"]["summary"]["1"]["p50_ms"]["median"]
        lab = cell["paths"]["lab"]["summary"]["1"]["p50_ms"]["median"]
        assert (lab / quiet - 1) * 100 == pytest.approx(2.0, abs=0.01)


def test_a_repeat_is_paired_with_the_same_repeat_only(tmp_path):
    """The quiet path's repeats in another order: the observation changes
    (each repeat's lab figure is set against that repeat's quiet figure)."""
    b = fake_bench(tmp_path)
    quiet = next(p for p in b.pairs if p.path == "quiet" and p.mode == "eventlet")
    quiet.repeats = quiet.repeats[::-1]
    cell = b.summary()["cells"][0]
    by_repeat = cell["overhead"]["observation"]["1"]["p50_ms"]["by_repeat"]
    # lab = 2.1 x (1.0, 1.1, 0.9); quiet reversed = 2.1 x (0.9/1.06, 1.1/1.04, 1.0/1.02)
    assert by_repeat == pytest.approx([(1.0 / (0.9 / 1.06) - 1) * 100, 4.0,
                                       (0.9 / (1.0 / 1.02) - 1) * 100], abs=0.01)


def test_without_the_quiet_path_there_is_no_split(tmp_path):
    b = fake_bench(tmp_path, ["path=om,lab,relay"])
    summary = b.summary()
    assert summary["options"]["paths"] == ["om", "lab", "relay"]
    for cell in summary["cells"]:
        assert set(cell["paths"]) == {"om", "lab", "relay"}
        assert set(cell["overhead"]) == {"lab", "relay"}
    text = "\n".join(tables.render_text(summary))
    assert "3 paths (om, lab, relay)" in text
    assert "observation" not in text.split("the lab's own overhead")[1].split("processes")[0]
    assert "lab path vs bare pair" in text


def test_tables_and_files(tmp_path):
    b = fake_bench(tmp_path)
    run = RunDir.create(str(tmp_path), "bench")
    summary = b.write(run)
    lines = tables.render_text(summary)
    text = "\n".join(lines)
    assert "RPC calls, 1 concurrent caller(s)" in text and "casts/s" in text
    assert "lab path vs bare pair" in text and "+5.0 %" in text and "under 5 %" in text
    assert "relay vs direct" in text and "+10.0 %" in text and "over 5 %" in text
    assert "4 paths (om, lab, quiet, relay)" in text
    overhead = text.split("the lab's own overhead")[1].split("\n\n")[0].splitlines()
    header = next(line for line in overhead if line.startswith("release"))
    assert header.split()[-4:] == ["p50", "verdict", "CPU", "verdict"]
    rows = [line for line in overhead if line.startswith("installed (18.3.1)  eventlet")]
    # The lab's row, its split (observation, nova's wiring), the relay's.
    assert [r.split("  eventlet  ")[1].split("  ")[0].strip() for r in rows] == [
        "lab path vs bare pair", "observation: lab over quiet",
        "nova's wiring: quiet over om", "relay vs direct"]
    observation, wiring = rows[1], rows[2]
    assert observation.count("+4.0 % [+2.0..+6.0]") == 5  # p50, calls/s, casts/s, CPU x2
    assert observation.endswith("under 5 %    under 5 %")
    assert wiring.endswith("not judged   not judged")
    assert "(1 + lab) = (1 + observation) x (1 + wiring)" in text
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
    # The overhead plot: each overhead's p50 and CPU/call at 1 caller, one
    # bar a cell, its height the median of that overhead, not another's.
    over = dict(tables.plot_figures(summary, {}))["overhead"]
    bars = {bar.name: bar for bar in over.data}
    assert list(bars) == [f"{what}: {name}" for what in (
        "lab path vs bare pair", "observation: lab over quiet",
        "nova's wiring: quiet over om", "relay vs direct") for name in ("p50", "CPU/call")]
    for key, what in (("lab", "lab path vs bare pair"), ("observation",
                      "observation: lab over quiet"), ("wiring", "nova's wiring: quiet over om")):
        for name, metric in (("p50", "p50_ms"), ("CPU/call", "cpu_us")):
            bar = bars[f"{what}: {name}"]
            assert list(bar.x) == ["installed (18.3.1) eventlet", "installed (18.3.1) threading"]
            assert list(bar.y) == [c["overhead"][key]["1"][metric]["median"]
                                   for c in summary["cells"]]
    assert list(bars["observation: lab over quiet: p50"].y) == pytest.approx([4.0, 4.0],
                                                                             abs=0.01)
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


def _only(b, path, mode="eventlet"):
    """The bench reduced to one pair of its, measured no more."""
    pair = next(p for p in b.pairs if p.path == path and p.mode == mode)
    b.pairs = [pair]
    b.repeat, b.calls = 0, 0
    return pair


@pytest.mark.parametrize("path, role, key, value, needle", [
    ("quiet", "server", "heartbeats", True, "heartbeats=True (expected False)"),
    ("quiet", "client", "pool", True, "pool=True (expected False)"),
    ("quiet", "server", "evidence_lines", True, "evidence_lines=True (expected False)"),
    ("lab", "client", "pool", True, "pool=True (expected False)"),
    ("lab", "server", "heartbeats", False, "heartbeats=False (expected True)"),
    ("om", "server", "heartbeats", True, "heartbeats=True (expected False)"),
])
def test_a_process_whose_observation_is_not_its_paths_fails_its_path(
        tmp_path, path, role, key, value, needle):
    b = fake_bench(tmp_path)
    pair = _only(b, path)
    b._measure()
    assert not pair.failed  # as its path has it
    pair.records[role]["observation"][key] = value
    b._measure()
    assert pair.failed and needle in pair.reason and pair.reason.startswith(role)


def test_a_lab_wired_process_that_does_not_say_its_observation_fails_its_path(tmp_path):
    b = fake_bench(tmp_path)
    pair = _only(b, "quiet")
    del pair.records["client"]["observation"]
    b._measure()
    assert pair.failed and "did not say what of the lab's observation it has" in pair.reason


def _line(name, message, request="-"):
    return (f"2026-11-24T13:23:44.133852Z fake-compute-bench[7] INFO {name} [{request}] "
            f"{message}\n")


def _log(tmp_path, name, counts):
    """A lab-wired process's log with ``counts`` lines of each kind."""
    make = {"heartbeat_check": lambda n: _line("fake_service.observe",
                                               "heartbeat-check connection=c purpose=listen "
                                               "thread=native"),
            "pool": lambda n: _line("fake_service.observe", "pool-get connection=c reused=yes"),
            "ping": lambda n: _line("fake_compute.manager", f"ping: {n}", "req-1"),
            "cast": lambda n: _line("fake_compute.manager", f"cast {n}: {n}", "req-1"),
            "other": lambda n: _line("fake_service.rpc", "RPC transport ready: ...")}
    path = tmp_path / name
    path.write_text("".join(make[kind](n) for kind, k in counts.items() for n in range(k)))
    return str(path)


# fake_bench's paths answered 60 calls (10 per block, 2 blocks, 3 repeats)
# and received 300 casts; the lab's client sent them all.
LAB_SERVER = {"ping": 60 + 16, "cast": 300, "heartbeat_check": 2, "other": 3}
LAB_CLIENT = {"heartbeat_check": 5, "other": 2}


@pytest.mark.parametrize("path, role, counts, needle", [
    ("lab", "server", LAB_SERVER, None),
    ("lab", "client", LAB_CLIENT, None),
    ("quiet", "server", {"other": 3}, None),
    ("quiet", "client", {"other": 2}, None),
    ("lab", "server", dict(LAB_SERVER, ping=59), "59 ping line(s), expected at least 60"),
    ("lab", "server", dict(LAB_SERVER, cast=299), "299 cast line(s), expected at least 300"),
    ("lab", "server", dict(LAB_SERVER, heartbeat_check=0), "0 heartbeat_check line(s)"),
    ("lab", "client", dict(LAB_CLIENT, pool=2), "2 pool line(s), expected none"),
    ("quiet", "server", {"other": 3, "ping": 1}, "the quiet path wrote lines of the lab's "
     "observation: {'ping': 1}"),
    ("quiet", "server", {"other": 3, "heartbeat_check": 1}, "{'heartbeat_check': 1}"),
    ("quiet", "client", {"other": 3, "pool": 2}, "{'pool': 2}"),
])
def test_a_lab_wired_log_must_hold_its_paths_lines(tmp_path, path, role, counts, needle):
    b = fake_bench(tmp_path)
    pair = _only(b, path)
    pair.logs[role] = _log(tmp_path, f"{path}-{role}.log", counts)
    b._measure()
    assert pair.failed == (needle is not None)
    if needle:
        assert needle in pair.reason and pair.reason.startswith(role)
    entry = pair.entry()
    assert entry["processes"][role]["log_lines"] == dict(
        dict.fromkeys(workers.LINE_KINDS, 0), **counts)


def test_a_lab_wired_log_that_cannot_be_read_fails_its_path(tmp_path):
    b = fake_bench(tmp_path)
    pair = _only(b, "quiet")
    pair.logs["server"] = str(tmp_path / "nowhere.log")
    b._measure()
    assert pair.failed and "its log cannot be read" in pair.reason


def test_the_runner_writes_the_quiet_path_a_config_without_observation():
    assert bench.lab_config("lab", "/x.log") == {
        "DEFAULT": {"log_file": "/x.log", "rpc_response_timeout": bench.RPC_TIMEOUT}}
    assert bench.lab_config("quiet", "/x.log") == {
        "DEFAULT": {"log_file": "/x.log", "rpc_response_timeout": bench.RPC_TIMEOUT},
        "lab": {"observe_heartbeats": False}}
    argv = workers.Pair("c1-quiet", "quiet", "eventlet", pyenvs.LAB).argv("server", 1)
    assert argv[argv.index("--kind") + 1] == "quiet"
    argv = workers.Pair("c1-relay", "relay", "eventlet", pyenvs.LAB).argv("server", 1)
    assert argv[argv.index("--kind") + 1] == "om"


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
