"""Checkers: read a finished run's directory, return a verdict with evidence.

A checker reads only what the run recorded (history.jsonl, config.json and
the logs), so ``fake-lab check RUNDIR`` judges an old run again without
running anything. Verdicts are three-valued: ``reproduced``,
``not-reproduced``, and ``unknown`` when the run cannot tell (each checker
says which evidence was missing). A checker that could only ever say one of
them would be a defect: every branch below is exercised by the unit tests.
"""

from fake_lab import history
from fake_lab.checkers import evidence

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not-reproduced"
UNKNOWN = "unknown"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, UNKNOWN)


def option(config, group, name, default=None):
    """A resolved option from a run's config.json."""
    return config.get("options", {}).get(group, {}).get(name, default)


def result(verdict, evidence_lines, **details):
    return {"verdict": verdict, "evidence": evidence_lines, "details": details}


class _Timeline:
    """Relative times ("t=+4.20s") on the history's clock."""

    def __init__(self, records):
        first = records[0] if records else {"time": 0.0, "t": 0.0}
        self.start = first["time"] - first["t"]

    def __call__(self, when):
        return "t=+%.2fs" % (when - self.start)


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


def check_heartbeat_loss(run):
    """Did the broker drop the idle API worker's connections for missed
    heartbeats? See scenarios/heartbeat-loss.toml for the run it judges."""
    records = history.read(run.history)
    config = run.read_json("config.json") or {}
    t = _Timeline(records)
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


CHECKERS = {"heartbeat-loss": check_heartbeat_loss}


def _database_url(run):
    """The run's database URL, from the lab's own config file."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    parser.read(run.file("etc", "30-lab.conf"))
    return parser.get("database", "connection", fallback=None)


def _final_database(run):
    """{uuid: instance}, {uuid: builds}, {task id: task} at the end of the run."""
    import sqlalchemy as sa

    from fake_service import db

    url = _database_url(run)
    if not url:
        return None
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            instances = {r["uuid"]: r for r in db.rows(conn.execute(sa.select(db.instances)))}
            builds = {}
            for r in db.rows(conn.execute(sa.select(db.builds))):
                builds[r["instance_uuid"]] = builds.get(r["instance_uuid"], 0) + 1
            tasks = {r["id"]: r for r in db.rows(conn.execute(sa.select(db.tasks)))}
    finally:
        eng.dispose()
    return instances, builds, tasks


def check_boot_flow(run):
    """Did every accepted boot reach ACTIVE, exactly once? Reads the history
    (what the client was told) and the final database (what happened).

    Each accepted boot (202) is ``active``, ``failed`` (ERROR, or its task
    failed), ``lost`` (still BUILD with its task in progress when the run
    settled: it never completes) or ``duplicated`` (built more than once). A
    boot whose answer never came is ``info``: unknown outcome. With an
    ``idle`` step, the boots sent after it are also judged ``slow`` above
    the scenario's ``slow_seconds``. Verdict: ``reproduced`` (something was
    lost, duplicated, failed, unknown or slow), ``not-reproduced``, or
    ``unknown`` when the run did not settle or its database is unreadable.
    """
    from fake_lab import catalogue

    records = history.read(run.history)
    config = run.read_json("config.json") or {}
    t = _Timeline(records)
    try:
        options = catalogue.load(config.get("scenario", "")).get("checker_options", {})
    except Exception:
        options = {}
    slow_limit = options.get("slow_seconds", 1.0)
    boots = [op for op in history.operations(records).values()
             if op["invoke"]["f"] == "boot"]
    if not boots:
        return result(UNKNOWN, ["no boot was sent"])
    settled = [r for r in records if r.get("f") == "settled"]
    try:
        final = _final_database(run)
    except Exception as exc:
        return result(UNKNOWN, [f"the final database is unreadable: {exc}"])
    if final is None:
        return result(UNKNOWN, ["the run has no database"])
    instances, builds, tasks = final
    idle = [op for op in history.operations(records).values()
            if op["invoke"]["f"] == "idle" and op["done"]]
    idle_end = idle[-1]["done"]["time"] if idle else None

    counts = {"accepted": 0, "active": 0, "failed": 0, "lost": 0, "duplicated": 0,
              "rejected": 0, "info": 0, "slow_after_idle": 0}
    listed = {k: [] for k in ("failed", "lost", "duplicated", "info", "slow_after_idle")}
    latencies_after_idle = []
    for op in sorted(boots, key=lambda o: o["invoke"]["time"]):
        done = op["done"]
        name = op["invoke"]["value"].get("name")
        if done is None or done["type"] == "info":
            counts["info"] += 1
            rid = (done or {}).get("value", {}).get("request_id") or name
            listed["info"].append(rid)
            continue
        v = done["value"]
        if done["type"] == "fail":
            counts["rejected"] += 1
            continue
        counts["accepted"] += 1
        rid, uuid = v.get("request_id"), v.get("server_id")
        if idle_end is not None and op["invoke"]["time"] >= idle_end:
            latencies_after_idle.append(v["latency"])
            if v["latency"] > slow_limit:
                counts["slow_after_idle"] += 1
                listed["slow_after_idle"].append(f"{rid} ({v['latency']:.2f} s)")
        inst = instances.get(uuid)
        task = tasks.get(v.get("task_id"))
        if builds.get(uuid, 0) > 1:
            counts["duplicated"] += 1
            listed["duplicated"].append(f"{rid} (built {builds[uuid]} times)")
        if inst is None:
            counts["lost"] += 1
            listed["lost"].append(f"{rid} (no instance row)")
        elif inst["status"] == "ACTIVE" and (task or {}).get("status") == "completed":
            counts["active"] += 1
        elif inst["status"] == "ERROR" or (task or {}).get("status") == "failed":
            counts["failed"] += 1
            listed["failed"].append(f"{rid}: {inst.get('fault') or (task or {}).get('reason')}")
        else:
            counts["lost"] += 1
            listed["lost"].append(
                f"{rid} (server {uuid} still {inst['status']}/{inst['task_state']}, "
                f"task {(task or {}).get('status')}, host {inst['host']})")

    cited = [f"{len(boots)} boot(s) sent from {t(boots[0]['invoke']['time'])}: "
             + ", ".join(f"{k} {n}" for k, n in counts.items())]
    if settled:
        s = settled[-1]["value"]
        cited.append(f"settled at {t(settled[-1]['time'])}: {s.get('in_progress')} "
                     f"task(s) in progress after {s.get('seconds')} s of waiting")
    if idle:
        dropped = [c for c in evidence.broker_connections(run.broker_log)
                   if evidence.MISSED_HEARTBEATS in (c["close_reason"] or "")
                   and idle[-1]["invoke"]["time"] <= c["closed"] <= idle_end + 0.5]
        cited.append(f"broker: {len(dropped)} connection(s) closed for missed "
                     "heartbeats during the idle period"
                     + (": " + ", ".join(c["name"] or "?" for c in dropped[:6])
                        if dropped else ""))
        for c in dropped[:2]:
            cited.append("broker: " + " / ".join(c["lines"][-2:]))
    if latencies_after_idle:
        cited.append("boots after the idle period: latency %s s (slow above %s s)"
                     % (", ".join(f"{x:.2f}" for x in latencies_after_idle[:10]),
                        slow_limit))
    for kind, items in listed.items():
        for item in items[:10]:
            cited.append(f"{kind}: {item}")
        if len(items) > 10:
            cited.append(f"{kind}: ... and {len(items) - 10} more")
    details = dict(counts, **{f"{k}_request_ids": [i.split(" ")[0].rstrip(":")
                                                   for i in v]
                              for k, v in listed.items()})
    if not settled:
        return result(UNKNOWN, cited + ["the run did not wait for the boots "
                                        "to settle"], **details)
    if counts["accepted"] == 0 and counts["info"] == 0:
        return result(UNKNOWN, cited + ["no boot was accepted"], **details)
    bad = sum(counts[k] for k in ("failed", "lost", "duplicated", "info",
                                  "slow_after_idle"))
    return result(REPRODUCED if bad else NOT_REPRODUCED, cited, **details)


CHECKERS["boot-flow"] = check_boot_flow
