"""Play a scenario's workload against a running lab, recording the history.

Steps (the ``[[workload]]`` tables of a scenario):
- ``call``: GET /v2.1/lab/ping, an RPC call through the API;
- ``cast``: POST /v2.1/lab/casts, an RPC cast;
- ``idle``: send nothing for ``heartbeat_timeouts`` x the heartbeat timeout,
  or until the broker has closed every connection of the API worker
  (``until = "api-connections-closed"``);
- ``list-connections``: record the broker's own connection listing;
- ``boot``: ``count`` POST /v2.1/servers, ``concurrency`` at a time, at most
  ``rate`` per second, each recorded with its request id, server and task;
- ``settle``: wait (at most ``seconds``) until no task is in progress;
- ``read``: ``count`` GET /v2.1/servers/detail.
"""

import concurrent.futures
import json
import threading
import time
import urllib.error
import urllib.request

from fake_lab.checkers import evidence
from fake_lab.errors import LabError
from fake_lab.history import FAIL, INFO, OK

PATHS = {"call": ("GET", "/v2.1/lab/ping"), "cast": ("POST", "/v2.1/lab/casts")}


class Player:
    def __init__(self, lab, history, settings, say=print):
        self.lab, self.history, self.settings, self.say = (
            lab, history, settings, say)
        self.api_pid = None

    def play(self, steps):
        for step in steps:
            getattr(self, "_" + step["op"].replace("-", "_"))(step)

    def _request(self, step, op, method=None, path=None, body=None, quiet=False):
        """One HTTP request as a history operation; returns (outcome, value)."""
        if method is None:
            method, path = PATHS[op]
            body = step.get("payload", {}) if method == "POST" else None
        name = step.get("name", op)
        timeout = self.settings.get("DEFAULT", "rpc_response_timeout") + 10
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.lab.api_url + path, data=data,
                                     method=method,
                                     headers={"Content-Type": "application/json"})
        op_id = self.history.invoke(op, name=name, method=method, path=path)
        started = time.monotonic()
        outcome, value = INFO, {}
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, data = resp.status, resp.read()
                value["request_id"] = resp.headers.get("x-openstack-request-id")
            outcome = OK
        except urllib.error.HTTPError as exc:
            status, data = exc.code, exc.read()
            value["request_id"] = exc.headers.get("x-openstack-request-id")
            # A 5xx (a 504 is an RPC timeout) may come after the operation
            # ran in part: its outcome is unknown, not a failure.
            outcome = INFO if status >= 500 else FAIL
        except TimeoutError:
            status, data, value["error"] = None, b"", "HTTP timeout"
        except OSError as exc:
            # Refused: nothing was sent. Anything else (a reset, a closed
            # connection) may come after the request was received.
            refused = isinstance(getattr(exc, "reason", exc), ConnectionRefusedError)
            status, data, outcome = None, b"", FAIL if refused else INFO
            value["error"] = f"{type(exc).__name__}: {exc}"
        latency = time.monotonic() - started
        try:
            decoded = json.loads(data or b"{}")
        except ValueError:
            decoded = {"raw": data[:200].decode("utf-8", "replace")}
        value.update(status=status, latency=round(latency, 6), body=decoded,
                     api_pid=decoded.get("api_pid"))
        if value["api_pid"] and outcome == OK:
            self.api_pid = value["api_pid"]
        if op == "boot" and outcome == OK:
            value["server_id"] = decoded.get("server", {}).get("id")
            value["task_id"] = decoded.get("task", {}).get("id")
            value.pop("body")
        self.history.complete(op_id, op, outcome, name=name, **value)
        if not quiet:
            self.say(f"  {name}: {method} {path} -> "
                     f"{status or value.get('error')} in {latency:.3f} s")
        return outcome, value

    def _call(self, step):
        self._request(step, "call")

    def _cast(self, step):
        self._request(step, "cast")

    def _idle(self, step):
        timeout = self.settings.get("oslo_messaging_rabbit",
                                    "heartbeat_timeout_threshold")
        planned = step.get("heartbeat_timeouts", 3.5) * timeout
        until = step.get("until")
        name = step.get("name", "idle")
        op_id = self.history.invoke("idle", name=name, planned=planned,
                                    until=until)
        started = time.monotonic()
        ended_early = False
        while time.monotonic() - started < planned:
            time.sleep(0.1)
            if until == "api-connections-closed" and self._api_all_closed():
                ended_early = True
                break
        slept = time.monotonic() - started
        self.history.complete(op_id, "idle", OK, name=name,
                              slept=round(slept, 6), ended_early=ended_early)
        self.say(f"  {name}: {slept:.2f} s of {planned:.1f} s"
                 + (" (the broker closed the API's connections)"
                    if ended_early else ""))

    def _api_all_closed(self):
        if self.api_pid is None:
            return False
        mine = [c for c in evidence.broker_connections(self.lab.broker.log_file)
                if c["pid"] == self.api_pid]
        return bool(mine) and all(c["closed"] is not None for c in mine)

    def _boot(self, step):
        count = step.get("count", 1)
        concurrency = step.get("concurrency", 1)
        interval = 1.0 / step["rate"] if step.get("rate") else 0.0
        name = step.get("name", "boot")
        started = time.monotonic()
        outcomes = {}
        lock = threading.Lock()

        def one(n):
            body = {"server": {"name": f"{name}-{n}",
                               "flavorRef": step.get("flavor", "m1.tiny"),
                               "imageRef": step.get("image", "cirros")}}
            outcome, value = self._request(
                {"name": f"{name}-{n}"}, "boot", "POST", "/v2.1/servers", body,
                quiet=True)
            with lock:
                outcomes.setdefault(outcome, []).append(value["latency"])

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
                             for k, v in sorted(outcomes.items())))

    def _read(self, step):
        for n in range(step.get("count", 1)):
            self._request({"name": step.get("name", "read")}, "read", "GET",
                          "/v2.1/servers/detail", quiet=True)

    def _settle(self, step):
        """Wait until no task is in progress (or ``seconds`` pass)."""
        deadline = time.monotonic() + step.get("seconds", 30)
        started = time.monotonic()
        pending = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                        self.lab.api_url + "/v2.1/tasks?status=in-progress",
                        timeout=10) as resp:
                    pending = len(json.loads(resp.read())["tasks"])
            except (OSError, ValueError, KeyError):
                pending = None
            if pending == 0:
                break
            time.sleep(0.2)
        waited = time.monotonic() - started
        self.history.event("settled", in_progress=pending, seconds=round(waited, 3))
        self.say(f"  settle: {pending} task(s) still in progress after {waited:.2f} s")

    def _stop_service(self, step):
        """A fault: stop one fake service (e.g. a compute host) by name."""
        self.lab.stop_service(step["service"])
        self.history.event("service-stopped", service=step["service"])
        self.say(f"  stopped {step['service']}")

    def _list_connections(self, step):
        try:
            rows = self.lab.broker.list_connections()
        except LabError as exc:  # evidence missing, not a failed run
            self.history.event("connections-listed", error=str(exc))
            return
        self.history.event("connections-listed", connections=rows)
