"""``fake-lab trace RUN REQUEST_ID``: one request's path across every process
of a run, in time order: the "log, log and log" of seed 000, without
Logstash. Every lab process puts the request id on each line it logs while
handling that request (the API, the conductor, the scheduler, the compute
hosts), so a merge of the run's logs on their timestamps is the trace.
A run with an API pair adds HAProxy's line of the request (logs/haproxy.log:
which server answered it), dated by HAProxy when the request ended.
"""

import glob
import os

from fake_lab.checkers import evidence, haproxy_log
from fake_lab.errors import UsageError


def trace(run_dir, request_id):
    """[(epoch, line)] of every log line of the request, in time order."""
    logs = sorted(glob.glob(os.path.join(run_dir, "logs", "*.log")))
    if not logs:
        raise UsageError(f"{run_dir} has no logs/ to trace")
    found = []
    for path in logs:
        last = None
        with open(path, errors="replace") as f:
            for raw in f:
                raw = raw.rstrip("\n")
                m = evidence._CLIENT_LINE.match(raw)
                if m:
                    last = None
                    if m.group("request_id") == request_id or request_id in raw:
                        last = (evidence._epoch(m.group("ts")), raw)
                        found.append(last)
                elif request_id in raw and haproxy_log.lines_of([raw]):
                    last = None
                    found.append((haproxy_log.lines_of([raw])[0]["time"], raw))
                elif last is not None and raw.strip():
                    # A traceback or other continuation of a traced line.
                    found.append((last[0], "    " + raw))
    found.sort(key=lambda item: item[0])
    return found
