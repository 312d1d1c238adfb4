"""``fake-lab bisect``: the first oslo.messaging release whose verdict differs.

Every release on the package index between ``--good`` and ``--bad`` (final
releases only) is a candidate; the two ends are run first, then the middle
of what is left, as ``git bisect`` does, each probe a real matrix cell (same
axes, its own release venv) on one shared broker. A release that cannot be
installed here is skipped and reported, never silently dropped.
"""

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
    cells = {}
    for v in versions:
        values = dict(fixed, release=v)
        values.setdefault("deps", "latest")
        cells[v] = {"id": matrix.cell_id(values), "axes": values}

    with grid.session("bisect", [c["id"] for c in cells.values()]) as (mdir, broker):
        say(f"bisecting {len(versions)} releases {versions[0]}..{versions[-1]}: "
            f"{mdir.path}")

        def verdict(v):
            cell = cells[v]
            if "status" not in cell:
                grid.run_cells(mdir, broker, [cell])
                say(f"  {v}: {cell.get('verdict') or cell['status']}")
            return cell.get("verdict") if cell["status"] == "ran" else None

        lo, hi = 0, len(versions) - 1
        ends = (verdict(versions[lo]), verdict(versions[hi]))
        if None in ends or ends[0] == ends[1]:
            first = None
        else:
            pool = list(range(lo, hi + 1))
            while len(pool) > 2:
                mid = pool[len(pool) // 2]
                v = verdict(versions[mid])
                if v is None:  # unavailable here: skip it, like git bisect skip
                    pool.remove(mid)
                elif v == ends[0]:
                    pool = pool[pool.index(mid):]
                else:
                    pool = pool[:pool.index(mid) + 1]
            first = versions[pool[-1]]
        probed = [c for c in cells.values() if "status" in c]
        summary = grid.finish(mdir, probed)
    summary.update(
        first_different=first, good=versions[0], bad=versions[-1],
        ends=ends, skipped=[c["axes"]["release"] for c in probed
                            if c["status"] != "ran"])
    return summary, mdir
