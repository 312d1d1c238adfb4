"""The ``service-flap`` checker: did the API call a busy compute down while
it was alive and connected?

nova's servicegroup DB driver (nova/servicegroup/drivers/db.py) decides a
service's state from its last report: every ``report_interval`` seconds a
periodic task of the service bumps its row's report_count and updated_at
through the conductor, and the service is down when ``now - updated_at >
service_down_time``. The report is a green thread in an eventlet-patched
service: a busy hub delays it like any other.

It reads history.jsonl (the flood, the busy period, the ``services-listed``
samples of ``GET /os-services`` and the broker's listing), config.json
(report_interval, service_down_time), the compute's log (its
``report-state`` lines, its casts, the hub probe's lines) and the broker's
log (its connections).

- ``reproduced``: the API called the compute down (not forced down) while
  its process was alive (it logged on after) and its RPC connections were
  open (none closed by the broker in the window, still in the broker's
  listing after it), and its reports paused for longer than
  service_down_time (the gaps are cited).
- ``not-reproduced``: the compute ran the flood's casts, reported
  throughout, and every sample of the API called it up.
- ``unknown``: the flood failed, the compute was not kept busy, no sample
  of ``/os-services`` shows it, it wrote no report line, the broker closed
  one of its connections (a flap from a lost connection is another story),
  or the samples and its reports disagree.
"""

import re

from fake_lab.checkers import busy_starvation, evidence
from fake_lab.checkers.busy_starvation import probe_figures
from fake_lab.checkers.verdicts import (
    NOT_REPRODUCED,
    REPRODUCED,
    UNKNOWN,
    Judgement,
    Verdict,
    option,
)

COMPUTE = "fake-compute-1"
BINARY = "nova-compute"
_REPORT = re.compile(r"report-state host=(?P<host>\S+) binary=(?P<binary>\S+) "
                     r"report_count=(?P<count>\S+) late=(?P<late>[\d.]+) "
                     r"took=(?P<took>[\d.]+) thread=(?P<thread>\w+)")


def report_lines(lines, host=COMPUTE, binary=BINARY):
    """The ``report-state`` lines of a service's log: [{time, sent, count,
    late, took, thread, line}] (``sent``: when the report left, the line's
    time less what the call took)."""
    found = []
    for e in lines:
        m = _REPORT.search(e["msg"])
        if m and m.group("host") == host and m.group("binary") == binary:
            # Logged when the conductor's reply came back: the report
            # (the row's updated_at) was sent ``took`` seconds before.
            found.append({"time": e["time"], "count": m.group("count"),
                          "sent": e["time"] - float(m.group("took")),
                          "late": float(m.group("late")),
                          "took": float(m.group("took")),
                          "thread": m.group("thread"), "line": e["line"]})
    return found


def state_samples(records, host=COMPUTE, binary=BINARY):
    """[(time asked, state, forced_down)] of one service in the history's
    ``services-listed`` samples (None for a sample that failed or missed it)."""
    samples = []
    for r in records:
        if r.get("f") != "services-listed":
            continue
        v = r["value"]
        when = v.get("asked", r["time"])
        found = next((s for s in v.get("services") or []
                      if s.get("host") == host and s.get("binary") == binary), None)
        samples.append((when, found.get("state") if found else None,
                        bool(found.get("forced_down")) if found else False))
    return samples


def down_periods(samples):
    """[(first down sample, first up sample after it or None, seconds)]."""
    periods, since = [], None
    for when, state, _ in samples:
        if state == "down" and since is None:
            since = when
        elif state == "up" and since is not None:
            periods.append((since, when, when - since))
            since = None
    if since is not None:
        periods.append((since, None, samples[-1][0] - since))
    return periods


class _Judgement(Judgement):
    def steps(self):
        self._window()
        self._busy()
        self._reports()
        self._probe()
        self._connections()
        return self._states()

    def _window(self):
        t = self.t
        self.interval = option(self.config, "DEFAULT", "report_interval")
        self.down_time = option(self.config, "DEFAULT", "service_down_time")
        if not self.interval or not self.down_time:
            raise Verdict(UNKNOWN, "config.json has no report_interval or "
                          "service_down_time: the services did not report")
        flood = self.ops.get("flood")
        if flood is None or flood["done"] is None or flood["done"]["type"] != "ok":
            raise Verdict(UNKNOWN, "the flood did not run to its end")
        self.start = flood["invoke"]["time"]
        busy = self.ops.get("busy")
        self.end = (busy["done"]["time"] if busy and busy["done"]
                    else flood["done"]["time"])
        v = flood["done"]["value"]
        self.sent = v.get("casts", 0)
        self.cited.append(
            f"flood: {v.get('ok')} of {v.get('requests')} request(s) answered, "
            f"{self.sent} cast(s), {t(self.start)} to {t(flood['done']['time'])}; "
            f"watched until {t(self.end)}; report_interval = {self.interval} s, "
            f"service_down_time = {self.down_time} s")

    def _busy(self):
        self.lines = evidence.service_lines(self.run.log(COMPUTE))
        self.pid = evidence.server_pid(self.lines)
        busy_starvation.kept_busy(self, self.lines, self.run.log(COMPUTE))

    def _reports(self):
        t = self.t
        self.reports = report_lines(self.lines)
        if not self.reports:
            raise Verdict(UNKNOWN, "the compute's log has no report-state line: "
                          "it never reported its state (no conductor, or "
                          "report_interval = 0)")
        times = [r["sent"] for r in self.reports]
        # The gaps that overlap the window, from the report before it.
        before = [x for x in times if x < self.start]
        inside = [x for x in times if self.start <= x <= self.end]
        after = [x for x in times if x > self.end]
        seq = before[-1:] + inside + after[:1]
        gaps = [(a, b, b - a) for a, b in zip(seq, seq[1:])]
        if seq and not after:
            gaps.append((seq[-1], None, self.end - seq[-1]))
        self.gaps = gaps
        self.max_gap = max((g for _, _, g in gaps), default=0.0)
        missed = [g for g in gaps if g[2] >= 2 * self.interval]
        self.details.update(reports_in_window=len(inside),
                            max_report_gap=round(self.max_gap, 3),
                            report_gaps=[round(g, 3) for _, _, g in gaps],
                            report_thread=self.reports[0]["thread"])
        self.cited.append(
            f"reports of the compute ({self.reports[0]['thread']} thread, every "
            f"{self.interval} s): {len(inside)} in the window of about "
            f"{int((self.end - self.start) / self.interval)} due; longest gap "
            f"{self.max_gap:.2f} s")
        for a, b, g in missed[:4]:
            end = t(b) if b else "the window's end (none yet)"
            self.cited.append(f"missed reports: none sent from {t(a)} to {end} "
                              f"({g:.2f} s, {int(g / self.interval) - 1} report(s) "
                              "skipped)")
        slow = [r for r in self.reports if r["took"] > self.interval]
        for r in slow[:2]:
            self.cited.append(f"report {r['count']} sent at {t(r['sent'])} (timer "
                              f"{r['late']:.2f} s late), its reply back "
                              f"{r['took']:.2f} s later: {r['line']}")

    def _probe(self):
        samples = evidence.probe_samples(self.lines)
        if not samples:
            return
        f = probe_figures(samples, self.start, self.end, samples[0]["interval"])
        self.details["probe"] = f
        if f["n"]:
            self.cited.append(
                f"hub probe ({samples[0]['thread']} thread, every "
                f"{samples[0]['interval'] * 1e3:.0f} ms): woke {f['n']} time(s) of "
                f"about {f['expected']}; late p50 {f['p50'] * 1e3:.1f} ms, max "
                f"{f['max'] * 1e3:.0f} ms")

    def _connections(self):
        mine = [c for c in evidence.broker_connections(self.run.broker_log)
                if c["pid"] == self.pid]
        if not mine:
            raise Verdict(UNKNOWN, f"the broker log tells of no connection of the "
                          f"compute (PID {self.pid})")
        closed = [c for c in mine if c["closed"] and c["closed"] <= self.end]
        if closed:
            c = closed[0]
            raise Verdict(UNKNOWN, f"the broker closed {c['name']} at "
                          f"{self.t(c['closed'])} ({c['close_reason']}): a compute "
                          "that lost its connection is not the question here")
        self.cited.append(f"broker log: {len(mine)} connection(s) of the compute, "
                          "none closed in the window")
        listings = [r for r in self.records if r.get("f") == "connections-listed"
                    and r["time"] >= self.start and "connections" in r["value"]]
        self.listed = None
        if listings:
            rec = listings[-1]
            ports = {row.get("peer_port") for row in rec["value"]["connections"]}
            listed = [c for c in mine if c["peer"].rpartition(":")[2] in ports]
            self.listed = (len(listed), len(mine))
            self.cited.append(f"broker listing at {self.t(rec['time'])}: "
                              f"{len(listed)} of the compute's {len(mine)} "
                              "connection(s) listed")
            if len(listed) < len(mine):
                raise Verdict(UNKNOWN, "the broker no longer lists every "
                              "connection of the compute")

    def _states(self):
        t = self.t
        samples = state_samples(self.records)
        window = [s for s in samples if self.start <= s[0] <= self.end]
        seen = [s for s in window if s[1] is not None]
        self.details.update(samples=len(window), samples_with_compute=len(seen))
        if not seen:
            raise Verdict(UNKNOWN, "no GET /os-services sample in the window shows "
                          "the compute (no watch-services step, or every "
                          "sample failed)")
        forced = [s for s in seen if s[2]]
        if forced:
            raise Verdict(UNKNOWN, f"the compute was forced down at {t(forced[0][0])}: "
                          "an operator's state, not a missed report")
        periods = down_periods(seen)
        down = sum(p[2] for p in periods)
        self.details.update(down_samples=sum(s[1] == "down" for s in seen),
                            down_seconds=round(down, 3),
                            down_periods=[round(p[2], 3) for p in periods])
        self.cited.append(f"GET /os-services: {len(seen)} sample(s) in the window, "
                          f"{sum(s[1] == 'down' for s in seen)} calling the compute "
                          "down")
        if not periods:
            if len(seen) < 0.5 * len(window):
                raise Verdict(UNKNOWN, "fewer than half the samples show the "
                              "compute: the run cannot say it stayed up")
            if self.max_gap > self.down_time:
                raise Verdict(UNKNOWN, f"its reports paused {self.max_gap:.2f} s, "
                              f"over service_down_time ({self.down_time} s), yet "
                              "no sample called it down")
            self.cited.append("the API called the compute up throughout")
            return NOT_REPRODUCED
        for since, until, seconds in periods:
            self.cited.append(f"the API called the compute down from {t(since)} "
                              + (f"to {t(until)} ({seconds:.2f} s)" if until
                                 else f"to the last sample ({seconds:.2f} s at least)"))
        last_line = self.lines[-1]["time"] if self.lines else 0
        if last_line < periods[-1][0]:
            raise Verdict(UNKNOWN, "the compute logged nothing after the API "
                          "called it down: it may have died")
        if self.max_gap <= self.down_time:
            raise Verdict(UNKNOWN, f"the API called it down, but its reports never "
                          f"paused longer than service_down_time ({self.down_time} "
                          f"s; longest gap {self.max_gap:.2f} s): the clocks disagree")
        self.cited.append(f"the compute (PID {self.pid}) was alive throughout: it "
                          f"logged until {t(last_line)}")
        return REPRODUCED


def check(run):
    return _Judgement(run).judge()
