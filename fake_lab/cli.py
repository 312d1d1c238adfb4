"""``fake-lab``: run the lab's scenarios and judge their runs.

The exit codes are in fake_lab/errors.py (MEANINGS), printed by --help.
"""

import os
import signal
import sys


# A Ctrl-C (or a soak's SIGINT) while the modules below load, before main()
# can catch it: nothing has started yet, so one line and 130
# (errors.EXIT_INTERRUPTED), not a traceback. A SIGINT that arrives ignored
# (a background job) stays ignored.
def _interrupted_while_loading(signum, frame):
    print("fake-lab: interrupted", file=sys.stderr)
    os._exit(130)


_sigint_before = signal.getsignal(signal.SIGINT)
if _sigint_before is signal.default_int_handler:
    signal.signal(signal.SIGINT, _interrupted_while_loading)

import argparse  # noqa: E402
import warnings  # noqa: E402

# eventlet warns about its own deprecation on import; the lab knows.
warnings.filterwarnings("ignore", message=r"(?s).*[Ee]ventlet is deprecated")

from fake_lab import catalogue, checkers, errors, progress, report, runner, settings
from fake_lab.commands import bench as bench_mod
from fake_lab.commands import bisection as bisect_mod
from fake_lab.commands import matrix as matrix_mod
from fake_lab.commands import soak
from fake_lab.commands import tracing as trace_mod
from fake_lab.commands import up as up_mod
from fake_lab.daemons import containers, procs
from fake_lab.errors import LabError, UsageError
from fake_lab.rundir import RunDir
from fake_lab.workload import nemesis
from fake_lab.workload.generator import FAULT_OPS
from fake_service import conf as lab_conf

signal.signal(signal.SIGINT, _sigint_before)

EPILOG = "exit codes:\n" + "\n".join(
    f"  {code:<4}{text}" for code, text in errors.MEANINGS)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(f"{self.prog}: {message}")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _port(text):
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port")
    return value


def _broker_spec(text):
    # An empty value is what `--broker "$FAKE_LAB_RUN_DIR"` gives when the
    # variable is not set: refused, rather than booting a broker unasked.
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "empty: name the run directory of `fake-lab up` or of a matrix, or "
            "its FAKE_LAB_BROKER_URL (is FAKE_LAB_RUN_DIR set in this shell?)")
    return text


def build_parser():
    parser = _Parser(prog="fake-lab", description=(
        "Reproduce oslo.messaging heartbeat bugs of OpenStack API services "
        "against a private RabbitMQ node, and judge each run."),
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=_Parser)
    sub.required = True
    sub.add_parser("list", help="list the scenarios")
    sub.add_parser("faults", help="list the faults a scenario's workload can "
                   "inject (target, verb, options)")
    for add in (_add_run_command, _add_soak_command, _add_matrix_command,
                _add_bisect_command, _add_up_commands, _add_reading_commands,
                _add_bench_command):
        add(sub)
    return parser


def _add_run_command(sub):
    """fake-lab run SCENARIO"""
    run = sub.add_parser("run", help="run a scenario and judge it",
                         epilog=EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("scenario")
    _add_run_options(run)
    run.add_argument("--control", action="store_true",
                     help="run the scenario's control instead (e.g. "
                     "--executor threading) and expect its verdict")
    run.add_argument("--expect", choices=checkers.VERDICTS,
                     help="exit 1 when the verdict differs (4 if unknown)")
    run.add_argument("--broker-port", type=_port, default=0,
                     help="the private broker's AMQP port (default: a free one)")
    run.add_argument("--broker", metavar="RUN_DIR|URL", type=_broker_spec,
                     help="reuse the running broker of `fake-lab up` or of a "
                     "matrix (its run directory, or the FAKE_LAB_BROKER_URL up "
                     "printed) in a vhost of the run's own, instead of booting "
                     "one (about 2 s less); not for scenarios that fault the broker")
    run.add_argument("--api-port", type=_port, default=0,
                     help="the fake nova-api's port (default: a free one)")


def _add_soak_command(sub):
    """fake-lab soak SCENARIO -n N"""
    soak = sub.add_parser("soak", help="run a scenario N times and count "
                          "verdicts and leftovers (processes, ports, epmd "
                          "names, namespaces, temporary files)")
    soak.add_argument("scenario")
    soak.add_argument("-n", "--runs", type=_positive_int, default=10)
    soak.add_argument("--chaos", action="store_true",
                      help="interrupt each run at a random moment with "
                      "SIGINT, SIGTERM or SIGKILL of the runner")
    soak.add_argument("--seed", type=int, help="for --chaos: repeatable draws")
    soak.add_argument("--expect", choices=checkers.VERDICTS,
                      help="the verdict every completed run must give")
    soak.add_argument("--control", action="store_true",
                      help="soak the scenario's control")
    _add_run_options(soak)


def _add_matrix_command(sub):
    """fake-lab matrix [SCENARIO] --axis NAME=V1,V2"""
    matrix = sub.add_parser(
        "matrix", help="run a scenario over a grid of axes (every cell a real "
        "run) and compare each cell with the expectations catalogue",
        description=matrix_mod.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    matrix.add_argument("scenario", nargs="?", default="heartbeat-loss",
                        help="the scenario (default heartbeat-loss), or `merge` "
                        "followed by shard directories")
    matrix.add_argument("dirs", nargs="*", metavar="DIR",
                        help="with `merge`: the shards' matrix directories")
    matrix.add_argument("--shard", type=_shard, metavar="K/N",
                        help="run only shard K of N (1 <= K <= N): every N-th "
                        "cell from the K-th; join the shards with "
                        "`fake-lab matrix merge DIR...`")
    matrix.add_argument("--axis", action="append", default=[],
                        metavar="NAME=V1,V2", help="an axis and its values "
                        "(repeatable); without any, the default grid: "
                        "container x executor x release (installed, 17) x "
                        "heartbeat_in_pthread. A release may also be a "
                        "candidate: a source tree, a wheel or sdist, or "
                        "git+URL@REF")
    matrix.add_argument("--jobs", type=_positive_int,
                        help="cells at a time (default: three per core)")
    matrix.add_argument("--runs-dir", default=os.environ.get(
        "FAKE_LAB_RUNS_DIR", "runs"))


def _add_bisect_command(sub):
    """fake-lab bisect --good X --bad Y"""
    bisect = sub.add_parser(
        "bisect", help="find the first oslo.messaging release whose verdict "
        "differs between two releases", description=bisect_mod.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    bisect.add_argument("scenario", nargs="?", default="heartbeat-loss")
    bisect.add_argument("--good", required=True, metavar="RELEASE")
    bisect.add_argument("--bad", required=True, metavar="RELEASE")
    bisect.add_argument("--axis", action="append", default=[],
                        metavar="NAME=VALUE", help="a fixed axis (repeatable), "
                        "e.g. executor=eventlet container=uwsgi")
    bisect.add_argument("--runs-dir", default=os.environ.get(
        "FAKE_LAB_RUNS_DIR", "runs"))


def _add_up_commands(sub):
    """fake-lab up / fake-lab down"""
    upper = sub.add_parser("up", help="start a lab that stays up (broker, "
                           "services, API, clouds.yaml) until Ctrl-C or "
                           "fake-lab down", description=up_mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_run_options(upper)
    upper.add_argument("--api-port", type=_port, default=0)
    upper.add_argument("--daemon", action="store_true",
                       help="return once ready, leaving the lab running: "
                       'eval "$(fake-lab up --daemon)"')
    stopper = sub.add_parser(
        "stop-service", help="stop one fake service of a running `fake-lab up` "
        "for good (e.g. a compute host), leaving the lab up")
    stopper.add_argument("service", help="e.g. fake-compute-2 (the lab's "
                         "services.json lists them)")
    stopper.add_argument("run_dir", nargs="?",
                         help="the lab's run directory (default: "
                         "$FAKE_LAB_RUN_DIR, else the one running lab in "
                         "--runs-dir)")
    stopper.add_argument("--runs-dir", default=os.environ.get(
        "FAKE_LAB_RUNS_DIR", "runs"))
    downer = sub.add_parser("down", help="stop a lab started by fake-lab up")
    downer.add_argument("run_dir", nargs="?",
                        help="its run directory (default: $FAKE_LAB_RUN_DIR, "
                        "else every running lab in --runs-dir)")
    downer.add_argument("--runs-dir", default=os.environ.get(
        "FAKE_LAB_RUNS_DIR", "runs"))


def _add_reading_commands(sub):
    """fake-lab trace and fake-lab check: they read a run directory"""
    tracer = sub.add_parser("trace", help="one request's path across every "
                            "process of a run, in time order")
    tracer.add_argument("run_dir")
    tracer.add_argument("request_id", help="e.g. req-... (from history.jsonl, "
                        "a result's evidence, or an x-openstack-request-id header)")

    check = sub.add_parser("check", help="judge a run directory again, "
                           "without running anything")
    check.add_argument("run_dir")
    check.add_argument("--expect", choices=checkers.VERDICTS)
    check.add_argument("--write", action="store_true",
                       help="also write the new judgement into result.json and "
                       "report.md/report.html (e.g. after a checker was fixed); "
                       "the run's phases and timings are kept")


def _duration(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 600 seconds")
    return value


def _add_bench_command(sub):
    """fake-lab bench [--headline]"""
    bench = sub.add_parser("bench", help="RPC calls and casts per second and latency, "
                           "against a raw kombu baseline, and the lab's own overhead",
                           description=bench_mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("--calls", type=_positive_int, default=300,
                       help="calls in each block, shared by its callers (default 300)")
    bench.add_argument("--casts", type=_positive_int,
                       help="casts in each block (default: as --calls)")
    bench.add_argument("--duration", type=_duration, default=5.0, metavar="SECONDS",
                       help="a calls block stops issuing after this long (default 5)")
    bench.add_argument("--repeat", type=_positive_int, default=3,
                       help="blocks of each kind per path (default 3): figures are "
                       "median [min-max] over them")
    bench.add_argument("--callers", default="1,8", metavar="N,N",
                       help="concurrent callers of each calls block (default 1,8)")
    bench.add_argument("--axis", action="append", default=[], metavar="NAME=V1,V2",
                       help="release (installed, X.Y.Z, a prefix, or a candidate build "
                       "as in the matrix), deps (latest, series), executor (eventlet, "
                       "threading), path (om, lab, quiet, relay: the paths each cell "
                       "runs); default: release=installed, executor=eventlet,threading, "
                       "every path")
    bench.add_argument("--runs-dir", default=os.environ.get("FAKE_LAB_RUNS_DIR", "runs"))
    headline = bench.add_argument_group("headline", "the headline-speed benchmark "
                                        "(fake_lab/commands/headline_bench.py)")
    headline.add_argument("--headline", action="store_true",
                          help="run the headline-speed benchmark instead")
    headline.add_argument("--runs", type=_positive_int,
                          help="runs of heartbeat-loss (default 5)")
    headline.add_argument("--broker", metavar="RUN_DIR|URL", type=_broker_spec,
                          help="passed to every run: reuse the running broker of "
                          "`fake-lab up` (start it first)")
    headline.add_argument("--control", action="store_true",
                          help="bench the scenario's control (threading) instead")
    return bench


def _add_run_options(parser):
    axes = parser.add_argument_group(
        "axes", "each sets an oslo.config option of the run, over the "
        "scenario's values and over --config-file")
    boolean = dict(choices=("true", "false"))
    mode = dict(choices=("eventlet", "threading"))
    types = {"executor": mode, "api_executor": mode, "compute_executor": mode,
             "scheduler_executor": mode, "conductor_executor": mode,
             "start_method": dict(choices=("default", "fork", "spawn")),
             "heartbeat_in_pthread": boolean, "uwsgi_enable_threads": boolean,
             "observe_heartbeats": boolean, "observe_pool": boolean, "relay": boolean,
             "database": dict(metavar="URL"), "step_delay": dict(type=_seconds),
             "uwsgi_lazy_apps": boolean, "uwsgi_fork_hooks": boolean,
             "uwsgi_release": dict(metavar="RELEASE"),
             "api_pair": boolean,
             "db_pair": boolean, "db_replication": dict(choices=("async", "sync")),
             "instance_save": dict(choices=("conductor", "direct")),
             "retry": dict(choices=lab_conf.RETRY_MODES),
             "retry_interval": dict(type=_seconds),
             "queue_type": dict(choices=("classic", "mirrored", "quorum")),
             "node_loss": dict(choices=("kill", "drain")),
             "failover_strategy": dict(choices=("round-robin", "shuffle")),
             "transient_quorum_queue": boolean,
             "container": dict(choices=tuple(containers.CONTAINERS))}
    for axis, (group, option, text) in settings.AXES.items():
        axes.add_argument("--" + axis.replace("_", "-"), dest=axis,
                          help=f"{text} ([{group}] {option})",
                          **types.get(axis, dict(type=_positive_int)))
    parser.add_argument("--config-file", action="append", default=[],
                        metavar="PATH", help="an oslo.config file for the "
                        "services (may be repeated; later files win)")
    parser.add_argument("--runs-dir", default=os.environ.get(
        "FAKE_LAB_RUNS_DIR", "runs"), help="where run directories go "
        "(default: ./runs, or $FAKE_LAB_RUNS_DIR)")


def _run_argv(args):
    """The run options of ``args`` as a ``fake-lab run`` command line."""
    argv = []
    for axis in settings.AXES:
        if getattr(args, axis) is not None:
            argv += ["--" + axis.replace("_", "-"), str(getattr(args, axis))]
    for path in args.config_file:
        argv += ["--config-file", os.path.abspath(path)]
    return argv


def _interrupt_on_termination():
    """SIGTERM and SIGHUP interrupt a run as Ctrl-C does, so that it stops
    what it started and writes its result before it exits."""
    def _terminate(signum, frame):
        raise runner.Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)


def _print_result(result):
    print(f"verdict: {result['verdict']}")
    if result.get("reason"):
        print(f"reason: {result['reason']}")
    for line in result.get("evidence", []):
        print(f"  - {line}")


def _exit_code(verdict, expect):
    if expect is None or verdict == expect:
        return errors.EXIT_OK
    if verdict == checkers.UNKNOWN:
        return errors.EXIT_UNKNOWN
    return errors.EXIT_EXPECTATION


def _cmd_list(args):
    names = catalogue.names()
    width = max(map(len, names), default=0)
    for name in names:
        print(f"{name:{width}}  {catalogue.load(name)['summary']}")
    return errors.EXIT_OK


def _cmd_faults(args):
    for line in nemesis.describe():
        print(line)
    return errors.EXIT_OK


def _cmd_run(args):
    scenario = catalogue.load(args.scenario)
    overrides = {axis: getattr(args, axis) for axis in settings.AXES}
    expect = args.expect
    if args.control:
        control = dict(scenario.get("control", {}))
        if not control:
            raise UsageError(f"scenario {args.scenario} has no control")
        expect = expect or control.pop("expect", None)
        control.pop("expect", None)
        if control.pop("faults", True) is False:
            # The same workload without its faults: the baseline.
            scenario = dict(scenario, workload=[
                s for s in scenario["workload"] if s["op"] not in FAULT_OPS])
        overrides.update(control)

    _interrupt_on_termination()
    status = progress.Status()
    try:
        result, rundir = runner.run(
            scenario, overrides, args.config_file, args.runs_dir,
            args.broker_port, args.api_port, say=status.say,
            broker=args.broker, status=status)
    except (KeyboardInterrupt, runner.Interrupted):
        print("fake-lab: interrupted; everything the run started was stopped",
              file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    _print_result(result)
    _print_reports(rundir.path)
    return _exit_code(result["verdict"], expect)


def _print_reports(path):
    print(f"report: {os.path.join(path, 'report.md')}")
    if os.path.exists(os.path.join(path, "report.html")):
        print(f"timeline: {os.path.join(path, 'report.html')}")


def _cmd_soak(args):
    scenario = catalogue.load(args.scenario)
    run_argv = _run_argv(args)
    expect = args.expect
    if args.control:
        if not scenario.get("control"):
            raise UsageError(f"scenario {args.scenario} has no control")
        run_argv.append("--control")
        expect = expect or scenario["control"].get("expect")
    status = progress.Status()
    summary = soak.soak(args.scenario, args.runs, run_argv,
                        os.path.abspath(args.runs_dir), expect,
                        chaos=args.chaos, seed=args.seed,
                        say=status.say, status=status)
    print(f"verdicts: {summary['verdicts']}"
          + (f" ({summary['as_expected']}/{summary['completed']} completed "
             f"runs {summary['expected']})" if summary["expected"] else ""))
    print(f"leftovers: {summary['leftovers']}")
    print(f"soak record: {summary['soak_dir']}/soak.json")
    return errors.EXIT_OK if summary["ok"] else errors.EXIT_EXPECTATION


def _shard(text):
    try:
        return matrix_mod.parse_shard(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def _cmd_matrix(args):
    if args.scenario == "merge":
        if args.axis or args.shard:
            raise UsageError("fake-lab matrix merge takes only directories")
        summary, mdir = matrix_mod.merge(args.dirs, args.runs_dir)
        matrix_mod.print_summary(summary)
        print(f"table: {mdir.file('matrix.md')}")
        return matrix_mod.exit_code(summary, lambda s: print(s, file=sys.stderr))
    if args.dirs:
        raise UsageError(f"fake-lab matrix takes one scenario, not "
                         f"{' '.join([args.scenario] + args.dirs)}")
    axes = matrix_mod.parse_axes(args.axis)
    status = progress.Status()
    grid = matrix_mod.Matrix(args.scenario, axes, args.runs_dir, args.jobs,
                             say=status.say, shard=args.shard, status=status)

    _interrupt_on_termination()
    try:
        summary, mdir = grid.run()
    except (KeyboardInterrupt, runner.Interrupted):
        print("fake-lab: interrupted; everything the matrix started was stopped",
              file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    matrix_mod.print_summary(summary)
    print(f"table: {mdir.file('matrix.md')}")
    return matrix_mod.exit_code(summary, lambda s: print(s, file=sys.stderr))


def _cmd_bisect(args):
    axes = matrix_mod.parse_axes(args.axis)
    summary, mdir = bisect_mod.bisect(args.scenario, args.good, args.bad, axes,
                                      args.runs_dir,
                                      say=lambda s: print(s, flush=True))
    first = summary["first_different"]
    if summary["inconclusive"]:
        lo, hi = summary["inconclusive"]
        print(f"inconclusive: a probe between {lo} and {hi} stayed unknown "
              "when run twice, so the change cannot be placed there")
    elif first:
        print(f"first release whose verdict differs from {summary['good']} "
              f"({summary['ends'][0]}): {first} ({summary['ends'][1]})")
    else:
        print(f"no change found: {summary['good']} gives {summary['ends'][0]}, "
              f"{summary['bad']} gives {summary['ends'][1]}")
    if summary["skipped"]:
        print(f"skipped (unavailable here): {', '.join(summary['skipped'])}")
    print(f"table: {mdir.file('matrix.md')}")
    if summary["inconclusive"]:
        return errors.EXIT_UNKNOWN
    return errors.EXIT_OK if first else errors.EXIT_EXPECTATION


def _cmd_up(args):
    if args.daemon:
        argv = [sys.executable, "-m", "fake_lab.cli", "up", "--runs-dir",
                os.path.abspath(args.runs_dir), *_run_argv(args)]
        if args.api_port:
            argv += ["--api-port", str(args.api_port)]
        return up_mod.daemon(argv)
    overrides = {axis: getattr(args, axis) for axis in settings.AXES}
    try:
        return up_mod.up(overrides, args.config_file, args.runs_dir, args.api_port,
                         say=lambda s: print(s, flush=True))
    except KeyboardInterrupt:
        return errors.EXIT_INTERRUPTED


def _cmd_stop_service(args):
    run_dir, entry, state = up_mod.stop_service(args.service, args.run_dir,
                                                args.runs_dir)
    print(f"stopped {args.service} (PID {entry['pid']}) of the lab of {run_dir}; "
          f"the API calls it down once its last report is older than "
          f"service_down_time ({state['service_down_time']} s; it reported every "
          f"{state['report_interval']} s)")
    return errors.EXIT_OK


def _cmd_down(args):
    for target in up_mod.down(args.run_dir, args.runs_dir):
        print(f"stopped the lab of {target}")
    return errors.EXIT_OK


def _cmd_trace(args):
    lines = trace_mod.trace(args.run_dir, args.request_id)
    if not lines:
        raise UsageError(f"no log line of {args.run_dir} mentions {args.request_id}")
    start = lines[0][0]
    for when, line in lines:
        print(f"+{when - start:7.3f}s {line}")
    return errors.EXIT_OK


def _cmd_check(args):
    run = RunDir(args.run_dir)
    before = run.read_json("result.json") or {}
    if args.write and before.get("reason"):
        # The runner judges only a run that went to its end; a judgement of
        # what a crash or a Ctrl-C left would read as that run's verdict.
        raise UsageError(f"{run.path}: the run ended early ({before['reason']}): "
                         "--write leaves its result as it is")
    result = checkers.judge(run)
    _print_result(result)
    if args.write:
        written = {**before, **result, "run_dir": run.path}
        run.write_json("result.json", written)
        report.write(run, written)
        _print_reports(run.path)
    return _exit_code(result["verdict"], args.expect)


def main(argv=None):
    # As the command (not called from Python with its own argv): the
    # daemons' orphans are this process's to reap, at exit at the latest.
    if argv is None:
        procs.adopt_orphans()
        try:
            return _main(argv)
        finally:
            procs.reap_exited_children()
    return _main(argv)


def _main(argv):
    try:
        args = build_parser().parse_args(argv)
        return {"list": _cmd_list, "faults": _cmd_faults, "run": _cmd_run, "soak": _cmd_soak,
                "matrix": _cmd_matrix, "bisect": _cmd_bisect, "trace": _cmd_trace,
                "up": _cmd_up, "down": _cmd_down, "stop-service": _cmd_stop_service,
                "check": _cmd_check, "bench": bench_mod.command}[args.command](args)
    except LabError as exc:
        message = str(exc)
        if not message.startswith("fake-lab"):
            message = "fake-lab: " + message
        print(message, file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("fake-lab: interrupted", file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    except BrokenPipeError:
        # `fake-lab check RUN | head`: the reader left, as with any Unix
        # tool; no error, and no second one when Python flushes at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Exception as exc:  # a bug of the lab: one line, details on file
        import tempfile
        import traceback

        fd, path = tempfile.mkstemp(prefix="fake-lab-crash-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            traceback.print_exc(file=f)
        print(f"fake-lab: internal error: {type(exc).__name__}: {exc} "
              f"(traceback in {path}; please report it)", file=sys.stderr)
        return errors.EXIT_DAEMON


if __name__ == "__main__":
    sys.exit(main())
