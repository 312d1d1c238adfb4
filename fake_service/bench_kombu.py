"""The raw kombu baseline of ``fake-lab bench``: RPC-like request/reply and
casts straight over kombu, no oslo.messaging, so that every figure of the
bench can be read as a multiple of what the broker and the client library
cost on this machine, in the same run.

The process is never patched and never imports eventlet (kombu does not):
plain native threads. The server consumes one queue from one thread and
answers on the default exchange to the request's ``reply_to`` with its
``correlation_id``; a cast is counted. Each caller of the client has a
connection, a channel and an exclusive reply queue of its own (a kombu
connection is not thread-safe), which is as lean as request/reply gets.

    python -m fake_service.bench_kombu --role server|client \\
        --control 127.0.0.1:PORT --id PAIR
"""

import socket
import sys
import threading
import time
import uuid

from fake_service import bench_driver

QUEUE = "bench-kombu"


def kombu_url(url):
    """oslo.messaging's ``rabbit://`` URL as kombu spells it (``amqp://``)."""
    return "amqp://" + url.split("://", 1)[1] if url.startswith("rabbit://") else url


class Server:
    def __init__(self, start):
        from kombu import Connection, Consumer, Producer, Queue

        self.casts = 0
        self.conn = Connection(kombu_url(start["url"]))
        self.conn.connect()
        channel = self.conn.channel()
        queue = Queue(QUEUE, channel=channel, durable=False, auto_delete=False)
        queue.declare()
        self.producer = Producer(channel, serializer="json")
        self.consumer = Consumer(channel, queues=[queue], callbacks=[self._on_message])
        self.consumer.consume()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._drain, name="bench-kombu-server",
                                       daemon=True)
        self.thread.start()

    def _drain(self):
        while not self.stopping.is_set():
            try:
                self.conn.drain_events(timeout=1)
            except socket.timeout:
                pass

    def _on_message(self, body, message):
        kind = body.get("kind")
        if kind == "cast":
            self.casts += 1  # one thread: no lock
        else:
            result = (body.get("payload") if kind == "call" else
                      {"casts": self.casts, "handler": bench_driver.thread_info()})
            self.producer.publish({"result": result},
                                  routing_key=message.properties["reply_to"],
                                  correlation_id=message.properties["correlation_id"])
        message.ack()

    def record(self):
        return {"kind": "kombu", "executor": "one consumer thread"}

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=3)
        self.conn.release()


class _Slot:
    """One caller's connection, reply queue and producer."""

    def __init__(self, url, timeout):
        from kombu import Connection, Consumer, Producer, Queue

        self.timeout = timeout
        self.conn = Connection(url)
        self.conn.connect()
        channel = self.conn.channel()
        self.reply = Queue(f"bench-reply-{uuid.uuid4().hex}", channel=channel,
                           exclusive=True, auto_delete=True, durable=False)
        self.reply.declare()
        self.producer = Producer(channel, serializer="json")
        self.consumer = Consumer(channel, queues=[self.reply], callbacks=[self._on_reply],
                                 no_ack=True)
        self.consumer.consume()
        self.waiting = self.result = None

    def _on_reply(self, body, message):
        if message.properties.get("correlation_id") == self.waiting:
            self.result = body

    def request(self, body):
        self.waiting, self.result = uuid.uuid4().hex, None
        self.producer.publish(body, routing_key=QUEUE, reply_to=self.reply.name,
                              correlation_id=self.waiting)
        deadline = time.monotonic() + self.timeout
        while self.result is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no reply within {self.timeout} s")
            try:
                self.conn.drain_events(timeout=left)
            except socket.timeout:
                pass
        return self.result["result"]

    def cast(self, body):
        self.producer.publish(body, routing_key=QUEUE)

    def close(self):
        self.conn.release()


class Client:
    def __init__(self, start):
        self.url, self.timeout = kombu_url(start["url"]), start["timeout"]
        self.slots = {}
        self.lock = threading.Lock()
        self.status()
        bench_driver.run_calls(self.call, 8, 16, 30)  # every caller's connection

    def _slot(self, i):
        with self.lock:
            slot = self.slots.get(i)
        if slot is None:
            slot = _Slot(self.url, self.timeout)
            with self.lock:
                self.slots[i] = slot
        return slot

    def record(self):
        return {"kind": "kombu"}

    def call(self, i, n):
        return self._slot(i).request({"kind": "call", "payload": n})

    def cast(self, n):
        self._slot(0).cast({"kind": "cast", "payload": n})

    def status(self):
        return self._slot(0).request({"kind": "status"})

    def stop(self):
        for slot in self.slots.values():
            slot.close()


def main(argv=None):
    args = bench_driver.parser("fake-lab-bench-kombu").parse_args(argv)
    return bench_driver.serve(args, Server if args.role == "server" else Client)


if __name__ == "__main__":
    sys.exit(main())
