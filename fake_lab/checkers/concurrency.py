"""Did every process run in the concurrency mode the run asked of it?

Each fake service and each API process logs one line on start
(fake_service/monkey_patch.startup_line): nova's switch as it found it, the
mode that asked for, whether eventlet really patched the process, the
oslo.service backend selected, and the versions. Every verdict depends on
the mode, so a run whose processes did not run as configured proves
nothing: ``verify`` turns any verdict into ``unknown``, citing the line.
"""

import glob
import os
import re

from fake_lab.checkers.verdicts import UNKNOWN, option

_LINE = re.compile(
    r"concurrency: program=(?P<program>\S+) pid=(?P<pid>\d+) "
    r"(?P<var>\w+)=(?P<env>\S*) asked=(?P<asked>\w+) "
    r"eventlet_patched=(?P<patched>True|False) backend=(?P<backend>\w+) "
    r"oslo\.service=(?P<service>\S+) oslo\.messaging=(?P<messaging>\S+)")


def role_of(program):
    """'api', 'compute', 'scheduler' or 'conductor' from a program name."""
    if program.startswith("fake-nova-api"):
        return "api"
    for role in ("scheduler", "conductor", "compute"):
        if program.startswith(f"fake-{role}"):
            return role
    return None


def expected_mode(config, role):
    return (option(config, "lab", f"{role}_executor")
            or option(config, "lab", "executor", "eventlet"))


def startup_lines(run):
    """[(log file name, match, raw line)] for every start-up line of the run."""
    found = []
    for path in sorted(glob.glob(os.path.join(run.logs, "*.log"))):
        try:
            with open(path, errors="replace") as f:
                for raw in f:
                    m = _LINE.search(raw)
                    if m:
                        found.append((os.path.basename(path), m, raw.strip()))
        except OSError:
            continue
    return found


def problems(run, config):
    """Lines saying which process ran otherwise than configured (empty: all
    as asked, or a run recorded before processes logged their mode)."""
    out = []
    for _, m, raw in startup_lines(run):
        role = role_of(m["program"])
        if role is None:
            continue
        want = expected_mode(config, role)
        patched = m["patched"] == "True"
        if m["asked"] != want:
            out.append(f"{m['program']} (PID {m['pid']}) was configured for {want} "
                       f"but asked for {m['asked']} ({m['var']}={m['env']}): {raw}")
        elif patched != (want == "eventlet"):
            out.append(f"{m['program']} (PID {m['pid']}) asked for {want} but runs "
                       f"{'eventlet-patched' if patched else 'unpatched'}: {raw}")
        elif m["backend"] not in (want, "none"):
            out.append(f"{m['program']} (PID {m['pid']}) asked for {want} but "
                       f"oslo.service runs its {m['backend']} backend: {raw}")
    return out


def summary(run):
    """{program: 'threading (backend threading, oslo.service 4.8.0)'}, one
    per program (its first line), for the report."""
    out = {}
    for _, m, _ in startup_lines(run):
        out.setdefault(m["program"], (
            f"{'eventlet-patched' if m['patched'] == 'True' else 'native threads'}"
            f" (asked {m['asked']} by {m['var']}={m['env']}; oslo.service "
            f"{m['service']} backend {m['backend']})"))
    return out


def verify(run, config, result):
    """``result`` unchanged when every process ran as configured; else
    unknown, citing each process that did not."""
    found = problems(run, config)
    if not found:
        return result
    return dict(result, verdict=UNKNOWN,
                evidence=["a process did not run in the concurrency mode the run "
                          "configured, so the run proves nothing:", *found,
                          *result["evidence"]],
                details=dict(result.get("details") or {}, concurrency_problems=found))
