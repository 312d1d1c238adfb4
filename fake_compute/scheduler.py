"""The fake scheduler: filter the fake hosts that have room for the flavor,
weigh them by free RAM, and claim the winner's resources (as placement
would), so that concurrent boots spread over the hosts."""


import sqlalchemy as sa
from oslo_log import log as logging

from fake_service import context, db

LOG = logging.getLogger(__name__)


class NoValidHost(Exception):
    pass


class SchedulerManager:
    def __init__(self, url):
        self.engine = db.engine(url)

    @context.bind
    def select_destinations(self, ctxt, flavor, request_id):
        with self.engine.begin() as conn:
            candidates = db.rows(conn.execute(sa.select(db.hosts).where(
                db.hosts.c.vcpus_free >= flavor["vcpus"],
                db.hosts.c.ram_free >= flavor["ram"]).order_by(
                db.hosts.c.ram_free.desc(), db.hosts.c.name)))
            if not candidates:
                LOG.warning("no valid host for flavor %s", flavor["name"])
                raise NoValidHost(f"No valid host was found for flavor "
                                  f"{flavor['name']}")
            chosen = candidates[0]["name"]
            conn.execute(db.hosts.update().where(db.hosts.c.name == chosen).values(
                vcpus_free=db.hosts.c.vcpus_free - flavor["vcpus"],
                ram_free=db.hosts.c.ram_free - flavor["ram"]))
        LOG.info("selected %s out of %d host(s)", chosen, len(candidates))
        return chosen
