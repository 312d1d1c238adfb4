"""The worker side of ``fake-lab bench``, shared by its two workers:
``bench_worker`` (oslo.messaging, the bare pair and the lab's path) and
``bench_kombu`` (the raw kombu baseline).

Nothing here patches or imports eventlet: a worker decides its mode on its
own first line, before importing this module. What this module imports
(socket, threading, time) is then whatever that decision made of them.

A worker talks to the bench's runner over one TCP connection on 127.0.0.1
(the port is on its command line), one JSON object a line:

    worker -> {"hello": {"id", "role", "pid"}}
    runner -> {"cmd": "start", "url", "topic", "config_file", "timeout"}
    worker -> {"ready": {process record}} or {"error": "one line"}
    runner -> {"cmd": "calls", "callers": C, "calls": N, "duration": S}
    worker -> {"calls": {"latencies": [s, ...], "sent", "errors", "seconds",
               "threads"}}
    runner -> {"cmd": "casts", "casts": N, "duration": S}
    worker -> {"casts": {"sent", "received", "seconds", "send_seconds",
               "errors", "server"}}
    runner -> {"cmd": "cpu"}   (client or server)
    worker -> {"cpu": seconds of CPU the process used so far}
    runner -> {"cmd": "quit"} (or the connection closes): the worker stops.

A calls or casts answer also carries ``cpu``: the client's CPU seconds for
that block.

The credentials in the transport URL cross this socket only, never a
command line. Under eventlet the socket is green, so a worker waiting for
the runner's next command leaves its hub free to run the RPC server's
green threads.
"""

import json
import os
import socket
import sys
import threading
import time

MODE_ENV = "OS_NOVA_DISABLE_EVENTLET_PATCHING"
MAIN_NATIVE_ID = threading.get_native_id()
VERSIONS = ("oslo.messaging", "oslo.service", "kombu", "amqp", "eventlet",
            "greenlet")


def thread_info():
    """The thread running this code, as it really is: its class, its OS
    thread, and whether it is a green thread (a greenlet under a hub)."""
    greenlet = sys.modules.get("greenlet")
    green = greenlet is not None and greenlet.getcurrent().parent is not None
    return {"type": type(threading.current_thread()).__name__,
            "native_id": threading.get_native_id(),
            "main_native_id": MAIN_NATIVE_ID, "green": green}


def _version(dist):
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def describe_process():
    """What this process really runs on, read from inside it: whether
    eventlet was imported, poisoned, which modules it patched, the socket
    class, the main thread's class, oslo.service's backend, the versions.
    Never imports eventlet itself."""
    patcher = sys.modules.get("eventlet.patcher")
    patched = {}
    for name in ("thread", "socket", "select", "time", "os"):
        try:
            patched[name] = bool(patcher.is_monkey_patched(name)) if patcher else False
        except Exception:  # an eventlet that cannot say
            patched[name] = None
    eventlet = sys.modules.get("eventlet")
    poisoned = bool(eventlet is not None and getattr(
        getattr(eventlet, "monkey_patch", None), "__name__", "") == "_poison")
    backend = None
    service = sys.modules.get("oslo_service.backend")
    if service is not None:
        try:
            selected = service.get_backend_type()
            backend = selected.value if selected is not None else None
        except Exception:
            backend = None
    lock = type(threading.Lock())
    return {"pid": os.getpid(), "python": sys.executable,
            "env": os.environ.get(MODE_ENV),
            "eventlet_imported": eventlet is not None,
            "eventlet_poisoned": poisoned, "patched": patched,
            "socket_class": f"{socket.socket.__module__}.{socket.socket.__qualname__}",
            "lock_class": f"{lock.__module__}.{lock.__qualname__}",
            "main_thread": thread_info(), "oslo_service_backend": backend,
            "versions": {d: _version(d) for d in VERSIONS}}


class Channel:
    """The worker's end of the control connection."""

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.sock.settimeout(None)
        self.reader = self.sock.makefile("r", encoding="utf-8")
        self.lock = threading.Lock()

    def send(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        with self.lock:
            self.sock.sendall(data)

    def recv(self):
        """The runner's next message, or None once it closed."""
        line = self.reader.readline()
        return json.loads(line) if line else None


def run_calls(call, callers, calls, duration):
    """``calls`` calls, issued by ``callers`` threads at once (green ones in
    a patched process), each waiting for its reply before the next; the
    threads stop issuing after ``duration`` seconds. Returns the latencies
    of the answered calls, the errors by type, and the callers' threads."""
    lock = threading.Lock()
    issued = [0]
    deadline = [0.0]
    go = threading.Event()
    latencies = [[] for _ in range(callers)]
    errors = {}
    threads = [None] * callers

    at_gate = threading.Event()
    arrived = [0]

    def caller(i):
        threads[i] = thread_info()
        with lock:
            arrived[0] += 1
            if arrived[0] == callers:
                at_gate.set()
        go.wait()
        mine = latencies[i]
        while True:
            with lock:
                if issued[0] >= calls or time.monotonic() > deadline[0]:
                    return
                issued[0] += 1
                n = issued[0]
            began = time.perf_counter()
            try:
                call(i, n)
            except Exception as exc:  # counted, not fatal: a lost call is a figure
                with lock:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            mine.append(time.perf_counter() - began)

    workers = [threading.Thread(target=caller, args=(i,), name=f"bench-caller-{i}",
                                daemon=True) for i in range(callers)]
    for t in workers:
        t.start()
    at_gate.wait(10)  # every caller at the gate before the clock starts
    deadline[0] = time.monotonic() + duration
    began = time.perf_counter()
    go.set()
    for t in workers:
        t.join()
    seconds = time.perf_counter() - began
    return {"latencies": [round(x, 7) for lat in latencies for x in lat],
            "sent": issued[0], "errors": errors, "seconds": round(seconds, 6),
            "threads": [t for t in threads if t is not None]}


def run_casts(cast, status, casts, duration):
    """``casts`` casts from one thread, then the server's count asked until
    all arrived (or ``duration`` passed since the first): the time from the
    first cast to the answer that counted the last one."""
    before = status()["casts"]
    errors = {}
    began = time.perf_counter()
    sent = 0
    for n in range(casts):
        try:
            cast(n)
            sent += 1
        except Exception as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
    send_seconds = time.perf_counter() - began
    received, handler = 0, None
    while True:
        # The count is asked by a call queued behind the casts: it is
        # answered once the server has taken them, so few polls are made.
        try:
            reply = status()
            received, handler = reply["casts"] - before, reply.get("handler")
        except Exception as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
        if received >= sent or time.perf_counter() - began > duration:
            break
        time.sleep(0.002)
    return {"sent": sent, "received": received,
            "seconds": round(time.perf_counter() - began, 6),
            "send_seconds": round(send_seconds, 6), "errors": errors,
            "server": handler}


def serve(args, setup):
    """A worker's life: hello, start (``setup(start message)`` returns the
    worker: ``record()``, and for a client ``call(i, n)``, ``cast(n)``,
    ``status()``; ``stop()``), then the runner's commands until quit."""
    channel = Channel(args.control)
    channel.send({"hello": {"id": args.id, "role": args.role, "pid": os.getpid()}})
    start = channel.recv()
    if not start or start.get("cmd") != "start":
        return 0
    try:
        worker = setup(start)
        ready = dict(describe_process(), role=args.role, **worker.record())
    except Exception as exc:  # one line to the runner; the log has the rest
        import traceback

        traceback.print_exc()
        channel.send({"error": f"{type(exc).__name__}: {exc}".splitlines()[0]})
        return 1
    channel.send({"ready": ready})
    try:
        while True:
            message = channel.recv()
            if message is None or message.get("cmd") == "quit":
                break
            try:
                channel.send(_command(worker, message))
            except OSError:
                raise
            except Exception as exc:  # the runner marks this path failed
                import traceback

                traceback.print_exc()
                channel.send({"error": f"{type(exc).__name__}: {exc}".splitlines()[0]})
    finally:
        # The runner stops this process by its tree if this hangs.
        worker.stop()
    return 0


def _command(worker, message):
    cmd = message.get("cmd")
    if cmd == "cpu":
        # The CPU time of the whole process (every thread, those that ended
        # too), in seconds: what a block cost this process.
        return {"cpu": time.process_time()}
    began = time.process_time()
    if cmd == "calls":
        block = run_calls(worker.call, message["callers"], message["calls"],
                          message["duration"])
    elif cmd == "casts":
        block = run_casts(worker.cast, worker.status, message["casts"], message["duration"])
    elif cmd == "status":
        return {"status": worker.status()}
    else:
        return {"error": f"unknown command {cmd!r}"}
    block["cpu"] = round(time.process_time() - began, 6)
    return {cmd: block}


def parser(prog):
    import argparse

    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("--control", required=True, help="HOST:PORT of the runner")
    p.add_argument("--id", required=True, help="the pair this worker belongs to")
    p.add_argument("--role", required=True, choices=("server", "client"))
    return p
