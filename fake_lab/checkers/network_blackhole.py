"""The ``network-blackhole`` checker: what the API's next call got after
its idle AMQP connections were blackholed (LP#856764).

It reads history.jsonl (the requests and the relay's fault, with the
connections it caught), config.json, wire.jsonl and the API's log.

- ``reproduced``: the next call hung for its whole rpc_response_timeout and
  failed, nothing crossed the blackholed connections (the wire shows what
  the relay swallowed), no RST or FIN reached the worker, and it never
  reconnected meanwhile: nothing noticed the dead flow.
- ``not-reproduced``: the worker noticed (its driver reconnected through a
  new connection after the blackhole began, which the wire dates), and the
  next call was answered.
- ``unknown`` otherwise, saying which of these failed (a blackhole that let
  bytes through is no evidence at all).
"""

from fake_lab import history
from fake_lab.checkers import evidence
from fake_lab.checkers.verdicts import (
    NOT_REPRODUCED,
    REPRODUCED,
    UNKNOWN,
    Timeline,
    describe_request,
    named_ops,
    option,
    result,
    short_name,
)


def check(run):
    records = history.read(run.history)
    config = run.read_json("config.json") or {}
    t = Timeline(records)
    ops = named_ops(records)
    first, second = ops.get("first-request"), ops.get("second-request")
    hole = ops.get("fault-blackhole")
    timeout = option(config, "oslo_messaging_rabbit", "heartbeat_timeout_threshold", 0)
    rpc_timeout = option(config, "DEFAULT", "rpc_response_timeout", 0)
    cited = [f"heartbeat_timeout_threshold = {timeout} s, rpc_response_timeout = "
             f"{rpc_timeout} s"]
    if first is None or first["done"] is None or first["done"]["type"] != "ok":
        return result(UNKNOWN, cited + [describe_request("first-request", first, t),
                                        "no connection was opened to blackhole"])
    api_pid = first["done"]["value"].get("api_pid")
    cited.append(describe_request("first-request", first, t)
                 + f", served by API worker PID {api_pid}")
    if hole is None or hole["done"] is None or hole["done"]["type"] != "ok":
        return result(UNKNOWN, cited + ["the relay's blackhole did not take effect: "
                                        + str((hole or {}).get("done"))])
    began = hole["done"]["time"]
    end = second["done"]["time"] if second and second["done"] else None
    cited.append(f"relay: blackhole at {t(began)} caught connection(s) "
                 f"{hole['done']['value'].get('connections')}")

    wire = evidence.wire_connections(run.file("wire.jsonl"))
    mine = {name: conns for name, conns in wire.items()
            if evidence.connection_pid(name) == api_pid}
    if not mine:
        return result(UNKNOWN, cited + ["wire.jsonl names no connection of the API "
                                        "worker: the relay saw nothing to judge"])
    crossed, reset, reconnects = [], [], []
    for name, conns in sorted(mine.items()):
        held = [c for c in conns if c["accept"] is not None and c["accept"] <= began]
        if not held:
            continue
        c = held[-1]
        after = [x for d in ("c2s", "s2c") for x in c["beats"][d] + c["frames"][d]
                 if x > began]
        crossed += after
        swallowed = {d: len(c["dropped"][d]) for d in ("c2s", "s2c")}
        ended = c["end"]
        if ended and ended["time"] <= (end or ended["time"]) and ended["by"] == "relay" \
                and ended["how"] == "rst":
            reset.append(name)
        later = [x["accept"] for x in conns if x["accept"] and x["accept"] > began]
        if later:
            reconnects.append(min(later))
        cited.append(
            "wire: %s: %d forwarded after the blackhole; swallowed %d record(s) from "
            "the worker and %d from the broker; %s%s" % (
                short_name(name), len(after), swallowed["c2s"], swallowed["s2c"],
                f"the {ended['by']} side ended ({ended['how'].upper()}) at "
                f"{t(ended['time'])}, not passed on" if ended else "never ended",
                f"; reconnected through a new connection at {t(min(later))}, "
                f"{min(later) - began:.2f} s after the blackhole" if later else ""))
    for e in evidence.client_events(run.log("fake-nova-api")):
        if e["pid"] == api_pid and e["time"] >= began and e["kind"] != "heartbeat-check" \
                and (end is None or e["time"] <= end + 0.5):
            cited.append(f"client log: {e['line']}")
            if sum(line.startswith("client log") for line in cited) >= 4:
                break
    cited.append(describe_request("second-request", second, t))
    details = {"api_pid": api_pid, "crossed": len(crossed), "reset": reset,
               "reconnected_after": round(min(reconnects) - began, 3)
               if reconnects else None}
    if crossed:
        return result(UNKNOWN, cited + [f"{len(crossed)} frame record(s) crossed the "
                                        "blackholed connections: the fault did not "
                                        "hold"], **details)
    if reset:
        return result(UNKNOWN, cited + ["the relay reset a blackholed connection: the "
                                        "worker was told"], **details)
    done = second["done"] if second else None
    if done is None:
        return result(UNKNOWN, cited + ["the second request has no outcome"], **details)
    latency = done["value"].get("latency", 0)
    # Noticed: a reconnect before the call was sent. One the call itself
    # caused (a socket timeout while it hung) came too late to spare it.
    sent = second["invoke"]["time"]
    noticed = [x for x in reconnects if x <= sent]
    details["noticed_before_the_call"] = bool(noticed)
    if done["type"] != "ok" and not noticed and rpc_timeout \
            and latency >= 0.9 * rpc_timeout:
        return result(REPRODUCED, cited + [
            f"nothing noticed the dead flow before the call: it waited {latency:.2f} s "
            f"(rpc_response_timeout is {rpc_timeout} s) and failed"], **details)
    if done["type"] == "ok" and noticed:
        return result(NOT_REPRODUCED, cited + [
            "the worker noticed the dead flow %.2f s after the blackhole (%.1f x "
            "the heartbeat timeout), reconnected, and the call was answered" % (
                min(reconnects) - began,
                (min(reconnects) - began) / timeout if timeout else 0)], **details)
    return result(UNKNOWN, cited + ["neither a call that hung its whole timeout "
                                    "unnoticed nor a reconnect and an answer"],
                  **details)

