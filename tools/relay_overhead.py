"""What the relay costs: RPC call latency through it against straight to the
broker, measured in one run, and the relay's CPU time.

One private broker and two relays in front of it: the lab's relay, and the
same relay started with --forward-only (it reads no AMQP and records
nothing: the cost of an extra hop alone, as any user-space proxy such as
toxiproxy would add it). Three oslo.messaging transports in this process,
direct, forward-only and relay, each with its own RPC server (threading
executor) and client. Calls go round the three paths in turn, so all see the
same machine at the same moment. Prints p50 and p99 of each path, their
ratios to direct, and each relay's CPU time (user + system, from /proc) per
call.

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

from fake_lab.daemons import procs, rabbitmq  # noqa: E402
from fake_lab.daemons.relay import RelayDaemon  # noqa: E402


class Echo:
    def ping(self, ctxt, n):
        return n


def cpu_seconds(pids):
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="fake-lab-relay-bench-")
    broker = rabbitmq.PrivateBroker(os.path.join(work, "broker"))
    relay = bare = None
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
        paths = {}
        # oslo.messaging 18 registers some options on the global CONF only.
        conf = cfg.CONF
        conf([])
        for path, via in (("direct", None), ("forward-only", bare.routes),
                          ("relay", relay.routes)):
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
        pids = {"relay": procs.tree(relay.daemon.pid),
                "forward-only": procs.tree(bare.daemon.pid)}
        cpu_before = {name: cpu_seconds(p) for name, p in pids.items()}
        order = list(paths)
        for n in range(args.calls):
            for path in order[n % 3:] + order[:n % 3]:
                client, samples = paths[path]
                started = time.perf_counter()
                client.call({}, "ping", n=n)
                samples.append(time.perf_counter() - started)
        cpu = {name: cpu_seconds(p) - cpu_before[name] for name, p in pids.items()}
        figures = {}
        for path, (_, samples) in paths.items():
            figures[path] = (percentile(samples, 50), percentile(samples, 99),
                             statistics.mean(samples))
            print(f"{path:12} {len(samples)} calls: p50 {figures[path][0] * 1e3:.3f} ms, "
                  f"p99 {figures[path][1] * 1e3:.3f} ms, mean "
                  f"{figures[path][2] * 1e3:.3f} ms, max {max(samples) * 1e3:.1f} ms")
        for path in ("forward-only", "relay"):
            for n, name in ((0, "p50"), (1, "p99")):
                ratio = figures[path][n] / figures["direct"][n]
                print(f"{path} / direct {name}: {ratio:.3f} ({(ratio - 1) * 100:+.1f} %)")
        for path in ("forward-only", "relay"):
            print(f"{path} CPU: {cpu[path]:.2f} s for {args.calls} calls "
                  f"({cpu[path] / args.calls * 1e6:.0f} us a call)")
    finally:
        for server in servers:
            server.stop()
            server.wait()
        for daemon in (relay, bare):
            if daemon is not None:
                daemon.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
