"""Python environments with a given oslo.messaging release, side by side.

``installed`` is the lab's own venv. Any other release gets a venv of its
own under .venvs/ (or $FAKE_LAB_VENVS), built on first use and cached:
``om-<version>-<deps>``, holding that oslo.messaging, what the fake services
import (eventlet, PasteDeploy, Paste, WebOb), uWSGI and mod_wsgi. The lab's
code is not installed there: the services find it on PYTHONPATH.

``deps=latest`` lets pip pick today's libraries, as a plain ``pip install``
would; ``deps=series`` pins them to the upper-constraints of the OpenStack
series the release belongs to (etc/constraints/, data taken from
openstack/requirements), as a stable-branch deployment has them. A release
that cannot be installed here is ``Unavailable``, with pip's own reason.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys

from fake_lab.daemons import candidates
from fake_lab.errors import UsageError
from fake_lab.paths import REPO

CONSTRAINTS = os.path.join(REPO, "etc", "constraints")
DEPS = ("latest", "series")
SERVICE_PACKAGES = ["eventlet", "PasteDeploy", "Paste", "WebOb", "oslo.config",
                    "oslo.log", "SQLAlchemy", "oslo.service[threading]"]
# What a venv built by an older lab lacks, installed into it on next use
# (.complete names the recipe it was built or topped up with).
RECIPE = "2"
TOP_UP = ["oslo.service[threading]"]
CONTAINER_PACKAGES = ["uwsgi", "mod_wsgi"]
# Series pins dropped from the constraints (see _build).
UNPINNED = ("oslo.messaging===", "yappi===")
PROBE = """
import json
from importlib import metadata
from oslo_messaging._drivers import impl_rabbit
defaults = {o.name: o.default for o in impl_rabbit.rabbit_opts}
def v(d):
    try:
        return metadata.version(d)
    except metadata.PackageNotFoundError:
        return None
print(json.dumps({"versions": {d: v(d) for d in ("oslo.messaging", "eventlet",
                 "kombu", "amqp", "greenlet", "uWSGI", "mod_wsgi")},
                  "heartbeat_in_pthread": defaults.get("heartbeat_in_pthread")}))
"""


class Unavailable(Exception):
    """This release cannot be installed here; ``str()`` is pip's reason."""


def _version_key(text):
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.]", text))


def series_files():
    """{series: (constraints path, the oslo.messaging release it pins)}."""
    found = {}
    for path in glob.glob(os.path.join(CONSTRAINTS, "*.txt")):
        with open(path) as f:
            m = re.search(r"^oslo\.messaging===(\S+)$", f.read(), re.M)
        if m:
            found[os.path.basename(path)[:-4]] = (path, m.group(1))
    return found


def series_of(version):
    """The series whose oslo.messaging pin is the highest not above ``version``."""
    best = None
    for series, (path, pinned) in series_files().items():
        if _version_key(pinned) <= _version_key(version):
            if best is None or _version_key(pinned) > _version_key(best[2]):
                best = (series, path, pinned)
    return best


class PyEnv:
    """A Python prefix: ``python``, ``binary(name)``, ``label``, ``probe()``."""

    def __init__(self, prefix, label, release=None, deps=None):
        self.prefix = prefix
        self.label = label
        self.release = release
        self.deps = deps
        self.python = os.path.join(prefix, "bin", "python")
        self._probe = None

    @property
    def is_lab(self):
        return os.path.realpath(self.prefix) == os.path.realpath(sys.prefix)

    def binary(self, name):
        if self.is_lab:
            override = os.environ.get("FAKE_LAB_" + name.upper().replace("-", "_"))
            if override:
                return override if os.access(override, os.X_OK) else None
        path = os.path.join(self.prefix, "bin", name)
        return path if os.access(path, os.X_OK) else None

    def env(self, base):
        """Environment for a service run from this prefix."""
        env = dict(base)
        if not self.is_lab:  # the lab's code comes from the source tree
            env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"]
                                        if env.get("PYTHONPATH") else "")
        return env

    def probe(self):
        """What this prefix imports: versions, and the default of
        heartbeat_in_pthread (None when the release has no such option)."""
        if self._probe is None:
            out = subprocess.run([self.python, "-c", PROBE], capture_output=True,
                                 text=True, timeout=120,
                                 env=self.env(os.environ))
            if out.returncode != 0:
                raise Unavailable("oslo.messaging does not import: "
                                  + _last_error(out.stderr))
            self._probe = json.loads(out.stdout.strip().splitlines()[-1])
        return self._probe


LAB = PyEnv(sys.prefix, "installed")


def venvs_dir():
    return os.environ.get("FAKE_LAB_VENVS", os.path.join(REPO, ".venvs"))


def _last_error(text):
    """The line of pip's output that says why, naming the package."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for n, line in enumerate(lines):
        if "Encountered error while trying to install package" in line:
            package = lines[n + 1].lstrip("╰─> ") if n + 1 < len(lines) else "?"
            return f"building {package} failed on this Python ({sys.version.split()[0]})"
        m = re.search(r"Failed (?:building wheel|to build) (?:for )?(\S+)", line)
        if m:
            return f"building {m.group(1)} failed on this Python ({sys.version.split()[0]})"
    for line in reversed(lines):
        if line.startswith(("ERROR:", "error:")) or "Error" in line:
            return line[:300]
    return (lines[-1] if lines else "no output")[:300]


_INDEX = None


def pypi_versions():
    """oslo.messaging's releases on the package index (cached per process)."""
    global _INDEX
    if _INDEX is None:
        out = subprocess.run([sys.executable, "-m", "pip", "index", "versions",
                              "oslo.messaging"], capture_output=True, text=True,
                             timeout=120)
        m = re.search(r"Available versions: (.*)", out.stdout)
        if not m:
            raise UsageError("cannot list oslo.messaging releases: "
                             + _last_error(out.stderr or out.stdout))
        _INDEX = sorted({v.strip() for v in m.group(1).split(",")},
                        key=_version_key)
    return _INDEX


def resolve_release(text):
    """'installed', an exact release, or a prefix ('17' -> newest 17.x)."""
    if text == "installed":
        return text
    versions = pypi_versions()
    if text in versions:
        return text
    matching = [v for v in versions if v.startswith(text + ".")]
    if not matching:
        raise UsageError(f"oslo.messaging {text} is not a release on the "
                         "package index")
    return matching[-1]


def get(release, deps="latest", build=True, say=print, candidate=None):
    """The PyEnv for ``release`` (resolved) and ``deps``; builds it if needed.
    A ``candidate`` (candidates.py) is built from its source instead, in a
    venv named by its content."""
    if deps not in DEPS:
        raise UsageError(f"deps={deps!r} is not one of {', '.join(DEPS)}")
    if release == "installed" and candidate is None:
        return LAB
    name = candidate.venv_name(deps) if candidate else f"om-{release}-{deps}"
    prefix = os.path.join(venvs_dir(), name)
    env = PyEnv(prefix, f"{release} ({deps})", release, deps)
    failed = prefix + ".unavailable"
    if os.path.exists(failed):
        with open(failed) as f:
            raise Unavailable(f.read().strip())
    complete = os.path.join(prefix, ".complete")
    if os.path.exists(complete):
        with open(complete) as f:
            if f.read().strip() != RECIPE:
                say(f"topping up {name} with {', '.join(TOP_UP)}")
                _top_up(prefix)
        return env
    if not build:
        raise Unavailable("not built yet")
    say(f"building {name} (once; cached in {venvs_dir()})")
    try:
        _build(prefix, release, deps, candidate)
    except Unavailable as exc:
        # A release that does not build here never will; a candidate is
        # tried again (its author may be fixing what broke).
        if candidate is None:
            os.makedirs(venvs_dir(), exist_ok=True)
            with open(failed, "w") as f:
                f.write(str(exc) + "\n")
        raise
    return env


def _build(prefix, release, deps, candidate=None):
    subprocess.run([sys.executable, "-m", "venv", "--clear", prefix],
                   check=True, capture_output=True)
    scratch = None
    if candidate is None:
        wanted = f"oslo.messaging=={release}"
    else:
        scratch = candidates.scratch_dir(prefix)
        try:
            wanted = candidate.source(scratch)
        except UsageError as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            raise Unavailable(str(exc))
        release = candidate.version_hint() or "?"
    argv = [os.path.join(prefix, "bin", "python"), "-m", "pip", "install", "-q",
            wanted, *SERVICE_PACKAGES]
    if deps == "series":
        found = series_of(release) if release != "?" else None
        if found is None:
            raise Unavailable(f"no OpenStack series constraints known for "
                              f"oslo.messaging {release}")
        series, path, _ = found
        # The series pins its own oslo.messaging: drop that line. yappi too:
        # a profiler oslo.service requires and nothing here imports, which
        # zed and yoga pin to releases that do not build on Python 3.11.
        local = os.path.join(prefix, f"constraints-{series}.txt")
        with open(path) as src, open(local, "w") as dst:
            dst.writelines(line for line in src
                           if not line.startswith(UNPINNED))
        argv += ["-c", local]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    if out.returncode != 0:
        raise Unavailable("pip: " + _last_error(out.stderr or out.stdout))
    # The containers are built against this venv's Python; mod_wsgi needs
    # Apache's apxs and is optional.
    for package in CONTAINER_PACKAGES:
        subprocess.run([argv[0], "-m", "pip", "install", "-q", package],
                       capture_output=True, text=True, timeout=1800)
    env = PyEnv(prefix, release)
    env.probe()  # raises Unavailable when it does not import
    with open(os.path.join(prefix, ".complete"), "w") as f:
        f.write(RECIPE + "\n")


def _top_up(prefix):
    """Install what the recipe added since the venv was built, within the
    constraints it was built with (an old series pins an oslo.service
    without the threading extra: pip then adds nothing, and says so)."""
    argv = [os.path.join(prefix, "bin", "python"), "-m", "pip", "install", "-q",
            *TOP_UP]
    argv += [arg for path in glob.glob(os.path.join(prefix, "constraints-*.txt"))
             for arg in ("-c", path)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise Unavailable("pip (top-up): " + _last_error(out.stderr or out.stdout))
    with open(os.path.join(prefix, ".complete"), "w") as f:
        f.write(RECIPE + "\n")
