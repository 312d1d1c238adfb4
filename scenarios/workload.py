"""Play a scenario's workload against a running lab, recording the history.

Steps (the ``[[workload]]`` tables of a scenario):
- ``call``: GET /v2.1/lab/ping, an RPC call through the API;
- ``cast``: POST /v2.1/lab/casts, an RPC cast;
- ``idle``: send nothing for ``heartbeat_timeouts`` x the heartbeat timeout,
  or until the broker has closed every connection of the API worker
  (``until = "api-connections-closed"``);
- ``list-connections``: record the broker's own connection listing.
"""

import json
import time
import urllib.error
import urllib.request

from fake_service.errors import LabError
from scenarios import evidence
from scenarios.history import FAIL, INFO, OK

PATHS = {"call": ("GET", "/v2.1/lab/ping"), "cast": ("POST", "/v2.1/lab/casts")}


class Player:
    def __init__(self, lab, history, settings, say=print):
        self.lab, self.history, self.settings, self.say = (
            lab, history, settings, say)
        self.api_pid = None

    def play(self, steps):
        for step in steps:
            getattr(self, "_" + step["op"].replace("-", "_"))(step)

    def _request(self, step, op):
        method, path = PATHS[op]
        name = step.get("name", op)
        timeout = self.settings.get("DEFAULT", "rpc_response_timeout") + 10
        body = json.dumps(step.get("payload", {})).encode() if method == "POST" else None
        req = urllib.request.Request(self.lab.api_url + path, data=body,
                                     method=method)
        op_id = self.history.invoke(op, name=name, method=method, path=path)
        started = time.monotonic()
        outcome, value = INFO, {}
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, data = resp.status, resp.read()
            outcome = OK
        except urllib.error.HTTPError as exc:
            status, data = exc.code, exc.read()
            # A 504 is an RPC timeout: the call may or may not have run.
            outcome = INFO if status == 504 else FAIL
        except TimeoutError:
            status, data, value["error"] = None, b"", "HTTP timeout"
        except OSError as exc:
            status, data, outcome = None, b"", FAIL
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
        self.history.complete(op_id, op, outcome, name=name, **value)
        self.say(f"  {name}: {method} {path} -> "
                 f"{status or value.get('error')} in {latency:.3f} s")

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

    def _list_connections(self, step):
        try:
            rows = self.lab.broker.list_connections()
        except LabError as exc:  # evidence missing, not a failed run
            self.history.event("connections-listed", error=str(exc))
            return
        self.history.event("connections-listed", connections=rows)
