"""The ``rabbit-node-loss`` checker: what losing one RabbitMQ node of a
cluster costs nova's boot flow, stated as the claim the run tests.

It reads only the run directory: the history (the boots, the cluster fault
with the node it lost and how, the queues listed before it, the cluster's
status asked of a surviving node after it), final-state.json (the boot-flow
checker's tally), the nodes' own logs (logs/rabbit-N/broker.log), the
services' logs and the relay's wire.jsonl (a route per node: which
connections the loss ended, and where the clients went after it).

The claim: "with <queue type> queues, <killing | draining then stopping>
the RabbitMQ node that <hosted the compute's queue ...> costs boots".

- ``reproduced``: the node was lost (its fault ``ok``, and a surviving node
  no longer lists it as running) and at least one boot went wrong: lost,
  duplicated, failed, or unanswered (``info``); each listed by request id.
- ``not-reproduced``: the node was lost and every boot became ACTIVE, once.
- ``unknown``: the boots did not settle, the fault did not happen or was
  not confirmed (a surviving node still lists the node as running), or
  the run has no final state.

A run without the fault (the control) tests the baseline, "with every node
up, boots go wrong", judged as boot-flow judges it: expected not to hold.

Besides the counts: the time from the loss to the first boot sent after it
that was answered and became ACTIVE (``recovered_after``), the span of the
boots that went wrong, what the lost node hosted (the list-queues step
before the fault), and the broker's own lines on every node (node down,
transient queues deleted, maintenance mode, quorum leaders elected, mirrors
promoted).
"""

import json
import os
import re

from fake_lab import history
from fake_lab.checkers import boot_flow, evidence
from fake_lab.checkers.verdicts import (
    NOT_REPRODUCED,
    REPRODUCED,
    UNKNOWN,
    Timeline,
    option,
    result,
)

BAD = ("failed", "lost", "duplicated", "info")
HOW = {"kill-node": "killing (SIGKILL)", "drain-node": "draining (rabbitmq-upgrade "
       "drain) then stopping"}
# What the nodes log of a lost node, by kind; the first pattern that matches
# a line wins.
BROKER_MARKS = (
    ("maintenance", re.compile(r"being put into maintenance|Closed \d+ local client "
                               r"connections|Will transfer leadership of \d+ quorum "
                               r"queues|ready to be shut down for maintenance")),
    ("down", re.compile(r"rabbit on node '[^']+' down")),
    ("deleted", re.compile(r"\d+ transient queues from an old incarnation of node")),
    ("leader", re.compile(r"queue '(?P<queue>[^']+)' in vhost '[^']*': candidate -> "
                          r"leader in term")),
    ("promoted", re.compile(r"Mirrored queue '(?P<queue>[^']+)' in vhost '[^']*': "
                            r"Promoting mirror")),
)
# How long after the loss the nodes' lines are read.
WINDOW = 30.0


def check(run):
    judged = boot_flow.check(run)
    records = history.read(run.history)
    config = run.read_json("config.json") or {}
    t = Timeline(records)
    ops = sorted(history.operations(records).values(),
                 key=lambda o: o["invoke"]["time"])
    queue_type = option(config, "lab", "queue_type", "classic")
    details = dict(judged["details"], queue_type=queue_type)
    losses = [op for op in ops if op["invoke"]["f"] == "fault"
              and op["invoke"]["value"].get("target") == "cluster"]
    if not losses:
        # The same claim's baseline, worded so that "holds" is reproduced
        # here too: with no node lost, do boots go wrong anyway?
        claim = f"with {queue_type} queues and every node up (the control), boots go wrong"
        return _verdict(judged, claim, [], details)
    loss = losses[0]
    done = loss["done"]
    value = (done or {}).get("value", {})
    verb = value.get("applied") or loss["invoke"]["value"].get("verb")
    what = _what(value, queue_type)
    claim = (f"with {queue_type} queues, {HOW.get(verb, verb)} the RabbitMQ node "
             f"that {what} costs boots")
    details.update(claim=claim, fault=verb, node=value.get("node"))
    if done is None or done["type"] != "ok":
        why = value.get("error") or "no outcome recorded"
        return result(UNKNOWN, [f"claim: {claim}: cannot be told: the node was not "
                                f"lost ({why})"] + judged["evidence"], **details)
    lost_at = value.get("killed_at") or value.get("drain_began") or loss["invoke"]["time"]
    details["lost_at"] = lost_at
    cited = [_fault_line(value, verb, lost_at, t)]
    cited += _hosted(records, loss, value)
    left, status_line = _left(records, loss, value)
    cited.append(status_line)
    cited += _broker_lines(run, lost_at, t)
    cited += _wire_lines(run, value.get("index"), lost_at, t)
    recovery, lines = _recovery(run, ops, lost_at, t)
    details.update(recovery)
    cited += lines
    if left is False:
        return result(UNKNOWN, [f"claim: {claim}: cannot be told: the node was not "
                                "lost, a surviving node still lists it as running"]
                      + cited + judged["evidence"], **details)
    return _verdict(judged, claim, cited, details)


def _verdict(judged, claim, cited, details):
    """boot-flow's verdict on the boots, with the claim said first."""
    counts = {k: details.get(k, 0) for k in BAD}
    bad = sum(counts.values())
    accepted = details.get("accepted", 0) + details.get("info", 0)
    verdict = judged["verdict"]
    if verdict == REPRODUCED:
        said = (f"holds: {bad} of {accepted} boot(s) went wrong ("
                + ", ".join(f"{k} {n}" for k, n in counts.items() if n) + ")")
    elif verdict == NOT_REPRODUCED:
        said = (f"does not hold here: all {details.get('active', 0)} boot(s) "
                "became ACTIVE, once")
    else:
        said = "cannot be told (see below)"
    details["claim"] = claim
    return result(verdict, [f"claim: {claim}: {said}"] + cited + judged["evidence"],
                  **details)


def _what(value, queue_type):
    """The lost node's role, from how the fault chose it."""
    chosen = value.get("chosen_by") or ""
    m = re.match(r"it hosted the (\w+) queue (\S+)", chosen)
    if m:
        kind = ("led the quorum queue" if m.group(1) == "quorum" else
                "held the master of the mirrored queue" if queue_type == "mirrored"
                else f"hosted the {m.group(1)} queue")
        return f"{kind} {m.group(2)}"
    if chosen.startswith("it held"):
        return "held most of the services' AMQP connections"
    return f"was node {value.get('index', '?')}"


def _fault_line(value, verb, lost_at, t):
    line = (f"fault: {verb} {value.get('node')} at {t(lost_at)}, chosen as {value.get('chosen_by')}"
            f"; the services' AMQP connections by node then: "
            + (", ".join(f"node {k} {n}" for k, n in
                         (value.get("connections_by_node") or {}).items()) or "none seen"))
    if verb == "drain-node" and value.get("drained_at"):
        line += (f"; the drain took {value.get('drain_seconds')} s, then the stop "
                 f"(SIGTERM) {value.get('stop_seconds')} s, until {t(value['stopped_at'])}")
    return line


def _hosted(records, loss, value):
    """What the lost node hosted, from the last queue listing before it."""
    listed = [r for r in records if r.get("f") == "queues-listed"
              and r["time"] <= loss["invoke"]["time"]]
    if not listed:
        return ["queues before the loss: not listed"]
    last = listed[-1]["value"]
    if last.get("error"):
        return [f"queues before the loss: could not be listed ({last['error']})"]
    node = value.get("node")
    mine = [q for q in last.get("queues", []) if q.get("node") == node]
    rows = sorted(last.get("queues", []), key=lambda q: q.get("name") or "")
    if not rows or "node" not in rows[0]:
        return ["queues before the loss: listed without their nodes"]

    def one(q):
        extra = (f", {len(q['members'])} members" if q.get("members") else
                 f", {q['mirrors']} synchronised mirror(s)" if q.get("mirrors") else "")
        return f"{q['name']} ({q.get('type')}{extra})"

    return [f"{node} hosted {len(mine)} of the {len(rows)} queue(s) listed before the "
            "loss (a quorum queue's leader, a classic queue's home): "
            + (", ".join(one(q) for q in mine[:8]) or "none")
            + (f", ... and {len(mine) - 8} more" if len(mine) > 8 else "")]


def _left(records, loss, value):
    """(True if a surviving node no longer lists the lost node as running,
    False if it still does, None if no status was asked; the line)."""
    after = [r for r in records if r.get("f") == "cluster-status"
             and r["time"] >= loss["invoke"]["time"]]
    node = value.get("node")
    if not after:
        return None, "cluster status after the loss: not recorded"
    status = after[0]["value"]
    if status.get("error"):
        return None, f"cluster status after the loss: could not be asked ({status['error']})"
    running = status.get("running_nodes", [])
    left = node not in running
    return left, (f"cluster status asked of {status.get('asked')} after the loss: running "
                  f"{', '.join(running)}; {node} "
                  + ("has left the running nodes" if left else "is STILL RUNNING"))


def _broker_lines(run, lost_at, t):
    """The nodes' own lines on the loss, from every node's log: the first
    of each kind per node, and how many queues changed leader."""
    cited, leaders, promoted = [], set(), set()
    for name in sorted(os.listdir(run.logs)):
        path = os.path.join(run.logs, name, "broker.log")
        if not name.startswith("rabbit-") or not os.path.exists(path):
            continue
        seen = set()
        for e in evidence.broker_lines(path):
            if not lost_at - 1.0 <= e["time"] <= lost_at + WINDOW:
                continue
            for kind, pattern in BROKER_MARKS:
                m = pattern.search(e["msg"])
                if not m:
                    continue
                if kind == "leader":
                    leaders.add(m.group("queue"))
                elif kind == "promoted":
                    promoted.add(m.group("queue"))
                elif (kind, m.group(0)[:20]) not in seen:
                    seen.add((kind, m.group(0)[:20]))
                    cited.append(f"{name} at {t(e['time'])}: {e['line']}")
                break
    if leaders:
        cited.append(f"quorum queues that elected a new leader: {len(leaders)} ("
                     + ", ".join(sorted(leaders)[:6]) + ")")
    if promoted:
        cited.append(f"mirrored queues whose mirror was promoted: {len(promoted)} ("
                     + ", ".join(sorted(promoted)[:6]) + ")")
    return cited


def _wire_lines(run, index, lost_at, t):
    """What the relay saw (wire.jsonl, a route per node): the connections
    on the lost node's route at the loss and how they ended, and where the
    clients connected afterwards. Nothing when the run had no relay."""
    ports = run.read_json("ports.json") or {}
    node_of = {port: int(name.split("_")[1]) for name, port in ports.items()
               if name.startswith("amqp_")}
    conns = {}
    try:
        with open(run.file("wire.jsonl")) as f:
            for line in f:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue  # a torn last line
                if e.get("conn") is None:
                    continue
                # An end may be written before its accept (a client that
                # closed while the relay was still connecting upstream).
                c = conns.setdefault(e["conn"], {"node": None, "at": None, "end": None,
                                                 "refused": False, "named": False})
                if e["event"] == "accept":
                    c.update(node=node_of.get(e.get("upstream")), at=e["time"],
                             refused="upstream_error" in e)
                elif e["event"] == "connection-name":
                    c["named"] = True
                elif e["event"] == "end":
                    c["end"] = e
    except OSError:
        return []
    # A port probe carries no AMQP: only connections that named themselves
    # (Connection.StartOk) count, and the refusals.
    conns = {k: c for k, c in conns.items()
             if c["at"] is not None and (c["named"] or c["refused"])}
    if not conns or index is None:
        return []
    on_lost = [c for c in conns.values() if c["node"] == index and not c["refused"]
               and c["at"] <= lost_at and (c["end"] is None or c["end"]["time"] >= lost_at)]
    ends = sorted(c["end"]["time"] for c in on_lost if c["end"])
    how = {}
    for c in on_lost:
        if c["end"]:
            key = f"{c['end']['how']} by {c['end']['by']}"
            how[key] = how.get(key, 0) + 1
    line = (f"wire: {len(on_lost)} connection(s) on node {index}'s route at the loss"
            + (f", ended from {t(ends[0])} to {t(ends[-1])} ("
               + ", ".join(f"{n} {k}" for k, n in sorted(how.items())) + ")"
               if ends else ""))
    after = [c for c in conns.values() if c["at"] > lost_at]
    opened = {}
    for c in after:
        if not c["refused"]:
            opened[c["node"]] = opened.get(c["node"], 0) + 1
    refused = sum(1 for c in after if c["refused"] and c["node"] == index)
    line += ("; afterwards the clients opened " + (", ".join(
        f"{n} to node {k}" for k, n in sorted(opened.items(), key=lambda i: str(i[0])))
        or "none") + (f", and {refused} to node {index}'s route found it refused"
                      if refused else ""))
    return [line]


def _recovery(run, ops, lost_at, t):
    """Time from the loss to the first boot sent after it that was answered
    and became ACTIVE; the span of the boots that went wrong."""
    state = run.read_json("final-state.json") or {}
    if not state or state.get("error"):
        return {"recovered_after": None}, []
    boots = [op for op in ops if op["invoke"]["f"] == "boot"]
    fates = {op["invoke"]["id"]: boot_flow.fate(op, state) for op in boots}
    good = sorted(op["done"]["time"] for op in boots
                  if fates[op["invoke"]["id"]] == "active" and op["invoke"]["time"] >= lost_at)
    bad = [op for op in boots if fates[op["invoke"]["id"]] not in ("active", "rejected")]
    found = {"recovered_after": round(good[0] - lost_at, 3) if good else None,
             "bad_boots_sent_from": None, "bad_boots_sent_until": None}
    lines = []
    if good:
        lines.append(f"recovered: the first boot sent after the loss that became ACTIVE "
                     f"was answered {good[0] - lost_at:.2f} s after it ({t(good[0])})")
    else:
        lines.append("recovered: no boot sent after the loss became ACTIVE")
    if bad:
        sent = sorted(op["invoke"]["time"] - lost_at for op in bad)
        found.update(bad_boots_sent_from=round(sent[0], 3), bad_boots_sent_until=round(sent[-1], 3))
        lines.append(f"the {len(bad)} boot(s) that went wrong were sent from {sent[0]:+.2f} s to "
                     f"{sent[-1]:+.2f} s from the loss")
    return found, lines
