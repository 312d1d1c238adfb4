"""The ``heartbeat-loss`` checker: did the broker drop the idle API worker's
connections for missed heartbeats? See scenarios/heartbeat-loss.toml.

It reads only the run directory: history.jsonl (the requests, the idle
period, the broker's listing), config.json (the heartbeat timeout, whether
heartbeats were observed), logs/broker.log and logs/fake-nova-api.log.

1. The first request must have succeeded; its response names the API
   worker's PID, and oslo.messaging names each AMQP connection
   ``program:pid:uuid``, so the broker's connections are matched to that
   worker, never to "any connection".
2. ``reproduced``: the broker closed at least one of them with ``missed
   heartbeats from client`` between the first request and the end of the
   second.
3. ``not-reproduced``: no such close, none closed for another reason, the
   idle period lasted at least 3 heartbeat timeouts, heartbeat checks ran
   while idle, the broker's own listing still shows the connections, and
   the second request succeeded.
4. ``unknown`` otherwise, saying which of these failed.

Each connection is cited on its own: its purpose, how many heartbeat checks
the worker ran for it while idle, and whether and when the broker closed it.
"""

from fake_lab import history
from fake_lab.checkers import evidence
from fake_lab.checkers.verdicts import (
    NOT_REPRODUCED,
    REPRODUCED,
    UNKNOWN,
    Timeline,
    Verdict,
    describe_request,
    named_ops,
    option,
    result,
    short_name,
)


def check(run):
    records = history.read(run.history)
    config = run.read_json("config.json") or {}
    j = _Judgement(run, records, config)
    try:
        j.first_request()
        j.api_connections()
        j.idle_period()
        j.heartbeat_checks()
        j.wire()
        j.listing()
        j.decide()
    except Verdict as v:
        return result(v.verdict, j.cited + v.lines, **j.details)
    raise AssertionError("decide() always reaches a verdict")


class _Judgement:
    """The steps of the judgement; each cites what it saw in ``cited``."""

    def __init__(self, run, records, config):
        self.run, self.records, self.config = run, records, config
        self.t = Timeline(records)
        ops = named_ops(records)
        self.first, self.idle, self.second = (
            ops.get(n) for n in ("first-request", "idle", "second-request"))
        self.timeout = option(config, "oslo_messaging_rabbit",
                              "heartbeat_timeout_threshold", 0)
        self.observed = option(config, "lab", "observe_heartbeats", True)
        self.cited, self.details = [], {}

    def first_request(self):
        first, t = self.first, self.t
        if first is None or first["done"] is None or first["done"]["type"] != "ok":
            raise Verdict(UNKNOWN, describe_request("first-request", first, t),
                          "without a successful first request no RPC "
                          "connection was opened, so there is nothing to watch")
        self.api_pid = first["done"]["value"].get("api_pid")
        self.details["api_pid"] = self.api_pid
        self.cited.append(describe_request("first-request", first, t)
                          + f", served by API worker PID {self.api_pid}")

    def api_connections(self):
        opened_by = self.first["done"]["time"] + 1
        self.conns = [c for c in evidence.broker_connections(self.run.broker_log)
                      if c["pid"] == self.api_pid and c["opened"] <= opened_by]
        if not self.conns:
            raise Verdict(UNKNOWN, f"{self.run.broker_log}: no connection named "
                          f"for PID {self.api_pid}; the broker's connections "
                          "cannot be matched to the API worker")
        self.details["connections"] = len(self.conns)
        self.cited.append(
            "broker: the first request opened %d connection(s) of API worker "
            "PID %s: %s" % (len(self.conns), self.api_pid, ", ".join(
                f"{c['name']} at {self.t(c['opened'])}" for c in self.conns)))

    def idle_period(self):
        idle, second = self.idle, self.second
        if idle is None or idle["done"] is None:
            raise Verdict(UNKNOWN, "the idle period did not complete")
        self.idle_from, self.idle_to = idle["invoke"]["time"], idle["done"]["time"]
        self.end = (second["done"]["time"] if second and second["done"]
                    else self.idle_to)
        begin = self.first["done"]["time"]
        self.missed = [c for c in self.conns if c["closed"] is not None
                       and evidence.MISSED_HEARTBEATS in (c["close_reason"] or "")
                       and begin <= c["closed"] <= self.end]
        self.details["missed"] = len(self.missed)

    def heartbeat_checks(self):
        """The idle heartbeat checks of each connection, and of all."""
        events = [e for e in evidence.client_events(self.run.log("fake-nova-api"))
                  if e["pid"] == self.api_pid]
        self.client_lines = [e for e in events if e["kind"] != "heartbeat-check"
                             and self.idle_from <= e["time"] <= self.end + 0.5]
        idle_checks = [e for e in events if e["kind"] == "heartbeat-check"
                       and self.idle_from <= e["time"] <= self.idle_to]
        self.idle_checks = idle_checks
        self.details["idle_heartbeat_checks"] = len(idle_checks)
        span = self.idle_to - self.idle_from
        threads = sorted({e.get("thread", "?") for e in idle_checks})
        self.cited.append(
            "idle %.2f s (%s to %s, %.1f x the %s s heartbeat timeout): the API "
            "worker ran %d heartbeat check(s) meanwhile%s" % (
                span, self.t(self.idle_from), self.t(self.idle_to),
                span / self.timeout if self.timeout else 0, self.timeout,
                len(idle_checks),
                f" ({', '.join(threads)} threads)" if idle_checks
                else "" if self.observed else " (observation off)"))
        per_connection = {}
        for conn in self.conns:
            mine = [e for e in idle_checks if e.get("name") == conn["name"]]
            per_connection[conn["name"]] = len(mine)
            self.cited.append("connection %s (%s): %s; %s" % (
                short_name(conn["name"]), self._purpose(conn, events),
                f"{len(mine)} heartbeat check(s) while idle" if self.observed
                else "not observed", self._fate(conn)))
        self.details["idle_checks_per_connection"] = per_connection

    def wire(self):
        """The relay's record of each connection during the idle period: the
        primary witness. The observer inside the process is the second; when
        they disagree, the run cannot be judged."""
        named = evidence.wire_connections(self.run.file("wire.jsonl"))
        self.details["wire"] = bool(named)
        if not named:
            return
        begin, end = self.idle_from, self.idle_to
        per_conn = self.details.get("idle_checks_per_connection", {})
        disagree = []
        for conn in self.conns:
            # The TCP connection the first request opened (a reconnect opens
            # another under the same name).
            w = next((c for c in reversed(named.get(conn["name"], []))
                      if c["accept"] is not None and c["accept"] <= begin), None)
            if w is None:
                self.cited.append(f"wire: {short_name(conn['name'])} never crossed the "
                                  "relay")
                disagree.append(conn["name"])
                continue
            sent = [x for x in w["beats"]["c2s"] if begin <= x <= end]
            got = [x for x in w["beats"]["s2c"] if begin <= x <= end]
            other = [x for x in w["frames"]["c2s"] if begin <= x <= end]
            before = [x for x in w["beats"]["c2s"] + w["frames"]["c2s"] if x <= end]
            last = max(before) if before else None
            ended = w["end"]
            if sent:
                gaps = [b - a for a, b in zip(sent, sent[1:])]
                what = ("sent %d heartbeat(s) while idle, one every %.2f s, and "
                        "the broker sent %d" % (len(sent), sum(gaps) / len(gaps)
                                                if gaps else 0, len(got)))
            else:
                # Silent from its last frame until the broker gave up on it
                # (or the idle period ended).
                until = min(ended["time"], end) if ended else end
                silent_from = last or begin
                got = [x for x in w["beats"]["s2c"] if silent_from <= x <= until]
                what = ("sent its last frame at %s and no heartbeat for %.1f s "
                        "while the broker sent %d" % (
                            self.t(last) if last else "?", until - silent_from,
                            len(got)))
            sent_at = (self.second["invoke"]["time"] if self.second
                       else self.idle_to)
            fate = (f"; the {ended['by']} ended it ({ended['how'].upper()}) at "
                    f"{self.t(ended['time'])}" if ended and ended["time"] <= sent_at
                    else "; still open when the second request was sent")
            self.cited.append(f"wire: {short_name(conn['name'])} {what}{fate}")
            checks = per_conn.get(conn["name"])
            if self.observed and checks is not None and self.idle_to - self.idle_from \
                    >= 2 * (self.timeout or 0):
                if checks == 0 and sent:
                    disagree.append(conn["name"])
                elif checks > 0 and not sent and not other:
                    disagree.append(conn["name"])
        self.details["wire_disagrees"] = disagree
        if disagree:
            raise Verdict(UNKNOWN, "the two witnesses disagree on %s: the relay's "
                          "wire and the in-process observer (quoted above) do not "
                          "tell the same story of its heartbeats" % ", ".join(
                               short_name(n) for n in disagree))

    def _purpose(self, conn, events):
        purposes = {e.get("purpose") for e in events
                    if e.get("name") == conn["name"] and e.get("purpose")}
        return "/".join(sorted(purposes)) or "purpose not observed"

    def _fate(self, conn):
        if conn["closed"] is None or conn["closed"] > self.end:
            return "still open at the second request"
        why = ("for missed heartbeats" if conn in self.missed
               else f"for another reason: {conn['close_reason'] or '?'}")
        return (f"closed by the broker at {self.t(conn['closed'])} {why}, "
                f"{conn['closed'] - self.first['done']['time']:.2f} s after "
                "the first request")

    def listing(self):
        self.listed_alive = None
        for rec in [r for r in self.records if r.get("f") == "connections-listed"]:
            if rec["value"].get("error"):
                self.cited.append(f"the broker's connection listing failed at "
                                  f"{self.t(rec['time'])}: {rec['value']['error']}")
                continue
            # The listing names a connection by its peer address; the broker
            # log gives each of the API's connections its peer address too.
            ports = {str(row["peer_port"])
                     for row in rec["value"].get("connections", [])}
            alive = [c for c in self.conns if c["peer"].rsplit(":", 1)[-1] in ports]
            self.listed_alive = len(alive)
            self.cited.append("the broker's connection listing at %s: %d of the API "
                              "worker's %d connection(s) listed" % (
                                  self.t(rec["time"]), len(alive), len(self.conns)))

    def decide(self):
        second = describe_request("second-request", self.second, self.t)
        if self.missed:
            for c in self.missed:
                self.cited.append("broker closed %s %.2f s after the first "
                                  "request: %s" % (
                                      c["name"], c["closed"] - self.first["done"]["time"],
                                      " / ".join(c["lines"][-2:])))
            raise Verdict(REPRODUCED, *self._client_lines(), second)
        closed_early = [c for c in self.conns if c["closed"] is not None
                        and c["closed"] <= self.end]
        if closed_early:
            raise Verdict(UNKNOWN, *("broker closed %s for another reason: %s" % (
                c["name"], c["close_reason"]) for c in closed_early))
        if self.timeout and self.idle_to - self.idle_from < 3 * self.timeout:
            raise Verdict(UNKNOWN, "the idle period was shorter than 3 heartbeat "
                          "timeouts, so a missed heartbeat might not have been "
                          "detected yet")
        if self.observed and not self.idle_checks:
            raise Verdict(UNKNOWN, "no heartbeat check ran while idle and yet the "
                          "broker kept the connections: the run cannot tell why")
        if self.listed_alive is not None and self.listed_alive < len(self.conns):
            raise Verdict(UNKNOWN, "the broker log shows no close, but the "
                          "broker's own listing lacks some of the API worker's "
                          "connections")
        if not self.second or not self.second["done"] or \
                self.second["done"]["type"] != "ok":
            raise Verdict(UNKNOWN, "no missed heartbeats, but " + second)
        raise Verdict(NOT_REPRODUCED,
                      "broker: no 'missed heartbeats' close for any of the API "
                      "worker's connections; all were still open when the "
                      "second request was sent", *self._client_lines(), second)

    def _client_lines(self):
        """What the driver said when it found its connections dead."""
        return [f"client log: {e['line']}" for e in self.client_lines[:4]]
