"""The generator: play a scenario's workload against a running lab, step by
step, recording the history. Requests go through the client (client.py),
faults through the nemesis (nemesis.py).

Steps (the ``[[workload]]`` tables of a scenario):
- ``call``: GET /v2.1/lab/ping, an RPC call through the API (``count``
  calls, ``concurrency`` at a time, each named ``<name>-<n>``; with
  ``rate``, at most that many a second, and none sent after ``seconds``;
  with ``hold = S``, GET /v2.1/lab/long instead: each call holds one of the
  compute's executor threads for S seconds; with ``watch_queues = I``, the
  broker's queue counts of the run's vhost are sampled every I seconds
  while the calls run, as ``queues-listed`` events);
- ``list-queues``: record the broker's queue counts (ready, unacked) once;
- ``cast``: POST /v2.1/lab/casts, an RPC cast (``count``: that many casts
  at once from the API worker, in one request);
- ``flood``: ``senders`` clients at once, each sending ``POST
  /v2.1/lab/casts?count=<per_request>`` at most ``rate`` times a second
  for ``seconds``: a cast flood towards the compute;
- ``idle``: send nothing for ``heartbeat_timeouts`` x the heartbeat timeout,
  or until the broker has closed every connection of the API worker
  (``until = "api-connections-closed"``);
- ``list-connections``: record the broker's own connection listing;
- ``inspect-processes``: record each fake service's processes (the
  launcher's master and its workers), their parents and the TCP sockets
  each holds, from /proc, as a ``processes-inspected`` event;
- ``boot``: ``count`` POST /v2.1/servers, ``concurrency`` at a time, at most
  ``rate`` per second, each recorded with its request id, server and task,
  and retried as ``[workload] retry`` says (client.py: one operation per
  boot, its attempts listed);
- ``settle``: wait (at most ``seconds``) until no task is in progress;
- ``read``: ``count`` GET /v2.1/servers/detail;
- ``action``: POST /v2.1/servers/<id>/action on the server a ``boot`` step
  made (``server``: that boot's name, e.g. ``warm-up-1``), with ``action``
  its body's key (``reboot``, ``os-stop``, ``os-start``, ``pause``, ...)
  and ``type`` a reboot's (SOFT or HARD); recorded with the vm_state nova
  ends the server in (``expect_vm_state``) and its task's id;
- ``watch-services``: GET /v2.1/os-services every ``interval`` seconds
  (0.5 by default) for ``seconds``, in the background beside the steps
  that follow; each answer is a ``services-listed`` event (every service's
  host, binary, state, status, updated_at, forced_down; or the error);
- ``fault``: a target, a verb and options (nemesis.py; ``fake-lab faults``
  lists them); ``stop-service`` is ``fault`` service stop.
"""

import concurrent.futures
import os
import threading
import time
import urllib.parse

from fake_compute.states import ACTIONS, BODY_KEYS, REBOOT_TYPES
from fake_lab.checkers import evidence
from fake_lab.errors import LabError, UsageError
from fake_lab.history import OK
from fake_lab.workload.client import Client
from fake_lab.workload.nemesis import Nemesis

# The ops a scenario's [[workload]] steps may name.
OPS = ("call", "cast", "idle", "list-connections", "boot", "read",
       "settle", "fault", "stop-service", "flood", "list-queues",
       "inspect-processes", "watch-services", "action")
FAULT_OPS = ("fault", "stop-service")


def action_key(step, where):
    """The action (a key of nova's state machine, fake_compute/states.py)
    an ``action`` step names; UsageError when it names none, so that a bad
    scenario is refused before anything starts."""
    action = step.get("action")
    if not isinstance(step.get("server"), str):
        raise UsageError(f"{where}: an action step needs server, the name of "
                         "a server a boot step made (e.g. warm-up-1)")
    if action == "reboot":
        kind = step.get("type", "SOFT")
        if kind not in REBOOT_TYPES:
            raise UsageError(f"{where}: reboot type must be SOFT or HARD, not "
                             f"{kind!r}")
        return "reboot-hard" if kind.upper() == "HARD" else "reboot-soft"
    if action not in BODY_KEYS:
        raise UsageError(f"{where}: unknown server action {action!r}; one of "
                         f"{', '.join(BODY_KEYS)}")
    return BODY_KEYS[action]


class Player:
    def __init__(self, lab, history, settings, say=print):
        self.lab, self.history, self.settings, self.say = (
            lab, history, settings, say)
        self.client = Client(lab, history, settings, say)
        self.nemesis = Nemesis(lab, history, say)
        # What the player waits for now, for a status line (progress.py).
        self.activity = None
        # {boot name: server id} of the boots accepted, for ``action`` steps.
        self.servers = {}
        self._seen = {}  # path -> (size, mtime) at the last look

    def play(self, steps):
        """Play the steps in order. A fault with ``at = S`` starts S seconds
        later beside the steps that follow (the nemesis and the clients at
        once, as in Jepsen); the workload ends when it has ended too."""
        background = []
        try:
            for n, step in enumerate(steps, 1):
                self.activity = (f"step {n} of {len(steps)}, {step['op']}"
                                 + (f" {step['name']}" if step.get("name") else ""))
                if step["op"] in FAULT_OPS and "at" in step:
                    thread = threading.Thread(target=self._later, args=(step,),
                                              daemon=True)
                    thread.start()
                    background.append(thread)
                elif step["op"] in FAULT_OPS:
                    self.nemesis.run(step)
                elif step["op"] == "watch-services":
                    thread = threading.Thread(target=self._watch_services,
                                              args=(step,), daemon=True)
                    thread.start()
                    background.append(thread)
                else:
                    getattr(self, "_" + step["op"].replace("-", "_"))(step)
        finally:
            self.activity = "waiting for the steps in the background" if any(
                t.is_alive() for t in background) else None
            for thread in background:
                thread.join()
            self.activity = None

    def _later(self, step):
        time.sleep(step["at"])
        self.nemesis.run({k: v for k, v in step.items() if k != "at"})

    def _call(self, step):
        if step.get("count", 1) > 1:
            self._calls(step)
        else:
            self._one_call(step)

    def _one_call(self, step, quiet=False):
        """One call: /lab/ping, or /lab/long when the step has ``hold``."""
        if "hold" in step:
            path = "/v2.1/lab/long?" + urllib.parse.urlencode(
                {"seconds": step["hold"], "payload": step.get("name", "call")})
            return self.client.request(step, "call", "GET", path, quiet=quiet)
        return self.client.request(step, "call", quiet=quiet)

    def _calls(self, step):
        """``count`` calls, ``concurrency`` in flight at once, each recorded
        as ``<name>-<n>``: concurrent requests to the API worker's threads."""
        name, count = step.get("name", "call"), step["count"]
        started = time.monotonic()
        # A trickle: at most ``rate`` calls a second, none sent after
        # ``seconds`` (a hung service must not stretch the run by a timeout
        # per call left).
        interval = 1.0 / step["rate"] if step.get("rate") else 0.0
        budget = step.get("seconds")

        def one(n):
            if budget is not None and max((n - 1) * interval,
                                          time.monotonic() - started) > budget:
                return "not sent"
            delay = started + (n - 1) * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            return self._one_call(dict(step, name=f"{name}-{n}"), quiet=True)[0]

        watching = threading.Event()
        watcher = None
        if step.get("watch_queues"):
            watcher = threading.Thread(target=self._watch_queues, daemon=True,
                                       args=(step["watch_queues"], watching))
            watcher.start()
        pool = concurrent.futures.ThreadPoolExecutor(step.get("concurrency", count))
        try:
            done = list(pool.map(one, range(1, count + 1)))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            watching.set()
            if watcher is not None:
                watcher.join()
        pool.shutdown(wait=True)
        self.say(f"  {name}: {count} call(s) in {time.monotonic() - started:.2f} s: "
                 + ", ".join(f"{done.count(k)} {k}" for k in sorted(set(done))))

    def _cast(self, step):
        if "count" in step:
            self.client.request(step, "cast", "POST",
                                f"/v2.1/lab/casts?count={step['count']}",
                                step.get("payload", {}))
        else:
            self.client.request(step, "cast")

    def _flood(self, step):
        """The flood as one history operation (its window, what was sent),
        each request in it recorded too, as ``<name>-<sender>-<n>``."""
        name = step.get("name", "flood")
        senders, per = step.get("senders", 3), step.get("per_request", 10)
        interval = 1.0 / step["rate"] if step.get("rate") else 0.0
        seconds = step.get("seconds", 3.0)
        op_id = self.history.invoke("flood", name=name, senders=senders,
                                    per_request=per, seconds=seconds)
        started = time.monotonic()

        def sender(k):
            outcomes, n = [], 0
            while time.monotonic() - started < seconds:
                n += 1
                outcomes.append(self.client.request(
                    dict(step, name=f"{name}-{k}-{n}"), "cast", "POST",
                    f"/v2.1/lab/casts?count={per}", step.get("payload", {}),
                    quiet=True)[0])
                delay = started + n * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            return outcomes

        with concurrent.futures.ThreadPoolExecutor(senders) as pool:
            done = [o for each in pool.map(sender, range(1, senders + 1)) for o in each]
        elapsed = time.monotonic() - started
        self.history.complete(op_id, "flood", OK, name=name, requests=len(done),
                              ok=done.count(OK), casts=done.count(OK) * per,
                              elapsed=round(elapsed, 6))
        self.say(f"  {name}: {len(done)} request(s) of {per} cast(s) from {senders} "
                 f"sender(s) in {elapsed:.2f} s: "
                 + ", ".join(f"{done.count(k)} {k}" for k in sorted(set(done))))

    def _idle(self, step):
        timeout = self.settings.get("oslo_messaging_rabbit",
                                    "heartbeat_timeout_threshold")
        # Either a multiple of the heartbeat timeout or plain seconds (a run
        # with heartbeats off has no timeout to count in).
        planned = step.get("seconds", step.get("heartbeat_timeouts", 3.5) * timeout)
        until = step.get("until")
        name = step.get("name", "idle")
        op_id = self.history.invoke("idle", name=name, planned=planned,
                                    until=until)
        started = time.monotonic()
        ended_early = False
        waits_for = (" (or until the broker closes the API worker's connections)"
                     if until == "api-connections-closed" else "")
        while time.monotonic() - started < planned:
            self.activity = (f"{name} {time.monotonic() - started:.1f} s of "
                             f"{planned:.1f} s{waits_for}")
            # A short look: the run goes on as soon as the broker has closed
            # the connections (a look costs a stat while the log is still).
            time.sleep(0.02)
            if until == "api-connections-closed" and self._api_all_closed():
                ended_early = True
                break
        self.activity = None
        slept = time.monotonic() - started
        self.history.complete(op_id, "idle", OK, name=name,
                              slept=round(slept, 6), ended_early=ended_early)
        self.say(f"  {name}: {slept:.2f} s of {planned:.1f} s"
                 + (" (the broker closed the API's connections)"
                    if ended_early else ""))

    def _api_all_closed(self):
        """Whether every connection the API worker opened is gone. The
        relay records the broker's RST the moment it comes; the broker's
        log line reaches its file about 0.1 s later, so the wire answers
        first when the run has a relay (the checker cites both)."""
        if self.client.api_pid is None:
            return False
        relay = self.lab.relay
        if relay is not None and self._changed(relay.wire_path):
            mine = [c for name, conns in evidence.wire_connections(relay.wire_path).items()
                    if evidence.connection_pid(name) == self.client.api_pid
                    for c in conns]
            if mine and all(c["end"] is not None for c in mine):
                return True
        path = self.lab.broker.log_file
        if not self._changed(path):
            return False
        mine = [c for c in evidence.broker_connections(path)
                if c["pid"] == self.client.api_pid]
        return bool(mine) and all(c["closed"] is not None for c in mine)

    def _changed(self, path):
        """Whether ``path`` changed since the last look: a file is read
        again only then (a matrix's broker log is shared and grows with
        every cell)."""
        try:
            st = os.stat(path)
            seen = (st.st_size, st.st_mtime_ns)
        except OSError:
            seen = None
        changed = seen is None or self._seen.get(path) != seen
        self._seen[path] = seen
        return changed

    def _boot(self, step):
        count = step.get("count", 1)
        concurrency = step.get("concurrency", 1)
        interval = 1.0 / step["rate"] if step.get("rate") else 0.0
        name = step.get("name", "boot")
        started = time.monotonic()
        outcomes = {}
        retried = []
        lock = threading.Lock()

        def one(n):
            body = {"server": {"name": f"{name}-{n}",
                               "flavorRef": step.get("flavor", "m1.tiny"),
                               "imageRef": step.get("image", "cirros")}}
            outcome, value = self.client.boot(f"{name}-{n}", body)
            with lock:
                outcomes.setdefault(outcome, []).append(value["latency"])
                if len(value["attempts"]) > 1:
                    retried.append(len(value["attempts"]))
                if value.get("server_id"):
                    self.servers[f"{name}-{n}"] = value["server_id"]

        pool = concurrent.futures.ThreadPoolExecutor(concurrency)
        try:
            futures = []
            for n in range(1, count + 1):
                delay = started + (n - 1) * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(one, n))
            for f in futures:
                f.result()
        except BaseException:
            # Interrupted: send no more boots, let the run clean up now.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        self.say(f"  {name}: {count} boot(s) in {time.monotonic() - started:.2f} s: "
                 + ", ".join(f"{len(v)} {k} (max {max(v):.2f} s)"
                             for k, v in sorted(outcomes.items()))
                 + (f"; {len(retried)} retried ({sum(retried)} attempts)"
                    if retried else ""))

    def _read(self, step):
        for n in range(step.get("count", 1)):
            self.client.request({"name": step.get("name", "read")}, "read", "GET",
                          "/v2.1/servers/detail", quiet=True)

    def _action(self, step):
        """A server action on a server a boot step made, as one request."""
        name, target = step.get("name", "action"), step["server"]
        key = action_key(step, "workload")
        server = self.servers.get(target)
        if server is None:
            # Its boot failed or was not accepted: nothing to act on.
            self.history.event("action-skipped", name=name, server=target,
                               reason="no server of that name was accepted")
            self.say(f"  {name}: no server {target} to act on")
            return
        action = step["action"]
        args = {"type": step.get("type", "SOFT")} if action == "reboot" else None
        self.client.request(
            {"name": name}, "action", "POST", f"/v2.1/servers/{server}/action",
            {action: args}, record={"server": target, "server_id": server,
                                    "action": key,
                                    "expect_vm_state": ACTIONS[key].vm_state})

    def _settle(self, step):
        """Wait until no task is in progress (or ``seconds`` pass)."""
        deadline = time.monotonic() + step.get("seconds", 30)
        started = time.monotonic()
        pending = None
        while time.monotonic() < deadline:
            pending = self.client.tasks_in_progress()
            if pending == 0:
                break
            time.sleep(0.2)
        waited = time.monotonic() - started
        self.history.event("settled", in_progress=pending, seconds=round(waited, 3))
        self.say(f"  settle: {pending} task(s) still in progress after {waited:.2f} s")

    def _watch_services(self, step):
        """Sample ``GET /os-services`` as an operator's ``openstack compute
        service list`` would, every ``interval`` seconds for ``seconds``."""
        interval, seconds = step.get("interval", 0.5), step.get("seconds", 10.0)
        name = step.get("name", "watch-services")
        op_id = self.history.invoke("watch-services", name=name, interval=interval,
                                    seconds=seconds)
        started = time.monotonic()
        samples = downs = 0
        while time.monotonic() - started < seconds:
            asked = time.time()
            services, error = self.client.services()
            samples += 1
            if error:
                self.history.event("services-listed", watch=name, asked=round(asked, 6),
                                   error=error)
            else:
                downs += sum(s.get("state") == "down" for s in services)
                self.history.event("services-listed", watch=name, asked=round(asked, 6),
                                   latency=round(time.time() - asked, 6),
                                   services=services)
            delay = started + samples * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self.history.complete(op_id, "watch-services", OK, name=name,
                              samples=samples,
                              elapsed=round(time.monotonic() - started, 6))
        self.say(f"  {name}: {samples} sample(s) of /os-services, "
                 f"{downs} service(s) shown down")

    def _watch_queues(self, interval, stop):
        """Sample the broker's queues every ``interval`` seconds until
        ``stop`` is set (on a cluster each listing is a CLI call, which
        takes a while)."""
        while True:
            self._list_queues({})
            if stop.wait(interval):
                return

    def _list_queues(self, step):
        vhost = getattr(self.lab, "vhost", "/")
        asked = time.time()
        try:
            rows = self.lab.broker.list_queues(vhost)
        except LabError as exc:  # evidence missing, not a failed run
            self.history.event("queues-listed", vhost=vhost, error=str(exc))
            return
        self.history.event("queues-listed", vhost=vhost, asked=round(asked, 6),
                           queues=rows)

    def _inspect_processes(self, step):
        from fake_lab.daemons import procs

        found = {name: procs.inspect_tree(daemon.pid)
                 for name, daemon in sorted(self.lab.services.items())}
        self.history.event("processes-inspected", services=found)
        self.say("  inspect-processes: " + ", ".join(
            f"{name} {len(ps)} process(es)" for name, ps in found.items()))

    def _list_connections(self, step):
        try:
            rows = self.lab.broker.list_connections()
        except LabError as exc:  # evidence missing, not a failed run
            self.history.event("connections-listed", error=str(exc))
            return
        self.history.event("connections-listed", connections=rows)
