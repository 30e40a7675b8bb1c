"""Nebulous storage: volume states, mounts and disk space from the nebulous database."""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Callable

from exporter.cache import Fetched, SingleFlight, Ticket
from exporter.collectors import Collected, FetchContext, SourceHealth, content_key
from exporter.db import Database, Session
from exporter.metrics import Families, MetricSpec
from exporter.parsers import nebulous as n

log = logging.getLogger(__name__)

PER_VOLUME = ("host", "volume")

METRICS = (
    MetricSpec("ipp_nebulous_db_up", "gauge", "1 when the nebulous database answered."),
    MetricSpec("ipp_nebulous_volume_state", "gauge", "1 for the volume's state: up, repair, down or allocate_only.",
               ("host", "volume", "state")),
    MetricSpec("ipp_nebulous_volume_mounted", "gauge", "1 when a mountedvol row exists for the volume.", PER_VOLUME),
    MetricSpec("ipp_nebulous_volume_size_bytes", "gauge", "Volume size (mountedvol.total x 1024).", PER_VOLUME),
    MetricSpec("ipp_nebulous_volume_used_bytes", "gauge", "Volume space used (mountedvol.used x 1024).", PER_VOLUME),
    MetricSpec("ipp_nebulous_volume_df_ok", "gauge", "0 when nebdiskd wrote its total=1/used=1 placeholder instead of df figures.", PER_VOLUME),
    MetricSpec("ipp_nebulous_skipped_rows_total", "counter", "Volume rows that did not fit the expected shape and were skipped."),
)

# Every volume with its neb-host flags and, when nebdiskd has a mountedvol row for it, the df figures
# (1K-blocks). The volume table holds one row per disk (hundreds), so this reads it whole: cost follows the
# number of volumes, never the number of stored objects. The flags come from `volume` (neb-host updates
# volume and mountedvol alike; mountedvol rows vanish when df fails).
VOLUMES_SQL = """
SELECT v.host, v.name, v.allocate, v.available, m.vol_id IS NOT NULL, m.total, m.used
  FROM volume v LEFT JOIN mountedvol m ON m.vol_id = v.vol_id
 ORDER BY v.host, v.name"""


class NebulousCollector:
    """Collect the nebulous volume table through one cached, single-flight fetch."""

    name = "nebulous"

    def __init__(self, db: Database, executor, ttl: float, max_stale: float, *,
                 clock: Callable[[], float] = time.monotonic, max_inflight: float | None = None) -> None:
        self.db = db
        self.skipped = 0
        self._rows: list | None = None  # the last fetch's rows and what they parsed to (one fetch at a time)
        self._parsed: tuple[list[n.Volume], int] = ([], 0)
        self._by_row: dict = {}  # row → Volume of the last fetch: a changed volume table re-parses changed rows only
        self.flight = SingleFlight(self._fetch, executor, ttl, max_stale, clock=clock, max_inflight=max_inflight)

    def _fetch(self) -> list[n.Volume]:
        rows = self.db.run(lambda session: session.query(VOLUMES_SQL))
        if rows != self._rows:  # the same rows give the same volumes object: the render key then matches at once
            by_row: dict = {}
            self._rows, self._parsed = rows, n.parse_volumes(rows, previous=self._by_row, remember=by_row)
            self._by_row = by_row  # only this fetch's rows: bounded by the volume table
        volumes, skipped = self._parsed
        if skipped:
            log.warning("nebulous: skipped %d malformed volume rows", skipped)
            self.skipped += skipped
        return volumes

    @staticmethod
    def fetch(session: Session) -> tuple[list[n.Volume], int]:
        """Read and parse the volume rows."""
        return n.parse_volumes(session.query(VOLUMES_SQL))

    def collect(self, deadline: float) -> Collected:
        """Request the volume list and wait for it until the deadline."""
        return self.request()(deadline)

    def request(self) -> Callable[[float], Collected]:
        """Request the volume list without waiting; return the call that waits until a deadline."""
        return partial(self._answered, self.flight.start())

    def _answered(self, ticket: Ticket, deadline: float) -> Collected:
        fetched = ticket.result(deadline)
        if fetched.error is not None:
            log.warning("nebulous database: %s", fetched.error)
        return Collected(lambda: self._families(fetched), [SourceHealth.of("nebulous", fetched, self.db.connects)],
                         key=content_key([fetched], self.skipped))

    def _families(self, fetched: Fetched) -> Families:
        fam = Families(METRICS)
        fam.add("ipp_nebulous_db_up", [], 1 if fetched.ok else 0)
        volumes: list[n.Volume] = fetched.value or []
        # eight samples per volume, hundreds of volumes: built with extend()
        fam.extend("ipp_nebulous_volume_state", (((vol.host, vol.volume, state), 1 if vol.state == state else 0)
                                                 for vol in volumes for state in n.VOLUME_STATES))
        fam.extend("ipp_nebulous_volume_mounted", (((vol.host, vol.volume), 1 if vol.mounted else 0) for vol in volumes))
        measured = [((vol.host, vol.volume), vol.size_bytes, vol.used_bytes) for vol in volumes
                    if vol.size_bytes is not None and vol.used_bytes is not None]
        fam.extend("ipp_nebulous_volume_size_bytes", ((labels, size) for labels, size, _used in measured))
        fam.extend("ipp_nebulous_volume_used_bytes", ((labels, used) for labels, _size, used in measured))
        fam.extend("ipp_nebulous_volume_df_ok", (((vol.host, vol.volume), 1 if vol.df_ok else 0) for vol in volumes))
        fam.add("ipp_nebulous_skipped_rows_total", [], self.skipped)
        return fam

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()


def build(config, context: FetchContext):
    """Return the nebulous collector, or None when the config has no nebulous section."""
    if config.nebulous is None:
        return None
    settings = config.exporter
    return NebulousCollector(Database(config.nebulous.database), context.executor,
                             ttl=settings.cache_ttl, max_stale=settings.max_stale, clock=context.clock,
                             max_inflight=settings.max_fetch_age)
