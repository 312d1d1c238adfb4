"""The scenarios this lab knows: every ``*.toml`` file in this folder but
expectations.toml (what the matrix compares cells with)."""

import difflib
import os
import tomllib

from fake_lab.checkers import CHECKERS
from fake_lab.errors import UsageError
from fake_lab.paths import SCENARIOS as HERE
from fake_lab.workload import generator, nemesis
from fake_lab.workload.generator import FAULT_OPS, OPS


def names():
    return sorted(f[:-5] for f in os.listdir(HERE)
                  if f.endswith(".toml") and f != "expectations.toml")


def load(name):
    """The scenario ``name`` as a dict; UsageError if unknown or malformed."""
    if name not in names():
        close = difflib.get_close_matches(name, names(), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise UsageError(f"unknown scenario {name!r}{hint}; "
                         f"known: {', '.join(names())}")
    path = os.path.join(HERE, name + ".toml")
    try:
        with open(path, "rb") as f:
            scenario = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"scenario file {path} is unreadable: {exc}")
    validate(scenario, path)
    return scenario


def validate(scenario, where):
    for key in ("name", "summary", "checker", "workload"):
        if key not in scenario:
            raise UsageError(f"{where}: missing key {key!r}")
    if scenario["checker"] not in CHECKERS:
        raise UsageError(f"{where}: unknown checker {scenario['checker']!r}")
    for n, step in enumerate(scenario["workload"], 1):
        if step.get("op") not in OPS:
            raise UsageError(f"{where}: workload step {n} has op "
                             f"{step.get('op')!r}, not one of {', '.join(OPS)}")
        if step["op"] in FAULT_OPS:
            nemesis.fault_of(step, f"{where}: workload step {n}")
        if step["op"] == "action":
            generator.action_key(step, f"{where}: workload step {n}")
