"""uWSGI releases side by side, as pyenvs.py keeps oslo.messaging's.

``installed`` is the uwsgi of the Python environment the API runs from (the
lab's venv, or a release venv of pyenvs.py). Any other release, given
exactly (``2.0.26``), is built once from the package index against the
lab's Python, into ``<venvs dir>/uwsgi-<release>`` (``.venvs/`` or
$FAKE_LAB_VENVS), and reused by every run. The binary embeds that Python's
libpython, so it serves any environment made from the same interpreter:
uWSGI's ``home`` (the run's uwsgi.ini) points it at the run's venv.

Why a release axis at all: until 2.0.26 uWSGI ran no Python thread but the
request's unless ``enable-threads`` (or any ``threads``) was given; 2.0.27
made threads always on and the option a stub (uWSGI commit 896ee575, "set
enable threads by default").

pip builds it with ``--prefix``, ``--no-deps`` and ``--ignore-installed``:
without the last, pip uninstalled the lab venv's own uWSGI before
installing the other release under the prefix (measured here). A release
that cannot be built is ``Unavailable`` with pip's reason, cached in
``uwsgi-<release>.unavailable`` (delete it to try again).
"""

import fcntl
import os
import re
import shutil
import subprocess
import sys

from fake_lab.daemons import pyenvs

RELEASE = re.compile(r"^\d+\.\d+\.\d+(\.\d+)?$")


class Unavailable(pyenvs.Unavailable):
    """This uWSGI release cannot be built here; ``str()`` says why."""


def prefix_of(release):
    return os.path.join(pyenvs.venvs_dir(), f"uwsgi-{release}")


def binary(release, build=True, say=print):
    """The uwsgi binary of ``release`` (built on first use unless ``build``
    is false); Unavailable when it cannot be had."""
    if not RELEASE.match(release or ""):
        raise Unavailable(f"{release!r} is not an exact uWSGI release (e.g. 2.0.26)")
    prefix = prefix_of(release)
    path = os.path.join(prefix, "bin", "uwsgi")
    failed = prefix + ".unavailable"
    if os.path.exists(os.path.join(prefix, ".complete")):
        return path
    os.makedirs(pyenvs.venvs_dir(), exist_ok=True)
    # One build at a time, whoever asks (a matrix's cells, other runs).
    with open(prefix + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(prefix, ".complete")):
            return path
        if os.path.exists(failed):
            with open(failed) as f:
                raise Unavailable(f.read().strip())
        if not build:
            raise Unavailable("not built yet")
        say(f"building uWSGI {release} (once, about a minute; cached in "
            f"{pyenvs.venvs_dir()})")
        try:
            _build(prefix, release)
        except Unavailable as exc:
            with open(failed, "w") as f:
                f.write(str(exc) + "\n")
            raise
    return path


def _build(prefix, release):
    work = prefix + ".building"
    shutil.rmtree(work, ignore_errors=True)
    argv = [sys.executable, "-m", "pip", "install", "-q", "--no-deps",
            "--ignore-installed", "--no-warn-script-location", "--prefix", work,
            f"uWSGI=={release}"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        shutil.rmtree(work, ignore_errors=True)
        raise Unavailable("pip: the build took more than 30 minutes")
    if out.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise Unavailable("pip: " + pyenvs._last_error(out.stderr or out.stdout))
    built = version(os.path.join(work, "bin", "uwsgi"))
    if built != release:
        shutil.rmtree(work, ignore_errors=True)
        raise Unavailable(f"the build says it is uWSGI {built}, not {release}")
    shutil.rmtree(prefix, ignore_errors=True)
    os.rename(work, prefix)
    open(os.path.join(prefix, ".complete"), "w").close()


def version(path):
    """What ``path --version`` says, or None."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None
