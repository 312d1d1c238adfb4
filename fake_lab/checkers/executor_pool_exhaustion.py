"""The ``executor-pool-exhaustion`` checker: did concurrent blocking calls
queue behind the RPC server's executor pool (``[DEFAULT]
executor_thread_pool_size``) and time out?

It reads history.jsonl (each call of the load step: when it was sent, its
outcome and latency; the broker's ``queues-listed`` samples), config.json
(the pool size, rpc_response_timeout) and the compute's log, where
``long_operation`` logs when each call started and ended on the server and
how many ran at once.

- ``reproduced``: the compute ran its pool full (as many calls at once as
  ``executor_thread_pool_size``, never more) while other calls waited for a
  free worker: at least one call started on the compute half an operation
  or more after it was sent, or never started before its caller gave up.
  Cited: each call's latency, the compute's start/end lines, the
  MessagingTimeouts and the API's late replies to them ("No calling
  threads waiting for msg_id"), the broker's ready/unacked counts on the
  compute's queue with their times (0 with oslo.messaging 18: the RPC
  listener acknowledges each message as it receives it, so the backlog is
  in the compute's executor queue, where the broker cannot see it).
- ``not-reproduced``: every call was answered, they overlapped on the
  compute (at least two ran at once) and none waited for a worker.
- ``unknown``: the load did not run or failed otherwise than by
  MessagingTimeout, the compute ran none of it, ran more at once than the
  configured pool (the pool is not what bounds it), calls waited while the
  pool was not full (the queue is elsewhere, e.g. the API's container), the
  calls never overlapped, or calls timed out though none waited.
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
)

COMPUTE_LOG = "fake-compute-1"
_START = re.compile(r"long-op start: name=(?P<name>\S+) seconds=(?P<seconds>[\d.]+) "
                    r"running=(?P<running>\d+) thread=(?P<thread>\S+)")
_END = re.compile(r"long-op end: name=(?P<name>\S+) took=(?P<took>[\d.]+) "
                  r"running=(?P<running>\d+)")
API_LOG = "fake-nova-api"
_MSG_ID = re.compile(r"reply to message ID (\w+)")
_LATE = re.compile(r"No calling threads waiting for msg_id : (\w+)")
# A call waited for a worker when it started this share of an operation
# (or more) after it was sent.
QUEUED_SHARE = 0.5


def quantile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def long_ops(lines):
    """{call name: {start, end, seconds, running, thread, line, end_line}}
    from the compute's ``long-op`` lines."""
    ops = {}
    for e in lines:
        m = _START.match(e["msg"])
        if m:
            ops[m.group("name")] = {
                "start": e["time"], "end": None, "seconds": float(m.group("seconds")),
                "running": int(m.group("running")), "thread": m.group("thread"),
                "line": e["line"], "end_line": None}
            continue
        m = _END.match(e["msg"])
        if m and m.group("name") in ops:
            ops[m.group("name")].update(end=e["time"], end_line=e["line"])
    return ops


def most_at_once(intervals, horizon):
    """The most intervals (start, end or None: still running at
    ``horizon``) that overlap at any moment."""
    events = []
    for start, end in intervals:
        events += [(start, 1), (end if end is not None else horizon, -1)]
    running = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        running += step
        peak = max(peak, running)
    return peak


class _Judgement(Judgement):
    def steps(self):
        self._load()
        self._compute()
        self._broker()
        return self._verdict()

    def _load(self):
        t = self.t
        options = (self.config.get("checker") or {}).get("options") or {}
        self.load = options.get("load", "load")
        self.pool = option(self.config, "DEFAULT", "executor_thread_pool_size")
        self.timeout = option(self.config, "DEFAULT", "rpc_response_timeout")
        pattern = re.compile(re.escape(self.load) + r"-\d+$")
        self.calls = {name: op for name, op in self.ops.items()
                      if pattern.match(name) and op["invoke"]["f"] == "call"}
        if not self.calls:
            raise Verdict(UNKNOWN, f"no call of the load step {self.load!r} in the "
                          "history: the load did not run")
        if self.pool is None:
            raise Verdict(UNKNOWN, "config.json records no executor_thread_pool_size")
        self.ok, self.timeouts, self.other = [], [], []
        for name, op in sorted(self.calls.items(), key=lambda kv: kv[1]["invoke"]["time"]):
            done = op["done"]
            v = (done or {}).get("value", {})
            body = str(v.get("body", ""))
            if done is not None and done["type"] == "ok" and v.get("status") == 200:
                self.ok.append(name)
            elif done is not None and v.get("status") == 504 and "MessagingTimeout" in body:
                self.timeouts.append(name)
            else:
                self.other.append(name)
        latencies = [op["done"]["value"].get("latency", 0) for op in self.calls.values()
                     if op["done"] is not None]
        self.start = min(op["invoke"]["time"] for op in self.calls.values())
        self.end = max((op["done"] or op["invoke"])["time"] for op in self.calls.values())
        self.details.update(pool=self.pool, calls=len(self.calls), answered=len(self.ok),
                            timeouts=len(self.timeouts), failed=len(self.other))
        if latencies:
            self.details["latency"] = {
                "p50": quantile(latencies, 0.5), "p99": quantile(latencies, 0.99),
                "max": max(latencies),
                "each": [round(lat, 3) for lat in sorted(latencies)]}
        self.cited.append(
            f"load: {len(self.calls)} call(s) sent from {t(self.start)}, "
            f"executor_thread_pool_size = {self.pool}, rpc_response_timeout = "
            f"{self.timeout} s: {len(self.ok)} answered, {len(self.timeouts)} "
            f"MessagingTimeout(s), {len(self.other)} other outcome(s)")
        if latencies:
            lat = self.details["latency"]
            self.cited.append(
                f"latency p50 {lat['p50']:.2f} s, p99 {lat['p99']:.2f} s, max "
                f"{lat['max']:.2f} s; each: "
                + ", ".join(f"{x:.2f}" for x in lat["each"]))
        for name in self.timeouts[:3]:
            v = self.calls[name]["done"]["value"]
            msg = str(v.get("body", {}).get("computeFault", {}).get("message", "?")
                      if isinstance(v.get("body"), dict) else v.get("body"))
            self.cited.append(f"{name}: HTTP 504 after {v.get('latency', 0):.2f} s, "
                              f"sent at {t(self.calls[name]['invoke']['time'])}: "
                              f"{msg[:160]}")
        if self.other:
            name = self.other[0]
            done = self.calls[name]["done"]
            what = ("no outcome recorded" if done is None else
                    f"{done['type']} (HTTP {done['value'].get('status')}, "
                    f"{done['value'].get('error') or str(done['value'].get('body'))[:120]})")
            raise Verdict(UNKNOWN, f"{len(self.other)} call(s) ended otherwise than "
                          f"answered or MessagingTimeout, e.g. {name}: {what}")

    def _compute(self):
        t = self.t
        path = self.run.log(COMPUTE_LOG)
        lines = evidence.service_lines(path)
        self.pid = evidence.server_pid(lines)
        for e in lines:
            if e["msg"].startswith("RPC server started"):
                m = re.search(r"executor=(\S+)", e["msg"])
                self.cited.append(f"the compute (PID {e['pid']}) runs the "
                                  f"{m.group(1) if m else '?'} executor")
                break
        ops = {n: o for n, o in long_ops(lines).items() if n in self.calls}
        if not ops:
            raise Verdict(UNKNOWN, f"the compute ({path}) logged none of the load's "
                          "calls: it never ran them")
        horizon = max([o["end"] or o["start"] for o in ops.values()]
                      + [e["time"] for e in lines[-1:]])
        self.at_once = most_at_once([(o["start"], o["end"]) for o in ops.values()],
                                    horizon)
        self.hold = max(o["seconds"] for o in ops.values())
        self.waits, self.queued, self.never = {}, [], []
        for name, op in self.calls.items():
            sent = op["invoke"]["time"]
            if name in ops:
                self.waits[name] = ops[name]["start"] - sent
                if self.waits[name] >= QUEUED_SHARE * self.hold:
                    self.queued.append(name)
            elif name in self.timeouts:
                # Still waiting for a worker when its caller gave up.
                self.never.append(name)
        self.details.update(ran=len(ops), at_once=self.at_once, hold=self.hold,
                            queued=len(self.queued) + len(self.never),
                            waits={n: round(w, 3) for n, w in sorted(self.waits.items())})
        self.cited.append(
            f"the compute ran {len(ops)} of the {len(self.calls)} call(s) "
            f"({self.hold:g} s each), at most {self.at_once} at once (the pool: "
            f"{self.pool}); {len(self.queued)} started {QUEUED_SHARE * self.hold:g} s "
            f"or more after they were sent, {len(self.never)} had not started when "
            "their caller gave up")
        # The deepest the executor's queue went: calls sent, not yet started,
        # looked at a quarter operation after each send (past the HTTP hop).
        moments = [op["invoke"]["time"] + self.hold / 4 for op in self.calls.values()]
        self.details["peak_waiting"] = max(self._waiting_at(m) for m in moments)
        self.cited.append(f"at most {self.details['peak_waiting']} call(s) waited "
                          "for a worker at once (sent, not yet started on the compute)")
        order = sorted(ops.items(), key=lambda kv: kv[1]["start"])
        for name, op in order:
            end = (f"ended {t(op['end'])}" if op["end"] else "no end logged")
            self.cited.append(
                f"compute: {name} sent {t(self.calls[name]['invoke']['time'])}, "
                f"started {t(op['start'])} (waited {self.waits[name]:.2f} s, "
                f"{op['running']} running, thread {op['thread']}), {end}")

    def _broker(self):
        t = self.t
        topic = option(self.config, "api", "compute_topic", "compute")
        samples = []
        for rec in self.records:
            if rec.get("type") == "event" and rec.get("f") == "queues-listed":
                v = rec["value"]
                row = next((q for q in v.get("queues") or [] if q["name"] == topic),
                           None)
                if row is not None:
                    samples.append((v.get("asked") or rec["time"], row))
        self.samples = samples
        if not samples:
            self.cited.append(f"broker: no sample of the {topic!r} queue (no "
                              "queues-listed event): the queue is not witnessed")
            self.details["broker_peak"] = None
            return
        peak = max(r["ready"] + r["unacked"] for _, r in samples)
        self.details["broker_peak"] = peak
        self.details["broker"] = [{"t": round(when - self.t.start, 3), **row}
                                  for when, row in samples]
        shown = ", ".join(f"{t(when)} {r['ready']}/{r['unacked']}"
                          for when, r in samples[:16])
        more = f" (+{len(samples) - 16} more)" if len(samples) > 16 else ""
        self.cited.append(f"broker, queue {topic!r} ready/unacked: {shown}{more}; "
                          f"peak {peak} message(s) not yet acknowledged or delivered")

    def _waiting_at(self, when):
        """How many calls had been sent but not started (nor given up) at
        ``when``, by the history and the compute's log."""
        waiting = 0
        ops_start = {n: self.calls[n]["invoke"]["time"] + w
                     for n, w in self.waits.items()}
        for name, op in self.calls.items():
            sent = op["invoke"]["time"]
            gave_up = (op["done"] or {}).get("time")
            start = ops_start.get(name)
            if sent <= when and (start is None or when < start) and (
                    start is not None or gave_up is None or when < gave_up):
                waiting += 1
        return waiting

    def _late_replies(self):
        """The API's "No calling threads waiting for msg_id" lines for the
        timed-out calls: their replies came, after their callers gave up."""
        ids = {}
        for name in self.timeouts:
            m = _MSG_ID.search(str(self.calls[name]["done"]["value"].get("body")))
            if m:
                ids[m.group(1)] = name
        late = []
        for e in evidence.service_lines(self.run.log(API_LOG)):
            m = _LATE.search(e["msg"])
            if m and m.group(1) in ids:
                late.append((ids[m.group(1)], e))
        self.details["late_replies"] = len(late)
        for name, e in late[:4]:
            self.cited.append(f"{name}'s reply came after its caller gave up, at "
                              f"{self.t(e['time'])}: {e['line']}")
        if len(late) > 4:
            self.cited.append(f"... and {len(late) - 4} more late reply(ies)")

    def _verdict(self):
        if self.at_once > self.pool:
            raise Verdict(UNKNOWN, f"the compute ran {self.at_once} call(s) at once, "
                          f"more than executor_thread_pool_size = {self.pool}: the "
                          "pool is not what bounds it (was the option applied?)")
        waited = self.queued + self.never
        if waited:
            if self.at_once < self.pool:
                raise Verdict(UNKNOWN, f"{len(waited)} call(s) waited, but the compute "
                              f"never ran its pool full ({self.at_once} of {self.pool} "
                              "at once): the queue is elsewhere (the API's container?)")
            busy = [r for when, r in self.samples if self._waiting_at(when) >= 1]
            if busy:
                held = max(r["ready"] + r["unacked"] for r in busy)
                self.details["broker_peak_while_waiting"] = held
                self.cited.append(
                    f"{len(busy)} broker sample(s) taken while calls waited for a "
                    f"worker: at most {held} message(s) on the compute's queue"
                    + (" (the RPC listener acknowledges each message as it "
                       "receives it: the backlog is in the compute's executor "
                       "queue, not on the broker)" if held == 0 else ""))
            self._late_replies()
            self.cited.append(
                f"{len(waited)} call(s) queued behind a full pool of {self.pool}"
                + (f"; {len(self.timeouts)} caller(s) got MessagingTimeout after "
                   f"{self.timeout} s" if self.timeouts else ""))
            return REPRODUCED
        if self.timeouts:
            raise Verdict(UNKNOWN, f"{len(self.timeouts)} MessagingTimeout(s) though "
                          "no call waited for a worker of the compute")
        if self.at_once < 2:
            raise Verdict(UNKNOWN, "the calls never overlapped on the compute (at most "
                          "one at once): the load was not concurrent, the run cannot "
                          "tell")
        self.cited.append(f"every call was answered and none waited: {self.at_once} "
                          f"ran at once within a pool of {self.pool}")
        return NOT_REPRODUCED


def check(run):
    return _Judgement(run).judge()
