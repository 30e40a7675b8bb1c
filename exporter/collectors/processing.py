"""Processing databases (gpc1, …): outstanding faults, pending runs, summit/burntool progress, label priorities."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Callable

from exporter.cache import Fetched, SingleFlight, Ticket
from exporter.collectors import Collected, FetchContext, SourceHealth, content_key
from exporter.db import Database, Session
from exporter.faults_sql import faults_sql
from exporter.metrics import Families, MetricSpec
from exporter.parsers import processing as p

log = logging.getLogger(__name__)

METRICS = (
    MetricSpec("ipp_processing_db_up", "gauge", "1 when the connection and every query succeeded.", ("dbname",)),
    MetricSpec("ipp_processing_faults", "gauge", "Faulted components that still need action, by stage, label and fault code.",
               ("dbname", "stage", "label", "fault")),
    MetricSpec("ipp_processing_runs", "gauge", "Runs in a pending state (new, update, wait, error_*) by stage and label.",
               ("dbname", "stage", "label", "state")),
    MetricSpec("ipp_processing_faults_by_host", "gauge", "Outstanding faults by the component's host.", ("dbname", "stage", "host")),
    MetricSpec("ipp_summit_exposures", "gauge", "OBJECT exposures of the current observing night by progress status.",
               ("dbname", "status")),
    MetricSpec("ipp_processing_label_info", "gauge", "1 for each label with pending work, with its Label-table priority.",
               ("dbname", "label", "priority", "active")),
    MetricSpec("ipp_burntool_running_imfiles", "gauge",
               "Imfiles of the current night's OBJECT exposures at burntool_state -1 (burntool running, or died mid-run).",
               ("dbname",)),
    MetricSpec("ipp_processing_chip_masked_runs", "gauge",
               "Chip runs in state new held back by a chipMask row for their label (one series per chipMask label).",
               ("dbname", "label")),
    MetricSpec("ipp_processing_skipped_rows_total", "counter", "Database rows that did not fit the expected shape and were skipped.",
               ("dbname",)),
)

# ---------------------------------------------------------------------------------------------------------------
# Outstanding faults: one statement built from exporter.faults_sql.SOURCES (one branch per faulted table, each
# with its IPP revert SQL's rule, driven by the run table's KEY(state) so the cost follows the active work, not
# history). It returns series — (stage, label, fault, NULL, n) and (stage, NULL, NULL, host, n) — not rows.
FAULTS_SQL = faults_sql()

# ---------------------------------------------------------------------------------------------------------------
# Pending runs per stage, label and state: each run table's KEY(state) range over the pending states, so the cost
# follows the queue, not history (FORCE INDEX: on a small table the optimizer prefers a full scan, which
# would grow with history). Table names come from this fixed list only.
_PENDING = "('new', 'update', 'wait', 'error_cleaned', 'error_purged', 'error_scrubbed')"
_RUN_TABLES = (("chip", "chipRun"), ("camera", "camRun"), ("fake", "fakeRun"), ("warp", "warpRun"),
               ("stack", "stackRun"), ("diff", "diffRun"), ("magic", "magicRun"), ("destreak", "magicDSRun"),
               ("dist", "distRun"), ("publish", "publishRun"))
RUNS_INTAKE = """
SELECT 'summitcopy' AS stage, '' AS label, state, COUNT(*) AS n FROM pzDownloadExp FORCE INDEX (state)
 WHERE state = 'run' GROUP BY state
UNION ALL
SELECT 'registration', label, state, COUNT(*) FROM newExp FORCE INDEX (state) WHERE state = 'run' GROUP BY label, state"""
RUNS_SQL = RUNS_INTAKE + "".join(
    f"\nUNION ALL\nSELECT '{stage}', label, state, COUNT(*) FROM {table} FORCE INDEX (state) WHERE state IN {_PENDING}"
    " GROUP BY label, state"
    for stage, table in _RUN_TABLES)

# ---------------------------------------------------------------------------------------------------------------
# The night's summit progress (nightly_science.pl check_summit_copy + regtool_pendingburntoolimfile.sql).
# summitExp has no dateobs index, so the query reads the newest summit_ids (summit_id grows with time) from a
# floor found by SUMMIT_PROBE_SQL, then filters on dateobs. The inner query sums each OBJECT exposure (not named
# c…, as check_summit_copy): summit imfiles by an index-only count, its rawImfile rows by primary-key prefix.
# rawImfile rows are a subset of the exposure's summit imfiles (FOREIGN KEY to newImfile, which pztool -advance
# fills from summitImfile), and pztool -advance makes one newExp per exposure, so plain counts are exact
# without joining imfile to imfile or COUNT(DISTINCT) (4x cheaper, measured). The download-fault test reads the
# exposure's own pzDownloadImfile rows by primary key (left alone, MariaDB may pick KEY(fault), i.e. every old
# download fault). The outer query returns ONE row:
# taken, downloaded, registered, burntooled, faulted, and the imfiles at burntool_state -1.
SUMMIT_MAX_SQL = "SELECT MAX(summit_id) FROM summitExp"
# the newest exposure just below the window: if it is already inside the night the window is widened
SUMMIT_PROBE_SQL = "SELECT dateobs FROM summitExp WHERE summit_id <= %s ORDER BY summit_id DESC LIMIT 1"
SUMMIT_NIGHT_SQL = """
SELECT COUNT(*), SUM(x.download_state = 'stop'), SUM(x.imfiles > 0 AND x.registered = x.imfiles),
       SUM(x.imfiles > 0 AND x.burntooled = x.imfiles), SUM(x.faulted), SUM(x.burning)
  FROM (SELECT d.state AS download_state,
               (SELECT COUNT(*) FROM summitImfile si WHERE si.summit_id = s.summit_id) AS imfiles,
               COUNT(ri.burntool_state) AS registered, SUM(ABS(ri.burntool_state) = %(good)s) AS burntooled,
               SUM(ri.burntool_state = -1) AS burning,
               s.fault <> 0 OR MAX(ri.fault <> 0) OR MAX(re.fault <> 0)
               OR EXISTS (SELECT 1 FROM pzDownloadImfile pi FORCE INDEX (PRIMARY)
                          WHERE pi.summit_id = s.summit_id AND pi.fault <> 0)
               AS faulted
          FROM summitExp s
          LEFT JOIN pzDownloadExp d ON d.summit_id = s.summit_id
          LEFT JOIN newExp n ON n.summit_id = s.summit_id
          LEFT JOIN rawExp re ON re.exp_id = n.exp_id
          LEFT JOIN rawImfile ri ON ri.exp_id = n.exp_id
         WHERE s.summit_id > %(floor)s AND s.dateobs >= %(start)s AND s.dateobs < %(end)s
           AND s.exp_type = BINARY 'OBJECT' AND COALESCE(s.exp_name, '') NOT LIKE BINARY 'c%%'
         GROUP BY s.summit_id) AS x"""

# ---------------------------------------------------------------------------------------------------------------
# chipMask: a row for a label holds back every 'new' chip run of that label without any fault
# (chiptool_pendingimfile.sql: LEFT JOIN chipMask ... AND chipMask.label IS NULL). One row per mask (the table is
# a short hand-kept list) plus the masked labels' 'new' chip runs, read from chipRun KEY(state), not KEY(label).
MASKED_SQL = """
SELECT label, 0 FROM chipMask
UNION ALL
SELECT STRAIGHT_JOIN r.label, COUNT(*)
  FROM chipRun r FORCE INDEX (state) JOIN chipMask m ON m.label = r.label
 WHERE r.state = 'new'
 GROUP BY r.label"""

# ---------------------------------------------------------------------------------------------------------------
# Label priorities, only for labels with pending work (Label PRIMARY KEY lookups). Labels are bound as parameters;
# only the number of %s placeholders depends on the data.
LABELS_SQL = "SELECT label, priority, active FROM Label WHERE label IN ({placeholders})"
LABEL_CHUNK = 200

SUMMIT_WINDOW = 256         # exposures read for one night at first; the probe widens it while the night is longer
SUMMIT_WIDEN = 5            # widen up to 5 times (×4 each: 262 144 exposures); gpc1 takes up to ~1000 a night
SUMMIT_FAULT_WINDOW = 3000  # newest exposures whose fileset faults count (~3 nights: pztool's revert horizon)


class _SeriesKeys:
    """Per (metric, database): the last build's active pairs and their series as (label values, snapshot key).

    The pairs rarely change between fetches, so the thousands of label tuples are made again only when they do
    (one entry per metric and database: bounded)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[list, list]] = {}

    def of(self, metric: str, dbname: str, pairs: list[tuple[str, str]],
           values_of: Callable[[str], tuple[str, ...]]) -> list[tuple[tuple[str, ...], tuple[str, str, str]]]:
        """Every (stage, label) pair's series: one per value of values_of(stage)."""
        last = self._last.get((metric, dbname))
        if last is not None and last[0] == pairs:
            return last[1]
        series: list[tuple[tuple[str, ...], tuple[str, str, str]]] = [
            ((dbname, stage, label, value), (stage, label, value)) for stage, label in pairs for value in values_of(stage)]
        self._last[(metric, dbname)] = (pairs, series)
        return series


@dataclass
class ProcessingSource:
    """One processing database: its connection and its single-flight cache."""

    db: Database
    flight: SingleFlight


class ProcessingCollector:
    """Collect every configured processing database; each DB is one source with its own cache and _up."""

    name = "processing"

    def __init__(self, databases: list[Database], executor, ttl: float, max_stale: float,
                 night_boundary: tuple[int, int] = (0, 0), burntool_good: int = p.BURNTOOL_GOOD,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc), *,
                 clock: Callable[[], float] = time.monotonic, max_inflight: float | None = None) -> None:
        self.night_boundary, self.burntool_good, self._now = night_boundary, burntool_good, now
        self.skipped: dict[str, int] = {}
        self._series = _SeriesKeys()
        self.sources = [ProcessingSource(db, SingleFlight(self._fetcher(db), executor, ttl, max_stale, clock=clock,
                                                          max_inflight=max_inflight))
                        for db in sorted(databases, key=lambda d: d.name)]

    def _fetcher(self, db: Database) -> Callable[[], p.ProcessingSnapshot]:
        def fetch() -> p.ProcessingSnapshot:
            snap = db.run(self.fetch)
            if snap.skipped:
                log.warning("processing database %s: skipped %d malformed rows", db.name, snap.skipped)
                self.skipped[db.name] = self.skipped.get(db.name, 0) + snap.skipped
            return snap
        return fetch

    def fetch(self, session: Session) -> p.ProcessingSnapshot:
        """Run every query of one database on one session and turn the rows into a snapshot."""
        now = self._now().astimezone(timezone.utc).replace(tzinfo=None)
        start, end = p.night_window(now, self.night_boundary)
        max_id = session.query(SUMMIT_MAX_SQL)[0][0] or 0
        faults, by_host, skipped_f = p.parse_faults(session.query(
            FAULTS_SQL, {"summit_floor": max_id - SUMMIT_FAULT_WINDOW}))
        runs, skipped_r = p.parse_runs(session.query(RUNS_SQL))
        masked = p.parse_masked(session.query(MASKED_SQL))
        summit, burning = p.parse_summit_totals(self._night_totals(session, max_id, start, end))
        pending = sorted({label for _, label, _ in faults} | {label for _, label, _ in runs})
        labels: dict[str, tuple[str, str]] = {}
        for i in range(0, len(pending), LABEL_CHUNK):
            chunk = pending[i:i + LABEL_CHUNK]
            sql = LABELS_SQL.format(placeholders=", ".join(["%s"] * len(chunk)))
            labels.update(p.parse_label_priorities(session.query(sql, chunk)))
        return p.ProcessingSnapshot(faults, by_host, runs, labels, summit, skipped_f + skipped_r, masked, burning)

    def _night_totals(self, session: Session, max_id: int, start: datetime, end: datetime):
        window = SUMMIT_WINDOW
        for _ in range(SUMMIT_WIDEN + 1):
            floor = max_id - window
            below = session.query(SUMMIT_PROBE_SQL, (floor,)) if floor > 0 else []
            if not below or below[0][0] is None or below[0][0] < start:
                break
            window *= 4
        rows = session.query(SUMMIT_NIGHT_SQL, {"good": self.burntool_good, "floor": max(floor, 0),
                                                "start": start, "end": end})
        return rows[0] if rows else ()

    def collect(self, deadline: float) -> Collected:
        """Request every database's snapshot and wait for them until the deadline."""
        return self.request()(deadline)

    def request(self) -> Callable[[float], Collected]:
        """Request every database's snapshot at once without waiting; return the call that waits until a deadline."""
        tickets = [(src.db.name, src.flight.start()) for src in self.sources]  # the databases are read in parallel
        return partial(self._answered, tickets)

    def _answered(self, tickets: list[tuple[str, Ticket]], deadline: float) -> Collected:
        answers = [(name, ticket.result(deadline)) for name, ticket in tickets]
        for name, fetched in answers:
            if fetched.error is not None:
                log.warning("processing database %s: %s", name, fetched.error)
        connects = {src.db.name: src.db.connects for src in self.sources}
        sources = [SourceHealth.of(f"processing/{name}", fetched, connects[name]) for name, fetched in answers]
        skipped = tuple(self.skipped.get(name, 0) for name, _ in answers)
        return Collected(partial(self._families, answers), sources,
                         key=content_key((f for _, f in answers), tuple(name for name, _ in answers), skipped))

    def _families(self, answers: list[tuple[str, Fetched]]) -> Families:
        fam = Families(METRICS)
        for name, fetched in answers:
            fam.add("ipp_processing_db_up", [name], 1 if fetched.ok else 0)
            snap = fetched.value
            if snap is not None:
                self._add(fam, name, snap)
            fam.add("ipp_processing_skipped_rows_total", [name], self.skipped.get(name, 0))
        return fam

    def _add(self, fam: Families, name: str, snap: p.ProcessingSnapshot) -> None:
        faults, runs = snap.faults, snap.runs
        # every bucket and state of an active pair, zeros included: thousands of samples, hence extend()
        fam.extend("ipp_processing_faults", ((labels, faults.get(key, 0)) for labels, key
                                             in self._series.of("faults", name, snap.active_pairs(), p.fault_buckets)))
        fam.extend("ipp_processing_runs", ((labels, runs.get(key, 0)) for labels, key
                                           in self._series.of("runs", name, snap.run_pairs(), p.run_states)))
        fam.extend("ipp_processing_faults_by_host", (((name, stage, host), n)
                                                     for (stage, host), n in sorted(snap.faults_by_host.items())))
        for status in p.SUMMIT_STATUSES:
            fam.add("ipp_summit_exposures", [name, status], snap.summit.get(status, 0))
        fam.add("ipp_burntool_running_imfiles", [name], snap.burntool_running)
        for label, n in sorted(snap.masked.items()):
            fam.add("ipp_processing_chip_masked_runs", [name, label], n)
        for label in snap.active_labels():
            if label in snap.labels:
                priority, active = snap.labels[label]
                fam.add("ipp_processing_label_info", [name, label, priority, active], 1)

    def close(self) -> None:
        """Close every database connection."""
        for src in self.sources:
            src.db.close()


def build(config, context: FetchContext):
    """Return the processing-DB collector, or None when the config has no processing section."""
    if config.processing is None or not config.processing.databases:
        return None
    settings = config.exporter
    return ProcessingCollector([Database(d) for d in config.processing.databases], context.executor,
                               ttl=settings.cache_ttl, max_stale=settings.max_stale,
                               night_boundary=config.processing.night_boundary, clock=context.clock,
                               max_inflight=settings.max_fetch_age)
