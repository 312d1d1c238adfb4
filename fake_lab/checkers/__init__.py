"""Checkers: read a finished run's directory, return a verdict with evidence.

A checker reads only what the run recorded (history.jsonl, config.json and
the logs), so ``fake-lab check RUNDIR`` judges an old run again without
running anything. Verdicts are three-valued: ``reproduced``,
``not-reproduced``, and ``unknown`` when the run cannot tell (each checker
says which evidence was missing). A checker that could only ever say one of
them would be a defect: every branch is exercised by the unit tests.

One module per checker; ``evidence`` holds the log parsers they share.
"""

from fake_lab.checkers import boot_flow, heartbeat_loss
from fake_lab.checkers.verdicts import NOT_REPRODUCED, REPRODUCED, UNKNOWN, VERDICTS

CHECKERS = {"heartbeat-loss": heartbeat_loss.check, "boot-flow": boot_flow.check}

__all__ = ["CHECKERS", "NOT_REPRODUCED", "REPRODUCED", "UNKNOWN", "VERDICTS"]
