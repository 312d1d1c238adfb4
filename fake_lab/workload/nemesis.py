"""The nemesis: faults injected into a running lab, as timed workload steps.

A fault is a target plus a verb plus options, as os-faults has them:

    [[workload]]
    op = "fault"
    target = "broker"
    verb = "freeze"
    seconds = 4          # freeze, wait, thaw: one operation
    at = 1.5             # optional: start 1.5 s later, beside the next steps

Each is recorded in the history as an operation (``invoke``, then ``ok``
with what it did, or ``info`` when it could not tell or could not act mid-
run), so a checker can line it up with what the clients saw. Every verb is
listed by ``fake-lab faults``; a step naming an unknown target or verb, or a
bad option, is refused with one line before anything starts.
"""

import time

from fake_lab.daemons import haproxy, postgres, rabbit_cluster
from fake_lab.errors import LabError, UsageError


class Fault:
    """One verb on one target: its options {name: (kind, required, help)}."""

    def __init__(self, target, verb, summary, options=None):
        self.target, self.verb, self.summary = target, verb, summary
        self.options = options or {}

    def validate(self, step, where):
        """UsageError unless ``step`` gives this fault sound options."""
        known = {"op", "target", "verb", "name", "at", *self.options}
        unknown = sorted(set(step) - known)
        if unknown:
            raise UsageError(f"{where}: fault {self.target} {self.verb} takes no "
                             f"option {unknown[0]!r}")
        at = step.get("at", 0)
        if isinstance(at, bool) or not isinstance(at, (int, float)) or at < 0:
            raise UsageError(f"{where}: fault {self.target} {self.verb}: at must be "
                             f"a number of seconds >= 0, not {at!r}")
        for name, (kind, required, _) in self.options.items():
            if name not in step:
                if required:
                    raise UsageError(f"{where}: fault {self.target} {self.verb} "
                                     f"needs {name}")
                continue
            value = step[name]
            if kind == "seconds" and (isinstance(value, bool) or
                                      not isinstance(value, (int, float)) or value < 0):
                raise UsageError(f"{where}: fault {self.target} {self.verb}: {name} "
                                 f"must be a number of seconds >= 0, not {value!r}")
            if kind == "name" and not isinstance(value, str):
                raise UsageError(f"{where}: fault {self.target} {self.verb}: {name} "
                                 f"must be a name, not {value!r}")


SECONDS = ("seconds", False, "undo the fault after this many seconds (in the "
           "same operation); without it the fault stays until its undo verb")
NODE = ("name", False, "which node: its number ('2'), 'connections' (the "
        "default: the node holding most of the services' AMQP connections, "
        "read from /proc) or 'queue:NAME' (the node hosting that queue: a "
        "classic queue's home, a quorum queue's leader)")
FAULTS = {(f.target, f.verb): f for f in [
    Fault("broker", "restart", "stop the RabbitMQ node gracefully (SIGTERM) and "
          "start it again on the same ports and data directory"),
    Fault("broker", "kill", "SIGKILL the node, then start it again on the same "
          "ports and data directory"),
    Fault("broker", "freeze", "SIGSTOP every process of the node: it keeps its "
          "sockets and answers nothing", {"seconds": SECONDS}),
    Fault("broker", "thaw", "SIGCONT what freeze stopped"),
    Fault("relay", "blackhole", "keep every open AMQP connection but forward no "
          "byte either way, as a firewall or NAT that dropped an idle flow "
          "(LP#856764); connections opened afterwards pass", {"seconds": SECONDS}),
    Fault("relay", "reset", "RST both ends of every open AMQP connection"),
    Fault("relay", "latency", "delay every chunk by ms milliseconds, each way",
          {"ms": ("seconds", True, "milliseconds of delay each way"),
           "seconds": SECONDS}),
    Fault("relay", "heal", "undo blackhole and latency"),
    Fault("service", "stop", "stop one fake service (e.g. a compute host) for "
          "good", {"service": ("name", True, "the service, e.g. fake-compute-2")}),
    Fault("db", "kill-primary", "unplanned failover of the PostgreSQL pair "
          "([postgres] pair): SIGKILL every process of the primary, then "
          "promote the streaming replica; the services' multi-host URL "
          "(target_session_attrs=read-write) takes new connections to it",
          {"lag": ("seconds", False, "first stall the replication link this "
                   "long (the replica falls behind: with async replication "
                   "the primary goes on acknowledging commits it alone has)")}),
    Fault("db", "switchover", "planned switchover of the PostgreSQL pair: wait "
          "until the replica has replayed everything, stop the primary "
          "cleanly (fast shutdown), check the replica received its shutdown "
          "checkpoint, promote the replica"),
    Fault("db", "rejoin", "after a kill-primary or switchover, turn the old "
          "primary into a standby of the promoted node (the seed's \"turn the "
          "original master to new slave\"): pg_rewind it against the new "
          "primary (nothing to rewind after a clean switchover), "
          "standby.signal and primary_conninfo through a replication relay "
          "in front of the new primary, start it, wait until it streams; a "
          "second kill-primary or switchover then promotes it again"),
    Fault("api", "kill", "unplanned failover of the API pair ([api] pair): "
          "SIGKILL every process of the active API's container at once; "
          "HAProxy's health checks mark it DOWN and send the VIP's requests "
          "to the standby (the time of the DOWN is read from HAProxy's log)"),
    Fault("api", "switchover", "planned switchover of the API pair: drain the "
          "active server through HAProxy's runtime API (set server api/active "
          "state drain: new requests go to the standby), wait until it has no "
          "session (show stat), stop its container gracefully"),
    Fault("cluster", "kill-node", "SIGKILL one RabbitMQ node of the cluster "
          "(unplanned: no Close to its clients, no hand-over of its queues); "
          "it stays down", {"node": NODE}),
    Fault("cluster", "drain-node", "rabbitmq-upgrade drain one node (maintenance "
          "mode: it closes its clients' connections and hands its queue "
          "leaders over), then stop it (planned, as before an upgrade); it "
          "stays down", {"node": NODE}),
    Fault("cluster", "lose-node", "kill-node or drain-node, as [lab] node_loss "
          "says (--node-loss kill|drain)", {"node": NODE}),
]}
UNDO = {("broker", "freeze"): "thaw", ("relay", "blackhole"): "heal",
        ("relay", "latency"): "heal"}


def fault_of(step, where):
    """The Fault a workload step names (``op = "fault"``, or the older
    ``op = "stop-service"``), validated; UsageError otherwise."""
    if step.get("op") == "stop-service":
        step = dict(step, op="fault", target="service", verb="stop")
    key = (step.get("target"), step.get("verb"))
    if key not in FAULTS:
        raise UsageError(f"{where}: unknown fault {key[0]} {key[1]}; "
                         "fake-lab faults lists them")
    FAULTS[key].validate(step, where)
    return FAULTS[key], step


class Nemesis:
    def __init__(self, lab, history, say=print):
        self.lab, self.history, self.say = lab, history, say

    def run(self, step):
        """Inject the fault of ``step``, recorded as one history operation."""
        fault, step = fault_of(step, "workload")
        options = {k: v for k, v in step.items() if k in fault.options}
        op_id = self.history.invoke("fault", process="nemesis", target=fault.target,
                                    verb=fault.verb, **options)
        started = time.monotonic()
        try:
            done = self._apply(fault.target, fault.verb, options)
            if "seconds" in options and (fault.target, fault.verb) in UNDO:
                time.sleep(options["seconds"])
                undo = UNDO[(fault.target, fault.verb)]
                done["undo"] = {"verb": undo, **self._apply(fault.target, undo, {})}
        except (LabError, ValueError, OSError) as exc:
            # Mid-run, a fault its target cannot take: the outcome is
            # unknown, and the run goes on to say what the clients saw.
            self.history.complete(op_id, "fault", "info", process="nemesis",
                                  target=fault.target, verb=fault.verb,
                                  error=f"{type(exc).__name__}: {exc}")
            self.say(f"  fault {fault.target} {fault.verb}: could not: {exc}")
            return
        took = time.monotonic() - started
        status = done.pop("cluster_status", None)
        self.history.complete(op_id, "fault", "ok", process="nemesis",
                              target=fault.target, verb=fault.verb,
                              seconds_taken=round(took, 3), **done)
        if status is not None:  # asked of a surviving node, once it is over
            self.history.event("cluster-status", **status)
        self.say(f"  fault {fault.target} {fault.verb}"
                 + "".join(f" {k}={v}" for k, v in options.items())
                 + f": done in {took:.2f} s")

    def _apply(self, target, verb, options):
        lab = self.lab
        if target == "service":
            lab.stop_service(options["service"])
            return {"service": options["service"]}
        if target == "db":
            return postgres.fault(lab, verb, options)
        if target == "api":
            return haproxy.fault(lab, verb, options)
        if target == "cluster":
            return rabbit_cluster.lose_node(lab, verb, options.get("node"))
        if target == "broker":
            if verb in ("restart", "kill"):
                old, new = lab.broker.restart(kill=verb == "kill")
                return {"old_pids": old, "new_pids": new}
            if verb == "freeze":
                return {"pids": lab.broker.freeze()}
            return {"pids": lab.broker.thaw()}
        relay = getattr(lab, "relay", None)
        if relay is None:
            raise LabError("this run has no relay")
        extra = {"ms": options["ms"]} if verb == "latency" else {}
        reply = relay.fault(verb, **extra)
        reply.pop("ok", None)
        return reply


def describe():
    """The faults as lines for ``fake-lab faults``."""
    lines = []
    for (target, verb), fault in FAULTS.items():
        lines.append(f"{target:8} {verb:10} {fault.summary}")
        for name, (_, required, text) in fault.options.items():
            lines.append(f"{'':20}{name}{'' if required else ' (optional)'}: {text}")
    return lines
