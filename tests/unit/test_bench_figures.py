"""fake-lab bench's figures (fake_lab/bench/figures.py) and what a worker
really ran on (fake_lab/bench/workers.py): pure functions, no process."""

import pytest

from fake_lab.bench import figures, tables, workers
from tests.unit.test_bench import _record, _thread

# ---------------------------------------------------------------- figures


@pytest.mark.parametrize("values, p, expected", [
    ([1, 2, 3, 4], 50, 2),
    (list(range(1, 101)), 50, 50),
    (list(range(1, 101)), 99, 99),
    (list(range(1, 101)), 100, 100),
    (list(range(1, 1001)), 99, 990),
    ([5], 99, 5),
    ([3, 1, 2], 50, 2),            # unsorted input
    ([0.1] * 7 + [9.0], 99, 9.0),  # the worst of 8 is the 99th percentile
])
def test_percentile_is_nearest_rank(values, p, expected):
    assert figures.percentile(values, p) == expected


def test_percentile_of_nothing_is_none_and_p_must_be_a_percentage():
    assert figures.percentile([], 50) is None
    with pytest.raises(ValueError):
        figures.percentile([1], 0)
    with pytest.raises(ValueError):
        figures.percentile([1], 101)


def test_call_stats_in_ms_and_calls_per_second():
    block = {"latencies": [0.001, 0.002, 0.003, 0.010], "sent": 5, "seconds": 0.5,
             "errors": {"MessagingTimeout": 1}}
    stats = figures.call_stats(block)
    assert stats["answered"] == 4 and stats["sent"] == 5
    assert stats["calls_per_s"] == 8.0
    assert stats["p50_ms"] == 2.0 and stats["p99_ms"] == 10.0 and stats["max_ms"] == 10.0
    assert stats["mean_ms"] == 4.0
    assert stats["errors"] == {"MessagingTimeout": 1}


def test_call_stats_of_an_empty_block():
    stats = figures.call_stats({"latencies": [], "sent": 0, "seconds": 0})
    assert stats["calls_per_s"] is None and stats["p50_ms"] is None
    assert stats["answered"] == 0


def test_cast_stats():
    stats = figures.cast_stats({"sent": 100, "received": 100, "seconds": 0.25})
    assert stats["casts_per_s"] == 400.0 and stats["cpu_us"] is None


def test_cpu_per_call_adds_the_processes_that_were_measured():
    block = {"latencies": [0.002] * 4, "sent": 4, "seconds": 0.008,
             "cpu_s": {"client": 0.0004, "server": 0.0004, "relay": None}}
    assert figures.call_stats(block)["cpu_us"] == 200.0
    merged = figures.merge_calls([dict(block), dict(block, cpu_s={"client": 0.0004,
                                                                "relay": 0.0002})])
    assert merged["cpu_s"] == {"client": 0.0008, "server": 0.0004, "relay": 0.0002}
    assert figures.cpu_total(None) is None


@pytest.mark.parametrize("total, slices, parts", [
    (400, 4, [100, 100, 100, 100]), (10, 4, [3, 3, 2, 2]), (2, 4, [1, 1]), (1, 4, [1]),
])
def test_split(total, slices, parts):
    assert figures.split(total, slices) == parts
    assert sum(parts) == total


def test_slices_merge_into_one_block():
    calls = figures.merge_calls([
        {"latencies": [0.001], "sent": 1, "seconds": 0.1, "errors": {"E": 1},
         "threads": [{"native_id": 1}]},
        {"latencies": [0.002, 0.003], "sent": 2, "seconds": 0.2, "errors": {"E": 2},
         "threads": [{"native_id": 2}, {"native_id": 3}]}])
    assert calls["latencies"] == [0.001, 0.002, 0.003] and calls["sent"] == 3
    assert calls["seconds"] == pytest.approx(0.3) and calls["errors"] == {"E": 3}
    assert calls["slices"] == 2 and len(calls["thread_groups"]) == 2
    casts = figures.merge_casts([{"sent": 5, "received": 5, "seconds": 0.1, "server": {"x": 1}},
                               {"sent": 5, "received": 4, "seconds": 0.2}])
    assert (casts["sent"], casts["received"]) == (10, 9)
    assert casts["servers"] == [{"x": 1}]


def test_spread():
    assert figures.spread([3, None, 1, 2]) == {"min": 1, "median": 2, "max": 3, "n": 3}
    assert figures.spread([None]) is None


@pytest.mark.parametrize("value, reference, kind, pct", [
    (2.1, 2.0, "time", 5.0),     # 5 % slower
    (1.9, 2.0, "time", -5.0),
    (400, 500, "rate", 25.0),    # 500/s -> 400/s: each call costs 25 % more
    (500, 500, "rate", 0.0),
])
def test_overhead_reads_the_same_for_times_and_rates(value, reference, kind, pct):
    assert figures.overhead_pct(value, reference, kind) == pytest.approx(pct)


def test_overhead_and_ratio_without_figures():
    assert figures.overhead_pct(None, 2.0, "time") is None
    assert figures.overhead_pct(1.0, 0, "rate") is None
    assert figures.ratio(1.0, None) is None
    assert figures.ratio(3.0, 2.0) == 1.5


def test_target_verdict():
    assert figures.target_verdict({"min": 1, "median": 4.9, "max": 9, "n": 3}) == "under 5 %"
    assert figures.target_verdict({"min": 1, "median": 5.0, "max": 9, "n": 3}) == "over 5 %"
    assert figures.target_verdict(None) == "unmeasured"


def test_really_reads_the_record_and_the_threads_at_work():
    assert workers.really(_record("eventlet"), [_thread(True)]) == "eventlet"
    assert workers.really(_record("threading"), [_thread(False, 8)]) == "threading"
    assert workers.really(_record("threading"), [_thread(True)]).startswith("mixed")
    assert workers.really(_record("eventlet"), [_thread(False, 8)]).startswith("mixed")
    half = _record("eventlet")
    half["patched"]["socket"] = False
    assert workers.really(half).startswith("mixed")


def test_threads_seen_says_whether_each_caller_had_its_own_os_thread():
    groups = [[_thread(False, n) for n in (10, 11, 12)], [_thread(False, 13)]]
    seen = workers.threads_seen([t for g in groups for t in g], groups)
    assert seen["own_native_thread_each"] and seen["most_at_once"] == 3
    assert tables.threads_text("client", seen).startswith("callers native, each on its own")
    green = [[_thread(True), _thread(True)]]
    seen = workers.threads_seen(green[0], green)
    assert not seen["own_native_thread_each"]
    assert tables.threads_text("client", seen) == "callers green, all on the main OS thread"


# ---------------------------------------------------------------- the lab's overheads


def _entry(p50s):
    return {"repeats": [{"calls": {"1": {"p50_ms": v}}} for v in p50s]}


def test_cell_overheads_pairs_each_path_with_its_reference_repeat_by_repeat():
    paths = {"om": _entry([2.0, 3.0, 4.0]), "quiet": _entry([2.2, 3.0, 4.4]),
             "lab": _entry([2.42, 3.3, 4.4]), "relay": _entry([2.0, 3.0, None])}
    over = figures.cell_overheads(paths, [1])
    assert list(over) == ["lab", "observation", "wiring", "relay"]
    p50 = {key: over[key]["1"]["p50_ms"] for key in over}
    assert p50["observation"]["by_repeat"] == pytest.approx([10.0, 10.0, 0.0])
    assert p50["wiring"]["by_repeat"] == pytest.approx([10.0, 0.0, 10.0])
    assert p50["lab"]["by_repeat"] == pytest.approx([21.0, 10.0, 10.0])
    assert p50["relay"]["by_repeat"] == [0.0, 0.0, None]  # a repeat without a figure
    assert (p50["relay"]["n"], p50["relay"]["median"]) == (2, 0.0)
    assert over["lab"]["casts"]["cpu_us"] is None  # nothing measured: no spread


def test_cell_overheads_only_where_both_paths_ran():
    paths = {"om": _entry([2.0]), "lab": _entry([2.1])}
    assert list(figures.cell_overheads(paths, [1])) == ["lab"]
    assert list(figures.cell_overheads({"lab": _entry([2.1]), "quiet": _entry([2.0])},
                                       [1])) == ["observation"]


@pytest.mark.parametrize("line, kind", [
    ("T fake-compute-bench[7] INFO fake_compute.manager [req-1] ping: 5", "ping"),
    ("T fake-compute-bench[7] INFO fake_compute.manager [-] cast 12: 12", "cast"),
    ("T fake-compute-bench[7] INFO fake_service.observe [-] heartbeat-check connection=c "
     "purpose=listen thread=green", "heartbeat_check"),
    ("T fake-nova-api-bench[7] INFO fake_service.observe [-] pool-put connection=c", "pool"),
    ("T fake-compute-bench[7] INFO fake_service.observe [-] hub-probe late=0", "other"),
    ("T fake-compute-bench[7] INFO fake_service.rpc [-] ping: 5", "other"),
    ("T fake-compute-bench[7] INFO fake_compute.manager [-] cast x: 1", "other"),
    ("T fake-compute-bench[7] DEBUG oslo.messaging._drivers.pool [-] Pool creating", "other"),
    ("Traceback (most recent call last):", "other"),
])
def test_line_kind(line, kind):
    assert workers.line_kind(line) == kind
