"""The ``heartbeat-loss`` checker: did the broker drop the idle API worker's
connections for missed heartbeats? See scenarios/heartbeat-loss.toml."""

from fake_lab import history
from fake_lab.checkers import evidence
from fake_lab.checkers.verdicts import NOT_REPRODUCED, REPRODUCED, UNKNOWN, Timeline, option, result


def _named_ops(records):
    """{step name: {"invoke": rec, "done": rec or None}}."""
    named = {}
    for op in history.operations(records).values():
        name = op["invoke"]["value"].get("name") or op["invoke"]["f"]
        named[name] = op
    return named


def _describe_request(name, op, t):
    if op is None:
        return f"{name}: not sent"
    done = op["done"]
    if done is None:
        return f"{name}: sent at {t(op['invoke']['time'])}, no outcome recorded"
    v = done["value"]
    what = f"HTTP {v['status']}" if v.get("status") else v.get("error", "?")
    return (f"{name}: {done['type']} ({what}) in {v.get('latency', 0):.3f} s, "
            f"sent at {t(op['invoke']['time'])}")


def check(run):
    """Did the broker drop the idle API worker's connections for missed
    heartbeats? See scenarios/heartbeat-loss.toml for the run it judges."""
    records = history.read(run.history)
    config = run.read_json("config.json") or {}
    t = Timeline(records)
    ops = _named_ops(records)
    first, idle, second = (ops.get(n) for n in
                           ("first-request", "idle", "second-request"))
    cited = []

    if first is None or first["done"] is None or first["done"]["type"] != "ok":
        return result(UNKNOWN, [
            _describe_request("first-request", first, t),
            "without a successful first request no RPC connection was "
            "opened, so there is nothing to watch"])
    api_pid = first["done"]["value"].get("api_pid")
    cited.append(_describe_request("first-request", first, t)
                 + f", served by API worker PID {api_pid}")

    conns = [c for c in evidence.broker_connections(run.broker_log)
             if c["pid"] == api_pid and c["opened"] <= first["done"]["time"] + 1]
    if not conns:
        return result(UNKNOWN, cited + [
            f"{run.broker_log}: no connection named for PID {api_pid}; the "
            "broker's connections cannot be matched to the API worker"])
    cited.append("broker: the first request opened %d connection(s) of API "
                 "worker PID %s: %s" % (len(conns), api_pid, ", ".join(
                     f"{c['name']} at {t(c['opened'])}" for c in conns)))

    if idle is None or idle["done"] is None:
        return result(UNKNOWN, cited + ["the idle period did not complete"])
    idle_from, idle_to = idle["invoke"]["time"], idle["done"]["time"]
    timeout = option(config, "oslo_messaging_rabbit",
                     "heartbeat_timeout_threshold", 0)
    end = second["done"]["time"] if second and second["done"] else idle_to

    missed = [c for c in conns if c["closed"] is not None
              and evidence.MISSED_HEARTBEATS in (c["close_reason"] or "")
              and first["done"]["time"] <= c["closed"] <= end]
    checks = [e for e in evidence.client_events(run.log("fake-nova-api"))
              if e["pid"] == api_pid]
    idle_checks = [e for e in checks if e["kind"] == "heartbeat-check"
                   and idle_from <= e["time"] <= idle_to]
    observed = option(config, "lab", "observe_heartbeats", True)
    cited.append(
        "idle %.2f s (%s to %s, %.1f x the %s s heartbeat timeout): the API "
        "worker ran %d heartbeat check(s) meanwhile%s" % (
            idle_to - idle_from, t(idle_from), t(idle_to),
            (idle_to - idle_from) / timeout if timeout else 0, timeout,
            len(idle_checks),
            " (%s threads)" % ", ".join(sorted({e.get("thread", "?") for e
                                                in idle_checks}))
            if idle_checks else "" if observed else " (observation off)"))
    listed_alive = None
    for rec in [r for r in records if r.get("f") == "connections-listed"]:
        if rec["value"].get("error"):
            cited.append(f"rabbitmqctl list_connections failed at {t(rec['time'])}: "
                         f"{rec['value']['error']}")
            continue
        # The listing names a connection by its peer address; the broker
        # log gives each of the API's connections its peer address too.
        ports = {str(row["peer_port"]) for row in rec["value"].get("connections", [])}
        alive = [c for c in conns if c["peer"].rsplit(":", 1)[-1] in ports]
        listed_alive = len(alive)
        cited.append("rabbitmqctl list_connections at %s: %d of the API "
                     "worker's %d connection(s) listed" % (
                         t(rec["time"]), len(alive), len(conns)))
    # Client lines from the idle period to the end of the second request:
    # what the driver said when it found its connections dead.
    after = [e for e in checks if e["kind"] != "heartbeat-check"
             and idle_from <= e["time"] <= end + 0.5]

    if missed:
        for c in missed:
            silent = c["closed"] - first["done"]["time"]
            cited.append(
                "broker closed %s %.2f s after the first request: %s" % (
                    c["name"], silent, " / ".join(c["lines"][-2:])))
        for e in after[:4]:
            cited.append(f"client log: {e['line']}")
        cited.append(_describe_request("second-request", second, t))
        return result(REPRODUCED, cited, api_pid=api_pid,
                      connections=len(conns), missed=len(missed),
                      idle_heartbeat_checks=len(idle_checks))

    closed_early = [c for c in conns if c["closed"] is not None
                    and c["closed"] <= end]
    if closed_early:
        return result(UNKNOWN, cited + [
            "broker closed %s for another reason: %s" % (
                c["name"], c["close_reason"]) for c in closed_early])
    if timeout and idle_to - idle_from < 3 * timeout:
        return result(UNKNOWN, cited + [
            "the idle period was shorter than 3 heartbeat timeouts, so a "
            "missed heartbeat might not have been detected yet"])
    if observed and not idle_checks:
        return result(UNKNOWN, cited + [
            "no heartbeat check ran while idle and yet the broker kept the "
            "connections: the run cannot tell why"])
    if listed_alive is not None and listed_alive < len(conns):
        return result(UNKNOWN, cited + [
            "the broker log shows no close, but the broker's own listing "
            "lacks some of the API worker's connections"])
    if not second or not second["done"] or second["done"]["type"] != "ok":
        return result(UNKNOWN, cited + [
            "no missed heartbeats, but "
            + _describe_request("second-request", second, t)])
    cited.append("broker: no 'missed heartbeats' close for any of the API "
                 "worker's connections; all were still open when the second "
                 "request was sent")
    for e in after[:4]:
        cited.append(f"client log: {e['line']}")
    cited.append(_describe_request("second-request", second, t))
    return result(NOT_REPRODUCED, cited, api_pid=api_pid,
                  connections=len(conns), missed=0,
                  idle_heartbeat_checks=len(idle_checks))


