"""The fake conductor: the database service, as nova-conductor is for the
computes. Every method is an RPC call that returns plain dicts."""

import uuid
import uuid as uuid_module

import sqlalchemy as sa
from oslo_log import log as logging

from fake_compute import states
from fake_service import context, db

LOG = logging.getLogger(__name__)

# The hypervisors' uuids (2.53) are made from their host names.
HYPERVISOR_NAMESPACE = uuid_module.UUID("6c1d8f2e-3b4a-5e6f-8a9b-0c1d2e3f4a5b")

SERVER_FIELDS = ("uuid", "name", "flavor_id", "image_id", "host", "status",
                 "task_state", "power_state", "request_id", "fault",
                 "created_at", "updated_at")


def _plain(record):
    """Rows as RPC can carry them (datetimes as ISO strings)."""
    if record is None:
        return None
    return {k: (v.isoformat() + "Z" if hasattr(v, "isoformat") else v)
            for k, v in record.items()}


class ConductorManager:
    def __init__(self, url):
        self.engine = db.engine(url)

    @context.bind
    def flavor_find(self, ctxt, ref):
        with self.engine.connect() as conn:
            return _plain(db.row(conn.execute(sa.select(db.flavors).where(
                sa.or_(db.flavors.c.id == str(ref), db.flavors.c.name == str(ref))))))

    @context.bind
    def flavor_list(self, ctxt):
        with self.engine.connect() as conn:
            return [_plain(r) for r in db.rows(conn.execute(
                sa.select(db.flavors).order_by(db.flavors.c.id)))]

    @context.bind
    def image_find(self, ctxt, ref):
        with self.engine.connect() as conn:
            return _plain(db.row(conn.execute(sa.select(db.images).where(
                sa.or_(db.images.c.id == str(ref), db.images.c.name == str(ref))))))

    @context.bind
    def image_list(self, ctxt):
        with self.engine.connect() as conn:
            return [_plain(r) for r in db.rows(conn.execute(sa.select(db.images)))]

    @context.bind
    def instance_create(self, ctxt, name, flavor_id, image_id, request_id,
                        idempotency_key=None):
        """A BUILD/scheduling instance and its in-progress boot task. With
        ``idempotency_key``: when another attempt of the same boot inserted
        its row first (the unique key says so), that row and its task,
        with ``replayed`` true, instead of a second server."""
        now = db.now()
        inst = {"uuid": str(uuid.uuid4()), "name": name, "flavor_id": flavor_id,
                "image_id": image_id, "status": "BUILD",
                "task_state": "scheduling", "power_state": "NOSTATE",
                "request_id": request_id, "deleted": False,
                "created_at": now, "updated_at": now,
                "idempotency_key": idempotency_key}
        task = {"id": str(uuid.uuid4()), "kind": "boot", "resource_id": inst["uuid"],
                "request_id": request_id, "status": db.IN_PROGRESS,
                "created_at": now, "updated_at": now}
        try:
            with self.engine.begin() as conn:
                conn.execute(db.instances.insert(), [inst])
                conn.execute(db.tasks.insert(), [task])
        except sa.exc.IntegrityError:
            if idempotency_key is None:
                raise
            found = self._find_by_key(idempotency_key)
            if found is None:  # the conflict was not the key's after all
                raise
            LOG.info("idempotency key %s: instance %s was created first by "
                     "another attempt", idempotency_key, found["instance"]["uuid"])
            return dict(found, replayed=True)
        LOG.info("instance %s created: BUILD/scheduling, task %s", inst["uuid"],
                 task["id"])
        return {"instance": _plain(inst), "task": _plain(task), "replayed": False}

    @context.bind
    def instance_find_by_key(self, ctxt, idempotency_key):
        """{"instance", "task"}: the instance a boot with this idempotency
        key created (deleted or not: the key names the request, not a live
        server) and its boot task; None when no boot had the key."""
        return self._find_by_key(idempotency_key)

    def _find_by_key(self, idempotency_key):
        with self.engine.connect() as conn:
            inst = db.row(conn.execute(sa.select(db.instances).where(
                db.instances.c.idempotency_key == idempotency_key)))
            if inst is None:
                return None
            task = db.row(conn.execute(sa.select(db.tasks).where(
                db.tasks.c.resource_id == inst["uuid"],
                db.tasks.c.kind == "boot").order_by(db.tasks.c.created_at)))
        return {"instance": _plain(inst), "task": _plain(task)}

    @staticmethod
    def _with_flavor(conn, records):
        """Each instance with its flavor embedded (name, vcpus, ram, disk),
        as nova keeps a copy of it on the instance (the API shows it from
        2.47 on); None when the flavor is gone."""
        flavors = {f["id"]: {k: f[k] for k in ("name", "vcpus", "ram", "disk")}
                   for f in db.rows(conn.execute(sa.select(db.flavors)))}
        for record in records:
            if record is not None:
                record["flavor"] = flavors.get(record["flavor_id"])
        return records

    @context.bind
    def instance_get(self, ctxt, uuid):
        with self.engine.connect() as conn:
            found = db.row(conn.execute(sa.select(db.instances).where(
                db.instances.c.uuid == uuid, db.instances.c.deleted.is_(False))))
            return _plain(self._with_flavor(conn, [found])[0])

    @context.bind
    def instance_list(self, ctxt, name=None, status=None, limit=None):
        query = sa.select(db.instances).where(db.instances.c.deleted.is_(False))
        if name:
            query = query.where(db.instances.c.name == name)
        if status:
            query = query.where(db.instances.c.status == status.upper())
        query = query.order_by(db.instances.c.created_at.desc())
        if limit:
            query = query.limit(int(limit))
        with self.engine.connect() as conn:
            return [_plain(r) for r in self._with_flavor(
                conn, db.rows(conn.execute(query)))]

    @context.bind
    def instance_update(self, ctxt, uuid, values):
        values = dict(values, updated_at=db.now())
        with self.engine.begin() as conn:
            conn.execute(db.instances.update().where(
                db.instances.c.uuid == uuid).values(**values))
        LOG.info("instance %s: %s", uuid, ", ".join(
            f"{k}={v}" for k, v in values.items() if k != "updated_at"))
        return True

    @context.bind
    def instance_delete(self, ctxt, uuid):
        with self.engine.begin() as conn:
            inst = db.row(conn.execute(sa.select(db.instances).where(
                db.instances.c.uuid == uuid, db.instances.c.deleted.is_(False))))
            done = conn.execute(db.instances.update().where(
                db.instances.c.uuid == uuid, db.instances.c.deleted.is_(False)).values(
                deleted=True, status="DELETED", updated_at=db.now())).rowcount
            if done and inst and inst["host"]:
                # Give the scheduler's claim back, as placement drops the
                # allocation of a deleted server.
                flavor = db.row(conn.execute(sa.select(db.flavors).where(
                    db.flavors.c.id == inst["flavor_id"])))
                if flavor:
                    conn.execute(db.hosts.update().where(
                        db.hosts.c.name == inst["host"]).values(
                        vcpus_free=db.hosts.c.vcpus_free + flavor["vcpus"],
                        ram_free=db.hosts.c.ram_free + flavor["ram"]))
        LOG.info("instance %s deleted", uuid)
        return bool(done)

    @context.bind
    def build_started(self, ctxt, uuid, host):
        """One row per real build: a checker counts duplicates from these."""
        with self.engine.begin() as conn:
            conn.execute(db.builds.insert(), [{
                "instance_uuid": uuid, "host": host,
                "request_id": ctxt.get("request_id", "-"), "at": db.now()}])
        return True

    @context.bind
    def task_get(self, ctxt, task_id):
        with self.engine.connect() as conn:
            return _plain(db.row(conn.execute(sa.select(db.tasks).where(
                db.tasks.c.id == task_id))))

    @context.bind
    def task_list(self, ctxt, status=None):
        query = sa.select(db.tasks).order_by(db.tasks.c.created_at)
        if status:
            query = query.where(db.tasks.c.status == status)
        with self.engine.connect() as conn:
            return [_plain(r) for r in db.rows(conn.execute(query))]

    @context.bind
    def task_finish(self, ctxt, task_id, status, reason=None):
        now = db.now()
        with self.engine.begin() as conn:
            conn.execute(db.tasks.update().where(db.tasks.c.id == task_id).values(
                status=status, reason=reason, updated_at=now, finished_at=now))
        LOG.info("task %s %s%s", task_id, status, f": {reason}" if reason else "")
        return True

    # -- server actions (nova's compute API checks and saves) ---------------

    @context.bind
    def instance_action_start(self, ctxt, uuid, action, request_id):
        """Check ``action`` (a key of states.ACTIONS) against the instance's
        state and set its task_state, as nova's compute API does before the
        cast (``instance.save(expected_task_state=...)``: the update only
        lands if the state is still the one checked), and open its task.
        Returns {"instance", "task"}, or {"conflict": nova's message}, or
        None when there is no such instance."""
        act = states.ACTIONS[action]
        now = db.now()
        with self.engine.begin() as conn:
            inst = db.row(conn.execute(sa.select(db.instances).where(
                db.instances.c.uuid == uuid, db.instances.c.deleted.is_(False))))
            if inst is None:
                return None
            try:
                states.check(action, uuid, inst["status"], inst["task_state"])
            except states.InvalidState as exc:
                LOG.info("instance %s: %s", uuid, exc)
                return {"conflict": str(exc)}
            if not inst["host"]:
                return {"conflict": f"Instance {uuid} is not ready"}  # InstanceNotReady
            current = db.instances.c.task_state
            done = conn.execute(db.instances.update().where(
                db.instances.c.uuid == uuid, db.instances.c.deleted.is_(False),
                db.instances.c.status == inst["status"],
                current.is_(None) if inst["task_state"] is None
                else current == inst["task_state"]).values(
                task_state=act.task_state, updated_at=now)).rowcount
            if not done:
                return {"conflict": f"Conflict updating instance {uuid}: its "
                                    "state changed while it was checked"}
            task = {"id": str(uuid_module.uuid4()), "kind": act.name,
                    "resource_id": uuid, "request_id": request_id,
                    "status": db.IN_PROGRESS, "created_at": now, "updated_at": now}
            conn.execute(db.tasks.insert(), [task])
        inst.update(task_state=act.task_state, updated_at=now)
        LOG.info("instance %s: %s accepted (task_state=%s), task %s", uuid,
                 act.name, act.task_state, task["id"])
        return {"instance": _plain(inst), "task": _plain(task)}

    @context.bind
    def instance_update_expected(self, ctxt, uuid, values, expected_task_state):
        """``instance_update`` only if the task_state is one of
        ``expected_task_state`` (nova's save(expected_task_state=...)).
        Returns {"updated": bool, "task_state": the task_state found}."""
        expected = list(expected_task_state)
        current = db.instances.c.task_state
        cond = [current.in_([e for e in expected if e is not None])]
        if None in expected:
            cond.append(current.is_(None))
        values = dict(values, updated_at=db.now())
        with self.engine.begin() as conn:
            done = conn.execute(db.instances.update().where(
                db.instances.c.uuid == uuid, db.instances.c.deleted.is_(False),
                sa.or_(*cond)).values(**values)).rowcount
            found = db.row(conn.execute(sa.select(db.instances.c.task_state).where(
                db.instances.c.uuid == uuid)))
        if done:
            LOG.info("instance %s: %s", uuid, ", ".join(
                f"{k}={v}" for k, v in values.items() if k != "updated_at"))
        return {"updated": bool(done), "task_state": found and found["task_state"]}

    # -- hypervisors, limits and quotas -----------------------------------------

    def _usage_by_host(self, conn):
        query = sa.select(
            db.instances.c.host, sa.func.count().label("instances"),
            sa.func.sum(db.flavors.c.vcpus).label("vcpus"),
            sa.func.sum(db.flavors.c.ram).label("ram"),
            sa.func.sum(db.flavors.c.disk).label("disk")).select_from(
            db.instances.join(db.flavors, db.instances.c.flavor_id == db.flavors.c.id)
        ).where(db.instances.c.deleted.is_(False)).group_by(db.instances.c.host)
        return {r["host"]: r for r in db.rows(conn.execute(query))}

    @context.bind
    def hypervisor_list(self, ctxt):
        """Each host: its totals, what the scheduler claimed on it (free =
        total - claimed), its live instances (count and disk) and its
        nova-compute service's row (``service``, None before its first
        report); ``uuid`` is stable, made from the host's name (a compute
        node's uuid in nova)."""
        with self.engine.connect() as conn:
            hosts = db.rows(conn.execute(sa.select(db.hosts).order_by(db.hosts.c.name)))
            usage = self._usage_by_host(conn)
            services = {r["host"]: _plain(r) for r in db.rows(conn.execute(
                sa.select(db.services).where(db.services.c.binary == "nova-compute")))}
        found = []
        for n, host in enumerate(hosts, 1):
            used = usage.get(host["name"]) or {}
            found.append({
                "id": n, "name": host["name"],
                "uuid": str(uuid_module.uuid5(HYPERVISOR_NAMESPACE, host["name"])),
                "service": services.get(host["name"]),
                "vcpus": db.HOST_VCPUS, "ram": db.HOST_RAM, "disk": db.HOST_DISK,
                "vcpus_used": db.HOST_VCPUS - host["vcpus_free"],
                "ram_used": db.HOST_RAM - host["ram_free"],
                "disk_used": int(used.get("disk") or 0),
                "running_vms": int(used.get("instances") or 0)})
        return found

    @context.bind
    def usage(self, ctxt):
        """What the live instances use, from their flavors."""
        with self.engine.connect() as conn:
            by_host = self._usage_by_host(conn)
        return {k: sum(int(u[k] or 0) for u in by_host.values())
                for k in ("instances", "vcpus", "ram")}

    # -- services (nova's servicegroup DB driver) -------------------------------

    @context.bind
    def service_report(self, ctxt, host, binary, topic=None):
        """One report of a service's state (its row created on the first)."""
        return _plain(report_state(self.engine, host, binary, topic))

    @context.bind
    def service_list(self, ctxt, host=None, binary=None):
        query = sa.select(db.services).order_by(db.services.c.id)
        if host:
            query = query.where(db.services.c.host == host)
        if binary:
            query = query.where(db.services.c.binary == binary)
        with self.engine.connect() as conn:
            return [_plain(r) for r in db.rows(conn.execute(query))]

    @context.bind
    def service_update(self, ctxt, values, id=None, host=None, binary=None):
        """Set ``values`` (disabled, disabled_reason, forced_down) on the
        service with that uuid or id, or that host and binary; returns the
        row, or None when there is none."""
        cols = db.services.c
        if id is not None:
            where = (cols.uuid == str(id)) if not str(id).isdigit() else (
                cols.id == int(id))
        else:
            where = sa.and_(cols.host == host, cols.binary == binary)
        allowed = {k: v for k, v in values.items()
                   if k in ("disabled", "disabled_reason", "forced_down")}
        with self.engine.begin() as conn:
            if allowed:
                conn.execute(db.services.update().where(where).values(**allowed))
            found = db.row(conn.execute(sa.select(db.services).where(where)))
        if found:
            LOG.info("service %s/%s: %s", found["host"], found["binary"], ", ".join(
                f"{k}={v}" for k, v in allowed.items()))
        return _plain(found)


def report_state(engine, host, binary, topic=None):
    """nova's ``_report_state``: report_count + 1 and updated_at now on the
    service's row (created on its first report). The conductor calls it for
    itself, straight to the database, and for the others over RPC."""
    now = db.now()
    cols = db.services.c
    with engine.begin() as conn:
        done = conn.execute(db.services.update().where(
            cols.host == host, cols.binary == binary).values(
            report_count=cols.report_count + 1, updated_at=now)).rowcount
        if not done:
            conn.execute(db.services.insert(), [{
                "uuid": str(uuid.uuid4()), "host": host, "binary": binary,
                "topic": topic, "report_count": 1, "disabled": False,
                "forced_down": False, "created_at": now, "updated_at": now}])
        return db.row(conn.execute(sa.select(db.services).where(
            cols.host == host, cols.binary == binary)))
