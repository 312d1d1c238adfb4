"""Resolve a run's configuration with oslo.config itself.

The services of a run get an ordered list of config files, later ones
winning, exactly as any oslo.config program merges them:

    etc/00-scenario.conf      the scenario's [config] tables
    etc/10-user-N.conf        copies of the user's --config-file files
    etc/20-command-line.conf  the axes given as command-line options
    etc/30-lab.conf           what the lab owns: transport_url (the private
                              broker's credentials: mode 0600), log files

``resolve`` loads the first three before anything starts, so a bad value
fails at once with one line, and returns the values the runner needs.
"""

import os
import shutil

# oslo.messaging's options are registered on every run's settings
# (fake_service.conf.register). Imported here, when the lab starts, in the
# main thread: oslo.messaging imports eventlet, and eventlet 0.41 leaves a
# thread that imports it first unjoinable (the thread ends, its tstate lock
# is never released); a matrix resolves each cell's settings in a thread
# of its pool, and hung in the pool's shutdown.
# eventlet's green DNS (dnspython: 0.1 s of every command's start) serves
# only a monkey-patched process, and the lab's own never is: it is skipped
# here, and the variable taken back at once, so that no daemon the lab
# starts inherits it (what they run must be what a deployment runs).
_had_greendns_var = "EVENTLET_NO_GREENDNS" in os.environ
os.environ.setdefault("EVENTLET_NO_GREENDNS", "yes")
try:
    import oslo_messaging.opts  # noqa: F401, E402
finally:
    if not _had_greendns_var:
        del os.environ["EVENTLET_NO_GREENDNS"]
from oslo_config import cfg  # noqa: E402

from fake_lab.errors import UsageError
from fake_service import conf as lab_conf

# Command-line axes: option name -> (group, oslo.config option, help).
AXES = {
    "executor": ("lab", "executor",
                 "eventlet (monkey-patched, eventlet executor) or threading"),
    "api_executor": ("lab", "api_executor",
                     "the API's own concurrency, eventlet or threading "
                     "(default: executor's)"),
    "compute_executor": ("lab", "compute_executor",
                         "the compute hosts' own concurrency"),
    "scheduler_executor": ("lab", "scheduler_executor",
                           "the scheduler's own concurrency"),
    "conductor_executor": ("lab", "conductor_executor",
                           "the conductor's own concurrency"),
    "service_workers": ("service", "workers",
                        "worker processes of each fake RPC service "
                        "(oslo.service's launcher)"),
    "start_method": ("service", "start_method",
                     "default, fork or spawn: how oslo.service's threading "
                     "backend starts the workers"),
    "default_thread_pool_size": ("DEFAULT", "default_thread_pool_size",
                                 "the compute's pool for its builds (nova's "
                                 "utils.spawn pool; 0: in the RPC thread)"),
    "container": ("lab", "container", "the WSGI container of the API"),
    "heartbeat_timeout": ("oslo_messaging_rabbit", "heartbeat_timeout_threshold",
                          "seconds before the broker gives up on a silent "
                          "connection"),
    "heartbeat_rate": ("oslo_messaging_rabbit", "heartbeat_rate",
                       "heartbeat checks per timeout"),
    "heartbeat_in_pthread": ("oslo_messaging_rabbit", "heartbeat_in_pthread",
                             "true or false: the heartbeat in a native thread "
                             "(oslo.messaging 10.1 to 17.x only)"),
    "rpc_conn_pool_size": ("oslo_messaging_rabbit", "rpc_conn_pool_size",
                           "most connections in the send pool"),
    "conn_pool_min_size": ("oslo_messaging_rabbit", "conn_pool_min_size",
                           "connections the send pool never expires"),
    "conn_pool_ttl": ("oslo_messaging_rabbit", "conn_pool_ttl",
                      "seconds an idle pooled connection lives (expired "
                      "lazily, on the next get)"),
    "rpc_response_timeout": ("DEFAULT", "rpc_response_timeout",
                             "seconds an RPC call waits for its reply"),
    "executor_thread_pool_size": ("DEFAULT", "executor_thread_pool_size",
                                  "threads of each RPC server's executor "
                                  "pool (oslo.messaging's default: 64)"),
    "broker_timeout": ("lab", "broker_timeout",
                       "seconds to wait for the private broker to boot"),
    "database": ("database", "connection",
                 "SQLAlchemy URL of the fake cloud's database (default: "
                 "SQLite in the run directory)"),
    "db_pair": ("postgres", "pair",
                "true or false: a private PostgreSQL primary and streaming "
                "replica as the run's database"),
    "db_replication": ("postgres", "replication",
                       "async or sync: when the PostgreSQL primary "
                       "acknowledges a commit (sync: once the replica has it)"),
    "api_pair": ("api", "pair",
                 "true or false: an active and a standby fake nova-api "
                 "behind a private HAProxy (the VIP)"),
    "retry": ("workload", "retry",
              "off, key or no-key: the client's retry of a failed or "
              "unanswered boot, with an idempotency key the API "
              "deduplicates on, or without one"),
    "retry_attempts": ("workload", "retry_attempts",
                       "the most attempts of one boot with retry on"),
    "retry_interval": ("workload", "retry_interval",
                       "seconds before the first retry, doubled after each"),
    "step_delay": ("compute", "step_delay", "seconds of fake work per build step"),
    "report_interval": ("DEFAULT", "report_interval",
                        "seconds between two state reports of each fake "
                        "service (nova's option)"),
    "service_down_time": ("DEFAULT", "service_down_time",
                          "seconds after its last report a service is down "
                          "(nova's option)"),
    "instance_save": ("api", "instance_save",
                      "conductor or direct: a server action's state save "
                      "in the API, an RPC call to the conductor or straight "
                      "to the database as nova-api does"),
    "rabbit_nodes": ("lab", "rabbit_nodes",
                     "nodes of the private RabbitMQ (2 to 5: a cluster, every "
                     "node in the transport URL, each through its own "
                     "route of the relay)"),
    "queue_type": ("lab", "queue_type",
                   "classic, mirrored (ha-mode policy, a cluster) or quorum "
                   "(rabbit_quorum_queue)"),
    "node_loss": ("lab", "node_loss",
                  "kill or drain: how a 'cluster lose-node' fault loses its node"),
    "transient_quorum_queue": ("oslo_messaging_rabbit",
                               "rabbit_transient_quorum_queue",
                               "true or false: the reply and fanout queues "
                               "quorum too (with --queue-type quorum), "
                               "where they are otherwise classic on one node"),
    "failover_strategy": ("oslo_messaging_rabbit", "kombu_failover_strategy",
                          "round-robin or shuffle: the next node a client "
                          "tries when its node is lost"),
    "relay": ("lab", "relay",
              "true or false: every AMQP connection through the lab's relay"),
    "observe_heartbeats": ("lab", "observe_heartbeats",
                           "true or false: the in-process heartbeat observer"),
    "observe_pool": ("lab", "observe_pool",
                     "true or false: the API's send-pool lines (pool-get, "
                     "pool-put, pool-expire)"),
    "uwsgi_processes": ("uwsgi", "processes", "uWSGI worker processes"),
    "uwsgi_threads": ("uwsgi", "threads", "uWSGI threads per worker"),
    "uwsgi_enable_threads": ("uwsgi", "enable_threads", "true or false"),
    "uwsgi_lazy_apps": ("uwsgi", "lazy_apps", "true or false"),
    "uwsgi_fork_hooks": ("uwsgi", "fork_hooks",
                         "true or false: uWSGI py-call-uwsgi-fork-hooks"),
    "uwsgi_release": ("uwsgi", "release",
                      "installed (the environment's uwsgi) or an exact uWSGI "
                      "release, e.g. 2.0.26 (built once into the release "
                      "cache)"),
}

# Options recorded in config.json (never transport_url: it has credentials).
RECORDED = {
    "DEFAULT": ("rpc_response_timeout", "executor_thread_pool_size",
                "default_thread_pool_size", "report_interval",
                "service_down_time"),
    "oslo_messaging_rabbit": ("heartbeat_timeout_threshold", "heartbeat_rate",
                              "rabbit_retry_interval", "rabbit_retry_backoff",
                              "rpc_conn_pool_size", "conn_pool_min_size",
                              "conn_pool_ttl", "kombu_failover_strategy",
                              "rabbit_quorum_queue", "rabbit_ha_queues"),
}


def _ini_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_ini(path, sections, mode=0o644):
    """Write {group: {option: value}} as an oslo.config file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.chmod(path, mode)
    with os.fdopen(fd, "w") as f:
        for group, values in sections.items():
            f.write(f"[{group}]\n")
            for key, value in values.items():
                f.write(f"{key} = {_ini_value(value)}\n")
            f.write("\n")
    return path


def _sections_from_axes(overrides):
    sections = {}
    for axis, value in overrides.items():
        if value is None:
            continue
        group, option, _ = AXES[axis]
        sections.setdefault(group, {})[option] = value
    return sections


def check_value(axis, value):
    """UsageError unless the option behind ``axis`` takes ``value`` (its
    oslo.config type: choices, bounds, booleans, numbers), so that a matrix
    refuses a bad axis before any cell starts. An option this
    oslo.messaging does not have is not checked (it is passed on as
    given, see Settings)."""
    group, option, _ = AXES[axis]
    known = [o for g, opts in [*lab_conf.list_opts(), *oslo_messaging.opts.list_opts()]
             if (g or "DEFAULT") == group for o in opts if o.dest == option]
    if not known:
        return value
    opt = known[0]
    try:
        opt.type(value)
    except ValueError as exc:
        raise UsageError(f"axis {axis}: {value!r}: {exc}".replace("\n", " "))
    return value


class Settings:
    """The resolved configuration of a run: ``files``, ``values``."""

    def __init__(self, files, conf, overrides=None):
        self.files = files
        self.conf = conf
        self.values = {}
        groups = {g: [o.dest for o in opts] for g, opts in lab_conf.list_opts()}
        groups.update(RECORDED)
        secret = {(g, o.dest) for g, opts in lab_conf.list_opts()
                  for o in opts if o.secret}
        for group, names in groups.items():
            section = conf if group == "DEFAULT" else conf[group]
            self.values[group] = {
                n: ("***" if (group, n) in secret and section[n] else section[n])
                for n in names}
        self.database_url = conf.database.connection
        # Axes whose option this oslo.messaging does not have (e.g.
        # heartbeat_in_pthread on 18.x) are passed on as they were given.
        for axis, (group, option, _) in AXES.items():
            value = (overrides or {}).get(axis)
            if value is not None and option not in self.values.get(group, {}):
                self.values.setdefault(group, {})[option] = value

    def get(self, group, name):
        return self.values[group][name]


def resolve(scenario, user_files, overrides, etc_dir):
    """Write and validate the run's config files; UsageError on bad input."""
    files = [write_ini(os.path.join(etc_dir, "00-scenario.conf"),
                       scenario.get("config", {}))]
    for n, path in enumerate(user_files or []):
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            raise UsageError(f"cannot read config file {path}")
        copy = os.path.join(etc_dir, f"10-user-{n}.conf")
        shutil.copyfile(path, copy)
        files.append(copy)
    files.append(write_ini(os.path.join(etc_dir, "20-command-line.conf"),
                           _sections_from_axes(overrides)))
    conf = lab_conf.register(cfg.ConfigOpts())
    try:
        conf([], project="fake-lab", default_config_files=files)
        settings = Settings(files, conf, overrides)
    except (cfg.Error, ValueError) as exc:
        raise UsageError(f"bad configuration: {exc}".replace("\n", " "))
    timeout = settings.get("oslo_messaging_rabbit", "heartbeat_timeout_threshold")
    if timeout < 1 and not scenario.get("allow_no_heartbeats"):
        raise UsageError("heartbeat_timeout_threshold must be at least 1 s: "
                         f"{timeout} disables the heartbeats this lab watches")
    return settings
