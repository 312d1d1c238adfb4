"""The ``action-flow`` checker: what did the server actions sent after the
API's idle period cost, and did any get lost? See
scenarios/action-during-heartbeat-loss.toml.

A server action is two RPCs in the API, as nova's compute API does it: a
call to the conductor (the state check and the task_state's save) and a cast
to the server's host, which walks the action's task_states and ends the
server in the action's vm_state. The checker reads only the run directory:
history.jsonl (the boots, the idle period, each action: its outcome,
latency, request id and task id), final-state.json (each server's
vm_state, task_state and power_state and each task's status once every
service stopped), logs/broker.log, logs/fake-nova-api.log (the API's
``server-action`` line: what the call and the cast each took; the driver's
unreachable and reconnect lines) and the hosts' logs (when the compute
received the cast).

Each accepted action (202) is ``done`` (its task completed and the server
in the action's vm_state with no task_state), ``failed`` (its task failed,
or it ended elsewhere) or ``lost`` (its task still in progress when the run
settled: the cast never ran); one without an answer, or a 5xx, is ``info``.

- ``reproduced``: the broker closed the API worker's connections for missed
  heartbeats during the idle period, and the actions met them: one was
  slower than ``slow_seconds``, lost, failed or unanswered, or the driver
  logged its reconnect while an action was in the API. What it cost is
  cited either way: about ``rabbit_retry_interval`` (1 s) when the send
  found the socket reset ("is unreachable ... Trying again in 1 seconds"),
  tens of milliseconds when it read the close first ("A recoverable
  connection/channel error occurred") and reconnected at once.
- ``not-reproduced``: no such close, the idle period lasted at least three
  heartbeat timeouts, and every action was answered fast and done.
- ``unknown``: no final state, the run did not settle, an action was
  refused (a 4xx: the scenario's premise failed) or had no server to act
  on, the broker closed the connections and no action met them (no cost,
  no reconnect), or actions went wrong without the close (something else
  caused it).
"""

import re

from fake_compute import states
from fake_lab import history
from fake_lab.checkers import boot_flow, evidence
from fake_lab.checkers.verdicts import (
    NOT_REPRODUCED,
    REPRODUCED,
    UNKNOWN,
    Judgement,
    Verdict,
    option,
)

API_LOG = "fake-nova-api"
BAD = ("slow", "lost", "failed", "info")
# The driver's lines that tell of a dead connection and its replacement.
RECONNECT_KINDS = ("heartbeat-warning", "recoverable-error", "unreachable",
                   "reconnected")


# What an RPC failure looks like in the API's error line.
_MESSAGING = re.compile(r"oslo_messaging|MessagingTimeout|AMQP|amqp|kombu|"
                        r"Connection(Reset|Refused)Error|MessageDeliveryFailure")


def _api_error(lines, request_id):
    """The API's own "unexpected error" line of a request (FaultWrapper
    logs it with the exception), or None."""
    for e in lines:
        if request_id and f"[{request_id}]" in e["line"] and \
                e["msg"].startswith("unexpected error"):
            return e["msg"]
    return None


def action_fate(action, state):
    """(fate, why) of one accepted action from final-state.json: ``done``,
    ``failed`` or ``lost``."""
    inst = state["instances"].get(action["server_id"])
    task = state["tasks"].get(action.get("task_id")) or {}
    if inst is None:
        return "lost", f"no instance {action['server_id']} in the database"
    where = (f"vm_state {states.vm_state(inst['status'])}, task_state "
             f"{inst['task_state']}, power_state {inst['power_state']}")
    status = task.get("status")
    if status == "failed":
        return "failed", f"its task failed: {task.get('reason')} ({where})"
    if status != "completed":
        return "lost", (f"its task is {status or 'missing'}: the host never "
                        f"finished it ({where})")
    if (states.vm_state(inst["status"]) != action["expect_vm_state"]
            or inst["task_state"] is not None):
        return "failed", (f"its task completed, but the server is in {where}, "
                          f"not {action['expect_vm_state']} with no task")
    return "done", where


# fake_nova_api/api.py's line once an action was cast.
_TIMING = re.compile(r"server-action \S+ of \S+: saved by the (?P<via>\w+) in "
                     r"(?P<save>[\d.]+) s, cast to \S+ in (?P<cast>[\d.]+) s")


def api_timings(lines, request_id):
    """{via, save, cast, line} from the API's ``server-action`` line of a
    request (``via``: conductor, an RPC call, or database; ``save`` and
    ``cast`` in seconds); None when it logged none (it failed before)."""
    for e in lines:
        m = _TIMING.search(e["msg"])
        if m and request_id and f"[{request_id}]" in e["line"]:
            return {"via": m.group("via"), "save": float(m.group("save")),
                    "cast": float(m.group("cast")), "line": e["line"]}
    return None


class _Judgement(Judgement):
    def steps(self):
        self._inputs()
        self._closes()
        self._actions()
        self._servers()
        return self._decide()

    def _inputs(self):
        ops = sorted(history.operations(self.records).values(),
                     key=lambda o: o["invoke"]["time"])
        self.boots = [o for o in ops if o["invoke"]["f"] == "boot"]
        self.actions = [o for o in ops if o["invoke"]["f"] == "action"]
        idle = [o for o in ops if o["invoke"]["f"] == "idle" and o["done"]]
        self.options = (self.config.get("checker") or {}).get("options", {})
        self.slow = self.options.get("slow_seconds", 1.0)
        skipped = [r for r in self.records if r.get("f") == "action-skipped"]
        if skipped:
            v = skipped[0]["value"]
            raise Verdict(UNKNOWN, f"action {v.get('name')} was not sent: "
                          f"{v.get('reason')} ({v.get('server')})")
        if not self.actions:
            raise Verdict(UNKNOWN, "no server action was sent")
        if not idle:
            raise Verdict(UNKNOWN, "the run has no idle period before the "
                          "actions, so heartbeat loss cannot be told")
        self.idle = idle[-1]
        self.state = self.run.read_json("final-state.json")
        if self.state is None:
            raise Verdict(UNKNOWN, "the run recorded no final state of its "
                          "database (final-state.json)")
        if self.state.get("error"):
            raise Verdict(UNKNOWN, "the final database was unreadable: "
                          f"{self.state['error']}")
        first = self.actions[0]["invoke"]["time"]
        self.settled = [r for r in self.records if r.get("f") == "settled"
                        and r["time"] > first]
        t = self.t
        begin, end = self.idle["invoke"]["time"], self.idle["done"]["time"]
        self.cited.append(
            f"{len(self.boots)} boot(s) before the idle period; idle "
            f"{end - begin:.2f} s ({t(begin)} to {t(end)}); {len(self.actions)} "
            f"action(s) from {t(first)}")

    def _closes(self):
        self.closes = boot_flow._heartbeat_closes(self.run, self.boots, self.idle)
        self.cited.extend(boot_flow._cite_closes(self.closes, self.idle, self.t))
        self.details["api_heartbeat_closes"] = len(self.closes["api"])

    def _actions(self):
        t = self.t
        api_lines = evidence.service_lines(self.run.log(API_LOG))
        reconnects = [e for e in evidence.client_events(self.run.log(API_LOG))
                      if e["kind"] in RECONNECT_KINDS]
        self.tally = {k: [] for k in ("done", "rejected", "api_error") + BAD}
        self.latencies = []
        self.reconnects = []  # the driver's lines while actions were in the API
        for n, op in enumerate(self.actions):
            inv, done = op["invoke"]["value"], op["done"]
            label = f"{inv.get('name')} ({inv.get('action')} of {inv.get('server')})"
            if done is None or done["type"] == "info":
                v = (done or {}).get("value", {})
                what = (f"HTTP {v['status']}" if v.get("status")
                        else v.get("error", "no answer"))
                self.cited.append(f"{label}: outcome unknown ({what}) after "
                                  f"{v.get('latency', 0):.2f} s, sent at "
                                  f"{t(op['invoke']['time'])}")
                crash = _api_error(api_lines, v.get("request_id"))
                if crash is not None and not _MESSAGING.search(crash):
                    # The API failed on its own (a 500 of its own making):
                    # nothing to do with the broker's close.
                    self.tally["api_error"].append(f"{label}: {crash}")
                else:
                    self.tally["info"].append(label)
                if crash is not None:
                    self.cited.append(f"API log for {inv.get('name')}: {crash}")
                continue
            v = done["value"]
            if done["type"] == "fail":
                message = next(iter((v.get("body") or {}).values()), {})
                self.tally["rejected"].append(label)
                self.cited.append(f"{label}: refused, HTTP {v.get('status')}: "
                                  f"{message.get('message', '?')}")
                continue
            latency = v["latency"]
            self.latencies.append(round(latency, 3))
            timing = api_timings(api_lines, v.get("request_id"))
            if timing is None:
                split = "; the API logged no server-action line for it"
            else:
                how = ("an RPC call to the conductor" if timing["via"] == "conductor"
                       else "straight to the database, no RPC")
                split = (f"; the API's state save ({how}) took {timing['save']:.3f} "
                         f"s, the cast to the host {timing['cast']:.3f} s")
                self.details.setdefault("save_seconds", []).append(timing["save"])
                self.details.setdefault("cast_seconds", []).append(timing["cast"])
                self.details["saved_by"] = timing["via"]
            self.cited.append(f"{label}: HTTP {v['status']} in {latency:.3f} s, sent "
                              f"at {t(op['invoke']['time'])}, {v.get('request_id')}"
                              + split)
            if latency > self.slow:
                self.tally["slow"].append(f"{label} ({latency:.2f} s)")
            # The driver's lines while this action was in the API: the
            # request's own, and the listener's (logged without one).
            begin, end = op["invoke"]["time"], done["time"]
            mine = [e for e in reconnects if begin <= e["time"] <= end
                    or e.get("request_id") == v.get("request_id")]
            for e in mine[:4]:
                self.cited.append(f"client log during {inv.get('name')}: {e['line']}")
            self.reconnects.extend(e for e in mine if e not in self.reconnects)
            if n == 0:
                self.details["reconnect_lines_first_action"] = len(mine)
                if mine:
                    self.details["first_action_reconnect"] = (
                        "waited for its reconnect (rabbit_retry_interval)"
                        if latency > self.slow else "reconnected at once")
            self._received(op, v, label)
            fate, why = action_fate(dict(inv, task_id=v.get("task_id")), self.state)
            self.tally[fate].append(label if fate == "done" else f"{label}: {why}")
        self.details.update({f"actions_{k}": len(v) for k, v in self.tally.items()},
                            action_latencies=self.latencies)

    def _received(self, op, value, label):
        """When the server's host logged the action: the cast's delivery."""
        inv = op["invoke"]["value"]
        inst = self.state["instances"].get(inv.get("server_id")) or {}
        host = inst.get("host")
        if not host:
            return
        mark = f"{inv.get('action')} of instance {inv.get('server_id')} on {host}"
        sent = op["invoke"]["time"]
        got = next((e for e in evidence.service_lines(self.run.log(host))
                    if e["msg"].startswith(mark) and e["time"] >= sent - 1), None)
        if got is None:
            self.cited.append(f"{label}: {host} never logged receiving the cast")
            return
        self.cited.append(f"{label}: {host} received the cast at {self.t(got['time'])}, "
                          f"{got['time'] - sent:.3f} s after the request was sent")

    def _servers(self):
        """Each acted-on server as the database held it at the end."""
        for op in self.actions:
            inv = op["invoke"]["value"]
            inst = self.state["instances"].get(inv.get("server_id"))
            if inst is None:
                continue
            task_id = (op["done"] or {}).get("value", {}).get("task_id")
            task = self.state["tasks"].get(task_id) or {}
            self.cited.append(
                f"database at the end: server {inv.get('server')} "
                f"({inv.get('server_id')}): vm_state {states.vm_state(inst['status'])}, "
                f"task_state {inst['task_state']}, power_state {inst['power_state']}; "
                f"its {inv.get('action')} task {task.get('status', 'missing')}"
                + (f" ({task['reason']})" if task.get("reason") else ""))
        for kind in ("lost", "failed"):
            for item in self.tally[kind]:
                self.cited.append(f"{kind}: {item}")

    def _decide(self):
        if not self.settled:
            raise Verdict(UNKNOWN, "the run did not wait for the actions to settle")
        if self.tally["api_error"]:
            raise Verdict(UNKNOWN, f"{len(self.tally['api_error'])} action(s) failed "
                          "in the API for a reason of its own, not the RPC: "
                          f"{self.tally['api_error'][0]}")
        if self.tally["rejected"]:
            raise Verdict(UNKNOWN, f"{len(self.tally['rejected'])} action(s) were "
                          "refused: the servers were not in the state the "
                          "scenario needs, so nothing can be said of the casts")
        bad = sum(len(self.tally[k]) for k in BAD)
        if self.closes["api"]:
            first = self.latencies[0] if self.latencies else None
            how = self.details.get("first_action_reconnect")
            if bad or self.reconnects:
                self.cited.append(
                    "the actions met the closed connections: "
                    + (f"the first took {first:.3f} s" if first is not None
                       else "the first got no answer")
                    + (f", its driver {how}" if how else "")
                    + f"; {len(self.tally['lost'])} lost, "
                    f"{len(self.tally['failed'])} failed, "
                    f"{len(self.tally['info'])} unanswered")
                return REPRODUCED
            raise Verdict(UNKNOWN, "the broker closed the API worker's connections "
                          f"for missed heartbeats, yet every action was done "
                          f"within {self.slow} s and the driver logged no "
                          "reconnect meanwhile: the closed connections were "
                          "not met")
        if bad:
            raise Verdict(UNKNOWN, f"{bad} action(s) were slow, lost, failed or "
                          "unanswered, but the broker closed none of the API "
                          "worker's connections for missed heartbeats: "
                          "something else caused it")
        timeout = option(self.config, "oslo_messaging_rabbit",
                         "heartbeat_timeout_threshold", 0)
        idle = self.idle["done"]["time"] - self.idle["invoke"]["time"]
        if timeout and idle < 3 * timeout:
            raise Verdict(UNKNOWN, "the idle period was shorter than 3 heartbeat "
                          "timeouts, so a missed heartbeat might not have been "
                          "detected yet")
        self.cited.append(f"every action done, each within {self.slow} s")
        return NOT_REPRODUCED


def check(run):
    return _Judgement(run).judge()
