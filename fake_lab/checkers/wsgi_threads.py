"""The ``wsgi-threads`` checker (LP#1829062): does an eventlet-patched API
worker served by several container threads lose calls to eventlet's hubs?
See scenarios/wsgi-threads.toml.

uWSGI's ``threads`` and mod_wsgi's daemon ``threads`` are native OS threads,
and eventlet gives each its own hub. The reply queue's poller is a green
thread of the hub of the thread that made the worker's first call; the reply
to a call made on another thread must wake a green thread of another hub,
which greenlet refuses ("Cannot switch to a different thread", printed by
the hub to the container's standard error): that reply is dropped and the
call ends in MessagingTimeout although the compute answered at once.

It reads history.jsonl (each call's outcome, and the worker PID and OS
thread that served it: the API's ``x-fake-lab-worker-pid`` and
``x-fake-lab-worker-thread`` headers), config.json, the container's error
log (uwsgi.log, apache-error.log) and the compute's log (when it answered
each lost call).

- ``reproduced``: the container's log holds hub or greenlet errors; the
  lost calls are cited with the thread that served them and when the
  compute answered them.
- ``not-reproduced``: no such error, every call answered, and with more
  than one thread configured, the calls were spread over more than one of
  them (otherwise the run did not test threads at all).
- ``unknown`` otherwise: no first request, no concurrent calls, no
  container log, or calls lost without any hub error (another cause).
"""

import glob
import os
import re

from fake_lab import history
from fake_lab.checkers import container_logs, evidence
from fake_lab.checkers.verdicts import (
    NOT_REPRODUCED,
    REPRODUCED,
    UNKNOWN,
    Timeline,
    describe_request,
    named_ops,
    option,
    result,
)

# The compute's line for each ping it answered, under the caller's request id.
_PING = (("ping", re.compile(r"\bping: ")),)


def check(run):
    records = history.read(run.history)
    config = run.read_json("config.json") or {}
    t = Timeline(records)
    first = named_ops(records).get("first-request")
    container = option(config, "lab", "container", "uwsgi")
    threads = option(config, "uwsgi", "threads", 1)
    details = {"container": container, "threads": threads}
    if first is None or first["done"] is None or first["done"]["type"] != "ok":
        return result(UNKNOWN, [describe_request("first-request", first, t),
                                "without a first answered call the worker has no "
                                "reply queue yet, so there is nothing to test"],
                      **details)
    home = _thread(first)
    cited = [describe_request("first-request", first, t)
             + f", served by PID {_pid(first)} on thread {home}"
             + " (its call started the reply queue's poller)"]
    calls = [op for op in history.operations(records).values()
             if op["invoke"]["f"] == "call"
             and op["invoke"]["value"].get("name") != "first-request"]
    if not calls:
        return result(UNKNOWN, cited + ["no concurrent call was made"], **details)

    lost = [op for op in calls if op["done"] is None or op["done"]["type"] != "ok"]
    per_thread = {}
    for op in calls:
        key = _thread(op)
        ok = op["done"] is not None and op["done"]["type"] == "ok"
        counts = per_thread.setdefault(key, [0, 0])
        counts[0 if ok else 1] += 1
    details.update(calls=len(calls), lost=len(lost),
                   threads_used=len([k for k in per_thread if k is not None]))
    cited.append(
        "%d concurrent call(s), at most %d in flight, served on %d worker "
        "thread(s) (%d configured, %s): %s" % (
            len(calls), _in_flight(calls), details["threads_used"], threads,
            container, "; ".join(
                f"thread {k}{' (the first request)' if k == home else ''}: "
                f"{ok} answered, {bad} lost"
                for k, (ok, bad) in sorted(per_thread.items(), key=str))))

    log_name = container_logs.ERROR_LOGS.get(container, "uwsgi")
    log_path = run.log(log_name)
    if not os.path.exists(log_path):
        return result(UNKNOWN, cited + [f"{log_path} is missing: the errors the "
                                        "hub prints cannot be read"], **details)
    errors = container_logs.hub_errors(log_path)
    details["hub_errors"] = len(errors)
    kinds = {}
    for e in errors:
        kinds[e["what"]] = kinds.get(e["what"], 0) + 1
    if errors:
        tids = sorted({str(e["tid"]) for e in errors if e["tid"] is not None})
        cited.append("%s.log: %d hub/greenlet error(s): %s%s" % (
            log_name, len(errors), "; ".join(f"{n} x '{w}'" for w, n in kinds.items()),
            f", printed on thread(s) {', '.join(tids)}"
            + (" (the first request's, where the poller runs)"
               if tids == [str(home)] else "") if tids else ""))
        cited += [f"{log_name}.log:{e['number']}: {e['line']}" for e in errors[:2]]
    cited += _lost_lines(run, lost, t)
    if errors:
        return result(REPRODUCED, cited + [
            "the worker's threads each run their own eventlet hub: the reply "
            "poller could not wake callers on other threads"
            + (f", and {len(lost)} call(s) were lost" if lost
               else "; no call was lost in this run")], **details)
    if lost:
        return result(UNKNOWN, cited + [
            f"{len(lost)} call(s) were lost but {log_name}.log holds no hub or "
            "greenlet error: something else lost them"], **details)
    if threads > 1 and details["threads_used"] < 2:
        return result(UNKNOWN, cited + [
            f"{threads} threads were configured but every call was served on one: "
            "the run did not test more than one thread"], **details)
    slowest = max(op["done"]["value"].get("latency", 0) for op in calls)
    return result(NOT_REPRODUCED, cited + [
        f"{log_name}.log: no hub or greenlet error; every call answered, the "
        f"slowest in {slowest:.3f} s"], **details)


def _thread(op):
    done = op["done"]
    return done["value"].get("api_thread") if done else None


def _pid(op):
    done = op["done"]
    return (done["value"].get("api_pid") or done["value"].get("worker_pid")) \
        if done else None


def _in_flight(calls):
    """The most calls outstanding at once, from the history's times."""
    edges = []
    for op in calls:
        end = op["done"]["time"] if op["done"] else float("inf")
        edges += [(op["invoke"]["time"], 1), (end, -1)]
    most = now = 0
    for _, step in sorted(edges):
        now += step
        most = max(most, now)
    return most


def _lost_lines(run, lost, t):
    """Each lost call (the first four): what the API answered, on which
    thread, and when the compute had answered it."""
    answered = {}
    for path in sorted(glob.glob(run.log("fake-compute-*"))):
        if path.endswith(".out.log"):
            continue
        for e in evidence.client_events(path, _PING):
            answered.setdefault(e.get("request_id"), e)
    lines = []
    for op in lost[:4]:
        done = op["done"]
        name = op["invoke"]["value"].get("name")
        line = describe_request(name, op, t)
        if done is not None:
            v = done["value"]
            body = v.get("body") or {}
            fault = next(iter(body.values()), {}) if isinstance(body, dict) else {}
            message = fault.get("message") if isinstance(fault, dict) else None
            line += f" on thread {v.get('api_thread')}" + (
                f": {message}" if message else "")
            served = answered.get(v.get("request_id"))
            if served:
                line += ("; the compute answered it at %s, %.3f s after it was "
                         "sent" % (t(served["time"]),
                                   served["time"] - op["invoke"]["time"]))
        lines.append(line)
    if len(lost) > 4:
        lines.append(f"... and {len(lost) - 4} more lost call(s)")
    return lines
