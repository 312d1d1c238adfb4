"""A run's directory: everything one run produced, under one name.

    runs/<scenario>-<UTC time>/
        config.json        the resolved configuration (no credentials)
        etc/               the oslo.config files the services were given
        history.jsonl      operations and observations (see history.py)
        logs/              broker.log, fake-nova-api.log, fake-compute.log,
                           uwsgi.log, ...
        result.json        verdict, evidence, timings (written even on crash)
        report.md          the same for a person
    runs/latest -> the newest run
"""

import json
import os
import time

from fake_lab.errors import StorageError


class RunDir:
    def __init__(self, path):
        self.path = os.path.abspath(path)

    @classmethod
    def create(cls, runs_dir, scenario):
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        try:
            os.makedirs(runs_dir, exist_ok=True)
            for n in range(100):
                name = f"{scenario}-{stamp}" + (f"-{n}" if n else "")
                path = os.path.join(runs_dir, name)
                try:
                    os.mkdir(path)
                    break
                except FileExistsError:
                    continue
            else:
                raise StorageError(f"cannot find a free run directory in {runs_dir}")
            run = cls(path)
            os.makedirs(run.logs, exist_ok=True)
            os.makedirs(run.etc, exist_ok=True)
            run._link_latest(runs_dir)
        except OSError as exc:
            raise StorageError(f"cannot create a run directory in {runs_dir}: "
                           f"{exc.strerror}")
        return run

    @classmethod
    def create_in(cls, parent, name):
        """A run directory with a fixed name (a matrix cell)."""
        run = cls(os.path.join(parent, name))
        try:
            os.makedirs(run.logs, exist_ok=True)
            os.makedirs(run.etc, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create {run.path}: {exc.strerror}")
        return run

    def _link_latest(self, runs_dir):
        link = os.path.join(runs_dir, "latest")
        tmp = link + f".{os.getpid()}"
        os.symlink(os.path.basename(self.path), tmp)
        os.replace(tmp, link)

    def file(self, *parts):
        return os.path.join(self.path, *parts)

    @property
    def logs(self):
        return self.file("logs")

    @property
    def etc(self):
        return self.file("etc")

    @property
    def history(self):
        return self.file("history.jsonl")

    @property
    def broker_log(self):
        return self.file("logs", "broker.log")

    def log(self, name):
        return self.file("logs", f"{name}.log")

    def write_json(self, name, data, mode=0o644):
        path = self.file(name)
        tmp = path + ".tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=2, sort_keys=True)
                f.write("\n")
            os.replace(tmp, path)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc.strerror}")
        return path

    def read_json(self, name):
        try:
            with open(self.file(name)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None
