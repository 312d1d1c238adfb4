"""What the relay costs: RPC call latency through it against straight to the
broker, measured in one run, and the relay's CPU time.

One private broker and one relay in front of it; two oslo.messaging
transports in this process, one through the relay and one direct, each with
its own RPC server (threading executor) and client. Calls alternate between
the two paths, so both see the same machine at the same moment. Prints p50
and p99 of each path and their ratio, and the relay's CPU seconds (user +
system, from /proc) per 1000 calls.

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
    relay = None
    servers = []
    try:
        broker.start()
        relay = RelayDaemon(work, os.path.join(work, "relay.log"), broker.port)
        relay.launch()
        relay.wait_ready()
        paths = {}
        # oslo.messaging 18 registers some options on the global CONF only.
        conf = cfg.CONF
        conf([])
        for path, port in (("direct", broker.port), ("relay", relay.port)):
            transport = messaging.get_rpc_transport(
                conf, url=broker.url_for("/", port))
            target = messaging.Target(topic=f"bench-{path}", server="s")
            server = messaging.get_rpc_server(transport, target, [Echo()],
                                              executor="threading")
            server.start()
            servers.append(server)
            client = messaging.get_rpc_client(
                transport, messaging.Target(topic=f"bench-{path}"), timeout=10)
            client.call({}, "ping", n=0)  # connections opened, warm
            paths[path] = (client, [])
        relay_pids = procs.tree(relay.daemon.pid)
        cpu_before = cpu_seconds(relay_pids)
        for n in range(args.calls):
            for path in (("direct", "relay") if n % 2 else ("relay", "direct")):
                client, samples = paths[path]
                started = time.perf_counter()
                client.call({}, "ping", n=n)
                samples.append(time.perf_counter() - started)
        cpu = cpu_seconds(relay_pids) - cpu_before
        figures = {}
        for path, (_, samples) in paths.items():
            figures[path] = (percentile(samples, 50), percentile(samples, 99),
                             statistics.mean(samples))
            print(f"{path:7} {len(samples)} calls: p50 {figures[path][0] * 1e3:.3f} ms, "
                  f"p99 {figures[path][1] * 1e3:.3f} ms, mean "
                  f"{figures[path][2] * 1e3:.3f} ms, max {max(samples) * 1e3:.1f} ms")
        for n, name in ((0, "p50"), (1, "p99")):
            ratio = figures["relay"][n] / figures["direct"][n]
            print(f"relay / direct {name}: {ratio:.3f} ({(ratio - 1) * 100:+.1f} %)")
        print(f"relay CPU: {cpu:.2f} s for {args.calls} relayed calls "
              f"({cpu / args.calls * 1e6:.0f} us a call)")
    finally:
        for server in servers:
            server.stop()
            server.wait()
        if relay is not None:
            relay.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
