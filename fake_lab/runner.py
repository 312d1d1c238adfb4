"""Run one scenario: configure, start the lab, play the workload, stop
everything, judge, and leave a complete run directory behind.

result.json is written whatever happens: a crash or an interruption gives
verdict ``unknown`` with the reason and the phase it happened in.

- ``prepared``: the one way to prepare a run directory, shared by ``run``,
  ``up``, ``matrix`` and ``bisect``: sweep what killed runs left behind,
  create the directory, mark this process as its runner, start its reaper.
- ``configure``: resolve the run's settings and write config.json, which
  records everything a checker needs (the checker, its options, the
  scenario as it was), so that ``fake-lab check`` judges from the run
  directory alone.
- ``run`` is one command's run (its own broker and reaper); ``play`` is what
  a run and a matrix cell share.
"""

import contextlib
import os
import signal
import threading
import time
import traceback

from fake_lab import checkers, progress, report, timeline
from fake_lab import settings as settings_mod
from fake_lab.checkers import evidence
from fake_lab.daemons import rabbitmq as broker_mod
from fake_lab.daemons import reaper
from fake_lab.errors import LabError, UsageError
from fake_lab.history import History
from fake_lab.lab import Lab
from fake_lab.rundir import RunDir
from fake_lab.workload.generator import Player
from fake_service import version_of

VERSIONS = ("oslo.messaging", "kombu", "amqp", "eventlet", "uWSGI")


class Interrupted(BaseException):
    """SIGTERM or SIGHUP, raised where the runner is, like KeyboardInterrupt."""


@contextlib.contextmanager
def signals_deferred():
    """Let cleanup finish even if the user presses Ctrl-C again."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives signals
        return
    old = {s: signal.signal(s, signal.SIG_IGN)
           for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


class Phases:
    """Times each phase and says it as it ends."""

    def __init__(self, say):
        self.say = say
        self.timings = {}
        self.current = None
        self.started = self.began = time.monotonic()

    @contextlib.contextmanager
    def __call__(self, name):
        self.current = name
        self.began = began = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = round(time.monotonic() - began, 3)
            self.say(f"[{name}] {self.timings[name]:.2f} s")

    def total(self):
        self.timings["total"] = round(time.monotonic() - self.started, 3)
        return self.timings["total"]


@contextlib.contextmanager
def prepared(runs_dir, name, say=print):
    """A new run directory ``<runs_dir>/<name>-<time>`` owned by this process,
    with its reaper; the reaper is released on the way out, once whatever
    the caller started there is stopped."""
    for old, pids in reaper.sweep_abandoned(runs_dir):
        say(f"stopped {len(pids)} process(es) left by the killed run {old}")
    rundir = RunDir.create(runs_dir, name)
    reaper.mark_runner(rundir.path)
    watchdog = reaper.spawn(rundir.path)
    try:
        yield rundir
    finally:
        reaper.release(watchdog)


def configure(rundir, scenario, overrides, user_files, extra=None):
    """Resolve the run's settings (UsageError on bad input) and write
    config.json: the options, the checker with its options, the scenario's
    own text and the runner's library versions. No credentials."""
    settings = settings_mod.resolve(scenario, user_files, overrides or {},
                                    rundir.etc)
    rundir.write_json("config.json", {
        "scenario": scenario["name"],
        "summary": scenario.get("summary"),
        "bugs": scenario.get("bugs", []),
        "checker": {"name": scenario.get("checker"),
                    "options": scenario.get("checker_options", {})},
        "workload": scenario.get("workload", []),
        "options": settings.values, "files": settings.files,
        "runner_versions": {d: version_of(d) for d in VERSIONS},
        **(extra or {})})
    return settings


def record_imported(rundir, lab):
    """Add to config.json the libraries each service really imported, as
    it logged them at start-up (a release venv's, not the runner's)."""
    config = rundir.read_json("config.json") or {}
    imported = {}
    for name in ["fake-nova-api", *lab.services]:
        found = evidence.imported_versions(rundir.log(name))
        if found:
            imported[name] = found
    # The uWSGI that really served the API (its log's first lines), which
    # [uwsgi] release may have made another than the environment's.
    served_by = evidence.uwsgi_version(rundir.log("uwsgi"))
    if served_by:
        imported.setdefault("fake-nova-api", {})["uWSGI"] = served_by
    config["imported"] = imported
    rundir.write_json("config.json", config)
    return imported


def run(scenario, overrides=None, user_files=(), runs_dir="runs", broker_port=0,
        api_port=0, say=print, broker=None, status=progress.QUIET):
    """Run ``scenario`` (a catalogue dict); returns (result dict, RunDir).
    ``broker``: reuse the running broker it names (``--broker``), in a
    vhost of the run's own, instead of booting one."""
    name = scenario["name"]
    shared = None
    if broker:
        faulted = sorted({s.get("target") for s in scenario["workload"]
                          if s.get("op") == "fault"} & {"broker", "cluster"})
        if faulted:
            raise UsageError(f"--broker: scenario {name} injects faults into the "
                             f"{faulted[0]}; it needs a broker of its own")
        shared = broker_mod.find(broker, runs_dir)
    with prepared(runs_dir, name, say) as rundir:
        say(f"{name}: {scenario['summary']}")
        say(f"run directory: {rundir.path}")
        vhost = os.path.basename(rundir.path) if shared else "/"
        extra = {"vhost": vhost, "broker": shared.workdir} if shared else None
        if shared:
            say(f"broker: {shared.nodename} of {os.path.dirname(shared.workdir)}, "
                f"vhost {vhost}")

        def make_lab(settings):
            if shared is None:
                return Lab(rundir, settings, broker_port, api_port)
            return Lab(rundir, settings, api_port=api_port, broker=shared,
                       vhost=vhost, own_vhost=True)

        result = play(rundir, scenario, overrides, user_files, make_lab, say,
                      extra, status)
    return result, rundir


def play(rundir, scenario, overrides, user_files, make_lab, say, extra=None,
         status=progress.QUIET):
    """Configure, start ``make_lab(settings)``, play, stop, judge; returns
    the result dict (also in result.json), or raises what stopped the run
    once result.json says so. ``extra`` goes into config.json; ``status``
    shows the phase and what the workload waits for (on a terminal)."""
    phases = Phases(say)
    lab = player = None

    def doing():
        busy = player if phases.current == "workload" else lab
        activity = getattr(busy, "activity", None)
        return (f"[{phases.current}] {progress.elapsed(phases.began)}"
                + (f": {activity}" if activity else ""))

    ticker = status.ticking(doing)
    ticker.__enter__()
    result = {"scenario": scenario["name"], "verdict": checkers.UNKNOWN,
              "evidence": [], "reason": None, "timings": phases.timings,
              "run_dir": rundir.path}
    history = None
    failure = None
    preparing = None  # the thread that readies the report (timeline.prepare)
    try:
        try:
            history = History(rundir.history)
            with phases("configure"):
                settings = configure(rundir, scenario, overrides, user_files,
                                     extra)
                history.event("configured", options=settings.values)
            lab = make_lab(settings)
            with phases("start"):
                lab.start()
            record_imported(rundir, lab)
            phases.timings.update({k: round(v, 3) for k, v in lab.timings.items()})
            say("  broker ready after %.2f s, services after %.2f s" % (
                lab.timings["broker_boot"], lab.timings["services_up"]))
            with phases("workload"):
                preparing = threading.Thread(target=timeline.prepare, daemon=True,
                                             name="report-prepare")
                preparing.start()
                player = Player(lab, history, settings, say)
                player.play(scenario["workload"])
        except (KeyboardInterrupt, Interrupted) as exc:
            failure = exc
            result["reason"] = (f"interrupted ({type(exc).__name__}) during "
                                f"the {phases.current} phase")
        except LabError as exc:
            failure = exc
            result["reason"] = (f"{exc} (during the {phases.current or 'configure'}"
                                " phase)")
        except Exception as exc:  # a bug of the lab: keep its traceback
            failure = exc
            result["reason"] = (f"lab crashed during the {phases.current} "
                                f"phase: {type(exc).__name__}: {exc}; see "
                                "traceback.txt")
            with open(rundir.file("traceback.txt"), "w") as f:
                traceback.print_exc(file=f)
        finally:
            with signals_deferred():
                if lab is not None:
                    with phases("cleanup"):
                        lab.stop()  # with the final read of the database
                if history is not None:
                    try:
                        history.event("stopped", reason=result["reason"])
                    except LabError:
                        pass  # the failure that matters is already recorded
                    history.close()
        if failure is None:
            with phases("judging"):
                judged = checkers.judge(rundir)
            result.update(judged)
    finally:
        ticker.__exit__(None, None, None)
        phases.total()
        rundir.write_json("result.json", result)
        if preparing is not None:
            # Two threads importing plotly at once could meet a module half
            # made: the report waits for the one that began.
            preparing.join(30)
        report.write(rundir, result)
    if failure is not None:
        raise failure
    return result
