"""The ``service-heartbeat-hang`` checker: did an eventlet-patched RPC server
(the fake compute) with ``heartbeat_in_pthread = True`` stop answering, or
stop sending heartbeats, under a steady trickle of calls (LP#1961402,
LP#1934937)? See scenarios/service-heartbeat-hang.toml.

It reads history.jsonl (the calls), config.json, the compute's log (how it
ran, the pings it received, the heartbeat observer's lines), its standard
error (``fake-compute-1.out.log``: eventlet's ``greenlet.error``),
wire.jsonl and the broker's log. It judges the compute's own connections,
found by the compute's PID in their name (``program:pid:uuid``), not the
API worker's (those are cited only to show where the failure was).

- ``unknown`` first when the question cannot be asked: the compute never
  said how it ran, or it is patched but its oslo.messaging has no
  ``heartbeat_in_pthread`` (before 10.1, and from 18.0 where the option is
  gone): the reason is given, with what the run showed anyway.
- ``reproduced``: a connection of the compute went silent on the wire
  (nothing from the compute for two heartbeat timeouts while the broker
  still sent, or until the broker ended it) or the broker closed one for
  missed heartbeats; or the compute stopped answering (calls it received,
  by its own log, never got their reply).
- ``not-reproduced``: every call answered, a trickle of at least
  ``min_calls`` over three heartbeat timeouts, and every connection of the
  compute kept sending (no silence of two timeouts, no missed-heartbeat
  close).
- ``unknown`` otherwise: no wire, the witnesses disagree, or calls failed
  that the compute never received while its connections stayed healthy
  (then the failure was not the compute's).
"""

import re

from fake_lab import history
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
MIN_CALLS = 10  # a trickle, not one call: checker_options.min_calls
_READY = re.compile(r"RPC transport ready: (?P<libs>[^;]+); eventlet patched="
                    r"(?P<patched>\w+),.* heartbeat_in_pthread=(?P<pthread>\S+)")
_PING = re.compile(r"^ping: ")
_REQUEST = re.compile(r"\[(?P<id>req-[0-9a-f-]+)\]")
_CHECK = re.compile(r"heartbeat-check connection=(?P<name>\S+) purpose=(?P<purpose>\S+) "
                    r"thread=(?P<thread>\w+)")
# What eventlet prints (to standard error, from its hub) when a lock's
# release tries to wake a waiter that belongs to another OS thread: the
# waiter is never woken (eventlet#432). Capitalised from greenlet 2.
GREENLET_ERROR = re.compile(r"greenlet\.error: cannot switch to a different thread",
                            re.IGNORECASE)


def check(run):
    return _Judgement(run).judge()


class _Judgement(Judgement):
    def __init__(self, run):
        super().__init__(run)
        self.timeout = option(self.config, "oslo_messaging_rabbit",
                              "heartbeat_timeout_threshold", 0) or 0
        self.min_calls = ((self.config.get("checker") or {}).get("options") or {}).get(
            "min_calls", MIN_CALLS)

    def steps(self):
        self._service()
        self._calls()
        self._threads()
        self._wire()
        self._broker()
        self._api()
        self._decide()
        raise AssertionError("_decide() always reaches a verdict")

    # -- how the compute ran ------------------------------------------------

    def _service(self):
        path = self.run.log(COMPUTE_LOG)
        self.lines = evidence.service_lines(path)
        ready = next((e for e in self.lines if _READY.search(e["msg"])), None)
        if ready is None:
            raise Verdict(UNKNOWN, f"{path}: no 'RPC transport ready' line: the "
                          "compute never said how it ran")
        m = _READY.search(ready["msg"])
        self.pid = ready["pid"]
        self.lines = [e for e in self.lines if e["pid"] == self.pid]
        self.libs = dict(part.strip().rsplit(" ", 1)
                         for part in m.group("libs").split(","))
        self.patched = m.group("patched") == "True"
        self.pthread = m.group("pthread")
        self.details.update(compute_pid=self.pid, patched=self.patched,
                            heartbeat_in_pthread=self.pthread,
                            oslo_messaging=self.libs.get("oslo.messaging"),
                            oslo_log=self.libs.get("oslo.log"))
        self.cited.append(f"compute (PID {self.pid}) log: {ready['line']}")

    # -- the trickle --------------------------------------------------------

    def _calls(self):
        t = self.t
        ops = [op for op in history.operations(self.records).values()
               if op["invoke"]["f"] == "call"]
        if not ops:
            raise Verdict(UNKNOWN, "no call was sent: there was nothing to answer")
        self.start = ops[0]["invoke"]["time"]
        workload = [r["time"] for r in self.records
                    if r.get("process") == "client" or r.get("f") == "connections-listed"]
        self.end = max(workload) if workload else ops[-1]["invoke"]["time"]
        stopped = [r["time"] for r in self.records if r.get("f") == "stopped"]
        self.stopped = stopped[-1] if stopped else self.end
        pings = {}
        for e in self.lines:
            if e["logger"] == "fake_compute.manager" and _PING.match(e["msg"]):
                req = _REQUEST.search(e["line"])
                pings[req.group("id") if req else None] = e
        self.pings = pings
        answered = [op for op in ops if op["done"] and op["done"]["type"] == "ok"]
        failed = [op for op in ops if op not in answered]
        self.failed = failed
        self.received = [op for op in failed
                         if (op["done"] or {}).get("value", {}).get("request_id") in pings]
        self.details.update(calls=len(ops), answered=len(answered),
                            unanswered=len(failed),
                            received_unanswered=len(self.received))
        last = ops[-1]["invoke"]["time"]
        self.cited.append(
            f"calls: {len(ops)} sent from {t(self.start)} to {t(last)} "
            f"({last - self.start:.1f} s), {len(answered)} answered, {len(failed)} not")
        if failed:
            first = min(failed, key=lambda op: op["invoke"]["time"])
            v = (first["done"] or {}).get("value", {})
            what = (f"HTTP {v['status']}" if v.get("status")
                    else v.get("error", "no outcome"))
            self.cited.append(
                f"first unanswered call: {first['invoke']['value'].get('name')} sent at "
                f"{t(first['invoke']['time'])}, {what} after {v.get('latency', 0):.2f} s; "
                f"the compute logged a ping for {len(self.received)} of the "
                f"{len(failed)} unanswered call(s) (received, never replied)")
        if answered:
            last_ok = max(answered, key=lambda op: op["done"]["time"])
            self.cited.append(f"last answered call: "
                              f"{last_ok['invoke']['value'].get('name')} at "
                              f"{t(last_ok['done']['time'])}")
        if pings:
            self.cited.append("compute log, its last ping: "
                              + max(pings.values(), key=lambda e: e["time"])["line"])

    # -- its threads --------------------------------------------------------

    def _threads(self):
        t = self.t
        checks = {}
        for e in self.lines:
            m = _CHECK.search(e["msg"])
            if m:
                c = checks.setdefault(m.group("name"), {
                    "purpose": m.group("purpose"), "threads": set(), "n": 0, "last": None})
                c["threads"].add(m.group("thread"))
                c["n"] += 1
                c["last"] = e["time"]
        self.purposes = {name: c["purpose"] for name, c in checks.items()}
        native = {n: c for n, c in checks.items() if "native" in c["threads"]}
        self.details["native_checks"] = sum(c["n"] for c in native.values())
        for name, c in sorted(native.items()):
            self.cited.append(
                f"observer: {short_name(name)} ({c['purpose']}) checked its heartbeat "
                f"{c['n']} time(s) on a native thread, the last at {t(c['last'])}")
        if checks and not native:
            self.cited.append("observer: every heartbeat check of the compute ran on "
                              "a green thread (no native heartbeat thread)")
        # The trigger: what the heartbeat threads write through the logging
        # module (py-amqp's heartbeat_tick lines, at DEBUG in the scenario).
        ticks = [e for e in self.lines if e["logger"].startswith("amqp")]
        self.details["amqp_lines"] = len(ticks)
        self.cited.append(f"compute log: {len(ticks)} line(s) of amqp's loggers (each "
                          "heartbeat tick, from whatever thread runs it)"
                          + (f", the last: {ticks[-1]['line']}" if ticks else ""))
        errors = [line for line in evidence.read_lines(self.run.log(COMPUTE_LOG + ".out"))
                  if GREENLET_ERROR.search(line)]
        self.details["greenlet_errors"] = len(errors)
        if errors:
            self.cited.append(f"compute stderr ({COMPUTE_LOG}.out.log), {len(errors)} "
                              f"time(s): {errors[0].strip()} (eventlet#432: a lock "
                              "released on one OS thread cannot wake a waiter of "
                              "another, which then waits forever)")

    # -- the compute's connections ------------------------------------------

    def _wire(self):
        t = self.t
        named = evidence.wire_connections(self.run.file("wire.jsonl"))
        self.wired = bool(named)
        mine = {n: c for n, c in named.items() if evidence.connection_pid(n) == self.pid}
        self.silent, self.silent_from = [], None
        self.details["wire"] = bool(mine)
        if not mine:
            return
        limit = 2 * self.timeout
        for name, conns in sorted(mine.items(), key=lambda kv: kv[1][0]["accept"] or 0):
            for c in conns:
                if c["accept"] is None or c["accept"] > self.end:
                    continue
                ended = c["end"]
                until = min(self.end, ended["time"]) if ended else self.end
                gap, since = evidence.longest_silence(c, c["accept"], until)
                got = [x for x in c["beats"]["s2c"] if since < x <= since + gap]
                purpose = self.purposes.get(name, "purpose not observed")
                line = (f"wire: {short_name(name)} ({purpose}) sent "
                        f"{len(c['beats']['c2s'])} heartbeat(s); its longest silence "
                        f"{gap:.2f} s, from {t(since)}, while the broker sent "
                        f"{len(got)} heartbeat(s)")
                if ended and ended["time"] <= self.end:
                    line += (f"; the {ended['by']} ended it ({ended['how'].upper()}) "
                             f"at {t(ended['time'])}")
                else:
                    line += "; still open at the end of the workload"
                self.cited.append(line)
                by_broker = bool(ended and ended["time"] <= since + gap + 0.01
                                 and ended["by"] == "server")
                if self.timeout and gap >= limit and (got or by_broker):
                    self.silent.append(name)
                    if self.silent_from is None or since < self.silent_from:
                        self.silent_from = since
        self.details["silent"] = self.silent
        if self.silent_from is not None:
            self.details["silent_from"] = round(self.silent_from - self.t.start, 3)

    def _broker(self):
        conns = evidence.broker_connections(self.run.broker_log)
        self.missed = [c for c in conns if c["pid"] == self.pid and c["closed"]
                       and self.start <= c["closed"] <= self.stopped
                       and evidence.MISSED_HEARTBEATS in (c["close_reason"] or "")]
        self.details["missed"] = [c["name"] for c in self.missed]
        for c in self.missed:
            self.cited.append(f"broker closed {c['name']} at {self.t(c['closed'])}: "
                              + " / ".join(c["lines"][-2:]))
        self.broker_conns = [c for c in conns if c["pid"] == self.pid]

    def _api(self):
        """The API worker's connections, only to say whose failure it was."""
        pids = {op["done"]["value"].get("api_pid")
                for op in history.operations(self.records).values()
                if op["invoke"]["f"] == "call" and op["done"]
                and op["done"]["value"].get("api_pid")}
        conns = [c for c in evidence.broker_connections(self.run.broker_log)
                 if c["pid"] in pids]
        self.api_missed = [c for c in conns if c["closed"]
                           and self.start <= c["closed"] <= self.end
                           and evidence.MISSED_HEARTBEATS in (c["close_reason"] or "")]
        if pids:
            self.cited.append(
                "API worker(s) PID %s: %d connection(s), %d closed for missed "
                "heartbeats" % (", ".join(map(str, sorted(pids))), len(conns),
                                len(self.api_missed)))

    # -- the verdict --------------------------------------------------------

    def _decide(self):
        t = self.t
        hung = bool(self.silent or self.missed)
        stopped_answering = len(self.received) >= 1 and len(self.failed) >= 2
        if self.patched and self.pthread == "n/a":
            raise Verdict(UNKNOWN, self._anyway(hung, stopped_answering),
                          "oslo.messaging %s has no heartbeat_in_pthread (the option "
                          "exists from 10.1 to 17.x; 18.0 removed it): the heartbeat "
                          "is a plain thread, green in this patched process, so the "
                          "claim about the option cannot be tested here"
                          % self.libs.get("oslo.messaging", "?"))
        if not self.patched:
            self.cited.append("nothing is patched: heartbeat_in_pthread changes "
                              "nothing, every thread is native")
        if self.wired and not self.details["wire"]:
            raise Verdict(UNKNOWN, "wire.jsonl names no connection of the compute "
                          f"(PID {self.pid}): its connections cannot be judged")
        if not self.wired:
            raise Verdict(UNKNOWN, "no wire.jsonl (the relay was off): nothing "
                          "shows the compute's heartbeats")
        if self.missed and not self.silent:
            raise Verdict(UNKNOWN, "the broker closed a connection of the compute for "
                          "missed heartbeats, but the wire shows no silence of two "
                          "heartbeat timeouts on it: the witnesses disagree")
        if hung or stopped_answering:
            what = []
            if hung:
                what.append("its connection(s) %s stopped sending at %s" % (
                    ", ".join(f"{short_name(n)} ({self.purposes.get(n, '?')})"
                              for n in self.silent or [c["name"] for c in self.missed]),
                    t(self.silent_from) if self.silent_from else "?"))
            if stopped_answering:
                what.append(f"it received {len(self.received)} call(s) it never "
                            "answered")
            if self.api_missed:
                what.append("(the API worker lost connections too: see above)")
            raise Verdict(REPRODUCED, "the compute hung: " + "; ".join(what))
        if self.failed:
            raise Verdict(UNKNOWN, f"{len(self.failed)} call(s) failed that the compute "
                          "never received, while its connections kept sending: the "
                          "failure was not the compute's")
        span = self.end - self.start
        if len(self.pings) < self.min_calls or (self.timeout and span < 3 * self.timeout):
            raise Verdict(UNKNOWN, f"only {len(self.pings)} call(s) over {span:.1f} s: "
                          f"not a trickle (at least {self.min_calls} over three "
                          "heartbeat timeouts)")
        raise Verdict(NOT_REPRODUCED, f"the compute answered all {len(self.pings)} "
                      "call(s) and every connection of it kept sending heartbeats "
                      f"(no silence of {2 * self.timeout} s, no missed-heartbeat close)")

    def _anyway(self, hung, stopped_answering):
        if hung or stopped_answering:
            return "observed anyway: the compute hung (see above)"
        if self.failed:
            return f"observed anyway: {len(self.failed)} call(s) unanswered"
        return (f"observed anyway: the compute answered all {len(self.pings)} "
                "call(s) and kept its heartbeats")

