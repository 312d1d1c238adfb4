"""The lab's own oslo.config options, one group per role.

``list_opts()`` is published through the ``oslo.config.opts`` entry point, so
``oslo-config-generator`` writes etc/fake-lab.conf.sample from these
definitions (``tox -e genconfig``); the sample is never written by hand.

Logging is oslo.log's, as in nova (fake_service.logs registers its options):
a service's log file is ``[DEFAULT] log_file`` and ``[DEFAULT] debug = true``
logs at DEBUG level, oslo.messaging's pool and connection messages included.
"""

from oslo_config import cfg

CONCURRENCY = ("eventlet", "threading")

lab_opts = [
    cfg.StrOpt("executor", default="eventlet", choices=CONCURRENCY,
               help="Concurrency of every fake service: 'eventlet' "
                    "monkey-patches the API and the services and gives the "
                    "RPC servers the eventlet executor; 'threading' patches "
                    "nothing and uses native threads."),
    cfg.StrOpt("api_executor", choices=CONCURRENCY,
               help="Concurrency of the fake nova-api alone, when it differs "
                    "from 'executor' (unset: the same). nova 2026.1 runs its "
                    "API on native threads and nova-compute on eventlet: "
                    "api_executor = threading with executor = eventlet. "
                    "Each process gets nova's switch, "
                    "OS_NOVA_DISABLE_EVENTLET_PATCHING=true (threading) or "
                    "false (eventlet)."),
    cfg.StrOpt("compute_executor", choices=CONCURRENCY,
               help="Concurrency of the fake compute hosts alone (unset: "
                    "'executor')."),
    cfg.StrOpt("scheduler_executor", choices=CONCURRENCY,
               help="Concurrency of the fake scheduler alone (unset: "
                    "'executor')."),
    cfg.StrOpt("conductor_executor", choices=CONCURRENCY,
               help="Concurrency of the fake conductor alone (unset: "
                    "'executor')."),
    cfg.StrOpt("container", default="uwsgi",
               choices=("uwsgi", "mod_wsgi", "eventlet-wsgi", "paste-httpserver"),
               help="The WSGI container that serves the fake nova-api: "
                    "uWSGI, Apache httpd with mod_wsgi (daemon mode), the "
                    "standalone server (eventlet.wsgi when patched), or "
                    "paste.httpserver with its thread pool."),
    cfg.ListOpt("services", default=["compute"],
                item_type=cfg.types.String(choices=("compute", "scheduler",
                                                    "conductor")),
                help="The fake services a run starts beside the API: "
                     "compute only for the heartbeat scenarios; conductor, "
                     "scheduler and compute for nova's boot flow."),
    cfg.IntOpt("compute_hosts", default=1, min=1, max=32,
               help="How many fake compute hosts (fake-compute-1..N), each "
                    "its own process on topic compute.<host>."),
    cfg.FloatOpt("broker_wait", default=0, min=0,
                 help="Seconds an RPC server waits for the broker's port to "
                      "answer before it connects, so that it can be started "
                      "while the broker boots (0: connect at once)."),
    cfg.FloatOpt("broker_timeout", default=60, min=1,
                 help="Seconds the lab waits for its private broker to boot "
                      "before it gives up, quoting the broker's last log "
                      "lines."),
    cfg.IntOpt("rabbit_nodes", default=1, min=1, max=5,
               help="Nodes of the run's private RabbitMQ: 1, a single node; "
                    "2 or more, a cluster on loopback (each node its own "
                    "name, ports and data, one private epmd), every node in "
                    "the services' transport URL (through the relay, a "
                    "route per node)."),
    cfg.StrOpt("queue_type", default="classic",
               choices=("classic", "mirrored", "quorum"),
               help="The RPC queues' type: 'classic' (on the node their "
                    "declaring client is connected to), 'mirrored' (classic, "
                    "mirrored on every node by an ha-mode policy: a cluster "
                    "of RabbitMQ 3.x only) or 'quorum' (oslo.messaging's "
                    "rabbit_quorum_queue, which the lab then sets). In a "
                    "cluster the lab sets rabbit_quorum_queue from this "
                    "option, over any config file."),
    cfg.StrOpt("node_loss", default="kill", choices=("kill", "drain"),
               help="How a 'cluster lose-node' fault loses its node: 'kill' "
                    "(SIGKILL, unplanned) or 'drain' (rabbitmq-upgrade drain, "
                    "the node's maintenance mode, then a clean stop: "
                    "planned, as before an upgrade)."),
    cfg.BoolOpt("relay", default=True,
                help="Route every AMQP connection of the run through the lab's "
                     "relay, which records the wire (wire.jsonl) and injects "
                     "the network's faults; false: straight to the broker."),
    cfg.BoolOpt("observe_heartbeats", default=True,
                help="Log one line each time the rabbit driver's heartbeat "
                     "check runs for a connection, so that a run shows "
                     "whether heartbeats were kept while the process "
                     "was idle."),
    cfg.BoolOpt("observe_pool", default=False,
                help="Log the fake nova-api's send pool: a pool-get and a "
                     "pool-put line on every RPC it sends (which connection, "
                     "how long the get waited, how long the connection had "
                     "idled) and a pool-expire line for each connection "
                     "expired. Off unless a scenario's checker reads them "
                     "(pool-expiry, send-pool-contention): the two lines "
                     "cost the API about 25 microseconds of CPU a message."),
]

api_opts = [
    cfg.StrOpt("paste_config", default="api-paste.ini",
               help="The paste.deploy file of the fake nova-api, looked up "
                    "next to the config files when relative."),
    cfg.StrOpt("compute_topic", default="compute",
               help="The RPC topic the fake compute listens on."),
    cfg.StrOpt("instance_save", default="conductor",
               choices=("conductor", "direct"),
               help="Where a server action's state check and save go before "
                    "its cast: 'conductor', an RPC call to the fake "
                    "conductor (the lab's API reaches the database only "
                    "through it), or 'direct', straight to the database, as "
                    "nova-api's instance.save() does, so that the cast to "
                    "the host is the action's only RPC."),
    cfg.BoolOpt("pair", default=False,
                help="Run the fake nova-api as an active and a standby "
                     "instance, each its own container (as [lab] container "
                     "says) on its own port, with the same database and "
                     "broker, behind a private HAProxy whose frontend is the "
                     "run's API URL (the VIP): the standby is a backup "
                     "server, used once the active one is down or drained. "
                     "Every client (the workload, fake-lab up's clouds.yaml) "
                     "goes through the VIP."),
    cfg.BoolOpt("call_on_load", default=False,
                help="Make one RPC call (a compute ping) while the app "
                     "loads, as a service that talks to its RPC peers at "
                     "start-up does. Under uWSGI without lazy-apps the app "
                     "loads in the master, so its connections (and their "
                     "threads) are made before the workers are forked."),
]

compute_opts = [
    cfg.StrOpt("host", default="fake-compute-1",
               help="The host name of this fake compute service; its RPC "
                    "server also listens on '<topic>.<host>'."),
    cfg.StrOpt("topic", default="compute",
               help="The RPC topic the fake compute listens on."),
    cfg.FloatOpt("step_delay", default=0.05, min=0,
                 help="Seconds of fake work in each build step (networking, "
                      "block_device_mapping, spawning)."),
    cfg.FloatOpt("cast_work", default=0, min=0, max=10,
                 help="Seconds of CPU each 'record' cast costs, spent busy "
                      "and never yielding (a CPU-bound handler: checksums, "
                      "serialisation); 0: none."),
    cfg.FloatOpt("hub_probe", default=0, min=0, max=1,
                 help="Every this many seconds a probe thread of the service "
                      "wakes and logs how late it woke (a green thread when "
                      "patched: the eventlet hub's lateness); 0: no probe."),
]

identity_opts = [
    cfg.StrOpt("password", secret=True,
               help="The password the fake nova-api's minimal identity service "
                    "(/identity, Keystone v3) takes for its one user, "
                    "fake-lab; unset: any. fake-lab up sets a random one and "
                    "writes it to its clouds.yaml. No API of the lab checks "
                    "the tokens it gives."),
]

database_opts = [
    cfg.StrOpt("connection", secret=True,
               help="SQLAlchemy URL of the fake cloud's database; the lab "
                    "uses SQLite in the run directory when unset."),
]

postgres_opts = [
    cfg.BoolOpt("pair", default=False,
                help="Give the run a private PostgreSQL pair as its database: "
                     "a primary and a streaming replica (pg_basebackup -R) "
                     "in the run directory, on free loopback ports, with "
                     "random credentials. The services' URL names both "
                     "nodes with libpq's target_session_attrs=read-write, so "
                     "that new connections follow a promotion. Excludes "
                     "[database] connection."),
    cfg.StrOpt("replication", default="async", choices=("async", "sync"),
               help="'async': the primary acknowledges a commit once it is "
                    "in its own WAL (PostgreSQL's default); 'sync': only once "
                    "the replica has it too (synchronous_standby_names names "
                    "the replica, synchronous_commit = on)."),
    cfg.StrOpt("os_user", default="postgres",
               help="The system user the servers run as when the lab runs "
                    "as root (PostgreSQL refuses root); it must reach the "
                    "run directory."),
]

uwsgi_opts = [
    cfg.IntOpt("processes", default=1, min=1,
               help="uWSGI worker processes. One makes the headline "
                    "deterministic: the second request lands on the worker "
                    "that opened the connections."),
    cfg.IntOpt("threads", default=1, min=1,
               help="uWSGI threads per worker (nova deployments use 1)."),
    cfg.BoolOpt("enable_threads", default=True,
                help="uWSGI enable-threads (a stub from 2.0.27 on)."),
    cfg.BoolOpt("lazy_apps", default=True,
                help="uWSGI lazy-apps: load the app in each worker after "
                     "the fork, as devstack configures nova-api."),
    cfg.BoolOpt("fork_hooks", default=False,
                help="uWSGI py-call-uwsgi-fork-hooks (2.0.21 and later): take "
                     "the GIL before forking a worker and reset the "
                     "interpreter's locks in it. Without it, a worker forked "
                     "from a master whose Python threads run (the app loaded "
                     "there, without lazy-apps) may hang for good on a GIL "
                     "copied while another thread held it."),
    cfg.StrOpt("release", default="installed",
               regex=r"^(installed|\d+\.\d+\.\d+(\.\d+)?)$",
               help="The uWSGI release that serves the API: 'installed' (the "
                    "uwsgi of the Python environment the services run from) "
                    "or an exact release such as 2.0.26, built once against "
                    "the lab's Python into the release cache "
                    "(.venvs/uwsgi-<release>, or $FAKE_LAB_VENVS)."),
]

service_opts = [
    cfg.IntOpt("workers", default=1, min=1, max=16,
               help="Worker processes of each fake RPC service, launched by "
                    "oslo.service as nova's conductor_workers are: 1 is a "
                    "ServiceLauncher (in threading mode a cotyledon master "
                    "and one child), more a ProcessLauncher."),
    cfg.BoolOpt("connect_before_fork", default=False,
                help="The service's parent process opens an RPC connection "
                     "(one cast to its own topic) before the launcher starts "
                     "its workers, so that forked workers inherit the "
                     "transport and its pooled connection (fork-after-"
                     "connect)."),
    cfg.StrOpt("start_method", default="default",
               choices=("default", "fork", "spawn"),
               help="How oslo.service's threading backend starts workers "
                    "(4.8 and later): 'default' lets oslo.service choose "
                    "(fork), 'spawn' starts each in a fresh interpreter."),
]

default_opts = [
    cfg.IntOpt("default_thread_pool_size", default=10, min=0,
               help="As nova's option of that name: the pool that runs "
                    "what a service spawns (here the compute's builds, "
                    "handed over by the build_and_run_instance cast), native "
                    "threads in threading mode and green ones when patched; "
                    "0 builds in the RPC handler's own thread."),
    cfg.IntOpt("report_interval", default=10, min=0,
               help="As nova's option of that name: seconds between two "
                    "reports of a fake RPC service's state (its services "
                    "row's report_count and updated_at), through the "
                    "conductor, or straight to the database for the "
                    "conductor itself, as nova's servicegroup DB driver "
                    "does; 0: no report. Services report only when the run "
                    "has a conductor ([lab] services)."),
    cfg.IntOpt("service_down_time", default=60, min=1,
               help="As nova's option of that name: a service whose last "
                    "report is older than this many seconds is down "
                    "(GET /os-services, the scheduler)."),
]

# The workload's client (fake_lab/workload/client.py), as a CMP in front of
# the API would behave: read by the runner only, never by the services.
RETRY_MODES = ("off", "key", "no-key")

workload_opts = [
    cfg.StrOpt("retry", default="off", choices=RETRY_MODES,
               help="What the client does when a boot (POST /servers) is "
                    "refused, reset, answered 5xx or times out: 'off', "
                    "nothing (one attempt); 'key', it sends the boot again, "
                    "every attempt with the same Idempotency-Key header, on "
                    "which the fake nova-api deduplicates (a retry of a boot "
                    "it already created is answered with that server and "
                    "its task, read back from the database); 'no-key', it "
                    "sends it again with no key, so a retry of a boot that "
                    "was created after all makes a second server. A 4xx "
                    "answer is never retried."),
    cfg.IntOpt("retry_attempts", default=4, min=1, max=20,
               help="With retry on: the most attempts of one boot, the "
                    "first included."),
    cfg.FloatOpt("retry_interval", default=0.5, min=0, max=30,
                 help="With retry on: seconds before the first retry, "
                      "doubled before each further one (a failover takes "
                      "seconds; retrying at once would spend the attempts "
                      "inside it)."),
]

GROUPS = {
    "DEFAULT": default_opts,
    "lab": lab_opts,
    "api": api_opts,
    "compute": compute_opts,
    "service": service_opts,
    "uwsgi": uwsgi_opts,
    "database": database_opts,
    "identity": identity_opts,
    "postgres": postgres_opts,
    "workload": workload_opts,
}


def register(conf):
    """Register the lab's options and oslo.messaging's on ``conf``."""
    from oslo_messaging import opts as om_opts

    for group, opts in list_opts():
        # "DEFAULT" is oslo.config's unnamed group, not a group of that name.
        conf.register_opts(opts, group=None if group == "DEFAULT" else group)
    # oslo.messaging's own Opt objects, not list_opts()'s deep copies: the
    # driver registers the originals again when it loads, and a copy that
    # oslo.config has since marked (it logged a deprecation, e.g. 17.x's
    # heartbeat_in_pthread, when oslo.service's launcher logged every
    # option) no longer equals its original: DuplicateOptError.
    for group, opts in getattr(om_opts, "_opts", None) or om_opts.list_opts():
        conf.register_opts(opts, group=group)
    return conf


def list_opts():
    """(group, options) pairs for oslo-config-generator."""
    return [(group, opts) for group, opts in GROUPS.items()]
