"""What every checker shares: the three verdicts, the result's shape, the
run's options as config.json recorded them, and relative times."""

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
