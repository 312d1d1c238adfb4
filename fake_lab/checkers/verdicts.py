"""What every checker shares: the three verdicts, the result's shape, the
run's options as config.json recorded them, relative times, and the
lines every checker writes alike (requests, connection names)."""

from fake_lab import history

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not-reproduced"
UNKNOWN = "unknown"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, UNKNOWN)


def option(config, group, name, default=None):
    """A resolved option from a run's config.json."""
    return config.get("options", {}).get(group, {}).get(name, default)


def result(verdict, evidence_lines, **details):
    return {"verdict": verdict, "evidence": evidence_lines, "details": details}


class Timeline:
    """Relative times ("t=+4.20s") on the history's clock."""

    def __init__(self, records):
        first = records[0] if records else {"time": 0.0, "t": 0.0}
        self.start = first["time"] - first["t"]

    def __call__(self, when):
        return "t=+%.2fs" % (when - self.start)


def named_ops(records):
    """{step name: {"invoke": rec, "done": rec or None}}; a step without a
    name goes by its op and verb ("idle", "fault-blackhole"); the first wins."""
    named = {}
    for op in history.operations(records).values():
        value = op["invoke"]["value"]
        key = value.get("name") or "-".join(
            filter(None, (op["invoke"]["f"], value.get("verb"))))
        named.setdefault(key, op)
    return named


def describe_request(name, op, t):
    """One line for a request of the history: outcome, status, latency."""
    if op is None:
        return f"{name}: not sent"
    done = op["done"]
    if done is None:
        return f"{name}: sent at {t(op['invoke']['time'])}, no outcome recorded"
    v = done["value"]
    what = f"HTTP {v['status']}" if v.get("status") else v.get("error", "?")
    return (f"{name}: {done['type']} ({what}) in {v.get('latency', 0):.3f} s, "
            f"sent at {t(op['invoke']['time'])}")


def short_name(name):
    """uwsgi:6243:99bd… : a connection name short enough to read."""
    program, _, rest = (name or "?").rpartition(":")
    return f"{program}:{rest[:4]}…" if program else name
