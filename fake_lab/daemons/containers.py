"""WSGI containers that serve the fake nova-api: how each is started.

Each container loads the same paste.deploy app through the same
``fake_nova_api.wsgi`` entry point; the run directory keeps the exact file
the container was started with.

A run may start two of them (``[api] pair``: the active API and its
standby behind HAProxy): the second has a ``tag`` ("standby"), which every
file it writes carries (``uwsgi-standby.ini``, ``logs/uwsgi-standby.log``,
``apache-standby/``), so that the two never share a file.
"""

import configparser
import os
import pwd
import shutil
import signal
import tempfile
import urllib.request

from fake_lab.daemons import procs, pyenvs, uwsgi_releases
from fake_lab.errors import MissingComponent, UsageError
from fake_lab.paths import ETC, REPO


def venv_binary(name):
    """``name`` in the lab's venv, else on PATH; FAKE_LAB_<NAME> (e.g.
    FAKE_LAB_UWSGI) overrides."""
    return pyenvs.LAB.binary(name) or (
        None if os.environ.get("FAKE_LAB_" + name.upper().replace("-", "_"))
        else shutil.which(name))


def wait_http(url, daemon, timeout):
    """Until ``url`` answers 200 from a process of ``daemon``'s own tree (so
    that another run's server on a reused port cannot pass for it)."""
    def answered():
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                worker = resp.headers.get("x-fake-lab-worker-pid")
                return resp.status == 200 and (
                    worker is None or int(worker) in procs.tree(daemon.pid))
        except (OSError, ValueError):
            return False
    procs.wait_until(answered, daemon, f"HTTP 200 from {url}", timeout)


class Container:
    """What every container shares: ``start(env, port)`` spawns
    ``self.daemon``, then ``wait_ready``, ``url``, ``stop``."""

    name = None
    stop_signal = signal.SIGTERM

    def __init__(self, run, settings, pyenv=pyenvs.LAB, tag=""):
        self.run, self.settings, self.pyenv = run, settings, pyenv
        self.env = self.port = self.daemon = None
        self.tag = tag

    def named(self, base):
        """``base`` as this instance names its files: ``uwsgi`` for the
        first API, ``uwsgi-standby`` for a tagged one."""
        return f"{base}-{self.tag}" if self.tag else base

    def check_installed(self):
        pass

    def wait_ready(self, timeout=60):
        wait_http(f"http://127.0.0.1:{self.port}/v2.1/", self.daemon, timeout)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    # Whether stop(fast=True) may KILL the tree: only where that leaves
    # nothing behind (Apache's children hold SysV semaphores).
    killable = False

    def stop(self, fast=False):
        if self.daemon is not None:
            if fast and self.killable:
                self.daemon.stop(signal.SIGKILL, grace=0)
            else:
                self.daemon.stop(self.stop_signal, grace=15)
            self.daemon = None


class UWSGI(Container):
    """uWSGI with the settings of etc/fake-nova-api-uwsgi.ini."""

    name = "uwsgi"
    # SIGTERM makes a uWSGI master reload unless die-on-term; SIGINT always
    # stops it, in about 1 s (the master's loop ticks once a second). At the
    # end of a run nothing needs that: the workers skip their teardown
    # anyway, so the broker sees the same closed sockets either way.
    stop_signal = signal.SIGINT
    killable = True

    def __init__(self, run, settings, pyenv=pyenvs.LAB, tag=""):
        super().__init__(run, settings, pyenv, tag)
        self.binary = pyenv.binary("uwsgi") if not pyenv.is_lab else venv_binary("uwsgi")
        # [uwsgi] release: another uWSGI than the environment's own, built
        # once side by side (uwsgi_releases.py).
        self.release = (settings.values["uwsgi"].get("release", "installed")
                        if settings is not None else "installed")

    def check_installed(self):
        if self.release != "installed":
            try:
                self.binary = uwsgi_releases.binary(self.release)
            except uwsgi_releases.Unavailable as exc:
                raise MissingComponent(f"uWSGI {self.release} is not available "
                                       f"here: {exc}")
            return
        if not self.binary:
            raise MissingComponent(f"uwsgi not found in {self.pyenv.prefix} or on "
                                   "PATH: run tools/setup.sh (pip install uwsgi)")

    def write_ini(self):
        ini = configparser.ConfigParser(interpolation=None)
        ini.optionxform = str
        ini.read(os.path.join(ETC, "fake-nova-api-uwsgi.ini"))
        u = self.settings.values["uwsgi"]
        section = ini["uwsgi"]
        section["processes"] = str(u["processes"])
        section["threads"] = str(u["threads"])
        section["enable-threads"] = "true" if u["enable_threads"] else "false"
        if not u["enable_threads"] and u["threads"] == 1:
            # Any `threads` option, even 1, turns Python threads on in
            # uWSGI <= 2.0.26 (UWSGI_OPT_THREADS): without this the
            # enable_threads=false axis would change nothing. One thread is
            # uWSGI's default anyway.
            del section["threads"]
        section["lazy-apps"] = "true" if u["lazy_apps"] else "false"
        if u.get("fork_hooks"):
            section["py-call-uwsgi-fork-hooks"] = "true"
        # Absolute paths: uWSGI resolves a relative home after chdir.
        section["chdir"] = REPO
        section["home"] = self.pyenv.prefix
        section["pythonpath"] = REPO
        section["http-socket"] = f"127.0.0.1:{self.port}"
        section["pidfile"] = self.run.file(self.named("uwsgi") + ".pid")
        path = self.run.file("etc", self.named("uwsgi") + ".ini")
        with open(path, "w") as f:
            ini.write(f)
        return path

    def start(self, env, port):
        """Start serving on 127.0.0.1:``port`` with ``env``."""
        self.env, self.port = env, port
        self.check_installed()
        ini = self.write_ini()
        self.daemon = procs.spawn(self.named("uwsgi"), [self.binary, "--ini", ini],
                                  self.run.log(self.named("uwsgi")), env=self.env,
                                  cwd=REPO, owner=self.run.path)
        return self.daemon


class Standalone(Container):
    """``fake-nova-api``: eventlet.wsgi when patched, threaded wsgiref else."""

    name = "eventlet-wsgi"
    module = "fake_nova_api.server"  # a server of its own, run with -m

    def start(self, env, port):
        self.env, self.port = env, port
        self.daemon = procs.spawn(
            self.named("fake-nova-api"), [self.pyenv.python, "-m", self.module,
                                          "--port", str(port)],
            self.run.log(self.named("fake-nova-api") + ".out"), env=env, cwd=REPO,
            owner=self.run.path)
        return self.daemon


class PasteHTTPServer(Standalone):
    """paste.httpserver with its thread pool (fake_nova_api/paste_server.py)."""

    name = "paste-httpserver"
    module = "fake_nova_api.paste_server"


class ModWSGI(Container):
    """Apache httpd with mod_wsgi in daemon mode, through mod_wsgi-express
    and the three-line etc/fake-nova-api.wsgi, with the processes and threads
    of [uwsgi] (nova's puppet module uses one thread per process)."""

    name = "mod_wsgi"
    USER = "www-data"  # Apache refuses to run its children as root

    def __init__(self, run, settings, pyenv=pyenvs.LAB, tag=""):
        super().__init__(run, settings, pyenv, tag)
        self.binary = pyenv.binary("mod_wsgi-express")

    def check_installed(self):
        if not self.binary:
            raise MissingComponent(
                f"mod_wsgi-express not found in {self.pyenv.prefix}: run "
                "tools/setup.sh (apt-get install apache2 apache2-dev; pip "
                "install mod_wsgi)")
        try:
            pwd.getpwnam(self.USER)
        except KeyError:
            raise MissingComponent(f"user {self.USER} not found: install apache2")
        if os.geteuid() != 0:
            raise UsageError("the mod_wsgi container needs root: Apache's "
                             f"daemon runs as {self.USER} and the lab hands "
                             "it the run's files")

    def _share_with_apache(self, files):
        """The daemon processes run as www-data: give it the run's config
        files (they stay mode 0600) and its own log file."""
        user = pwd.getpwnam(self.USER)
        for path in files:
            if not os.path.exists(path):
                open(path, "a").close()
            os.chown(path, user.pw_uid, user.pw_gid)

    def _socket_dir(self):
        """A short directory for mod_wsgi's UNIX sockets: under a run
        directory their paths pass the 108-byte limit and get cut. It is
        listed in the run's tmpdirs.txt, so that the reaper removes it even
        if the runner is killed."""
        path = tempfile.mkdtemp(prefix="fake-lab-wsgi-")
        os.chmod(path, 0o755)  # Apache's children (www-data) connect there
        with open(self.run.file("tmpdirs.txt"), "a") as f:
            f.write(path + "\n")
        self._tmp = path
        return path

    def stop(self, fast=False):
        super().stop(fast)
        if getattr(self, "_tmp", None):
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _check_reachable(self):
        """www-data must reach the run directory (config files, its log) and
        the Python it runs (a venv under a closed directory, such as tox's
        .tox, made Apache's daemon fail to start Python, again and again)."""
        for what, target, hint in (
                ("the run directory", self.run.path, "use a --runs-dir it can reach"),
                ("the Python environment", self.pyenv.prefix,
                 "let others traverse the directories on its way (chmod o+x)")):
            path = target
            while path != os.path.dirname(path):
                path = os.path.dirname(path)
                if not os.stat(path).st_mode & 0o001:
                    raise UsageError(
                        f"Apache's daemon runs as {self.USER}, which cannot reach "
                        f"{what} {target} ({path} is closed to other users): {hint}")

    def start(self, env, port):
        self.env, self.port = env, port
        self.check_installed()
        self._check_reachable()
        u = self.settings.values["uwsgi"]
        files = [f for f in env.get("FAKE_LAB_CONFIG_FILES", "").split(",") if f]
        if self.settings.get("api", "instance_save") == "direct":
            # The API then writes the run's SQLite database itself (as
            # nova-api does), and www-data cannot write root's files.
            files += [f for f in (self.run.file("fake-lab.sqlite" + suffix)
                                  for suffix in ("", "-wal", "-shm"))
                      if os.path.exists(f)]
        self._share_with_apache(files + [self.run.log(self.named("fake-nova-api"))])
        argv = [self.binary, "start-server", os.path.join(ETC, "fake-nova-api.wsgi"),
                "--host", "127.0.0.1", "--port", str(port),
                "--processes", str(u["processes"]),
                "--threads", str(u["threads"]),
                "--user", self.USER, "--group", self.USER,
                "--locale", "C.UTF-8",
                "--server-root", self.run.file(self.named("apache")),
                "--log-directory", self.run.logs,
                "--error-log-name", self.named("apache-error") + ".log",
                "--python-path", REPO,
                "--socket-prefix", self._socket_dir(),
                "--startup-timeout", "15"]
        self.daemon = procs.spawn(self.named("mod_wsgi-express"), argv,
                                  self.run.log(self.named("mod_wsgi-express")), env=env,
                                  cwd=REPO, owner=self.run.path)
        return self.daemon


CONTAINERS = {"uwsgi": UWSGI, "mod_wsgi": ModWSGI, "eventlet-wsgi": Standalone,
              "paste-httpserver": PasteHTTPServer}
