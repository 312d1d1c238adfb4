"""The fake conductor: the database service, as nova-conductor is for the
computes. Every method is an RPC call that returns plain dicts."""

import uuid

import sqlalchemy as sa
from oslo_log import log as logging

from fake_service import context, db

LOG = logging.getLogger(__name__)

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
    def instance_create(self, ctxt, name, flavor_id, image_id, request_id):
        """A BUILD/scheduling instance and its in-progress boot task."""
        now = db.now()
        inst = {"uuid": str(uuid.uuid4()), "name": name, "flavor_id": flavor_id,
                "image_id": image_id, "status": "BUILD",
                "task_state": "scheduling", "power_state": "NOSTATE",
                "request_id": request_id, "deleted": False,
                "created_at": now, "updated_at": now}
        task = {"id": str(uuid.uuid4()), "kind": "boot", "resource_id": inst["uuid"],
                "request_id": request_id, "status": db.IN_PROGRESS,
                "created_at": now, "updated_at": now}
        with self.engine.begin() as conn:
            conn.execute(db.instances.insert(), [inst])
            conn.execute(db.tasks.insert(), [task])
        LOG.info("instance %s created: BUILD/scheduling, task %s", inst["uuid"],
                 task["id"])
        return {"instance": _plain(inst), "task": _plain(task)}

    @context.bind
    def instance_get(self, ctxt, uuid):
        with self.engine.connect() as conn:
            return _plain(db.row(conn.execute(sa.select(db.instances).where(
                db.instances.c.uuid == uuid, db.instances.c.deleted.is_(False)))))

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
            return [_plain(r) for r in db.rows(conn.execute(query))]

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
            done = conn.execute(db.instances.update().where(
                db.instances.c.uuid == uuid, db.instances.c.deleted.is_(False)).values(
                deleted=True, status="DELETED", updated_at=db.now())).rowcount
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
