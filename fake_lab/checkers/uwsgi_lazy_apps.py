"""The ``uwsgi-lazy-apps`` checker: were the API's RPC connections made
before uWSGI forked its workers, and what broke? See
scenarios/uwsgi-without-lazy-apps.toml.

Without ``lazy-apps`` uWSGI loads the app in the master and forks the
workers from it. An app that talks RPC while it loads (``[api]
call_on_load``) opens its connections there: each worker inherits the
sockets, the pool and the reply queue's poller object, but not the threads
(heartbeat, reply poller) that served them. oslo.messaging says so the
first time a worker uses an inherited connection: "Process forked after
connection established! This can result in unpredictable behavior."
(impl_rabbit's ``ensure``; the same text from 1.6.0 to 18.x).

It reads logs/uwsgi.log (the master's and workers' PIDs, who loaded the
app), the API's log (the fork warnings, the driver's "No calling threads
waiting for msg_id" lines, the heartbeat observer's checks, each with its
PID), the broker's log (connections are named ``program:pid:uuid`` after
the process that made them) and history.jsonl (each call's outcome, its
worker, and the message ID of a timed-out call).

- ``reproduced``: a worker logged the fork warning. What broke is cited:
  calls lost with the process their reply reached instead, heartbeat
  checks per process, and the broker's closes of the inherited
  connections.
- ``not-reproduced``: no process logged it, every API connection is named
  after the worker that used it, and every call was answered.
- ``unknown`` otherwise (no uWSGI process list, no call, calls lost
  without the warning).
"""

import re

from fake_lab import history
from fake_lab.checkers import container_logs, evidence
from fake_lab.checkers.verdicts import (
    NOT_REPRODUCED,
    REPRODUCED,
    UNKNOWN,
    Timeline,
    describe_request,
    option,
    result,
    short_name,
)

FORKED = "Process forked after connection established"
_NO_CALLER = re.compile(r"No calling threads waiting for msg_id : (?P<msg_id>\w+)")
_MARKERS = (
    ("forked", re.compile(re.escape(FORKED))),
    ("no-caller", _NO_CALLER),
    ("heartbeat-check", re.compile(r"heartbeat-check connection=")),
    ("loaded", re.compile(r"call on load: pid=\d+ answered")),
    # The driver's lines that name a connection by its uuid.
    *[(kind, pattern) for kind, pattern in evidence.CLIENT_MARKERS
      if kind in ("unreachable", "reconnected", "recoverable-error")],
)
_MSG_ID = re.compile(r"message ID (?P<msg_id>\w+)")


def check(run):
    records = history.read(run.history)
    config = run.read_json("config.json") or {}
    t = Timeline(records)
    uwsgi = container_logs.uwsgi_log(run.log("uwsgi"))
    master, workers = uwsgi["master"], uwsgi["workers"]
    lazy = option(config, "uwsgi", "lazy_apps")
    details = {"master": master, "workers": workers, "lazy_apps": lazy}
    if master is None or not workers:
        return result(UNKNOWN, [f"{run.log('uwsgi')} names no uWSGI master and "
                                "workers: the processes cannot be told apart"],
                      **details)
    loaded = uwsgi["app_loaded_by"]
    pending = [w for w in workers if w not in loaded]
    who = ("the master, before it forked" if loaded and set(loaded) == {master}
           else "the worker(s), after the fork" + (
               f"; worker PID(s) {', '.join(map(str, pending))} had not finished "
               "loading it when the run ended" if pending else "")
           if loaded and master not in loaded else "?")
    cited = ["uwsgi.log: master PID %d, worker PID(s) %s; lazy-apps=%s; the app was "
             "loaded by PID %s (%s)" % (
                 master, ", ".join(map(str, workers)), str(lazy).lower(),
                 ", ".join(map(str, loaded)) or "?", who)]

    events = [e for e in evidence.client_events(run.log("fake-nova-api"), _MARKERS)
              if e["pid"] == master or e["pid"] in workers]
    cited += [f"API log: {e['line']}" for e in events if e["kind"] == "loaded"][:2]

    # The API's connections, by the PID that made them (their name).
    conns = [c for c in evidence.broker_connections(run.broker_log)
             if c["pid"] in [master, *workers]]
    made_by = {}
    for c in conns:
        made_by.setdefault(c["pid"], set()).add(c["name"])
    cited.append("broker: the API's connections were made by %s" % (
        "; ".join(f"PID {pid} ({'master' if pid == master else 'worker'}): "
                  f"{len(names)} connection name(s)"
                  for pid, names in sorted(made_by.items())) or "no process"))
    details["connections_by_pid"] = {str(k): len(v) for k, v in made_by.items()}

    forked = {}
    for e in events:
        if e["kind"] == "forked":
            forked.setdefault(e["pid"], e)
    details["forked_warnings"] = sorted(forked)
    for pid, e in sorted(forked.items()):
        cited.append(f"API log, worker PID {pid}: {e['line']}")

    calls = [op for op in history.operations(records).values()
             if op["invoke"]["f"] == "call"]
    if not calls:
        return result(UNKNOWN, cited + ["no call was made"], **details)
    lost = [op for op in calls if op["done"] is None or op["done"]["type"] != "ok"]
    details.update(calls=len(calls), lost=len(lost))
    cited.append("%d call(s): %d answered, %d lost" % (
        len(calls), len(calls) - len(lost), len(lost)))
    cited += _lost_lines(lost, events, master, t)
    cited += _heartbeats(events, master, workers)
    cited += _shared(events, conns, master, workers)
    # A worker forked while another thread of the master held a lock (the
    # GIL's hand-off, a logging lock) can hang for good: it serves nothing
    # and uWSGI has to kill it at stop.
    hung = [w for w in workers if not uwsgi["served"].get(w)
            and w in uwsgi["no_mercy"]]
    details["hung_workers"] = hung
    for w in hung:
        number, line = uwsgi["no_mercy"][w]
        cited.append(f"worker PID {w} served no request and did not stop when "
                     f"asked: uwsgi.log:{number}: {line}")
    # Closes while the calls ran (the lab's stop closes the rest).
    end = max(op["done"]["time"] if op["done"] else op["invoke"]["time"]
              for op in calls)
    inherited = [c for c in conns if c["pid"] == master and c["closed"] is not None
                 and c["closed"] <= end]
    for c in inherited[:3]:
        cited.append("broker closed %s (made by the master) at %s: %s" % (
            short_name(c["name"]), t(c["closed"]), c["close_reason"] or "?"))

    if forked:
        return result(REPRODUCED, cited + [
            "the workers used connections made before the fork (%d of %d "
            "worker(s) logged the driver's warning)%s%s" % (
                len(forked), len(workers),
                f"; {len(lost)} call(s) were lost" if lost
                else "; no call was lost in this run",
                f"; {len(hung)} worker(s) hung" if hung else "")], **details)
    if lost:
        return result(UNKNOWN, cited + [
            f"{len(lost)} call(s) were lost although no process logged the "
            "fork warning: something else lost them"], **details)
    if master in made_by:
        return result(UNKNOWN, cited + [
            "the master made connections but no worker warned that it used "
            "them: the run cannot tell whether they crossed the fork"], **details)
    return result(NOT_REPRODUCED, cited + [
        "no process logged the fork warning; each connection was made by the "
        "worker that used it, and every call was answered"], **details)


def _lost_lines(lost, events, master, t):
    """Each lost call (the first four), with the process its reply reached
    instead (the driver's "No calling threads waiting for msg_id")."""
    reached = {}
    for e in events:
        m = _NO_CALLER.search(e["line"]) if e["kind"] == "no-caller" else None
        if m:
            reached.setdefault(m.group("msg_id"), e)
    lines = []
    for op in lost[:4]:
        line = describe_request(op["invoke"]["value"].get("name"), op, t)
        done = op["done"]
        if done is not None:
            v = done["value"]
            line += f" from worker PID {v.get('worker_pid') or v.get('api_pid')}"
            m = _MSG_ID.search(str(v.get("body")))
            if m:
                line += f", message ID {m.group('msg_id')}"
                got = reached.get(m.group("msg_id"))
                if got:
                    line += ("; its reply reached PID %d (%s) at %s, which had "
                             "no caller waiting for it" % (
                                 got["pid"], "the master" if got["pid"] == master
                                 else "another worker", t(got["time"])))
        lines.append(line)
    if len(lost) > 4:
        lines.append(f"... and {len(lost) - 4} more lost call(s)")
    return lines


def _shared(events, conns, master, workers):
    """The master's connections that workers used (the driver names a
    connection by its uuid on its reconnect lines, the observer by its name
    on each heartbeat check): one socket, several processes writing and
    reading it."""
    lines = []
    for name in sorted({c["name"] for c in conns if c["pid"] == master}):
        uuid = name.rsplit(":", 1)[-1]
        users = {}
        for e in events:
            if e["pid"] in workers and (e.get("uuid") == uuid or e.get("name") == name):
                users.setdefault(e["pid"], e)
        if not users:
            continue
        reopened = len([c for c in conns if c["name"] == name]) - 1
        lines.append("connection %s (made by the master) used by %d worker(s): %s%s" % (
            short_name(name), len(users), ", ".join(map(str, sorted(users))),
            f"; the broker saw it reopened {reopened} time(s) under the master's "
            "name" if reopened > 0 else ""))
        lines += [f"API log, worker PID {pid}: {e['line']}"
                  for pid, e in sorted(users.items())]
    return lines


def _heartbeats(events, master, workers):
    """Heartbeat checks per process (the observer's lines): who ran them."""
    counts = {pid: 0 for pid in [master, *workers]}
    for e in events:
        if e["kind"] == "heartbeat-check":
            counts[e["pid"]] = counts.get(e["pid"], 0) + 1
    if not any(counts.values()):
        return []
    return ["heartbeat checks by process: " + ", ".join(
        f"PID {pid} ({'master' if pid == master else 'worker'}): {n}"
        for pid, n in counts.items())]
