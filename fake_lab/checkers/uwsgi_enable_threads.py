"""The ``uwsgi-enable-threads`` checker: does an idle API worker under a
uWSGI without Python threads lose its connections to missed heartbeats,
even with native heartbeat threads? See
scenarios/uwsgi-without-enable-threads.toml.

uWSGI 2.0.26 and older keep the GIL in the worker between requests unless
``enable-threads`` (or any ``threads`` option) is given, so a Python thread
the app starts runs only while a request runs: the driver's heartbeat
thread, native under the threading executor or with heartbeat_in_pthread,
never runs while the worker idles. From 2.0.27 threads are always on and
the option is a stub (uWSGI commit 896ee575).

The question is heartbeat-loss's (the broker's close for missed heartbeats
of the idle worker's connections, the wire, the heartbeat checks: see
heartbeat_loss.py), judged the same way; this checker adds what uWSGI
said of itself in logs/uwsgi.log (its release and whether Python threads
were on), without which the run says nothing about the claim: ``unknown``.
"""

from fake_lab.checkers import container_logs, heartbeat_loss
from fake_lab.checkers.verdicts import UNKNOWN, option, result


def check(run):
    judged = heartbeat_loss.check(run)
    config = run.read_json("config.json") or {}
    uwsgi = container_logs.uwsgi_log(run.log("uwsgi"))
    details = dict(judged["details"], uwsgi_version=uwsgi["version"],
                   python_threads=uwsgi["python_threads"])
    enable = option(config, "uwsgi", "enable_threads")
    executor = option(config, "lab", "executor")
    pthread = option(config, "oslo_messaging_rabbit", "heartbeat_in_pthread")
    if uwsgi["version"] is None or uwsgi["python_threads"] is None:
        return result(UNKNOWN, judged["evidence"] + [
            f"{run.log('uwsgi')} does not say which uWSGI ran or whether its "
            "Python threads were on, so the run cannot test the claim"],
                      **details)
    number, line = uwsgi["threads_line"]
    said = ["uWSGI %s (%s), enable-threads=%s, executor %s%s: Python threads "
            "%s, uwsgi.log:%d: %s" % (
                uwsgi["version"], uwsgi["binary"] or "?", str(enable).lower(),
                executor, f", heartbeat_in_pthread={str(pthread).lower()}"
                if pthread is not None else "", uwsgi["python_threads"], number,
                line)]
    return result(judged["verdict"], said + judged["evidence"], **details)
