"""The ``send-pool-contention`` checker: did more casting threads than the
send pool has connections wait for one?

It reads history.jsonl (the warm-up and the measured burst: one API
request each, casting ``count`` times at once on threads), config.json
(rpc_conn_pool_size, the API's concurrency mode), the API's log (the
observer's ``pool-get``/``pool-put`` lines, each get with how long it
``waited``, and the driver's own ``Connection pool limit exceeded`` line,
which oslo_messaging/_drivers/pool.py logs each time a get() finds every
connection taken and waits on the pool's condition) and the broker's log
(the API worker's connections).

A get *waited for a connection* when it was handed a connection given back
after the get was called: when it asked, that connection was in use, and
the pool could open no other (the observer stamps each put before the
pool sees it, and each get with the time it was called).

- ``reproduced``: during the burst the driver logged the limit line and at
  least one get waited for a connection; cited: the lines, the number of
  such gets, their longest and total wait, the burst's time, the
  connections the worker opened.
- ``not-reproduced``: every cast of the burst got a connection (one
  pool-get each), the driver logged no limit line and no get waited for a
  connection: the pool was big enough, or the casts never overlapped.
- ``unknown``: the burst failed, the observer was off (no pool lines, or
  lines without ``waited``: an older lab), fewer pool-gets than casts, or
  the witnesses disagree (limit lines but no get waited for a connection,
  or gets that waited for one without any limit line).
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
    def steps(self):
        self._settings()
        self._burst()
        self._gets()
        return self._contention()

    def _settings(self):
        self.size = option(self.config, "oslo_messaging_rabbit", "rpc_conn_pool_size")
        lab = self.config.get("options", {}).get("lab", {})
        self.mode = lab.get("api_executor") or lab.get("executor") or "?"
        self.cited.append(f"pool: rpc_conn_pool_size = {self.size}; the API runs "
                          f"in {self.mode} mode")
        self.details.update(pool_size=self.size, api_mode=self.mode)
        if self.size is None:
            raise Verdict(UNKNOWN, "config.json records no rpc_conn_pool_size")

    def _burst(self):
        warm = self.ops.get("warm-up")
        if warm is not None:
            self.cited.append(describe_request("warm-up", warm, self.t))
        burst = self.ops.get("burst")
        self.cited.append(describe_request("burst", burst, self.t))
        if burst is None or burst["done"] is None or burst["done"]["type"] != "ok":
            raise Verdict(UNKNOWN, "the burst did not succeed: no casts to judge")
        value = burst["done"]["value"]
        body = value.get("body") if isinstance(value.get("body"), dict) else {}
        self.api_pid = value.get("api_pid")
        self.casts = body.get("casts")
        self.start, self.end = burst["invoke"]["time"], burst["done"]["time"]
        self.rpc_seconds = body.get("rpc_seconds")
        self.details.update(casts=self.casts, latency=value.get("latency"),
                            rpc_seconds=self.rpc_seconds)
        if not self.casts:
            raise Verdict(UNKNOWN, "the burst's response says how many casts it "
                          "made nowhere")
        self.cited.append(
            f"the burst: {self.casts} casts at once from API worker PID "
            f"{self.api_pid}, all sent in "
            + (f"{self.rpc_seconds:.3f} s" if self.rpc_seconds is not None else "?")
            + f" (the API's own measure; HTTP latency {value.get('latency', 0):.3f} s)")

    def _gets(self):
        events = [e for e in evidence.client_events(
                      self.run.log("fake-nova-api"),
                      evidence.CLIENT_MARKERS + evidence.POOL_MARKERS)
                  if e["pid"] == self.api_pid]
        pool = [e for e in events if e["kind"] == "pool"]
        if not pool:
            raise Verdict(UNKNOWN, "the API's log has no pool-get/pool-put line "
                          "(the in-process observer was off or failed): nothing "
                          "measures the waits")
        self.limits = _within([e for e in events if e["kind"] == "pool-limit"],
                              self.start, self.end)
        self.gets = [e for e in _within(pool, self.start, self.end)
                     if e["action"] == "get"]
        opened = [e["name"] for e in pool if e["action"] == "get"
                  and e.get("reused") == "no" and e["time"] <= self.end]
        fresh = [e["name"] for e in self.gets if e.get("reused") == "no"]
        self.cited.append(
            f"the worker's pool opened {len(opened)} connection(s) by the burst's "
            f"end ({len(fresh)} during it): "
            + ", ".join(short_name(n) for n in opened))
        broker = [c for c in evidence.broker_connections(self.run.broker_log)
                  if c.get("pid") == self.api_pid and c["opened"] <= self.end]
        if broker:
            self.cited.append(f"the broker accepted {len(broker)} connection(s) "
                              f"of PID {self.api_pid} by the burst's end")
        self.details.update(connections=len(opened), gets=len(self.gets),
                            limit_lines=len(self.limits))
        if len(self.gets) < self.casts:
            raise Verdict(UNKNOWN, f"{len(self.gets)} pool-get line(s) during the "
                          f"burst for {self.casts} casts: the observer missed some")
        if any(e.get("waited") is None for e in self.gets):
            raise Verdict(UNKNOWN, "the pool-get lines do not say how long each get "
                          "waited (an observer older than this checker)")
        puts = [e for e in pool if e["action"] == "put"]
        self.waiting = []
        for e in self.gets:
            called = e["time"] - float(e["waited"])
            if e.get("reused") != "yes":
                continue
            given_back = [p["time"] for p in puts
                          if p["name"] == e["name"] and p["time"] <= e["time"]]
            if given_back and given_back[-1] > called:
                self.waiting.append(dict(e, called=called, given_back=given_back[-1]))
        waits = sorted(float(e["waited"]) for e in self.gets)
        self.details.update(
            waited=len(self.waiting),
            max_wait=round(max((float(e["waited"]) for e in self.waiting),
                               default=0.0), 6),
            total_wait=round(sum(float(e["waited"]) for e in self.waiting), 6),
            max_get=round(waits[-1], 6) if waits else 0.0)

    def _contention(self):
        t, n = self.t, len(self.waiting)
        limits = self.limits
        if limits:
            self.cited.append(f"the driver logged the pool limit {len(limits)} "
                              f"time(s) during the burst, the first at "
                              f"{t(limits[0]['time'])}: {limits[0]['line']}")
        else:
            self.cited.append("the driver logged no 'Connection pool limit "
                              "exceeded' line during the burst")
        if n:
            longest = max(self.waiting, key=lambda e: float(e["waited"]))
            self.cited.append(
                f"{n} of {len(self.gets)} get(s) waited for a connection given back "
                f"after they asked: longest {float(longest['waited']) * 1000:.1f} ms "
                f"({short_name(longest['name'])}, asked at {t(longest['called'])}, "
                f"given back at {t(longest['given_back'])}), total "
                f"{self.details['total_wait'] * 1000:.1f} ms")
        else:
            self.cited.append(f"none of the {len(self.gets)} get(s) waited for a "
                              "connection given back after it asked (longest get "
                              f"{self.details['max_get'] * 1000:.1f} ms)")
        if limits and n:
            return REPRODUCED
        if not limits and not n:
            return NOT_REPRODUCED
        if limits:
            raise Verdict(UNKNOWN, "the witnesses disagree: the driver logged the "
                          "limit, yet no get was handed a connection given back "
                          "after it asked")
        raise Verdict(UNKNOWN, "the witnesses disagree: gets were handed a connection "
                      "given back after they asked, yet the driver logged no limit "
                      "(its warning lost, or a get slowed by something else)")


def check(run):
    return _Judgement(run).judge()
