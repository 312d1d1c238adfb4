"""Client operations: each HTTP request to the fake nova-api is one history
operation (``invoke``, then ``ok``, ``fail`` or ``info``), as a Jepsen client
records it. A 5xx, a reset or a timeout may come after the operation ran in
part: its outcome is ``info`` (unknown), never ``fail``.

A boot is sent by ``Client.boot``, which retries it as ``[workload] retry``
says (off, key, no-key) and records the logical boot as one operation with
its attempts listed.
"""

import json
import time
import urllib.error
import urllib.request
import uuid

from fake_lab.history import FAIL, INFO, OK

# The simple operations: an RPC call and an RPC cast through the API.
PATHS = {"call": ("GET", "/v2.1/lab/ping"), "cast": ("POST", "/v2.1/lab/casts")}

# The header every attempt of one boot carries with ``[workload] retry =
# key``. nova has no idempotency key; this is the CMP's own convention,
# which the fake API honours (fake_nova_api/api.py). The name is the IETF
# HTTPAPI draft's (draft-ietf-httpapi-idempotency-key-header), the one
# public APIs that have such a key use, rather than an X- name of our own.
IDEMPOTENCY_HEADER = "Idempotency-Key"


def retryable(outcome, status):
    """Whether a boot attempt may be sent again: refused (nothing was
    received), reset, timed out or answered 5xx; never an acceptance or a
    4xx (the request itself is wrong: sending it again changes nothing)."""
    return outcome != OK and (status is None or status >= 500)


def _created(decoded):
    """What a 202 to POST /servers says: the server, its task, and whether
    the API answered with a boot it had already created (a retry's key)."""
    return {"server_id": (decoded.get("server") or {}).get("id"),
            "task_id": (decoded.get("task") or {}).get("id"),
            "replayed": bool(decoded.get("replayed"))}


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
        op_id = self.history.invoke(op, name=name, method=method, path=path,
                                    **(record or {}))
        outcome, value, decoded = self._send(method, path, body)
        if op == "boot" and outcome == OK:
            value.update(_created(decoded))
        else:
            value["body"] = decoded
        self.history.complete(op_id, op, outcome, name=name, **value)
        if not quiet:
            self.say(f"  {name}: {method} {path} -> "
                     f"{value['status'] or value.get('error')} in "
                     f"{value['latency']:.3f} s")
        return outcome, value

    def boot(self, name, body):
        """One logical boot (POST /v2.1/servers) as ONE history operation,
        however many attempts ``[workload] retry`` makes of it, so that a
        checker judges the boot, not the attempts: the invoke says the
        retry mode and the key; the completion lists every attempt
        (``attempts``: n, time, outcome, status, latency, request_id,
        server_id, task_id, replayed, error) and gives the last answered
        attempt's request id, server and task. Its outcome: ``ok`` when an
        attempt was accepted; else ``info`` if any attempt may have been
        received (reset, 5xx, timeout); else ``fail`` (every attempt
        refused or answered 4xx). Returns (outcome, value)."""
        mode = self.settings.get("workload", "retry")
        most = 1 if mode == "off" else self.settings.get("workload", "retry_attempts")
        wait = self.settings.get("workload", "retry_interval")
        # One key per logical boot, the same on every attempt of it: unique
        # across runs too, as a CMP's would be (a kept database must not
        # answer this run's boot with an older run's server).
        key = str(uuid.uuid4()) if mode == "key" else None
        headers = {IDEMPOTENCY_HEADER: key} if key else None
        op_id = self.history.invoke("boot", name=name, method="POST",
                                    path="/v2.1/servers", retry=mode,
                                    idempotency_key=key)
        started = time.monotonic()
        attempts, value = [], {}
        for n in range(1, most + 1):
            sent = time.time()
            outcome, value, decoded = self._send("POST", "/v2.1/servers", body,
                                                 headers)
            attempt = {"n": n, "time": round(sent, 6), "outcome": outcome,
                       **{k: value.get(k) for k in ("status", "latency",
                                                    "request_id", "error")}}
            if outcome == OK:
                value.update(_created(decoded))
                attempt.update({k: value[k] for k in ("server_id", "task_id",
                                                      "replayed")})
            else:
                value["body"] = decoded
            attempts.append(attempt)
            if outcome == OK or not retryable(outcome, value["status"]) or n == most:
                break
            # Backoff: a failover takes seconds, and an immediate retry
            # would meet the same outage.
            time.sleep(wait * 2 ** (n - 1))
        if outcome != OK:
            # Unknown if any attempt may have been received: an earlier one
            # may have created the server although a later one was refused.
            outcome = INFO if any(a["outcome"] == INFO for a in attempts) else FAIL
            answered = [a for a in attempts if a["request_id"]]
            value["request_id"] = answered[-1]["request_id"] if answered else None
        value.update(latency=round(time.monotonic() - started, 6),
                     attempts=attempts, retry=mode)
        self.history.complete(op_id, "boot", outcome, name=name, **value)
        return outcome, value

    def _send(self, method, path, body, headers=None):
        """One HTTP exchange, unrecorded: (outcome, value, decoded body)."""
        timeout = self.settings.get("DEFAULT", "rpc_response_timeout") + 10
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.lab.api_url + path, data=data,
                                     method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
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
        if not isinstance(decoded, dict):
            decoded = {"raw": str(decoded)[:200]}
        value.update(status=status, latency=round(latency, 6),
                     api_pid=decoded.get("api_pid"))
        if value["api_pid"] and outcome == OK:
            self.api_pid = value["api_pid"]
        return outcome, value, decoded

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
