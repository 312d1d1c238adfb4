"""What each process of a run costs: RSS and threads, sampled.

Native threads cost memory that green threads did not, and nova's threading
mode sizes its pools for that: every run records, for each process of the
API's container and of each fake service (masters and the workers they
fork), its resident memory and its thread count every ``interval`` seconds,
read from /proc (which the sampled processes never notice), into
``resources.jsonl``. ``summary`` reads it back for the report.
"""

import json
import os
import threading
import time

from fake_lab.daemons import procs

FILE = "resources.jsonl"


def _status(pid):
    """(comm, rss kB, threads) of a live process, else None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    try:
        rss = int(fields.get("VmRSS", "0 kB").split()[0])
        return fields["Name"].strip(), rss, int(fields["Threads"])
    except (KeyError, ValueError):
        return None


class Sampler:
    """``roots()`` gives {name: root PID}; each root's tree is sampled."""

    def __init__(self, path, roots, interval=0.5):
        self.path, self.roots, self.interval = path, roots, interval
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def sample(self):
        """One sample of every process: a list of records."""
        now = time.time()
        records = []
        table = procs.proc_table()
        for name, root in sorted(self.roots().items()):
            for pid in sorted(procs.tree(root, table)):
                found = _status(pid)
                if found:
                    comm, rss, threads = found
                    records.append({"time": round(now, 3), "name": name, "pid": pid,
                                    "comm": comm, "rss_kb": rss, "threads": threads})
        return records

    def _loop(self):
        with open(self.path, "a") as f:
            while True:
                for record in self.sample():
                    f.write(json.dumps(record) + "\n")
                f.flush()
                if self._stop.wait(self.interval):
                    return


def summary(path):
    """[(name, pid, comm, peak RSS MB, peak threads, samples)] by name, pid."""
    peaks = {}
    try:
        with open(path) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue  # a line cut by a crash
                key = (r["name"], r["pid"])
                comm, rss, threads, n = peaks.get(key, (r["comm"], 0, 0, 0))
                peaks[key] = (r["comm"], max(rss, r["rss_kb"]),
                              max(threads, r["threads"]), n + 1)
    except OSError:
        return []
    return [(name, pid, comm, round(rss / 1024, 1), threads, n)
            for (name, pid), (comm, rss, threads, n) in sorted(peaks.items())]


def report_lines(run_path):
    """Lines for report.md: one per process, its peaks."""
    rows = summary(os.path.join(run_path, FILE))
    if not rows:
        return []
    lines = ["## Memory and threads (peaks, sampled every 0.5 s)", ""]
    lines += [f"- {name} PID {pid} ({comm}): RSS {rss} MB, {threads} thread(s), "
              f"{n} sample(s)" for name, pid, comm, rss, threads, n in rows]
    return lines + [""]
