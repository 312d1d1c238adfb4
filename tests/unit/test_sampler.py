"""The sampler reads RSS and threads of each process tree from /proc."""

import json
import subprocess
import sys
import time

from fake_lab import sampler

CHILD = """
import threading, time
for _ in range(4):
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
print("up", flush=True)
time.sleep(30)
"""


def test_a_tree_is_sampled_with_its_threads_and_memory(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                             text=True, start_new_session=True)
    try:
        assert child.stdout.readline().strip() == "up"
        path = tmp_path / sampler.FILE
        s = sampler.Sampler(str(path), lambda: {"svc": child.pid}, interval=0.05)
        s.start()
        time.sleep(0.3)
        s.stop()
    finally:
        child.kill()
        child.wait()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert {r["pid"] for r in records} == {child.pid}
    assert min(r["threads"] for r in records) == 5 and min(r["rss_kb"] for r in records) > 0
    ((name, pid, comm, rss, threads, n),) = sampler.summary(str(path))
    assert (name, pid, threads) == ("svc", child.pid, 5) and n == len(records) >= 3
    lines = sampler.report_lines(str(tmp_path))
    assert lines[2].startswith(f"- svc PID {child.pid} (python") and "5 thread(s)" in lines[2]


def test_a_gone_process_is_skipped_and_a_cut_line_ignored(tmp_path):
    s = sampler.Sampler(str(tmp_path / "r.jsonl"), lambda: {"gone": 2 ** 22 + 7})
    assert s.sample() == []
    (tmp_path / sampler.FILE).write_text('{"time": 1, "name": "a", "pid": 1, "comm": "x", '
                                         '"rss_kb": 2048, "threads": 3}\n{"time": 2, "na')
    assert sampler.summary(str(tmp_path / sampler.FILE)) == [("a", 1, "x", 2.0, 3, 1)]
