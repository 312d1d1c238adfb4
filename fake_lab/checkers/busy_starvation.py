"""The ``busy-starvation`` checker: did a busy RPC server (the fake
compute, flooded with CPU-bound casts) keep its own connections' heartbeats?

It reads history.jsonl (the flood and the busy period after it),
config.json, the compute's log (its casts, the lateness probe's
``hub-probe`` lines, its reconnect lines), wire.jsonl and the broker's log.
It judges the RPC server's connections, not the API worker's: the API goes
idle after the flood and loses its own (that is heartbeat-loss, not this).

- ``reproduced``: the broker closed a connection of the compute for missed
  heartbeats while the compute worked through the flood, and the wire shows
  the compute silent on it (no heartbeat, no frame) for at least a
  heartbeat timeout before the close.
- ``not-reproduced``: the compute ran the flood's casts (busy for real) and
  its connections stayed open, the wire showing its heartbeats throughout,
  no silence as long as two heartbeat timeouts.
- ``unknown``: the flood failed, the compute ran too few casts to have been
  busy, nothing witnesses its connections, or the broker log and the wire
  disagree.

Either way it quotes the probe: how late a thread of the compute that
should wake every ``hub_probe`` seconds woke (p50, p99, max), and how many
times it woke against the times it should have.
"""

import re

from fake_lab.checkers import evidence
from fake_lab.checkers.verdicts import (
    NOT_REPRODUCED,
    REPRODUCED,
    UNKNOWN,
    Judgement,
    Verdict,
    option,
    short_name,
)

COMPUTE_LOG = "fake-compute-1"
_CAST = re.compile(r"(?:\[[^\]]*\] )?cast \d+: ")


def _quantile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def probe_figures(samples, start, end, interval):
    """{n, expected, p50, p99, max} of the probe's lateness in [start, end]."""
    late = [s["late"] for s in samples if start <= s["time"] <= end]
    figures = {"n": len(late), "expected": int((end - start) / interval) if interval else 0}
    if late:
        figures.update(p50=_quantile(late, 0.5), p99=_quantile(late, 0.99),
                       max=max(late))
    return figures



def kept_busy(judgement, lines, path):
    """Cite the flood's casts the compute ran (``judgement``: start, end,
    sent, pid, t); Verdict unknown when it ran none, or fewer than half:
    it was not kept busy. Shared by busy-starvation and service-flap."""
    j, t = judgement, judgement.t
    casts = [e["time"] for e in lines if e["logger"] == "fake_compute.manager"
             and _CAST.match(e["msg"]) and j.start <= e["time"] <= j.end]
    j.details.update(casts_run=len(casts), casts_sent=j.sent)
    if not casts:
        raise Verdict(UNKNOWN, f"the compute ({path}) ran no cast during the "
                      "flood: it was never busy")
    j.cited.append(f"the compute (PID {j.pid}) ran {len(casts)} of the "
                   f"{j.sent} cast(s) from {t(casts[0])} to {t(casts[-1])}")
    if len(casts) < 0.5 * j.sent:
        raise Verdict(UNKNOWN, "it ran fewer than half the casts sent: it "
                      "was not kept busy, the run cannot tell")

class _Judgement(Judgement):
    def steps(self):
        self._flood()
        self._busy()
        self._probe()
        return self._connections()

    def _flood(self):
        t = self.t
        self.timeout = option(self.config, "oslo_messaging_rabbit",
                              "heartbeat_timeout_threshold", 0)
        flood = self.ops.get("flood")
        if flood is None or flood["done"] is None or flood["done"]["type"] != "ok":
            raise Verdict(UNKNOWN, "the flood did not run to its end")
        v = flood["done"]["value"]
        self.start = flood["invoke"]["time"]
        busy = self.ops.get("busy")
        self.end = (busy["done"]["time"] if busy and busy["done"]
                    else flood["done"]["time"])
        self.sent = v.get("casts", 0)
        self.cited.append(
            f"flood: {v.get('ok')} of {v.get('requests')} request(s) answered, "
            f"{self.sent} cast(s) sent from {flood['invoke']['value'].get('senders')} "
            f"sender(s), {t(self.start)} to {t(flood['done']['time'])}; watched "
            f"until {t(self.end)}; heartbeat_timeout_threshold = {self.timeout} s")

    def _busy(self):
        path = self.run.log(COMPUTE_LOG)
        lines = evidence.service_lines(path)
        self.events = evidence.client_events(path)
        self.samples = evidence.probe_samples(lines)
        # The process that serves RPC: under oslo.service's threading
        # backend a cotyledon worker, not the master that logged first.
        self.pid = evidence.server_pid(lines)
        kept_busy(self, lines, path)

    def _probe(self):
        if not self.samples:
            self.cited.append("no hub-probe line: the compute ran without its "
                              "lateness probe ([compute] hub_probe = 0)")
            return
        interval = self.samples[0]["interval"]
        f = probe_figures(self.samples, self.start, self.end, interval)
        self.details["probe"] = f
        if f["n"]:
            self.cited.append(
                f"probe ({self.samples[0]['thread']} thread, every {interval * 1e3:.0f} "
                f"ms): woke {f['n']} time(s) of about {f['expected']}; late p50 "
                f"{f['p50'] * 1e3:.1f} ms, p99 {f['p99'] * 1e3:.1f} ms, max "
                f"{f['max'] * 1e3:.0f} ms")

    def _connections(self):
        t = self.t
        mine = [c for c in evidence.broker_connections(self.run.broker_log)
                if c["pid"] == self.pid]
        closed = [c for c in mine if c["closed"] and self.start <= c["closed"] <= self.end
                  and evidence.MISSED_HEARTBEATS in (c["close_reason"] or "")]
        wire = {name: conns for name, conns in
                evidence.wire_connections(self.run.file("wire.jsonl")).items()
                if evidence.connection_pid(name) == self.pid}
        if not mine and not wire:
            raise Verdict(UNKNOWN, f"neither the broker log nor the wire tells of "
                          f"the compute's (PID {self.pid}) connections")
        longest = 0.0
        for name, conns in sorted(wire.items()):
            for c in conns:
                if (c["accept"] or 0) > self.end or (
                        c["end"] and c["end"]["time"] < self.start):
                    continue
                gap, since = evidence.longest_silence(
                    c, max(self.start, c["accept"] or self.start),
                    min(self.end, (c["end"] or {}).get("time") or self.end))
                longest = max(longest, gap)
                got = [b for b in c["beats"]["s2c"] if since <= b <= since + gap]
                sent = [b for b in c["beats"]["c2s"] if self.start <= b <= self.end]
                line = (f"wire: {short_name(name)} sent {len(sent)} heartbeat(s) "
                        f"while the compute was busy; longest silence {gap:.2f} s")
                if gap > 0:
                    line += f" from {t(since)}, while the broker sent {len(got)}"
                if c["end"] and c["end"]["time"] <= self.end:
                    line += (f"; the {c['end'].get('by')} ended it "
                             f"({(c['end'].get('how') or '?').upper()}) at "
                             f"{t(c['end']['time'])}")
                self.cited.append(line)
        self.details.update(longest_silence=round(longest, 3),
                            closed=[c["name"] for c in closed])
        if closed:
            for c in closed:
                self.cited.append(f"broker closed {c['name']} at {t(c['closed'])}: "
                                  + " / ".join(c["lines"][-2:]))
            for e in self.events:
                if e["kind"] in ("unreachable", "reconnected", "heartbeat-warning") \
                        and self.start <= e["time"] <= self.end + 5:
                    self.cited.append(f"compute log: {e['line']}")
                    break
            if wire and longest < self.timeout:
                raise Verdict(UNKNOWN, "the broker says missed heartbeats but the "
                              f"wire shows the compute silent for {longest:.2f} s at "
                              f"most, under the {self.timeout} s timeout")
            return REPRODUCED
        if not wire:
            raise Verdict(UNKNOWN, "no connection closed, but without the wire "
                          "nothing shows the compute's heartbeats while busy")
        if longest >= 2 * self.timeout:
            raise Verdict(UNKNOWN, f"no close, but the compute was silent for "
                          f"{longest:.2f} s, over two heartbeat timeouts: the broker "
                          "should have closed it")
        self.cited.append("the compute's connections stayed open while it was busy")
        return NOT_REPRODUCED


def check(run):
    return _Judgement(run).judge()
