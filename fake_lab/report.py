"""report.md: a run's result for a person (and for pasting into a bug)."""

import os

from fake_lab import sampler, timeline
from fake_lab.checkers import concurrency
from fake_lab.errors import StorageError


def render(run, result):
    config = run.read_json("config.json") or {}
    lines = [f"# {result['scenario']}: {result['verdict']}", ""]
    if config.get("bugs"):
        lines += [f"Bugs: {', '.join(config['bugs'])}", ""]
    if result.get("reason"):
        lines += [f"Reason: {result['reason']}", ""]
    if result.get("evidence"):
        lines += ["## Evidence", ""]
        lines += [f"- {e}" for e in result["evidence"]]
        lines.append("")
    options = config.get("options", {})
    if options:
        lines += ["## Configuration", ""]
        for group, values in options.items():
            lines.append(f"- [{group}] " + ", ".join(
                f"{k}={v}" for k, v in values.items()))
        lines.append("")
    lines += _concurrency(run)
    lines += sampler.report_lines(run.path)
    lines += _versions(config)
    lines += ["## Timings (s)", ""]
    lines += [f"- {k}: {v}" for k, v in result.get("timings", {}).items()]
    lines += ["", "## Files", ""]
    for sub in ("logs", "etc"):
        folder = run.file(sub)
        if os.path.isdir(folder):
            lines += [f"- {sub}/{f}" for f in sorted(os.listdir(folder))]
    lines += ["- history.jsonl", "- result.json", f"- {sampler.FILE}",
              f"- {timeline.FILE} (the verdict and a timeline of the whole run)", ""]
    return "\n".join(lines)


def _concurrency(run):
    """How each process really ran, from its own start-up line."""
    found = concurrency.summary(run)
    return (["## Concurrency", "", *[f"- {p}: {how}" for p, how in found.items()], ""]
            if found else [])


def _versions(config):
    """What each service imported (its own log's word), then the runner's."""
    lines = []
    for service, found in (config.get("imported") or {}).items():
        lines.append(f"- {service} imported: " + ", ".join(
            f"{k} {v}" for k, v in found.items()))
    if config.get("runner_versions"):
        lines.append("- the runner (fake-lab itself, not under test): " + ", ".join(
            f"{k} {v}" for k, v in config["runner_versions"].items()))
    return ["## Versions", "", *lines, ""] if lines else []


def write(run, result):
    """report.md, then report.html (which never raises)."""
    try:
        with open(run.file("report.md"), "w") as f:
            f.write(render(run, result))
    except OSError as exc:
        raise StorageError(f"cannot write {run.file('report.md')}: {exc.strerror}")
    finally:
        timeline.write(run, result)
