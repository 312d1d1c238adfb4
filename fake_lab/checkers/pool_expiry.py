"""The ``pool-expiry`` checker: what the API worker's send pool handed the
next request after a burst and an idle period longer than conn_pool_ttl.

It reads history.jsonl (the burst, the idle period, the next request),
config.json (the pool's options), the API's log (the observer's
``pool-get``/``pool-put``/``pool-expire`` lines, the driver's own pool and
reconnect lines), wire.jsonl and the broker's log.

The claim: the pool hands out its newest idle connection without looking
at it, and expires the others only at a get(), never when their ttl runs
out. Per pooled connection the evidence says when it was given back, when
its ttl ran out, what the broker and the wire saw of it meanwhile
(heartbeats sent, closed for missed heartbeats), and when the pool expired
it, kept it (conn_pool_min_size) or handed it out.

- ``reproduced``: the connection handed to the next request had been
  closed by the broker before the request began (the broker's close line,
  and the relay's record of the TCP connection ending), so the pool kept a
  dead connection past its ttl (or within it, when the ttl is longer than
  the idle period: nothing is expired then) and gave it out, unchecked.
  What that cost the request
  (its latency, the reconnect lines, the new TCP connection) is cited.
- ``not-reproduced``: the handed connection was still open when the
  request began (and carried the request without a reconnect).
- ``unknown``: the burst opened fewer than two connections, the pool
  expired a connection before any get (the claim's premise fails), the witnesses
  disagree (broker log against wire), or a line the verdict needs is
  missing: each says which.
"""

from fake_lab.checkers import evidence
from fake_lab.checkers.verdicts import (
    NOT_REPRODUCED,
    REPRODUCED,
    UNKNOWN,
    Judgement,
    Verdict,
    describe_request,
    option,
    short_name,
)


def _within(events, start, end):
    return [e for e in events if start <= e["time"] <= end]


class _Judgement(Judgement):
    def opt(self, name):
        return option(self.config, "oslo_messaging_rabbit", name)

    def steps(self):
        self._settings()
        self._burst()
        self._next_request()
        self._witnesses()
        self._per_connection()
        return self._handed_state()

    # -- the steps, in order ------------------------------------------------

    def _settings(self):
        self.ttl = self.opt("conn_pool_ttl")
        self.min_size = self.opt("conn_pool_min_size")
        self.cited.append(
            f"pool: rpc_conn_pool_size = {self.opt('rpc_conn_pool_size')}, "
            f"conn_pool_min_size = {self.min_size}, conn_pool_ttl = {self.ttl} s; "
            f"heartbeat_timeout_threshold = "
            f"{self.opt('heartbeat_timeout_threshold')} s")
        if self.ttl is None:
            raise Verdict(UNKNOWN, "config.json records no conn_pool_ttl")

    def _burst(self):
        burst = self.ops.get("burst")
        self.cited.append(describe_request("burst", burst, self.t))
        if burst is None or burst["done"] is None or burst["done"]["type"] != "ok":
            raise Verdict(UNKNOWN, "the burst did not succeed: no pool to judge")
        self.api_pid = burst["done"]["value"].get("api_pid")
        events = [e for e in evidence.client_events(
                      self.run.log("fake-nova-api"),
                      evidence.CLIENT_MARKERS + evidence.POOL_MARKERS)
                  if e["pid"] == self.api_pid]
        self.events = events
        self.pool = [e for e in events if e["kind"] == "pool"]
        start, end = burst["invoke"]["time"], burst["done"]["time"]
        self.created = [e["name"] for e in _within(self.pool, start, end)
                        if e["action"] == "get" and e.get("reused") == "no"]
        if not self.pool:
            raise Verdict(UNKNOWN, "the API's log has no pool-get/pool-put line "
                          "(the in-process observer was off or failed): "
                          "nothing says which connection the pool handed out")
        self.cited.append(f"the burst made the pool of API worker PID "
                          f"{self.api_pid} open {len(self.created)} connection(s): "
                          + ", ".join(short_name(n) for n in self.created))
        if len(self.created) < 2:
            raise Verdict(UNKNOWN, "fewer than two pooled connections: the run "
                          "does not exercise the pool's expiry")

    def _next_request(self):
        nxt = self.ops.get("next-request")
        self.cited.append(describe_request("next-request", nxt, self.t))
        if nxt is None or nxt["done"] is None:
            raise Verdict(UNKNOWN, "no next request completed")
        self.begin, self.end = nxt["invoke"]["time"], nxt["done"]["time"]
        self.next_ok = nxt["done"]["type"] == "ok"
        self.latency = nxt["done"]["value"].get("latency")
        gets = [e for e in _within(self.pool, self.begin, self.end)
                if e["action"] == "get"]
        if not gets:
            raise Verdict(UNKNOWN, "no pool-get line during the next request")
        self.handed = gets[0]
        self.put_at = {}
        for e in self.pool:
            if e["action"] == "put" and e["time"] < self.begin:
                self.put_at[e["name"]] = e["time"]
        name = self.handed["name"]
        if self.handed.get("reused") != "yes" or name not in self.put_at:
            raise Verdict(UNKNOWN, f"the pool made a new connection "
                          f"{short_name(name)} for the next request: it handed "
                          "out no idle one")
        idle = self.handed["time"] - self.put_at[name]
        self.details.update(handed=name, handed_idle=round(idle, 3),
                            ttl=self.ttl, pooled=len(self.created))
        # An idle within the ttl is judged alike: the pool checks nothing
        # either way, only the wording changes (a matrix sweeps the ttl).
        self.handed_idle = idle
        self.past_ttl = idle > self.ttl

    def _witnesses(self):
        """Broker and wire: each pooled connection's TCP connection as the
        pool held it (the one open when it was given back)."""
        self.broker = {}
        for c in evidence.broker_connections(self.run.broker_log):
            if c["name"] in self.put_at and c["opened"] <= self.put_at[c["name"]]:
                self.broker[c["name"]] = c  # the last one opened before
        wire = evidence.wire_connections(self.run.file("wire.jsonl"))
        self.has_wire = bool(wire)
        self.wire = {}
        self.wire_after = {}
        for name, conns in wire.items():
            if name not in self.put_at:
                continue
            before = [c for c in conns if (c["accept"] or 0) <= self.put_at[name]]
            if before:
                self.wire[name] = before[-1]
            self.wire_after[name] = [c for c in conns
                                     if (c["accept"] or 0) > self.put_at[name]]

    def _closed_before(self, name, when):
        """(broker says, wire says): the time the connection was closed
        before ``when``, False if it was not, None if that witness is silent."""
        b = self.broker.get(name)
        broker = None if b is None else (
            b["closed"] if b["closed"] and b["closed"] < when else False)
        w = self.wire.get(name)
        if w is None:
            wire = None
        else:
            end = (w["end"] or {}).get("time")
            wire = end if end and end < when else False
        return broker, wire

    def _per_connection(self):
        t, ttl = self.t, self.ttl
        expired = {e["name"]: e["time"] for e in self.pool if e["action"] == "expire"}
        early = []
        for name in self.created:
            put = self.put_at.get(name)
            if put is None:
                self.cited.append(f"connection {short_name(name)}: never given back")
                continue
            due = put + ttl
            parts = [f"connection {short_name(name)}: given back at {t(put)}, "
                     f"ttl ran out at {t(due)}"]
            w = self.wire.get(name)
            if w is not None:
                sent = [b for b in w["beats"]["c2s"] if put < b < self.begin]
                got = [b for b in w["beats"]["s2c"] if put < b < self.begin]
                parts.append(f"wire: {len(sent)} heartbeat(s) sent and {len(got)} "
                             "received while idle")
            broker, wire_end = self._closed_before(name, self.begin)
            if broker:
                reason = self.broker[name]["close_reason"] or "no reason logged"
                parts.append(f"the broker closed it at {t(broker)} "
                             f"({broker - put:.2f} s idle): {reason}")
            elif broker is False:
                parts.append("the broker still had it open")
            if wire_end:
                end = self.wire[name]["end"]
                parts.append(f"its TCP connection ended at {t(wire_end)} "
                             f"({end.get('how')} from the {end.get('by')})")
            again = [c["accept"] for c in self.wire_after.get(name, [])
                     if c["accept"] and c["accept"] <= self.end]
            if again:
                parts.append(f"reconnected through a new TCP connection at "
                             f"{t(again[0])}")
            if name == self.handed["name"]:
                parts.append(f"handed to the next request at {t(self.handed['time'])}, "
                             f"idle {self.handed_idle:.2f} s, unchecked")
            elif name in expired:
                when = expired[name]
                lazy = when >= self.begin
                if not lazy:
                    early.append(name)
                parts.append(f"expired by the pool at {t(when)}, {when - due:.2f} s "
                             "after its ttl ran out, "
                             + ("at the next request's get()" if lazy
                                else "before any get()"))
                closes = [c["close"]["time"] for c in
                          [self.wire.get(name)] + self.wire_after.get(name, [])
                          if c and c["close"] and c["close"].get("by") == "client"
                          and c["close"]["time"] >= put]
                if closes:
                    parts.append(f"the wire shows the client's Connection.Close "
                                 f"at {t(closes[-1])}")
            elif due > self.begin:
                parts.append("not expired: its ttl had not run out")
            else:
                parts.append("not expired: kept (conn_pool_min_size)")
            self.cited.append("; ".join(parts))
        lines = [e for e in self.events if e["kind"] == "pool-expired"
                 and e["time"] >= self.put_at.get(self.handed["name"], 0)]
        if lines:
            self.cited.append(f"the driver logged {len(lines)} expiry line(s), "
                              f"the first at {t(lines[0]['time'])}: {lines[0]['line']}")
        self.details.update(expired=sorted(expired), lazy=not early)
        if early:
            raise Verdict(UNKNOWN, "the pool expired "
                          + ", ".join(short_name(n) for n in early)
                          + " before any get(): expiry was not lazy, contrary to "
                             "this scenario's claim")

    def _handed_state(self):
        t, name = self.t, self.handed["name"]
        broker, wire = self._closed_before(name, self.begin)
        if broker is None and wire is None:
            raise Verdict(UNKNOWN, f"neither the broker log nor the wire tells "
                          f"of {short_name(name)}'s TCP connection")
        if broker is not None and wire is not None and bool(broker) != bool(wire):
            raise Verdict(UNKNOWN, f"the witnesses disagree on {short_name(name)}: "
                          f"the broker log says {'closed' if broker else 'open'}, "
                          f"the wire {'ended' if wire else 'open'} before the request")
        uuid = name.rsplit(":", 1)[-1]
        mine = [e for e in self.events if e.get("uuid") == uuid
                and e["kind"] in ("unreachable", "reconnected")
                and self.begin <= e["time"] <= self.end + 1]
        fresh = [c for c in self.wire_after.get(name, [])
                 if self.begin <= (c["accept"] or 0) <= self.end]
        cost = [f"next request: {'ok' if self.next_ok else 'not ok'} in "
                f"{self.latency:.3f} s"]
        for c in fresh:
            when = ("before the pool's get() returned it (off the request's path: "
                    "another thread of the worker reconnected it while the get "
                    "expired the others)" if c["accept"] < self.handed["time"]
                    else "while the request used it")
            cost.append(f"the wire shows {short_name(name)} reconnected through a new "
                        f"TCP connection at {t(c['accept'])}, {when}")
        for e in mine:
            on = (f"on the request's path [{e['request_id']}]"
                  if e.get("request_id") and e["request_id"] != "-"
                  else "off the request's path")
            cost.append(f"client log ({on}): {e['line']}")
        closed = broker or wire
        self.details.update(handed_dead=bool(closed), reconnects=len(fresh))
        if closed:
            self.cited.append(
                f"the pool handed the next request {short_name(name)}, which the "
                f"broker had closed at {t(closed)}, {self.begin - closed:.2f} s "
                "before the request began: a dead connection kept "
                + ("past its ttl" if self.past_ttl else
                   f"within its ttl (idle {self.handed_idle:.2f} s of {self.ttl} s), "
                   "unchecked"))
            self.cited.extend(cost)
            return REPRODUCED
        if fresh or mine:
            self.cited.extend(cost)
            raise Verdict(UNKNOWN, f"{short_name(name)} was open when the request "
                          "began, yet it reconnected during the request")
        if not self.next_ok:
            self.cited.extend(cost)
            raise Verdict(UNKNOWN, "the handed connection was open, yet the next "
                          "request failed")
        self.cited.append(f"the pool handed the next request {short_name(name)}, "
                          "still open on the broker"
                          + (" and on the wire" if wire is False else "")
                          + ": it carried the request without a reconnect")
        self.cited.extend(cost)
        return NOT_REPRODUCED


def check(run):
    return _Judgement(run).judge()
