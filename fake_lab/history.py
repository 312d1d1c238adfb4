"""The run's history: one JSON object per line, appended and flushed at once.

Operations follow Jepsen's model: an ``invoke`` line, then one of ``ok``
(it happened), ``fail`` (it certainly did not) or ``info`` (unknown: a
timeout), sharing the operation's ``id``. Other lines are ``event``s
(phases, observations such as a connection listing). Every line has ``time``
(epoch seconds) and ``t`` (seconds since the run started), so the history
can be merged with the logs' timestamps.
"""

import itertools
import json
import os
import threading
import time

from fake_lab.errors import StorageError

INVOKE, OK, FAIL, INFO, EVENT = "invoke", "ok", "fail", "info", "event"


class History:
    def __init__(self, path, started=None):
        self.path = path
        self.started = started if started is not None else time.time()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        try:
            self._file = open(path, "a", buffering=1)
        except OSError as exc:
            raise StorageError(f"cannot write the history {path}: {exc.strerror}")

    def _write(self, record):
        with self._lock:  # boots are recorded from several threads
            return self._write_locked(record)

    def _write_locked(self, record):
        now = time.time()
        line = {"time": round(now, 6), "t": round(now - self.started, 6)}
        line.update(record)
        try:
            self._file.write(json.dumps(line, sort_keys=True) + "\n")
            self._file.flush()
        except OSError as exc:  # disk full, most likely
            raise StorageError(f"cannot write the history {self.path}: "
                               f"{exc.strerror}")
        return line

    def event(self, name, **value):
        return self._write({"type": EVENT, "f": name, "process": "runner",
                            "value": value})

    def invoke(self, f, process="client", **value):
        op_id = next(self._ids)
        self._write({"type": INVOKE, "id": op_id, "f": f,
                     "process": process, "value": value})
        return op_id

    def complete(self, op_id, f, outcome, process="client", **value):
        assert outcome in (OK, FAIL, INFO), outcome
        return self._write({"type": outcome, "id": op_id, "f": f,
                            "process": process, "value": value})

    def close(self):
        if not self._file.closed:
            try:
                self._file.close()
            except OSError:  # already reported by the write that failed
                pass


def read(path):
    """The records of a history file; a torn last line is skipped."""
    records = []
    if not os.path.exists(path):
        return records
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def operations(records):
    """Pair invocations with their completions: {id: {invoke, done}}."""
    ops = {}
    for rec in records:
        if rec.get("type") == INVOKE:
            ops[rec["id"]] = {"invoke": rec, "done": None}
        elif rec.get("type") in (OK, FAIL, INFO) and rec.get("id") in ops:
            ops[rec["id"]]["done"] = rec
    return ops
