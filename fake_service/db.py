"""The fake cloud's database, through SQLAlchemy (SQLite in the run
directory by default; any SQLAlchemy URL by ``[database] connection``).

Tables: ``flavors``, ``images``, ``hosts`` (the fake compute hosts and their
free capacity), ``instances`` (nova's status, task_state and power_state,
and the client's idempotency key of the boot that made it, unique),
``tasks`` (every asynchronous API operation, tracked to completion) and
``builds`` (one row each time a compute host really builds an instance, so
that a checker can count duplicates) and ``services`` (each RPC service's
last report, as nova's servicegroup DB driver writes it).
"""

import datetime
import threading

import sqlalchemy as sa

metadata = sa.MetaData()

flavors = sa.Table(
    "flavors", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), unique=True, nullable=False),
    sa.Column("vcpus", sa.Integer, nullable=False),
    sa.Column("ram", sa.Integer, nullable=False),
    sa.Column("disk", sa.Integer, nullable=False))

images = sa.Table(
    "images", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), unique=True, nullable=False),
    sa.Column("status", sa.String(32), nullable=False, default="active"))

hosts = sa.Table(
    "hosts", metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("vcpus_free", sa.Integer, nullable=False),
    sa.Column("ram_free", sa.Integer, nullable=False))

instances = sa.Table(
    "instances", metadata,
    sa.Column("uuid", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("flavor_id", sa.String(36), nullable=False),
    sa.Column("image_id", sa.String(36)),
    sa.Column("host", sa.String(255)),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("task_state", sa.String(64)),
    sa.Column("power_state", sa.String(32), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("fault", sa.Text),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # The client's Idempotency-Key of the boot that created the row (NULL
    # without one). Unique, so that two attempts of one boot racing past
    # the API's lookup cannot both insert: the second gets an integrity
    # error and answers with the first's row. SQLite and PostgreSQL both
    # let any number of rows have NULL in a unique column.
    sa.Column("idempotency_key", sa.String(255)),
    sa.Index("instances_idempotency_key", "idempotency_key", unique=True))

tasks = sa.Table(
    "tasks", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("resource_id", sa.String(36)),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime))

builds = sa.Table(
    "builds", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("instance_uuid", sa.String(36), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False))

# nova's services table, as its servicegroup DB driver keeps it: each
# service's last report (report_count, updated_at) and what an operator set.
services = sa.Table(
    "services", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("binary", sa.String(255), nullable=False),
    sa.Column("topic", sa.String(255)),
    sa.Column("report_count", sa.Integer, nullable=False, default=0),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("disabled_reason", sa.String(255)),
    sa.Column("forced_down", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime),
    sa.UniqueConstraint("host", "binary"))

FLAVORS = [("1", "m1.tiny", 1, 512, 1), ("2", "m1.small", 1, 2048, 20),
           ("3", "m1.medium", 2, 4096, 40), ("4", "m1.large", 4, 8192, 80)]
IMAGES = [("6f0b1c9e-1f7a-4a8e-9f1e-0c2b7d8a9e01", "cirros")]
IN_PROGRESS, COMPLETED, FAILED = "in-progress", "completed", "failed"
# Each fake compute host's capacity (the hypervisors' totals).
HOST_VCPUS, HOST_RAM, HOST_DISK = 64, 262144, 2048

_engines = {}
_lock = threading.Lock()


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def engine(url):
    """One engine per URL and process."""
    with _lock:
        if url not in _engines:
            kwargs = {}
            if url.startswith("sqlite"):
                # Several processes write one file: wait for the lock rather
                # than fail, and let any thread use the connection.
                kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            _engines[url] = sa.create_engine(url, **kwargs)
        return _engines[url]


def create_schema(url, host_names, vcpus=HOST_VCPUS, ram=HOST_RAM):
    """Create the tables and the fake cloud's flavors, image and hosts."""
    eng = engine(url)
    metadata.create_all(eng)
    _add_idempotency_key(eng)
    if url.startswith("sqlite"):
        with eng.begin() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    with eng.begin() as conn:
        if not conn.execute(sa.select(sa.func.count()).select_from(flavors)).scalar():
            conn.execute(flavors.insert(), [dict(zip(("id", "name", "vcpus", "ram",
                                                      "disk"), f)) for f in FLAVORS])
            conn.execute(images.insert(), [{"id": i, "name": n, "status": "active"}
                                           for i, n in IMAGES])
        known = set(conn.execute(sa.select(hosts.c.name)).scalars())
        for name in host_names:
            if name not in known:  # a database kept from an earlier run
                conn.execute(hosts.insert(), [{"name": name, "vcpus_free": vcpus,
                                               "ram_free": ram}])


def _add_idempotency_key(eng):
    """A database kept from a lab without idempotency keys (``--database``
    URL of an earlier run) lacks the column and its index: create_all
    makes missing tables, not missing columns."""
    columns = {c["name"] for c in sa.inspect(eng).get_columns("instances")}
    if "idempotency_key" in columns:
        return
    with eng.begin() as conn:
        conn.exec_driver_sql(
            "ALTER TABLE instances ADD COLUMN idempotency_key VARCHAR(255)")
    for index in instances.indexes:
        index.create(eng)


def row(result):
    found = result.mappings().first()
    return dict(found) if found else None


def rows(result):
    return [dict(r) for r in result.mappings().all()]
