"""What the failover checkers (``db-failover``, ``api-failover``) read alike:
the run's boots and its one fault on a target, the client's retry mode,
and the boot-flow tally of the boots against the final database.

Each checker then adds what only its target shows (the WAL positions and
the promoted node; HAProxy's log and which API answered).
"""

from fake_lab import history
from fake_lab.checkers import boot_flow
from fake_lab.checkers.verdicts import Timeline

# The client's [workload] retry, as a claim says it.
RETRIES = {"off": "no retry", "key": "retry with an idempotency key",
           "no-key": "retry without an idempotency key"}


def retry_mode(config, boots):
    """The client's retry mode: as its boots recorded it, else as the
    run's options give it (a history from before the client retried)."""
    modes = {op["invoke"]["value"].get("retry") for op in boots} - {None}
    if len(modes) == 1:
        return modes.pop()
    return (config.get("options", {}).get("workload") or {}).get("retry", "off")


class Run:
    """A failover run's history as both checkers read it: ``records``,
    ``config``, ``t`` (the timeline), ``boots`` (in the order sent),
    ``faults`` (recorded on ``target``), ``planned`` (the workload's fault
    steps on it: none in the control), ``verb`` (the fault's, else the
    planned one's, else ``default_verb``), ``fault`` and ``fault_value``
    (the first fault and what it did) and ``retry``."""

    def __init__(self, run, target, default_verb):
        self.records = history.read(run.history)
        self.config = run.read_json("config.json") or {}
        self.t = Timeline(self.records)
        ops = list(history.operations(self.records).values())
        self.boots = sorted((op for op in ops if op["invoke"]["f"] == "boot"),
                            key=lambda o: o["invoke"]["time"])
        self.faults = [op for op in ops if op["invoke"]["f"] == "fault"
                       and op["invoke"]["value"].get("target") == target]
        self.planned = [s for s in self.config.get("workload", [])
                        if s.get("op") == "fault" and s.get("target") == target]
        self.verb = (self.faults[0]["invoke"]["value"].get("verb") if self.faults
                     else self.planned[0].get("verb") if self.planned else default_verb)
        self.retry = retry_mode(self.config, self.boots)
        self.fault = self.faults[0] if self.faults else None
        self.fault_value = ((self.fault["done"] or {}).get("value", {})
                            if self.fault else {})

    def claim_line(self, claim):
        return f"claim: {claim}" + ("" if self.planned
                                    else " (control: the same boots, no fault)")

    def final_state(self, run):
        """(final-state.json, None), or (None, why the boots cannot be
        judged: none was sent, or the database was not read)."""
        if not self.boots:
            return None, "no boot was sent"
        state = run.read_json("final-state.json")
        if state is None:
            return None, ("the run recorded no final state of its database "
                          "(final-state.json)")
        if state.get("error"):
            return None, f"the final database was unreadable: {state['error']}"
        return state, None

    def tally(self, state, cited):
        """(tally, the boots listed by request id, settled records,
        details) of the boots against the final ``state``, as boot-flow
        judges them; the counts' first lines go into ``cited``, the list
        is for after the checker's own lines."""
        tally = boot_flow._tally(self.boots, state, None, float("inf"))
        settled = [r for r in self.records if r.get("f") == "settled"]
        counted = boot_flow._cite_tally(tally, self.boots, settled, self.t)
        head = 2 if settled else 1
        cited += counted[:head]
        details = dict(tally["counts"], retry=self.retry, **{
            f"{k}_request_ids": [i.split(" ")[0].rstrip(":") for i in v]
            for k, v in tally["listed"].items() if k != "slow_after_idle"})
        details.pop("slow_after_idle", None)
        return tally, counted[head:], settled, details


def cite_retry(counts, boots, retry):
    """The client's retries in one line (each retried boot is listed by
    request id with the boot-flow counts)."""
    return (f"retry {retry}: {counts['retried']} of {boots} boot(s) sent more than "
            f"once ({counts['attempts']} attempts in all); {counts['replayed']} "
            "answered with the server an earlier attempt had created (the API "
            "found its idempotency key and read its task back); "
            f"{counts['duplicated']} duplicated (more than one server row, or "
            "built twice)")
