"""Build run directories from recorded lines, for the checker tests.

The lines are shaped exactly as RabbitMQ 3.10 and the lab's services write
them (copied from real runs, with times and names as parameters).
"""

import datetime
import json
import os

from fake_lab.rundir import RunDir

T0 = 1795413990.0  # the run's start, epoch seconds
API_PID = 6243


def broker_stamp(t):
    d = datetime.datetime.fromtimestamp(T0 + t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%d %H:%M:%S.%f+00:00")


def client_stamp(t):
    d = datetime.datetime.fromtimestamp(T0 + t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeRun:
    """Accumulates history records and log lines, then writes a RunDir."""

    def __init__(self, tmp_path, timeout=1, observe=True):
        self.run = RunDir(str(tmp_path))
        os.makedirs(self.run.logs, exist_ok=True)
        self.records, self.broker, self.api = [], [], []
        self.config = {"scenario": "heartbeat-loss",
                       "checker": {"name": "heartbeat-loss", "options": {}},
                       "options": {
            "oslo_messaging_rabbit": {"heartbeat_timeout_threshold": timeout},
            "lab": {"observe_heartbeats": observe}}}
        self.ids = 0
        self.port = 36000

    def _rec(self, t, **rec):
        rec.update(time=T0 + t, t=t)
        self.records.append(rec)

    def op(self, f, name, t_invoke, t_done, outcome="ok", **value):
        self.ids += 1
        self._rec(t_invoke, type="invoke", id=self.ids, f=f, process="client",
                  value={"name": name})
        if outcome:
            value["name"] = name
            self._rec(t_done, type=outcome, id=self.ids, f=f, process="client",
                      value=value)

    def request(self, name, t, latency=0.03, outcome="ok", status=200):
        self.op("call", name, t, t + latency, outcome, status=status,
                latency=latency, api_pid=API_PID if status == 200 else None)

    def listing(self, t, ports):
        self._rec(t, type="event", f="connections-listed", process="runner",
                  value={"connections": [{"name": f"127.0.0.1:{p} -> x",
                                          "peer_port": str(p),
                                          "state": "running"} for p in ports]})

    def connection(self, t_open, pid=API_PID, program="uwsgi", uid="u1"):
        self.port += 1
        erl = f"0.{700 + self.port % 100}.0"
        peer = f"127.0.0.1:{self.port}"
        name = f"{program}:{pid}:{uid}"
        self.broker += [
            f"{broker_stamp(t_open)} [info] <{erl}> accepting AMQP connection "
            f"<{erl}> ({peer} -> 127.0.0.1:54491)",
            f"{broker_stamp(t_open)} [info] <{erl}> connection <{erl}> ({peer} "
            f"-> 127.0.0.1:54491 - {name}): user 'lab-x' authenticated and "
            "granted access to vhost '/'"]
        return erl, peer, name, self.port

    def missed_heartbeats(self, conn, t):
        erl, peer, name, _ = conn
        self.broker += [
            f"{broker_stamp(t)} [error] <{erl}> closing AMQP connection <{erl}> "
            f"({peer} -> 127.0.0.1:54491 - {name}):",
            f"{broker_stamp(t)} [error] <{erl}> missed heartbeats from client, "
            "timeout: 1s"]

    def client_closed(self, conn, t):
        erl, peer, name, _ = conn
        self.broker += [
            f"{broker_stamp(t)} [warning] <{erl}> closing AMQP connection "
            f"<{erl}> ({peer} -> 127.0.0.1:54491 - {name}, vhost: '/', "
            "user: 'lab-x'):",
            f"{broker_stamp(t)} [warning] <{erl}> client unexpectedly closed "
            "TCP connection"]

    def api_line(self, t, level, logger, msg, pid=API_PID):
        self.api.append(f"{client_stamp(t)} fake-nova-api[{pid}] {level} "
                        f"{logger} {msg}")

    def heartbeat_checks(self, conn, start, end, every=0.17, thread="native",
                         purpose="send"):
        t = start
        while t < end:
            self.api_line(t, "INFO", "fake_service.observe [-]",
                          f"heartbeat-check connection={conn[2]} "
                          f"purpose={purpose} thread={thread}")
            t += every

    def wire(self, conn, accept, c2s=(), s2c=(), end=None, cid=None):
        """The relay's record of ``conn``: heartbeat times each way, and how
        it ended ((how, by, t) or None)."""
        cid = cid or conn[3]
        lines = self.__dict__.setdefault("wire_lines", [])
        lines += [{"event": "accept", "conn": cid, "time": T0 + accept},
                  {"event": "connection-name", "conn": cid, "name": conn[2],
                   "time": T0 + accept},
                  {"event": "traffic", "conn": cid, "dir": "c2s", "frames": {"method": 7},
                   "bytes": 500, "last": T0 + accept + 0.02, "time": T0 + accept + 1}]
        lines += [{"event": "heartbeat", "conn": cid, "dir": "c2s", "time": T0 + x}
                  for x in c2s]
        lines += [{"event": "heartbeat", "conn": cid, "dir": "s2c", "time": T0 + x}
                  for x in s2c]
        if end:
            how, by, when = end
            lines.append({"event": "end", "conn": cid, "how": how, "by": by,
                          "time": T0 + when})

    def write(self):
        with open(self.run.history, "w") as f:
            for rec in sorted(self.records, key=lambda r: r["t"]):
                f.write(json.dumps(rec) + "\n")
        with open(self.run.broker_log, "w") as f:
            # Stable by time: a close and its reason share one timestamp.
            f.write("\n".join(sorted(self.broker, key=lambda line: line[:32])) + "\n")
        with open(self.run.log("fake-nova-api"), "w") as f:
            f.write("\n".join(sorted(self.api)) + "\n")
        self.run.write_json("config.json", self.config)
        if getattr(self, "wire_lines", None):
            with open(self.run.file("wire.jsonl"), "w") as f:
                for e in sorted(self.wire_lines, key=lambda e: e["time"]):
                    f.write(json.dumps(e) + "\n")
        if getattr(self, "final_state", None) is not None:
            self.run.write_json("final-state.json", self.final_state)
        return self.run


def eventlet_run(tmp_path):
    """The headline as it really goes: two connections, silence, closes."""
    fr = FakeRun(tmp_path)
    fr.request("first-request", 5.0)
    a = fr.connection(5.01, uid="reply")
    b = fr.connection(5.02, uid="send")
    fr.op("idle", "idle", 5.05, 8.2, slept=3.15)
    fr.missed_heartbeats(a, 8.05)
    fr.missed_heartbeats(b, 8.06)
    fr.listing(8.8, ports=[36500])
    fr.request("second-request", 8.81, latency=1.02)
    fr.api_line(9.0, "ERROR", "oslo.messaging._drivers.impl_rabbit",
                "[send] AMQP server on 127.0.0.1:54491 is unreachable: [Errno "
                "104] Connection reset by peer. Trying again in 1 seconds.")
    fr.api_line(9.8, "INFO", "oslo.messaging._drivers.impl_rabbit",
                "[send] Reconnected to AMQP server on 127.0.0.1:54491 via "
                "[amqp] client with port 50998.")
    return fr


def threading_run(tmp_path):
    """The control: heartbeats kept on native threads, nothing closed."""
    fr = FakeRun(tmp_path)
    fr.request("first-request", 5.0)
    a = fr.connection(5.01, uid="reply")
    b = fr.connection(5.02, uid="send")
    fr.op("idle", "idle", 5.05, 8.6, slept=3.55)
    fr.heartbeat_checks(a, 5.1, 9.0)
    fr.heartbeat_checks(b, 5.1, 9.0)
    fr.listing(9.2, ports=[a[3], b[3]])
    fr.request("second-request", 9.3, latency=0.007)
    return fr
