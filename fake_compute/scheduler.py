"""The fake scheduler: filter the fake hosts that have room for the flavor,
skip those whose compute service is down or disabled (nova's
ComputeFilter), weigh them by free RAM, and claim the winner's resources (as placement
would), so that concurrent boots spread over the hosts."""


import sqlalchemy as sa
from oslo_log import log as logging

from fake_compute import servicegroup
from fake_service import context, db

LOG = logging.getLogger(__name__)


class NoValidHost(Exception):
    pass


class SchedulerManager:
    def __init__(self, url, service_down_time=60):
        self.engine = db.engine(url)
        self.service_down_time = service_down_time

    def _unusable(self, conn):
        """Hosts whose nova-compute service is down or disabled, as nova's
        ComputeFilter skips them (servicegroup is_up); a host that has not
        reported yet has no row and is not judged."""
        rows = db.rows(conn.execute(sa.select(db.services).where(
            db.services.c.binary == servicegroup.BINARIES["compute"])))
        skipped = {}
        for r in rows:
            if r["disabled"]:
                skipped[r["host"]] = "disabled"
            elif not servicegroup.is_up(r, self.service_down_time):
                skipped[r["host"]] = "down"
        return skipped

    @context.bind
    def select_destinations(self, ctxt, flavor, request_id):
        with self.engine.begin() as conn:
            candidates = db.rows(conn.execute(sa.select(db.hosts).where(
                db.hosts.c.vcpus_free >= flavor["vcpus"],
                db.hosts.c.ram_free >= flavor["ram"]).order_by(
                db.hosts.c.ram_free.desc(), db.hosts.c.name)))
            skipped = self._unusable(conn)
            for host in sorted(set(skipped) & {c["name"] for c in candidates}):
                LOG.info("ComputeFilter: %s skipped, its compute service is %s",
                         host, skipped[host])
            candidates = [c for c in candidates if c["name"] not in skipped]
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
