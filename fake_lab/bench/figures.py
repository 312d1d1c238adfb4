"""The bench's figures: a block's latencies and CPU as calls per second,
percentiles and CPU per call; slices merged into blocks; spreads over the
repeats; ratios to the baseline; the lab's overheads in percent (OVERHEADS:
the lab's path over the bare pair, split into the lab's observation, lab
over quiet, and nova's wiring, quiet over the bare pair; the relay over
the bare pair), each computed repeat by repeat.

Pure functions of the workers' answers (fake_service/bench_driver.py says
what a block holds): nothing here starts, reads or times anything.
"""

import statistics

TARGET_PCT = 5.0
# The overheads of a cell, (key in bench.json, path, reference, what, judged):
# each the path's extra time (or CPU) per call or cast over its reference,
# measured side by side in the same repeat. ``lab`` is the figure the
# target was set on (the lab's path over the bare pair); ``observation``
# and ``wiring`` split it: what watching costs (the lab's path over the
# same wiring with the lab's observation off), which "observation must not
# change what it observes" is about, and what the lab imitates of nova
# (that wiring over the bare pair). Per repeat, (1 + lab) =
# (1 + observation) x (1 + wiring).
# ``judged``: held against TARGET_PCT (nova's wiring is what nova costs,
# not the lab's to cut).
OVERHEADS = (("lab", "lab", "om", "lab path vs bare pair", True),
             ("observation", "lab", "quiet", "observation: lab over quiet", True),
             ("wiring", "quiet", "om", "nova's wiring: quiet over om", False),
             ("relay", "relay", "om", "relay vs direct", True))
# (key, label, kind): a "time" is better lower, a "rate" higher.
CALL_METRICS = (("calls_per_s", "calls/s", "rate"), ("p50_ms", "p50 ms", "time"),
                ("p99_ms", "p99 ms", "time"), ("max_ms", "max ms", "time"),
                ("cpu_us", "CPU us/call", "time"))
CAST_METRICS = (("casts_per_s", "casts/s", "rate"), ("cpu_us", "CPU us/cast", "time"))


def percentile(values, p):
    """The nearest-rank percentile (no interpolation: always a measured
    value); None for no values."""
    if not values:
        return None
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} is not in (0, 100]")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil without floats' error
    return ordered[int(rank) - 1]


def cpu_total(cpu):
    """The CPU seconds of a block's processes (client, server, relay), or
    None when none was measured."""
    parts = [v for v in (cpu or {}).values() if v is not None]
    return sum(parts) if parts else None


def _per_op_us(cpu, n):
    total = cpu_total(cpu)
    return round(total / n * 1e6, 1) if total is not None and n else None


def call_stats(block):
    """A calls block as the worker sent it -> its figures (ms, calls/s, the
    CPU microseconds a call cost its processes)."""
    lat = block.get("latencies") or []
    seconds = block.get("seconds") or 0

    def ms(value):
        return None if value is None else round(value * 1000, 4)

    return {"sent": block.get("sent", 0), "answered": len(lat),
            "errors": block.get("errors") or {}, "seconds": seconds,
            "slices": block.get("slices", 1),
            "calls_per_s": round(len(lat) / seconds, 2) if seconds and lat else None,
            "p50_ms": ms(percentile(lat, 50)), "p99_ms": ms(percentile(lat, 99)),
            "max_ms": ms(max(lat) if lat else None),
            "mean_ms": ms(statistics.fmean(lat) if lat else None),
            "cpu_s": block.get("cpu_s"), "cpu_us": _per_op_us(block.get("cpu_s"), len(lat))}


def cast_stats(block):
    seconds = block.get("seconds") or 0
    received = block.get("received", 0)
    return {"sent": block.get("sent", 0), "received": received,
            "errors": block.get("errors") or {}, "seconds": seconds,
            "send_seconds": block.get("send_seconds"), "slices": block.get("slices", 1),
            "casts_per_s": round(received / seconds, 2) if seconds and received else None,
            "cpu_s": block.get("cpu_s"), "cpu_us": _per_op_us(block.get("cpu_s"), received)}


def split(total, slices):
    """``total`` in at most ``slices`` near-equal positive parts."""
    n = max(1, min(slices, total))
    base, extra = divmod(total, n)
    return [base + 1] * extra + [base] * (n - extra)


def _merge_cpu(parts):
    """The slices' CPU seconds, added process by process."""
    cpu = {}
    for part in parts:
        for name, value in (part.get("cpu_s") or {}).items():
            if value is not None:
                cpu[name] = round(cpu.get(name, 0) + value, 6)
    return cpu or None


def _merge_errors(parts):
    errors = {}
    for part in parts:
        for name, n in (part.get("errors") or {}).items():
            errors[name] = errors.get(name, 0) + n
    return errors


def merge_calls(parts):
    """The slices of one calls block, as one block: latencies joined, sent
    and seconds (the time spent calling) added."""
    return {"latencies": [x for p in parts for x in p.get("latencies") or []],
            "sent": sum(p.get("sent", 0) for p in parts),
            "seconds": sum(p.get("seconds") or 0 for p in parts),
            "errors": _merge_errors(parts),
            "threads": [t for p in parts for t in p.get("threads") or []],
            "thread_groups": [p.get("threads") or [] for p in parts],
            "cpu_s": _merge_cpu(parts), "slices": len(parts)}


def merge_casts(parts):
    """The slices of one casts block, as one block."""
    return {"sent": sum(p.get("sent", 0) for p in parts),
            "received": sum(p.get("received", 0) for p in parts),
            "seconds": sum(p.get("seconds") or 0 for p in parts),
            "send_seconds": sum(p.get("send_seconds") or 0 for p in parts),
            "errors": _merge_errors(parts),
            "servers": [p["server"] for p in parts if p.get("server")],
            "cpu_s": _merge_cpu(parts), "slices": len(parts)}


def spread(values):
    """{min, median, max, n} of the values that are not None; None if none."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values),
            "max": max(values), "n": len(values)}


def ratio(value, reference):
    if value is None or not reference:
        return None
    return value / reference


def overhead_pct(value, reference, kind):
    """The extra time a path costs over its reference, in percent: for a
    time, value/reference - 1; for a rate, reference/value - 1 (the time
    per operation), so that both read the same way."""
    if value is None or reference is None or not value or not reference:
        return None
    return ((value / reference) if kind == "time" else (reference / value)) * 100 - 100


def _metric_value(repeat, section, key):
    """The value of ``key`` in one repeat's figures: section is a callers
    count (str) or 'casts'."""
    if repeat is None:
        return None
    block = repeat.get("casts") if section == "casts" else (repeat.get("calls") or {}).get(section)
    return (block or {}).get(key)


def _metrics(callers):
    """[(section, key, kind)] every figure of a path."""
    return ([(str(c), key, kind) for c in callers for key, _, kind in CALL_METRICS]
            + [("casts", key, kind) for key, _, kind in CAST_METRICS])


def summarize_path(entry, callers, baseline=None):
    """Add ``summary`` (each figure's spread over the repeats), ``answered``
    and ``vs_baseline`` (each figure's ratio to the baseline's in the same
    repeat) to a path entry; returns it."""
    repeats = entry.get("repeats") or []
    summary, versus = {}, {}
    for section, key, _ in _metrics(callers):
        values = [_metric_value(r, section, key) for r in repeats]
        summary.setdefault(section, {})[key] = spread(values)
        if baseline is not None:
            base = baseline.get("repeats") or []
            ratios = [ratio(v, _metric_value(base[i] if i < len(base) else None, section, key))
                      for i, v in enumerate(values)]
            versus.setdefault(section, {})[key] = spread(ratios)
    entry["summary"] = summary
    if baseline is not None:
        entry["vs_baseline"] = versus
    entry["answered"] = answered(entry)
    return entry


def answered(entry):
    """Calls sent and answered, casts sent and received, over every repeat."""
    total = {"calls_sent": 0, "calls_answered": 0, "casts_sent": 0, "casts_received": 0}
    for r in entry.get("repeats") or []:
        for block in (r.get("calls") or {}).values():
            total["calls_sent"] += block.get("sent", 0)
            total["calls_answered"] += block.get("answered", 0)
        if r.get("casts"):
            total["casts_sent"] += r["casts"].get("sent", 0)
            total["casts_received"] += r["casts"].get("received", 0)
    total["all"] = (total["calls_answered"] == total["calls_sent"]
                    and total["casts_received"] >= total["casts_sent"])
    return total


def overheads(path_entry, reference, callers):
    """{section: {key: spread of percent}}: the path's overhead over its
    reference, repeat by repeat (both measured in the same repeat); each
    spread also has ``by_repeat``, the percent of each repeat (None where
    either figure is missing)."""
    out = {}
    mine, theirs = path_entry.get("repeats") or [], reference.get("repeats") or []
    for section, key, kind in _metrics(callers):
        pcts = [overhead_pct(_metric_value(m, section, key), _metric_value(t, section, key), kind)
                for m, t in zip(mine, theirs)]
        pcts = [round(p, 3) if p is not None else None for p in pcts]
        s = spread(pcts)
        if s is not None:
            s["by_repeat"] = pcts
        out.setdefault(section, {})[key] = s
    return out


def cell_overheads(paths, callers):
    """{key: overheads()} of a cell's paths ({path: entry}), for each of
    OVERHEADS whose path and reference both are there."""
    return {key: overheads(paths[path], paths[reference], callers)
            for key, path, reference, _, _ in OVERHEADS
            if path in paths and reference in paths}


def target_verdict(pct_spread, target=TARGET_PCT):
    """'under 5 %' / 'over 5 %' by the median; 'unmeasured' without one."""
    if not pct_spread:
        return "unmeasured"
    return (f"under {target:g} %" if pct_spread["median"] < target
            else f"over {target:g} %")
