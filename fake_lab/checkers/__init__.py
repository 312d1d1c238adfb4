"""Checkers: read a finished run's directory, return a verdict with evidence.

A checker reads only what the run recorded (history.jsonl, config.json and
the logs), so ``fake-lab check RUNDIR`` judges an old run again without
running anything. Verdicts are three-valued: ``reproduced``,
``not-reproduced``, and ``unknown`` when the run cannot tell (each checker
says which evidence was missing). A checker that could only ever say one of
them would be a defect: every branch is exercised by the unit tests.

One module per checker; ``evidence`` holds the log parsers they share.
"""

from fake_lab.checkers import (
    action_flow,
    api_failover,
    boot_flow,
    broker_freeze,
    busy_starvation,
    concurrency,
    db_failover,
    executor_pool_exhaustion,
    fork_after_connect,
    heartbeat_loss,
    network_blackhole,
    pool_expiry,
    rabbit_node_loss,
    send_pool_contention,
    service_flap,
    service_heartbeat_hang,
    uwsgi_enable_threads,
    uwsgi_lazy_apps,
    wsgi_threads,
)
from fake_lab.checkers.verdicts import NOT_REPRODUCED, REPRODUCED, UNKNOWN, VERDICTS
from fake_lab.errors import UsageError

CHECKERS = {"heartbeat-loss": heartbeat_loss.check, "boot-flow": boot_flow.check,
            "db-failover": db_failover.check,
            "api-failover": api_failover.check,
            "network-blackhole": network_blackhole.check,
            "broker-freeze": broker_freeze.check,
            "pool-expiry": pool_expiry.check,
            "service-heartbeat-hang": service_heartbeat_hang.check,
            "busy-starvation": busy_starvation.check,
            "wsgi-threads": wsgi_threads.check,
            "uwsgi-enable-threads": uwsgi_enable_threads.check,
            "fork-after-connect": fork_after_connect.check,
            "uwsgi-lazy-apps": uwsgi_lazy_apps.check,
            "executor-pool-exhaustion": executor_pool_exhaustion.check,
            "send-pool-contention": send_pool_contention.check,
            "service-flap": service_flap.check,
            "rabbit-node-loss": rabbit_node_loss.check,
            "action-flow": action_flow.check}

__all__ = ["CHECKERS", "NOT_REPRODUCED", "REPRODUCED", "UNKNOWN", "VERDICTS",
           "judge"]


def judge(run):
    """Judge a run directory with the checker its config.json names, and
    nothing but what the run directory holds; UsageError when it is not a
    run directory this lab can judge."""
    config = run.read_json("config.json")
    if config is None:
        raise UsageError(f"{run.path} is not a run directory (no readable "
                         "config.json)")
    name = (config.get("checker") or {}).get("name")
    if name not in CHECKERS:
        raise UsageError(f"{run.path}: config.json names no checker this lab "
                         f"knows ({name!r}); was it written by an older lab?")
    # Every verdict depends on the processes' concurrency mode: a run whose
    # processes did not run as configured is unknown, whatever it showed.
    return concurrency.verify(run, config, CHECKERS[name](run))
