"""A candidate oslo.messaging: a build that is not a release on the index.

A bug reproducer with a fix in hand gives the ``release`` axis one of:
- a path to a source tree (``../oslo.messaging``, a git checkout or an
  unpacked sdist);
- a wheel or sdist file (``dist/oslo.messaging-18.3.2.dev3.tar.gz``);
- a git URL with a ref: ``git+https://review.opendev.org/openstack/oslo.messaging@refs/changes/45/912345/2``
  (a Gerrit change ref, a branch, a tag or a commit).

Each is keyed by its content, so that an edited tree gets a venv of its
own and an unchanged one reuses its venv:
- a git tree: its HEAD commit, plus a hash of the uncommitted diff and of
  the untracked files when there are any;
- any other tree: a hash of its files;
- a file: its sha256;
- a git URL: the commit the ref names now (``git ls-remote``).

The cell's label is ``<name>@<key>``; the version the build really has is
read from the venv (``release_version``), as for a release.
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile

from fake_lab.errors import UsageError

FILE_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".zip")
# Build output and caches, which say nothing of the source.
SKIP_DIRS = {".git", ".tox", ".venv", "build", "dist", "__pycache__",
             ".eggs", ".pytest_cache", ".stestr"}
SHA = re.compile(r"^[0-9a-f]{40}$")


class Candidate:
    """``kind`` (tree, file, git), ``spec`` (what the user gave), ``key``
    (content), ``label`` (the cell's release value), ``commit`` (or None)."""

    def __init__(self, kind, spec, key, name, commit=None, ref=None):
        self.kind, self.spec, self.key = kind, spec, key
        self.commit, self.ref = commit, ref
        self.url = None
        self.label = f"{name}@{key[:12]}"

    def venv_name(self, deps):
        return f"om-candidate-{self.key[:16]}-{deps}"

    def source(self, workdir):
        """What pip installs, made in ``workdir``: a copy of the tree (the
        build writes egg-info and pbr's files, never into the user's tree),
        the file itself, or a checkout of the ref."""
        if self.kind == "file":
            return self.spec
        checkout = os.path.join(workdir, "src")
        if self.kind == "tree":
            shutil.copytree(self.spec, checkout, symlinks=True,
                            ignore=shutil.ignore_patterns(*SKIP_DIRS - {".git"}))
            return checkout
        _git(["init", "-q", checkout])
        # The whole history and its tags: pbr derives the version from them.
        _git(["-C", checkout, "fetch", "-q", "--tags", self.url, self.ref])
        _git(["-C", checkout, "checkout", "-q", "--detach", self.commit])
        return checkout

    def version_hint(self):
        """The release the source says it is (or follows), for deps=series:
        PKG-INFO's Version, else the latest tag; None if neither says."""
        if self.kind == "file":
            m = re.search(r"oslo[._]messaging-(\d+(?:\.\d+)*)", os.path.basename(self.spec))
            return m.group(1) if m else None
        if self.kind == "tree":
            pkg_info = os.path.join(self.spec, "PKG-INFO")
            if os.path.exists(pkg_info):
                with open(pkg_info) as f:
                    m = re.search(r"^Version: (\S+)", f.read(), re.M)
                if m:
                    return m.group(1)
            out = subprocess.run(["git", "-C", self.spec, "describe", "--tags",
                                  "--abbrev=0"], capture_output=True, text=True)
            return out.stdout.strip() or None
        return None  # a git URL: known once checked out; series not offered


def looks_like_one(text):
    """Is ``text`` meant as a candidate rather than a release number?"""
    return (text.startswith(("git+", "/", ".", "~")) or os.sep in text
            or text.endswith(FILE_SUFFIXES) or "://" in text)


def parse(text):
    """The Candidate ``text`` names; UsageError, in one line, if it names
    none (no such path, not oslo.messaging, a ref that does not exist)."""
    if "://" in text:
        return _git_candidate(text)
    path = os.path.abspath(os.path.expanduser(text))
    if not os.path.exists(path):
        raise UsageError(f"release {text!r}: no such file or directory")
    if os.path.isdir(path):
        return _tree_candidate(path)
    if not path.endswith(FILE_SUFFIXES):
        raise UsageError(f"release {text!r}: a file must be a wheel or an "
                         f"sdist ({', '.join(FILE_SUFFIXES)})")
    if not re.match(r"oslo[._]messaging-", os.path.basename(path)):
        raise UsageError(f"release {text!r}: not an oslo.messaging wheel or sdist")
    return Candidate("file", path, _sha256_file(path),
                     os.path.basename(path).split("-")[0])


def _tree_candidate(path):
    name = _tree_project(path)
    if name is None:
        raise UsageError(f"release {path!r}: not an oslo.messaging source tree "
                         "(no setup.cfg or PKG-INFO naming oslo.messaging)")
    label = os.path.basename(path.rstrip(os.sep)) or "tree"
    top = subprocess.run(["git", "-c", f"safe.directory={path}", "-C", path,
                          "rev-parse", "--show-toplevel"],
                         capture_output=True, text=True)
    if top.returncode == 0 and os.path.realpath(top.stdout.strip()) == os.path.realpath(path):
        commit = _git(["-C", path, "rev-parse", "HEAD"]).strip()
        digest = hashlib.sha256()
        digest.update(_git(["-C", path, "diff", "HEAD", "--binary"], text=False))
        untracked = _git(["-C", path, "ls-files", "-z", "--others",
                          "--exclude-standard"], text=False).split(b"\0")
        for rel in sorted(u for u in untracked if u):
            digest.update(rel + b"\0" + _read(os.path.join(path.encode(), rel)))
        clean = digest.hexdigest() == hashlib.sha256().hexdigest()
        # A clean tree is its commit; an edited one its commit plus the edit.
        key = commit if clean else commit[:7] + "+" + digest.hexdigest()[:9]
        return Candidate("tree", path, key, label, commit=commit)
    return Candidate("tree", path, _sha256_tree(path), label)


def _tree_project(path):
    """'oslo.messaging' if the tree is that project, else None."""
    for name, pattern in (("setup.cfg", r"^name\s*=\s*(\S+)"),
                          ("PKG-INFO", r"^Name:\s*(\S+)")):
        try:
            with open(os.path.join(path, name)) as f:
                m = re.search(pattern, f.read(), re.M)
        except OSError:
            continue
        if m and m.group(1).replace("_", ".").lower() == "oslo.messaging":
            return "oslo.messaging"
    return None


def _git_candidate(text):
    if not text.startswith("git+") or "://" not in text:
        raise UsageError(f"release {text!r}: a URL must be a git URL with an "
                         "optional ref, git+https://HOST/PATH@REF")
    scheme, _, rest = text.removeprefix("git+").partition("://")
    host, _, path = rest.partition("/")
    ref = "HEAD"
    if "@" in path:  # the ref; an '@' in the host part is a user name
        path, ref = path.rsplit("@", 1)
    url = f"{scheme}://{host}/{path}"
    if SHA.match(ref):
        commit = ref
    else:
        out = subprocess.run(["git", "ls-remote", url, ref], capture_output=True,
                             text=True, timeout=120,
                             env=dict(os.environ, GIT_TERMINAL_PROMPT="0"))
        if out.returncode != 0:
            raise UsageError(f"release {text!r}: git ls-remote failed: "
                             + _why(out.stderr))
        refs = dict(reversed(line.split("\t", 1)) for line in out.stdout.splitlines())
        commit = refs.get(ref) or refs.get("refs/heads/" + ref) or refs.get(
            "refs/tags/" + ref + "^{}") or refs.get("refs/tags/" + ref)
        if commit is None:
            raise UsageError(f"release {text!r}: no ref {ref!r} at {url}")
    name = os.path.basename(url.rstrip("/")).removesuffix(".git") or "git"
    candidate = Candidate("git", text, commit, name, commit=commit, ref=ref)
    candidate.url = url
    return candidate


def _git(argv, text=True):
    # safe.directory: a tree owned by another user (a CI checkout read as
    # root) is still the user's tree, not a reason to lose its commit.
    out = subprocess.run(["git", "-c", "safe.directory=*", *argv],
                         capture_output=True, text=text,
                         timeout=600, env=dict(os.environ, GIT_TERMINAL_PROMPT="0"))
    if out.returncode != 0:
        err = out.stderr if text else out.stderr.decode(errors="replace")
        raise UsageError(f"git {argv[0] if argv[0] != '-C' else argv[2]} failed: "
                         + _why(err))
    return out.stdout


def _why(stderr):
    """git's first 'fatal:' line (later lines are advice), else its last."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (fatal or lines or ["no output"])[0 if fatal else -1]


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:  # a dangling link or a socket: its name is enough
        return b""


def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256_tree(path):
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS
                         and not d.endswith(".egg-info"))
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            full = os.path.join(root, name)
            digest.update(os.path.relpath(full, path).encode() + b"\0")
            digest.update(_read(full))
    return digest.hexdigest()


def scratch_dir(prefix):
    """A directory beside the venv for a git checkout (removed after)."""
    return tempfile.mkdtemp(prefix=os.path.basename(prefix) + ".src-",
                            dir=os.path.dirname(prefix))
