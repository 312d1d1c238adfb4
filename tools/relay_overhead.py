"""What the relay costs: RPC call latency through it against straight to the
broker, measured in one run, and the relay's CPU time.

One private broker and three proxies in front of it: a private HAProxy in
TCP mode (C, one thread, no log: what a TCP hop on loopback costs when the
proxy's own code costs next to nothing, the floor under any relay that
reads and writes the bytes), the lab's relay started with --forward-only
(it reads no AMQP and records nothing: the same hop in Python, on uvloop,
as toxiproxy or any user-space proxy would add one), and the lab's relay.
Four oslo.messaging transports in this process, direct, haproxy,
forward-only and relay, each with its own RPC server (threading executor)
and client. Calls go round the four paths in turn, so all see the same
machine at the same moment. Prints p50 and p99 of each path, their ratios
to direct, and each proxy's CPU time (user + system, from /proc) per call.
Without haproxy (/usr/sbin/haproxy, on PATH, or $FAKE_LAB_HAPROXY) its path
is left out, and one line says so.

    .venv/bin/python tools/relay_overhead.py [--calls 2000]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import oslo_messaging as messaging  # noqa: E402
from oslo_config import cfg  # noqa: E402

from fake_lab.daemons import haproxy, procs, rabbitmq  # noqa: E402
from fake_lab.daemons.relay import RelayDaemon  # noqa: E402


class Echo:
    def ping(self, ctxt, n):
        return n


def cpu_seconds(pids):
    """(total, user, system) CPU seconds of ``pids``. The total is every
    thread's run time in nanoseconds (/proc/PID/task/*/schedstat): what
    /proc/PID/stat's user + system add up to, but not in clock ticks, which
    in a 300-call smoke run are 33 us a call each. The split is stat's, in
    ticks (system: the kernel's work for the proxy, its syscalls and the
    loopback TCP behind them; user: the proxy's own code)."""
    total = user = system = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        user += int(fields[11]) / tick
        system += int(fields[12]) / tick
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0]) / 1e9
            except (FileNotFoundError, ProcessLookupError):
                pass  # a thread that ended in between
    return total, user, system


def haproxy_config(port, upstream_port):
    """A bare TCP hop. Not haproxy.config(): that one is the API pair's
    HTTP load balancer, with health checks and a log line per request. Here
    nothing but the forwarding: no check (it would open connections to the
    broker), no log, one thread (as the relay has one), and timeouts long
    enough that no idle connection of the run is ever cut."""
    return f"""\
# fake-lab: tools/relay_overhead.py's TCP hop, loopback only.
global
    nbthread 1
    maxconn 256

defaults
    mode tcp
    timeout connect 1s
    timeout client 1h
    timeout server 1h

frontend hop
    bind {haproxy.HOST}:{port}
    default_backend broker

backend broker
    server broker {haproxy.HOST}:{upstream_port}
"""


def start_haproxy(binary, work, upstream_port, avoid):
    """HAProxy in the foreground (-db), in its own session, marked as the
    run's; returns (daemon, port) once it listens."""
    port = procs.free_port(haproxy.HOST, avoid=set(avoid) | {upstream_port})
    path = os.path.join(work, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(haproxy_config(port, upstream_port))
    daemon = procs.spawn("haproxy", [binary, "-db", "-f", path],
                         os.path.join(work, "haproxy.log"), cwd=work, owner=work)

    # Ready once its socket listens, read from /proc: a test connection
    # would go through to the broker, which would log it as a client lost.
    def listening():
        tcp = procs.tcp_sockets()
        return any(tcp.get(inode) == (f"{haproxy.HOST}:{port}", "0.0.0.0:0")
                   for inode in procs.socket_inodes(daemon.pid))
    procs.wait_until(listening, daemon, f"listening on {port}", timeout=10)
    return daemon, port


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="fake-lab-relay-bench-")
    broker = rabbitmq.PrivateBroker(os.path.join(work, "broker"))
    relay = bare = hop = None
    servers = []
    try:
        broker.start()
        relay = RelayDaemon(work, os.path.join(work, "relay.log"), broker.port)
        relay.launch()
        bare = RelayDaemon(work, os.path.join(work, "forward-only.log"), broker.port,
                           wire_name="forward-only.jsonl", forward_only=True)
        bare.launch(avoid={relay.port, relay.control_port})
        relay.wait_ready()
        bare.wait_ready()
        proxies = {}  # path -> (its process, {broker port: its port})
        binary = haproxy.find_binary()
        if binary is None:
            print("haproxy: not found (/usr/sbin/haproxy, PATH, $FAKE_LAB_HAPROXY), "
                  "its path is left out")
        else:
            hop, hop_port = start_haproxy(
                binary, work, broker.port,
                avoid={relay.port, relay.control_port, bare.port, bare.control_port})
            proxies["haproxy"] = (hop, {broker.port: hop_port})
        proxies["forward-only"] = (bare.daemon, bare.routes)
        proxies["relay"] = (relay.daemon, relay.routes)
        paths = {}
        # oslo.messaging 18 registers some options on the global CONF only.
        conf = cfg.CONF
        conf([])
        for path, via in [("direct", None)] + [(name, routes) for name, (_, routes)
                                               in proxies.items()]:
            transport = messaging.get_rpc_transport(
                conf, url=broker.url_for("/", via))
            target = messaging.Target(topic=f"bench-{path}", server="s")
            server = messaging.get_rpc_server(transport, target, [Echo()],
                                              executor="threading")
            server.start()
            servers.append(server)
            client = messaging.get_rpc_client(
                transport, messaging.Target(topic=f"bench-{path}"), timeout=10)
            client.call({}, "ping", n=0)  # connections opened, warm
            paths[path] = (client, [])
        pids = {name: procs.tree(daemon.pid) for name, (daemon, _) in proxies.items()}
        cpu_before = {name: cpu_seconds(p) for name, p in pids.items()}
        order = list(paths)
        for n in range(args.calls):
            # Each round starts one path further: no path always comes
            # right after the same other one.
            k = n % len(order)
            for path in order[k:] + order[:k]:
                client, samples = paths[path]
                started = time.perf_counter()
                client.call({}, "ping", n=n)
                samples.append(time.perf_counter() - started)
        cpu = {name: [after - before for after, before in
                      zip(cpu_seconds(p), cpu_before[name])]
               for name, p in pids.items()}
        figures = {}
        for path, (_, samples) in paths.items():
            figures[path] = (percentile(samples, 50), percentile(samples, 99),
                             statistics.mean(samples))
            print(f"{path:12} {len(samples)} calls: p50 {figures[path][0] * 1e3:.3f} ms, "
                  f"p99 {figures[path][1] * 1e3:.3f} ms, mean "
                  f"{figures[path][2] * 1e3:.3f} ms, max {max(samples) * 1e3:.1f} ms")
        for path in proxies:
            for n, name in ((0, "p50"), (1, "p99")):
                ratio = figures[path][n] / figures["direct"][n]
                print(f"{path} / direct {name}: {ratio:.3f} ({(ratio - 1) * 100:+.1f} %)")
        for path in proxies:
            total, user, system = cpu[path]
            print(f"{path} CPU: {total:.3f} s for {args.calls} calls "
                  f"({total / args.calls * 1e6:.0f} us a call; user "
                  f"{user / args.calls * 1e6:.0f}, system "
                  f"{system / args.calls * 1e6:.0f})")
    finally:
        for server in servers:
            server.stop()
            server.wait()
        if hop is not None:
            hop.stop(grace=5)
        for daemon in (relay, bare):
            if daemon is not None:
                daemon.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
