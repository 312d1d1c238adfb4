"""Client operations: each HTTP request to the fake nova-api is one history
operation (``invoke``, then ``ok``, ``fail`` or ``info``), as a Jepsen client
records it. A 5xx, a reset or a timeout may come after the operation ran in
part: its outcome is ``info`` (unknown), never ``fail``.
"""

import json
import time
import urllib.error
import urllib.request

from fake_lab.history import FAIL, INFO, OK

# The simple operations: an RPC call and an RPC cast through the API.
PATHS = {"call": ("GET", "/v2.1/lab/ping"), "cast": ("POST", "/v2.1/lab/casts")}


class Client:
    """Sends requests to ``lab.api_url`` and records them in ``history``;
    ``api_pid`` is the API worker that answered the last successful one."""

    def __init__(self, lab, history, settings, say=print):
        self.lab, self.history, self.settings, self.say = (
            lab, history, settings, say)
        self.api_pid = None

    def request(self, step, op, method=None, path=None, body=None, quiet=False,
                record=None):
        """One HTTP request as a history operation; returns (outcome, value).
        ``record``: more keys for the invoke (what a checker must know of
        the request, e.g. the server an action is for)."""
        if method is None:
            method, path = PATHS[op]
            body = step.get("payload", {}) if method == "POST" else None
        name = step.get("name", op)
        timeout = self.settings.get("DEFAULT", "rpc_response_timeout") + 10
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.lab.api_url + path, data=data,
                                     method=method,
                                     headers={"Content-Type": "application/json"})
        op_id = self.history.invoke(op, name=name, method=method, path=path,
                                    **(record or {}))
        started = time.monotonic()
        outcome, value = INFO, {}
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, data = resp.status, resp.read()
                value["request_id"] = resp.headers.get("x-openstack-request-id")
                value["api_thread"] = resp.headers.get("x-fake-lab-worker-thread")
                value["worker_pid"] = resp.headers.get("x-fake-lab-worker-pid")
                # A server action's task (its 202 has no body).
                if resp.headers.get("x-fake-lab-task-id"):
                    value["task_id"] = resp.headers["x-fake-lab-task-id"]
            outcome = OK
        except urllib.error.HTTPError as exc:
            status, data = exc.code, exc.read()
            value["request_id"] = exc.headers.get("x-openstack-request-id")
            value["api_thread"] = exc.headers.get("x-fake-lab-worker-thread")
            value["worker_pid"] = exc.headers.get("x-fake-lab-worker-pid")
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

    def tasks_in_progress(self):
        """How many tasks the API lists as in progress; None if it cannot say."""
        try:
            with urllib.request.urlopen(
                    self.lab.api_url + "/v2.1/tasks?status=in-progress",
                    timeout=10) as resp:
                return len(json.loads(resp.read())["tasks"])
        except (OSError, ValueError, KeyError):
            return None

    def services(self, timeout=5):
        """(services, error) from GET /v2.1/os-services at microversion 2.11
        (so forced_down is shown): each service's id, host, binary, state,
        status, updated_at, forced_down and disabled_reason."""
        req = urllib.request.Request(
            self.lab.api_url + "/v2.1/os-services",
            headers={"OpenStack-API-Version": "compute 2.11"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read())["services"], None
        except urllib.error.HTTPError as exc:
            return None, f"HTTP {exc.code}"
        except (OSError, ValueError, KeyError) as exc:
            return None, f"{type(exc).__name__}: {exc}"
