"""``fake-lab bisect``: the first oslo.messaging release whose verdict differs.

Every release on the package index between ``--good`` and ``--bad`` (final
releases only) is a candidate; the two ends are run first, then the middle
of what is left, as ``git bisect`` does, each probe a real matrix cell (same
axes, its own release venv) on one shared broker. A release that cannot be
installed here is skipped and reported, never silently dropped. A probe
whose verdict is ``unknown`` is run once more; if it stays unknown, the
range around it is reported as inconclusive, never as a change of verdict.
"""

from fake_lab import checkers
from fake_lab.commands import matrix
from fake_lab.daemons import pyenvs
from fake_lab.errors import UsageError


def candidates(good, bad):
    key = pyenvs._version_key
    versions = [v for v in pyenvs.pypi_versions()
                if v.replace(".", "").isdigit()]
    lo, hi = sorted((pyenvs.resolve_release(good), pyenvs.resolve_release(bad)),
                    key=key)
    return [v for v in versions if key(lo) <= key(v) <= key(hi)]


def bisect(scenario, good, bad, axes, runs_dir, say=print):
    """Returns a summary dict: ``first_different``, ``probes``, ``skipped``."""
    versions = candidates(good, bad)
    if len(versions) < 2:
        raise UsageError(f"fewer than two releases between {good} and {bad}")
    for name, values in axes.items():
        if len(values) != 1 or name == "release":
            raise UsageError(f"bisect takes one value per axis: {name}")
    fixed = {k: v[0] for k, v in axes.items()}
    grid = matrix.Matrix(scenario, {k: [v] for k, v in fixed.items()},
                         runs_dir, jobs=1, say=say)
    cells, retries = {}, {}
    for v in versions:
        values = dict(fixed, release=v)
        values.setdefault("deps", "latest")
        cells[v] = {"id": matrix.cell_id(values), "axes": values}
        retries[v] = {"id": matrix.cell_id(values) + "-again", "axes": values}
    vhosts = [c["id"] for c in [*cells.values(), *retries.values()]]

    with grid.session("bisect", vhosts) as (mdir, broker):
        say(f"bisecting {len(versions)} releases {versions[0]}..{versions[-1]}: "
            f"{mdir.path}")

        def verdict(v):
            """The release's verdict; None if it cannot run here. An unknown
            probe is run once more: a second unknown stays unknown."""
            cell = cells[v]
            if "status" not in cell:
                grid.run_cells(mdir, broker, [cell])
                if cell["status"] == "ran" and cell["verdict"] == checkers.UNKNOWN:
                    again = retries[v]
                    say(f"  {v}: unknown; running it once more")
                    grid.run_cells(mdir, broker, [again])
                    cell["again"] = again.get("verdict") or again["status"]
                    if again["status"] == "ran":
                        cell["verdict"] = again["verdict"]
                say(f"  {v}: {cell.get('verdict') or cell['status']}")
            return cell.get("verdict") if cell["status"] == "ran" else None

        lo, hi = 0, len(versions) - 1
        ends = (verdict(versions[lo]), verdict(versions[hi]))
        first = inconclusive = None
        if checkers.UNKNOWN in ends:
            inconclusive = (versions[lo], versions[hi])
        elif None not in ends and ends[0] != ends[1]:
            pool = list(range(lo, hi + 1))
            while len(pool) > 2:
                mid = pool[len(pool) // 2]
                v = verdict(versions[mid])
                if v is None:  # unavailable here: skip it, like git bisect skip
                    pool.remove(mid)
                elif v == checkers.UNKNOWN:
                    # Neither side can be ruled out: never a change of verdict.
                    inconclusive = (versions[pool[0]], versions[pool[-1]])
                    break
                elif v == ends[0]:
                    pool = pool[pool.index(mid):]
                else:
                    pool = pool[:pool.index(mid) + 1]
            else:
                first = versions[pool[-1]]
        probed = [c for c in [*cells.values(), *retries.values()] if "status" in c]
        summary = grid.finish(mdir, probed)
    summary.update(
        first_different=first, good=versions[0], bad=versions[-1],
        ends=ends, inconclusive=inconclusive,
        skipped=[c["axes"]["release"] for c in probed if c["status"] != "ran"])
    return summary, mdir
