"""The ``fork-after-connect`` checker: did forked workers inherit their
parent's connection to the broker, and what came of it?

A service whose parent process opened an RPC connection before oslo.service's
launcher started its workers (``[service] connect_before_fork``) hands each
forked worker the parent's transport, its send pool and the socket of the
pooled connection. The claim is judged from the processes themselves, as
the run recorded them (a ``processes-inspected`` event: each process of the
service, its parent and its TCP sockets, read from /proc):

- ``reproduced``: one AMQP socket (the same inode, towards the broker or
  the relay) is open in two processes or more: the parent and its workers
  write on one connection. What that cost is cited beside it: the calls that
  failed, the broker's closes of that connection and the service's errors.
- ``not-reproduced``: every worker was found, each with AMQP sockets of its
  own, none shared (spawned workers, or a parent that did not connect).
- ``unknown``: no inspection, or fewer workers than configured.
"""

from fake_lab import history
from fake_lab.checkers import evidence
from fake_lab.checkers.verdicts import (
    NOT_REPRODUCED,
    REPRODUCED,
    UNKNOWN,
    Judgement,
    Verdict,
    option,
)

SERVICE = "fake-compute-1"


def check(run):
    return ForkAfterConnect(run).judge()


class ForkAfterConnect(Judgement):
    def steps(self):
        self._setup()
        self._processes()
        self._calls()
        return self._sharing()

    def _setup(self):
        config = self.config
        self.workers = option(config, "service", "workers", 1)
        self.method = option(config, "service", "start_method", "default")
        self.before = option(config, "service", "connect_before_fork", False)
        ports = self.run.read_json("ports.json") or {}
        self.amqp_ports = {str(p) for p in (ports.get("relay"), ports.get("amqp")) if p}
        self.cited.append(
            f"{SERVICE}: {self.workers} worker(s), start method {self.method}, "
            f"{'a connection opened' if self.before else 'no connection'} "
            "in the parent before the launcher started them")

    def _processes(self):
        found = [r for r in self.records if r.get("f") == "processes-inspected"]
        if not found:
            raise Verdict(UNKNOWN, "the run did not inspect the service's processes")
        procs = (found[-1]["value"].get("services") or {}).get(SERVICE) or []
        pids = {p["pid"] for p in procs}
        # The launcher's master is the process whose parent is not in the tree.
        roots = [p for p in procs if p["ppid"] not in pids]
        self.master = roots[0]["pid"] if roots else None
        # A worker is a process that started an RPC server (its own log
        # line); spawn adds multiprocessing's resource tracker, which does not.
        serving = {e["pid"] for e in evidence.service_lines(self.run.log(SERVICE))
                   if e["msg"].startswith("RPC server started")}
        self.children = [p for p in procs if p["pid"] != self.master
                         and p["pid"] in serving]
        helpers = [p["pid"] for p in procs if p["pid"] != self.master
                   and p["pid"] not in serving]
        self.procs = [p for p in procs if p["pid"] not in helpers]
        self.cited.append(
            f"processes at {self.t(found[-1]['time'])} (from /proc): master PID "
            f"{self.master}, worker(s) " + ", ".join(
                f"{p['pid']} (parent {p['ppid']})" for p in self.children)
            + (f"; not serving RPC: {', '.join(map(str, helpers))}" if helpers else ""))
        self.details.update(master=self.master,
                            worker_pids=[p["pid"] for p in self.children])
        if len(self.children) < self.workers:
            raise Verdict(UNKNOWN, f"only {len(self.children)} of the "
                          f"{self.workers} worker(s) were found")

    def _amqp(self, proc):
        return [s for s in proc["sockets"]
                if s["remote"].rsplit(":", 1)[-1] in self.amqp_ports]

    def _calls(self):
        calls = [op for op in history.operations(self.records).values()
                 if op["invoke"]["f"] == "call"]
        ok = [op for op in calls if op["done"] and op["done"]["type"] == "ok"]
        self.failed = [op for op in calls if not (op["done"] and op["done"]["type"] == "ok")]
        self.details.update(calls=len(calls), calls_ok=len(ok), calls_failed=len(self.failed))
        if calls:
            self.cited.append(f"calls through the API: {len(ok)} of {len(calls)} "
                              "answered" + (f", {len(self.failed)} failed or timed out"
                                            if self.failed else ""))

    def _sharing(self):
        holders = {}
        for p in self.procs:
            for s in self._amqp(p):
                holders.setdefault(s["inode"], (s, []))[1].append(p["pid"])
        for p in self.procs:
            role = "master" if p["pid"] == self.master else "worker"
            self.cited.append(f"PID {p['pid']} ({role}): {len(self._amqp(p))} AMQP "
                              "socket(s): " + (", ".join(
                                  f"{s['local']} inode {s['inode']}" for s in self._amqp(p))
                                  or "none"))
        # The broker's word: connections by the PID their name carries (the
        # process that opened them, not every process that writes on them).
        mine = {p["pid"] for p in self.procs}
        per_pid = {}
        for c in evidence.broker_connections(self.run.broker_log):
            if c["pid"] in mine:
                per_pid[c["pid"]] = per_pid.get(c["pid"], 0) + 1
        self.details["broker_connections_per_pid"] = {str(k): v for k, v in
                                                      sorted(per_pid.items())}
        self.cited.append("broker: connections by the PID in their name: " + ", ".join(
            f"{pid}{' (master)' if pid == self.master else ''} {per_pid.get(pid, 0)}"
            for pid in sorted(mine)))
        shared = {i: (s, pids) for i, (s, pids) in holders.items() if len(pids) > 1}
        self.details["shared_sockets"] = {str(i): pids for i, (_, pids) in shared.items()}
        if not shared:
            owned = [p for p in self.children if self._amqp(p)]
            if len(owned) < len(self.children):
                raise Verdict(UNKNOWN, "a worker held no AMQP socket at the "
                              "inspection: it may not have connected yet")
            return NOT_REPRODUCED
        for inode, (s, pids) in shared.items():
            self.cited.append(f"shared: socket inode {inode} ({s['local']} -> "
                              f"{s['remote']}) is open in PIDs "
                              + ", ".join(map(str, sorted(pids))))
        self._cost({s["local"] for s, _ in shared.values()})
        return REPRODUCED

    def _cost(self, locals_):
        """What the sharing did: the broker's word on the shared connection,
        the service's errors, the failed calls."""
        for c in evidence.broker_connections(self.run.broker_log):
            if c["pid"] == self.master and c["closed"]:
                self.cited.append(f"broker: the parent's connection {c['name']} "
                                  f"closed at {self.t(c['closed'])}: "
                                  + " / ".join(c["lines"][-2:]))
        errors = [e for e in evidence.service_lines(self.run.log(SERVICE))
                  if e["pid"] != self.master and (" ERROR " in e["line"]
                                                  or " WARNING " in e["line"])]
        self.details["worker_errors"] = len(errors)
        for e in errors[:4]:
            self.cited.append(f"{SERVICE} log: {e['line'].strip()[:400]}")
        for op in self.failed[:3]:
            v = (op["done"] or {}).get("value", {})
            self.cited.append(f"call {op['invoke']['value'].get('name')}: "
                              f"{v.get('status') or v.get('error') or 'no answer'}")

