"""WSGI containers that serve the fake nova-api: how each is started.

Each container loads the same paste.deploy app through the same
``fake_nova_api.wsgi`` entry point; the run directory keeps the exact file
the container was started with.
"""

import configparser
import os
import shutil
import sys
import urllib.request

from fake_service import procs
from fake_service.errors import MissingComponent

ETC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   "etc")
REPO = os.path.dirname(ETC)


def venv_binary(name):
    """``name`` beside this Python (the lab's venv), else on PATH; the
    environment variable FAKE_LAB_<NAME> (e.g. FAKE_LAB_UWSGI) overrides."""
    override = os.environ.get("FAKE_LAB_" + name.upper().replace("-", "_"))
    if override:
        return override if os.access(override, os.X_OK) else None
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(candidate, os.X_OK):
        return candidate
    return shutil.which(name)


def wait_http(url, daemon, timeout):
    def answered():
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False
    procs.wait_until(answered, daemon, f"HTTP 200 from {url}", timeout)


class UWSGI:
    """uWSGI with the settings of etc/fake-nova-api-uwsgi.ini."""

    name = "uwsgi"

    def __init__(self, run, settings):
        self.run, self.settings = run, settings
        self.env = self.port = None
        self.binary = venv_binary("uwsgi")
        self.daemon = None

    def check_installed(self):
        if not self.binary:
            raise MissingComponent("uwsgi not found in the lab's venv or on PATH: "
                           "run tools/setup.sh (pip install uwsgi)")

    def write_ini(self):
        ini = configparser.ConfigParser(interpolation=None)
        ini.optionxform = str
        ini.read(os.path.join(ETC, "fake-nova-api-uwsgi.ini"))
        u = self.settings.values["uwsgi"]
        section = ini["uwsgi"]
        section["processes"] = str(u["processes"])
        section["threads"] = str(u["threads"])
        section["enable-threads"] = "true" if u["enable_threads"] else "false"
        section["lazy-apps"] = "true" if u["lazy_apps"] else "false"
        # Absolute paths: uWSGI resolves a relative home after chdir.
        section["chdir"] = REPO
        section["home"] = sys.prefix
        section["http-socket"] = f"127.0.0.1:{self.port}"
        section["pidfile"] = self.run.file("uwsgi.pid")
        path = self.run.file("etc", "uwsgi.ini")
        with open(path, "w") as f:
            ini.write(f)
        return path

    def start(self, env, port):
        """Start serving on 127.0.0.1:``port`` with ``env``."""
        self.env, self.port = env, port
        self.check_installed()
        ini = self.write_ini()
        self.daemon = procs.spawn("uwsgi", [self.binary, "--ini", ini],
                                  self.run.log("uwsgi"), env=self.env,
                                  cwd=REPO)
        return self.daemon

    def wait_ready(self, timeout=60):
        wait_http(f"http://127.0.0.1:{self.port}/", self.daemon, timeout)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        # SIGTERM makes a uWSGI master reload unless die-on-term; SIGINT
        # always stops it (about 1 s).
        if self.daemon is not None:
            import signal
            self.daemon.stop(signal.SIGINT, grace=15)
            self.daemon = None


CONTAINERS = {"uwsgi": UWSGI}
