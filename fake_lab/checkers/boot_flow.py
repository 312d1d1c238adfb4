"""The ``boot-flow`` checker: did every accepted boot reach ACTIVE, once?"""

from fake_lab import history
from fake_lab.checkers import evidence
from fake_lab.checkers.verdicts import NOT_REPRODUCED, REPRODUCED, UNKNOWN, Timeline, result


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


def check(run):
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
    t = Timeline(records)
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

