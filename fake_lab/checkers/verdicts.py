"""What every checker shares: the three verdicts, the result's shape, the
run's options as config.json recorded them, relative times, the lines
every checker writes alike (requests, connection names), and a judgement
as named steps that stop at the first verdict reached."""

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


class Verdict(Exception):
    """Raised by a step of a judgement that has reached the verdict; its
    ``lines`` are cited last."""

    def __init__(self, verdict, *lines):
        super().__init__(verdict)
        self.verdict, self.lines = verdict, list(lines)


class Judgement:
    """A checker's judgement as named steps over one run directory: each
    step cites what it saw in ``cited`` and may raise Verdict; ``steps()``
    runs them in order and returns the verdict if none was raised."""

    def __init__(self, run):
        self.run = run
        self.records = history.read(run.history)
        self.config = run.read_json("config.json") or {}
        self.t = Timeline(self.records)
        self.ops = named_ops(self.records)
        self.cited, self.details = [], {}

    def steps(self):
        raise NotImplementedError

    def judge(self):
        try:
            verdict = self.steps()
        except Verdict as v:
            self.cited.extend(v.lines)
            verdict = v.verdict
        return result(verdict, self.cited, **self.details)

