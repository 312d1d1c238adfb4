"""The relay: every AMQP connection of a run goes through it, so that the
lab sees what crossed the wire and can break the wire on purpose.

It is a TCP relay on 127.0.0.1 between the fake services and the broker
(their transport URL differs only by its port), written with asyncio. It
reads AMQP 0-9-1 framing in both directions (frame type, channel, size,
frame-end) without changing a byte, and writes to ``wire.jsonl`` in the run
directory, on the history's clock (epoch seconds), for every connection:

- ``accept``: the client's address and the relay's own port towards the
  broker (the peer port the broker's log and ``rabbitmqctl`` name);
- ``connection-name``: the client's ``connection_name`` from
  Connection.StartOk (oslo.messaging's ``program:pid:uuid``);
- ``tune`` / ``tune-ok``: the heartbeat interval each side proposed and the
  one negotiated;
- ``heartbeat``: every heartbeat frame, with its direction;
- ``traffic``: per second and direction, the frames (by type) and bytes of
  everything else;
- ``close``: Connection.Close by either side, with its reply code and text;
- ``end``: how the TCP connection ended (``fin`` or ``rst``, and by whom).

Faults, asked for on a control port (one JSON object per line):
``blackhole`` (keep every open socket but forward no byte, as a firewall or
NAT that dropped an idle flow: connections opened afterwards pass),
``reset`` (RST both ends of every connection), ``latency`` (``ms`` each
way), ``heal`` (undo blackhole and latency) and ``stats``.

toxiproxy is the model users know; it cannot read AMQP (so it could not say
which connection went silent or when a heartbeat crossed) and it is not
packaged here. This relay is one Python process of the run, found and
stopped like every other by its owner mark.

    python -m fake_lab.daemons.relay --route P:Q [--route P2:Q2 ...] \\
        --control-port C --wire RUN/wire.jsonl

A cluster's run has a route per node: its transport URL names each node
through the relay, so a client that fails over to another node is still
on the wire (``accept`` records which node's port it went to).
"""

import argparse
import asyncio
import itertools
import json
import signal
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_END = 0xCE
_FRAME_HEADER = struct.Struct(">BHI").unpack_from
FRAME_TYPES = {1: "method", 2: "header", 3: "body", 8: "heartbeat"}
READY_LINE = "relay ready"
# Connection class methods the relay decodes: (class, method) -> name.
CONNECTION_START_OK = (10, 11)
CONNECTION_TUNE = (10, 30)
CONNECTION_TUNE_OK = (10, 31)
CONNECTION_CLOSE = (10, 50)


class FrameReader:
    """Splits one direction's byte stream into AMQP frames, incrementally.

    ``feed(data)`` returns the frames completed so far as (type, channel,
    size, payload): ``payload`` is kept only for Connection-class methods
    (the rest is counted, never copied). The relay calls ``split(data)``
    instead, which returns only the frames it records one by one and
    counts the others. The client's direction starts with the 8-byte
    protocol header. A stream that is not AMQP 0-9-1, or a frame whose
    frame-end octet is wrong, stops the parsing (``broken`` says why): the
    bytes are still forwarded, untouched."""

    def __init__(self, protocol_header=False):
        self.buf = bytearray()
        self.header_pending = protocol_header
        self.broken = None

    def feed(self, data):
        """Every frame completed so far."""
        return self.split(data, keep_all=True)[0]

    def split(self, data, keep_all=False):
        """(frames, tally) of the frames completed so far: ``frames`` the
        heartbeats and Connection-class methods, the ones the relay records
        one by one (with ``keep_all``, every frame); ``tally`` every frame
        but the heartbeats counted, (methods, headers, bodies, {other type:
        n}, bytes), or None if there was none.

        Counted here, as the frames are split, rather than in a second loop
        over a tuple per frame: a call is some 8 reads and 16 frames, and
        that loop cost the relay about 20 of the 90 us of CPU a call its
        reading costs (tools/relay_overhead.py, relay less forward-only)."""
        if self.broken:
            return [], None
        if self.buf or self.header_pending:
            # Only a frame split across reads is copied; whole frames are
            # read in place (the relay must cost a call little).
            self.buf += data
            data = self.buf
        frames = []
        pos = 0
        if self.header_pending:
            if len(data) < len(PROTOCOL_HEADER):
                return frames, None
            header = bytes(data[:8])
            self.header_pending = False
            pos = 8
            if header != PROTOCOL_HEADER:
                self.broken = f"not AMQP 0-9-1: protocol header {header!r}"
                self.buf = bytearray()
                return frames, None
        methods = headers = bodies = nbytes = 0
        others = None
        n = len(data)
        while n - pos >= 8:
            ftype, channel, size = _FRAME_HEADER(data, pos)
            end = pos + 7 + size
            if end >= n:
                break
            if data[end] != FRAME_END:
                self.broken = (f"frame-end octet {data[end]:#x} "
                               f"after a type {ftype} frame of {size} bytes")
                break
            if ftype == 8:
                frames.append((ftype, channel, size, None))
            else:
                nbytes += size + 8
                if ftype == 1:
                    methods += 1
                    if size >= 4 and data[pos + 7] == 0 and data[pos + 8] == 10:
                        frames.append((ftype, channel, size, bytes(data[pos + 7:end])))
                    elif keep_all:
                        frames.append((ftype, channel, size, None))
                else:
                    if ftype == 3:
                        bodies += 1
                    elif ftype == 2:
                        headers += 1
                    else:
                        others = others or {}
                        others[ftype] = others.get(ftype, 0) + 1
                    if keep_all:
                        frames.append((ftype, channel, size, None))
            pos = end + 1
        if pos < n and not self.broken:
            self.buf = bytearray(data[pos:])
        elif data is self.buf:
            self.buf = bytearray()
        return frames, (methods, headers, bodies, others, nbytes) if nbytes else None


def decode_method(payload):
    """((class, method), fields) of a Connection-class method the lab reads;
    fields is {} for the others."""
    from amqp.serialization import loads

    key = struct.unpack_from(">HH", payload, 0)
    if key == CONNECTION_START_OK:
        (props, mechanism, _, locale), _ = loads("FsSs", payload, 4)
        name = props.get("connection_name")
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        return key, {"connection_name": name, "mechanism": mechanism,
                     "product": props.get("product")}
    if key in (CONNECTION_TUNE, CONNECTION_TUNE_OK):
        (channel_max, frame_max, heartbeat), _ = loads("BlB", payload, 4)
        return key, {"channel_max": channel_max, "frame_max": frame_max,
                     "heartbeat": heartbeat}
    if key == CONNECTION_CLOSE:
        (code, text, class_id, method_id), _ = loads("BsBB", payload, 4)
        return key, {"reply_code": code, "reply_text": text,
                     "failing_method": [class_id, method_id]}
    return key, {}


class Wire:
    """wire.jsonl: one JSON object a line, flushed at once (the run may be
    killed at any moment)."""

    def __init__(self, path):
        self.file = open(path, "a", buffering=1)

    def record(self, event, **fields):
        fields.update(time=round(time.time(), 6), event=event)
        self.file.write(json.dumps(fields, sort_keys=True) + "\n")


class Connection:
    """One client connection and its upstream twin."""

    def __init__(self, cid, wire, client_addr):
        self.id = cid
        self.wire = wire
        self.client = f"{client_addr[0]}:{client_addr[1]}"
        self.readers = {"c2s": FrameReader(protocol_header=True),
                        "s2c": FrameReader()}
        self.writers = {}
        self.name = None
        self.upstream = None  # the broker port it is relayed to
        self.blackholed = False
        self.ended = False
        self.forwarded = {"c2s": 0, "s2c": 0}
        self.dropped = {"c2s": 0, "s2c": 0}
        self.second = {"c2s": None, "s2c": None}
        self.counts = {"c2s": {}, "s2c": {}}

    def record(self, event, **fields):
        self.wire.record(event, conn=self.id, **fields)

    def observe(self, direction, data):
        """Parse what crossed in ``direction``; record what matters."""
        reader = self.readers[direction]
        if reader.broken:
            return
        frames, tally = reader.split(data)
        for ftype, channel, size, payload in frames:
            if ftype == 8:
                if self.blackholed:
                    self.record("heartbeat", dir=direction, channel=channel,
                                dropped=True)
                else:
                    self.record("heartbeat", dir=direction, channel=channel)
            else:
                self._method(direction, payload)
        if tally is not None:
            self._count(direction, time.time(), tally)
        if reader.broken:
            self.record("unparsed", dir=direction, why=reader.broken)

    def _count(self, direction, now, tally):
        """Add one read's frames (by kind) and bytes to this second's."""
        counts = self.counts[direction]
        second = int(now)
        if self.second[direction] != second or (
                counts and bool(counts.get("dropped")) != self.blackholed):
            self.flush(direction)  # a new second; or what crossed and what
            self.second[direction] = second  # was dropped, apart
            counts = self.counts[direction]
        methods, headers, bodies, others, nbytes = tally
        if methods:
            counts["method"] = counts.get("method", 0) + methods
        if headers:
            counts["header"] = counts.get("header", 0) + headers
        if bodies:
            counts["body"] = counts.get("body", 0) + bodies
        if others:
            for ftype, n in others.items():
                kind = FRAME_TYPES.get(ftype) or str(ftype)
                counts[kind] = counts.get(kind, 0) + n
        counts["bytes"] = counts.get("bytes", 0) + nbytes
        counts["last"] = now
        if self.blackholed:
            counts["dropped"] = True

    def flush(self, direction=None):
        for d in ([direction] if direction else ["c2s", "s2c"]):
            if self.counts[d]:
                nbytes = self.counts[d].pop("bytes", 0)
                last = self.counts[d].pop("last", None)
                dropped = {"dropped": True} if self.counts[d].pop("dropped", False) else {}
                self.record("traffic", dir=d, second=self.second[d],
                            frames=self.counts[d], bytes=nbytes,
                            last=round(last, 6) if last else None, **dropped)
                self.counts[d] = {}

    def _method(self, direction, payload):
        try:
            key, fields = decode_method(payload)
        except Exception as exc:  # a malformed method: say so, keep relaying
            self.record("undecoded", dir=direction, why=f"{type(exc).__name__}: {exc}")
            return
        if key == CONNECTION_START_OK:
            self.name = fields["connection_name"]
            self.record("connection-name", name=self.name, product=fields["product"])
        elif key == CONNECTION_TUNE:
            self.record("tune", dir=direction, **fields)
        elif key == CONNECTION_TUNE_OK:
            self.record("tune-ok", dir=direction, **fields)
        elif key == CONNECTION_CLOSE:
            by = "client" if direction == "c2s" else "server"
            self.record("close", dir=direction, by=by, **fields)

    def end(self, how, by):
        if not self.ended:
            self.ended = True
            self.flush()
            self.record("end", how=how, by=by, forwarded=self.forwarded,
                        dropped=self.dropped)


def _rst(transport):
    """Close ``transport``'s socket with an RST rather than a FIN."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


class _Side(asyncio.Protocol):
    """One socket of a relayed connection: what it receives goes, observed,
    to the other side. Protocols rather than streams: a chunk is forwarded
    from the callback that received it, with no task switch (the relay must
    not be what the lab measures)."""

    def __init__(self, relay, conn, direction):
        self.relay, self.conn, self.direction = relay, conn, direction
        self.side = "client" if direction == "c2s" else "server"
        self.peer = None  # the other _Side
        self.transport = None
        self.early = []  # bytes for this side that came before its socket

    def connection_made(self, transport):
        self.transport = transport
        for data in self.early:
            transport.write(data)
        self.early = []

    def data_received(self, data):
        conn = self.conn
        if conn.blackholed:
            conn.dropped[self.direction] += len(data)
        else:
            conn.forwarded[self.direction] += len(data)
            if self.relay.latency:
                asyncio.get_running_loop().call_later(
                    self.relay.latency, self._forward, data)
            else:
                # Forward first, read after: the parsing is then off the
                # call's path (the peer is already at work on these bytes).
                self._forward(data)
        if self.relay.reading:
            conn.observe(self.direction, data)

    def _forward(self, data):
        peer = self.peer.transport
        if peer is None:
            # The client spoke before the broker's side was connected (a
            # read already under way when reading was paused): keep it.
            self.peer.early.append(data)
        elif not peer.is_closing():
            peer.write(data)

    def _broker_ended(self):
        if self.side == "server":
            self.relay.upstream_lost(self.conn.upstream)

    def eof_received(self):
        self.conn.end("fin", self.side)
        self._broker_ended()
        if self.conn.blackholed:
            return True  # a dropped flow carries no FIN either
        peer = self.peer.transport
        if peer is not None and not peer.is_closing() and peer.can_write_eof():
            peer.write_eof()
        return True  # half-open: the other way may still carry bytes

    def connection_lost(self, exc):
        if exc is not None:  # a reset, not the relay's own close
            self._broker_ended()
        if self.conn.blackholed and not self.relay.stopping:
            # A dropped flow carries no RST or FIN either: the other side's
            # socket stays open, and silent.
            self.conn.end("rst" if isinstance(exc, ConnectionResetError) else "fin",
                          self.side)
            self.relay.conns.pop(self.conn.id, None)
            return
        if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
            self.conn.end("rst", self.side)
            if self.peer.transport is not None:
                _rst(self.peer.transport)
        else:
            self.conn.end("fin", self.side)
            if self.peer.transport is not None:
                self.peer.transport.close()
        self.relay.conns.pop(self.conn.id, None)

    # Back-pressure: a side that cannot write makes the other stop reading.
    def pause_writing(self):
        if self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self):
        if self.peer.transport is not None:
            self.peer.transport.resume_reading()


class Relay:
    """``routes``: [(listen port, upstream port)], one per broker node (a
    cluster's transport URL names each node through its own route)."""

    def __init__(self, routes, wire_path, control_port, reading=True):
        self.routes = list(routes)
        self.control_port = control_port
        # False only for the overhead benchmark's baseline: a relay that
        # forwards and reads nothing, to tell the cost of the extra hop from
        # the cost of reading AMQP.
        self.reading = reading
        self.wire = Wire(wire_path)
        self.ids = itertools.count(1)
        self.conns = {}
        self.latency = 0.0
        self.stopping = False
        self.probing = set()  # upstream ports being looked at (upstream_lost)

    async def serve(self, wait_upstream=60.0):
        # Listen only once the broker answers: the services wait for this
        # port to open before they connect, as they would for the broker's.
        deadline = time.monotonic() + wait_upstream
        for _, upstream_port in self.routes:
            while not await self._answers(upstream_port):
                if time.monotonic() > deadline:
                    print(f"the broker's port {upstream_port} did not open "
                          f"within {wait_upstream:.0f} s", flush=True)
                    return 1
                await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        # {listen port: (listening socket, its accept task)} of the routes
        # whose broker answers; a route whose broker is gone is closed.
        self.listening = {}
        for listen_port, upstream_port in self.routes:
            self._listen(listen_port, upstream_port)
        self.control = await asyncio.start_server(self._control, HOST,
                                                  self.control_port)
        # The first route's ports at the top level, as a single node's run
        # has always recorded them; a cluster's every route besides.
        (listen, upstream), *_ = self.routes
        self.wire.record("relay-start", listen=listen, upstream=upstream,
                         routes=[list(r) for r in self.routes])
        print(f"{READY_LINE}: " + ", ".join(
            f"{HOST}:{lp} -> {HOST}:{up}" for lp, up in self.routes)
              + f" ({type(loop).__module__} loop)", flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        self.stopping = True
        for conn in list(self.conns.values()):
            conn.end("fin", "relay")
        self.wire.record("relay-stop")
        return 0

    def _listen(self, listen_port, upstream_port):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, listen_port))
        listener.listen(128)
        listener.setblocking(False)
        task = asyncio.get_running_loop().create_task(
            self._accept_loop(listener, upstream_port))
        self.listening[listen_port] = (listener, task)

    # A broker node that is down refuses connections; through a relay that
    # kept listening, a client would instead see its connection accepted
    # and then reset, and a driver may handle that otherwise (which node it
    # tries next, how soon). So the relay refuses too: when the broker
    # refuses the relay, or ends its connections, the route stops listening
    # until the broker's port answers again (a restart on the same port).

    def upstream_lost(self, upstream_port):
        """An upstream connection failed or ended from the broker's side:
        look whether the broker is gone (a task; never blocks the loop)."""
        if upstream_port not in self.probing and not self.stopping:
            self.probing.add(upstream_port)
            asyncio.get_running_loop().create_task(self._probe(upstream_port))

    async def _probe(self, upstream_port):
        listen_port = next(lp for lp, up in self.routes if up == upstream_port)
        try:
            if await self._answers(upstream_port):
                return
            entry = self.listening.pop(listen_port, None)
            if entry is not None:
                listener, task = entry
                task.cancel()
                listener.close()
                self.wire.record("route-down", listen=listen_port,
                                 upstream=upstream_port)
            while not self.stopping and not await self._answers(upstream_port):
                await asyncio.sleep(0.05)
            while not self.stopping and listen_port not in self.listening:
                try:
                    self._listen(listen_port, upstream_port)
                    self.wire.record("route-up", listen=listen_port,
                                     upstream=upstream_port)
                except OSError:
                    await asyncio.sleep(0.05)  # the port is not free yet
        finally:
            self.probing.discard(upstream_port)

    async def _answers(self, upstream_port):
        try:
            _, probe = await asyncio.open_connection(HOST, upstream_port)
        except OSError:
            return False
        probe.close()
        return True

    async def _accept_loop(self, listener, upstream_port):
        loop = asyncio.get_running_loop()
        while True:
            sock, _ = await loop.sock_accept(listener)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            loop.create_task(self._accept(sock, upstream_port))

    async def _accept(self, client_sock, upstream_port):
        """Relay one accepted client socket to a new upstream connection."""
        loop = asyncio.get_running_loop()
        conn = Connection(next(self.ids), self.wire, client_sock.getpeername())
        conn.upstream = upstream_port
        client, upstream = _Side(self, conn, "c2s"), _Side(self, conn, "s2c")
        client.peer, upstream.peer = upstream, client
        # The client's side first, not reading until the broker's side is
        # there: no byte either way may find its peer missing.
        await loop.connect_accepted_socket(lambda: client, client_sock)
        client.transport.pause_reading()
        try:
            up_transport, _ = await loop.create_connection(
                lambda: upstream, HOST, upstream_port)
        except OSError as exc:
            conn.record("accept", client=conn.client, upstream=upstream_port,
                        upstream_error=str(exc))
            _rst(client.transport)  # the closest a taken connection gets
            self.upstream_lost(upstream_port)
            return
        conn.writers = {"c2s": up_transport, "s2c": client.transport}
        conn.record("accept", client=conn.client, upstream=upstream_port,
                    upstream_local=up_transport.get_extra_info("sockname")[1])
        self.conns[conn.id] = conn
        client.transport.resume_reading()

    def fault(self, verb, **options):
        """Apply one fault; returns what it did."""
        if verb == "blackhole":
            for conn in self.conns.values():
                conn.blackholed = True
            done = {"connections": sorted(self.conns)}
        elif verb == "reset":
            done = {"connections": sorted(self.conns)}
            for conn in list(self.conns.values()):
                conn.end("rst", "relay")
                for transport in conn.writers.values():
                    _rst(transport)
        elif verb == "latency":
            ms = float(options.get("ms", -1))
            if ms < 0:
                raise ValueError("latency needs ms >= 0")
            self.latency = ms / 1000.0
            done = {"ms": ms}
        elif verb == "heal":
            for conn in self.conns.values():
                conn.blackholed = False
            self.latency = 0.0
            done = {"connections": sorted(self.conns)}
        elif verb == "stats":
            return {"connections": {c.id: {"name": c.name, "forwarded": c.forwarded,
                                           "dropped": c.dropped,
                                           "blackholed": c.blackholed}
                                    for c in self.conns.values()},
                    "latency_ms": self.latency * 1000}
        else:
            raise ValueError(f"unknown verb {verb!r}")
        self.wire.record("fault", verb=verb, **{**options, **done})
        return done

    async def _control(self, reader, writer):
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    reply = {"ok": True, **self.fault(**request)}
                except (ValueError, TypeError) as exc:
                    reply = {"ok": False, "error": str(exc)}
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
        finally:
            writer.close()


def ask(control_port, verb, timeout=5.0, **options):
    """Send one fault to a running relay; its reply (ValueError if refused)."""
    with socket.create_connection((HOST, control_port), timeout=timeout) as s:
        s.sendall((json.dumps({"verb": verb, **options}) + "\n").encode())
        reply = json.loads(s.makefile().readline())
    if not reply.get("ok"):
        raise ValueError(reply.get("error", "refused"))
    return reply


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fake-lab-relay")
    parser.add_argument("--route", action="append", required=True,
                        metavar="LISTEN:UPSTREAM",
                        help="a listening port and the broker port it relays "
                             "to (one per node of a cluster)")
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--wire", required=True)
    parser.add_argument("--wait-upstream", type=float, default=60.0)
    parser.add_argument("--forward-only", action="store_true",
                        help="read no AMQP, record nothing (a baseline)")
    args = parser.parse_args(argv)
    try:
        routes = [tuple(int(p) for p in r.split(":")) for r in args.route]
        if any(len(r) != 2 for r in routes):
            raise ValueError
    except ValueError:
        parser.error("--route is LISTEN:UPSTREAM, two port numbers")
    relay = Relay(routes, args.wire, args.control_port,
                  reading=not args.forward_only)
    try:  # libuv's loop costs the relayed calls less than asyncio's own
        import uvloop
    except ImportError:
        return asyncio.run(relay.serve(args.wait_upstream))
    return uvloop.run(relay.serve(args.wait_upstream))


class RelayDaemon:
    """The relay as a daemon of a run: ``launch()`` (returns at once; the
    relay listens once the broker answers), ``wait_ready()``, ``port`` (the
    first route's), ``routes`` ({upstream port: listen port}),
    ``fault(verb, ...)``, ``stop()``.

    ``upstream``: the broker's port, or a cluster's node ports (a route
    each: a client that moves to another node moves to another route, and
    the wire still sees it)."""

    def __init__(self, run_dir, log_path, upstream, wire_name="wire.jsonl",
                 forward_only=False, wait_upstream=60.0):
        self.run_dir, self.log_path = run_dir, log_path
        self.upstream_ports = (list(upstream) if isinstance(upstream, (list, tuple))
                               else [upstream])
        self.wire_path = f"{run_dir}/{wire_name}"
        self.forward_only = forward_only
        self.wait_upstream = wait_upstream
        self.routes = {}
        self.port = self.control_port = None
        self.daemon = None

    def launch(self, avoid=()):
        from fake_lab.daemons import procs

        *listen, self.control_port = procs.free_ports(
            len(self.upstream_ports) + 1, HOST, {*self.upstream_ports, *avoid})
        self.routes = dict(zip(self.upstream_ports, listen))
        self.port = listen[0]
        argv = [sys.executable, "-m", "fake_lab.daemons.relay",
                "--control-port", str(self.control_port),
                "--wire", self.wire_path,
                "--wait-upstream", str(self.wait_upstream)]
        for upstream, port in self.routes.items():
            argv += ["--route", f"{port}:{upstream}"]
        self.daemon = procs.spawn(
            "relay", argv + (["--forward-only"] if self.forward_only else []),
            self.log_path, owner=self.run_dir)
        return self

    def wait_ready(self, timeout=60):
        from fake_lab.daemons import procs

        def ready():
            try:
                with open(self.log_path, errors="replace") as f:
                    return READY_LINE in f.read()
            except OSError:
                return False
        procs.wait_until(ready, self.daemon, READY_LINE, timeout)

    def fault(self, verb, **options):
        return ask(self.control_port, verb, **options)

    def stop(self):
        if self.daemon is not None:
            self.daemon.stop(grace=5)
            self.daemon = None


if __name__ == "__main__":
    sys.exit(main())
