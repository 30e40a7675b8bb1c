"""Processing databases (gpc1, …): outstanding faults, pending runs, summit/burntool progress, label priorities."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from exporter.cache import Fetched, SingleFlight
from exporter.collectors import Collected, SourceHealth
from exporter.db import Database, Session
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
    MetricSpec("ipp_processing_skipped_rows_total", "counter", "Database rows that did not fit the expected shape and were skipped.",
               ("dbname",)),
)

# ---------------------------------------------------------------------------------------------------------------
# Outstanding faults. One branch per stage, all in one statement (one round trip). Each branch returns
# (stage, label, fault, host, count). The "still needs action" rule is the one the tools' revert SQL uses:
# run state 'new', or 'update' with the component's data_state='update' (chiptool_revertupdatedimfile.sql,
# warptool/difftool/magicdstool alike); camProcessedExp and stackSumSkyfile have no data_state, so any fault in
# an 'update' run counts (camtool_revertupdatedexp.sql). `fault <> 0` also drops NULL (warp/stack/diff allow it).
# Index use: every stage branch is driven by the run table's KEY(state) (the active runs) and then the
# component's primary-key prefix. Left alone, the optimizer often starts from the component's KEY(fault),
# which holds every historical fault (measured: chip, warp, diff, camera, stack on MariaDB 10.11), so each branch
# pins the order with STRAIGHT_JOIN + FORCE INDEX (state); distRun gets IGNORE INDEX (fault).
# Registration and summit copy are driven as described on their branches.
FAULTS_CHIP = """
SELECT STRAIGHT_JOIN 'chip', r.label, i.fault, i.hostname, COUNT(*)
  FROM chipRun r FORCE INDEX (state) JOIN chipProcessedImfile i ON i.chip_id = r.chip_id
 WHERE r.state IN ('new', 'update') AND i.fault <> 0 AND (r.state = 'new' OR i.data_state = 'update')
 GROUP BY r.label, i.fault, i.hostname"""
FAULTS_CAMERA = """
SELECT STRAIGHT_JOIN 'camera', r.label, e.fault, e.hostname, COUNT(*)
  FROM camRun r FORCE INDEX (state) JOIN camProcessedExp e ON e.cam_id = r.cam_id
 WHERE r.state IN ('new', 'update') AND e.fault <> 0
 GROUP BY r.label, e.fault, e.hostname"""
FAULTS_FAKE = """
SELECT STRAIGHT_JOIN 'fake', r.label, i.fault, i.hostname, COUNT(*)
  FROM fakeRun r FORCE INDEX (state) JOIN fakeProcessedImfile i ON i.fake_id = r.fake_id
 WHERE r.state IN ('new', 'update') AND i.fault <> 0 AND (r.state = 'new' OR i.data_state = 'update')
 GROUP BY r.label, i.fault, i.hostname"""
FAULTS_WARP = """
SELECT STRAIGHT_JOIN 'warp', r.label, s.fault, s.hostname, COUNT(*)
  FROM warpRun r FORCE INDEX (state) JOIN warpSkyfile s ON s.warp_id = r.warp_id
 WHERE r.state IN ('new', 'update') AND s.fault <> 0 AND (r.state = 'new' OR s.data_state = 'update')
 GROUP BY r.label, s.fault, s.hostname"""
FAULTS_STACK = """
SELECT STRAIGHT_JOIN 'stack', r.label, s.fault, s.hostname, COUNT(*)
  FROM stackRun r FORCE INDEX (state) JOIN stackSumSkyfile s ON s.stack_id = r.stack_id
 WHERE r.state IN ('new', 'update') AND s.fault <> 0
 GROUP BY r.label, s.fault, s.hostname"""
FAULTS_DIFF = """
SELECT STRAIGHT_JOIN 'diff', r.label, s.fault, s.hostname, COUNT(*)
  FROM diffRun r FORCE INDEX (state) JOIN diffSkyfile s ON s.diff_id = r.diff_id
 WHERE r.state IN ('new', 'update') AND s.fault <> 0 AND (r.state = 'new' OR s.data_state = 'update')
 GROUP BY r.label, s.fault, s.hostname"""
# magicDSFile keeps no host: the host column is NULL and the branch adds nothing to faults_by_host.
FAULTS_DESTREAK = """
SELECT STRAIGHT_JOIN 'destreak', r.label, f.fault, NULL, COUNT(*)
  FROM magicDSRun r FORCE INDEX (state) JOIN magicDSFile f ON f.magic_ds_id = r.magic_ds_id
 WHERE r.state IN ('new', 'update') AND f.fault <> 0 AND (r.state = 'new' OR f.data_state = 'update')
 GROUP BY r.label, f.fault"""
# dist faults live on distRun itself: one count per run however many distComponent rows it has.
FAULTS_DIST = """
SELECT 'dist', label, fault, NULL, COUNT(*)
  FROM distRun IGNORE INDEX (fault)
 WHERE state IN ('new', 'update') AND fault <> 0
 GROUP BY label, fault"""
# Registration: regtool -revertprocessedimfile / -revertprocessedexp delete every faulted rawImfile / rawExp row,
# so KEY(fault) holds only outstanding faults here; newExp (primary key exp_id) supplies the label.
FAULTS_REGISTRATION = """
SELECT STRAIGHT_JOIN 'registration', n.label, i.fault, i.hostname, COUNT(*)
  FROM rawImfile i FORCE INDEX (fault) JOIN newExp n ON n.exp_id = i.exp_id
 WHERE i.fault <> 0
 GROUP BY n.label, i.fault, i.hostname
UNION ALL
SELECT STRAIGHT_JOIN 'registration', n.label, e.fault, e.hostname, COUNT(*)
  FROM rawExp e FORCE INDEX (fault) JOIN newExp n ON n.exp_id = e.exp_id
 WHERE e.fault <> 0
 GROUP BY n.label, e.fault, e.hostname"""
# Summit copy: imfile download faults of exposures still downloading (pzDownloadExp KEY(state) = 'run'), and
# fileset faults on summitExp among the newest exposures. That branch reads only KEY(fault), whose entries carry
# summit_id, so the window test needs no row lookups (summitExp has no dateobs index); its cost follows the
# number of faulted exposures, not all exposures. Summit copy has no label column.
FAULTS_SUMMITCOPY = """
SELECT 'summitcopy' AS stage, '' AS label, i.fault AS fault, i.hostname AS host, COUNT(*) AS n
  FROM pzDownloadExp d JOIN pzDownloadImfile i ON i.summit_id = d.summit_id
 WHERE d.state = 'run' AND i.fault <> 0
 GROUP BY i.fault, i.hostname
UNION ALL
SELECT 'summitcopy', '', s.fault, NULL, COUNT(*)
  FROM summitExp s FORCE INDEX (fault)
 WHERE s.fault <> 0 AND s.summit_id > %(summit_floor)s
 GROUP BY s.fault"""
FAULTS_SQL = "\nUNION ALL".join((FAULTS_SUMMITCOPY, FAULTS_REGISTRATION, FAULTS_CHIP, FAULTS_CAMERA, FAULTS_FAKE,
                                  FAULTS_WARP, FAULTS_STACK, FAULTS_DIFF, FAULTS_DESTREAK, FAULTS_DIST))

# ---------------------------------------------------------------------------------------------------------------
# Pending runs per stage, label and state: each run table's KEY(state) range over the pending states, so the cost
# follows the queue, not history. Table names come from this fixed list only.
_PENDING = "('new', 'update', 'wait', 'error_cleaned', 'error_purged', 'error_scrubbed')"
_RUN_TABLES = (("chip", "chipRun"), ("camera", "camRun"), ("fake", "fakeRun"), ("warp", "warpRun"),
               ("stack", "stackRun"), ("diff", "diffRun"), ("destreak", "magicDSRun"), ("dist", "distRun"))
RUNS_INTAKE = """
SELECT 'summitcopy' AS stage, '' AS label, state, COUNT(*) AS n FROM pzDownloadExp WHERE state = 'run' GROUP BY state
UNION ALL
SELECT 'registration', label, state, COUNT(*) FROM newExp WHERE state = 'run' GROUP BY label, state"""
RUNS_SQL = RUNS_INTAKE + "".join(
    f"\nUNION ALL\nSELECT '{stage}', label, state, COUNT(*) FROM {table} WHERE state IN {_PENDING} GROUP BY label, state"
    for stage, table in _RUN_TABLES)

# ---------------------------------------------------------------------------------------------------------------
# The night's summit progress (nightly_science.pl check_summit_copy + regtool_pendingburntoolimfile.sql).
# summitExp has no dateobs index, so the query reads the newest summit_ids (summit_id grows with time) from a
# floor found by SUMMIT_PROBE_SQL, then filters on dateobs. Per exposure: summit fault, download state, imfiles,
# imfiles registered (burntool_state NOT NULL), burntooled (abs(burntool_state) = BURNTOOL.STATE.GOOD), and
# download + registration faults. The OBJECT / not-'c…' filter is applied by the parser, as the script does.
SUMMIT_MAX_SQL = "SELECT MAX(summit_id) FROM summitExp"
# the newest exposure just below the window: if it is already inside the night the window is widened
SUMMIT_PROBE_SQL = "SELECT dateobs FROM summitExp WHERE summit_id <= %s ORDER BY summit_id DESC LIMIT 1"
SUMMIT_NIGHT_SQL = """
SELECT s.exp_name, s.exp_type, s.fault, d.state,
       COUNT(DISTINCT si.class_id),
       COUNT(DISTINCT CASE WHEN ri.burntool_state IS NOT NULL THEN si.class_id END),
       COUNT(DISTINCT CASE WHEN ABS(ri.burntool_state) = %s THEN si.class_id END),
       (SELECT COUNT(*) FROM pzDownloadImfile pi WHERE pi.summit_id = s.summit_id AND pi.fault <> 0)
     + COUNT(DISTINCT CASE WHEN ri.fault <> 0 THEN si.class_id END)
     + COUNT(DISTINCT CASE WHEN re.fault <> 0 THEN re.exp_id END)
  FROM summitExp s
  LEFT JOIN summitImfile si ON si.summit_id = s.summit_id
  LEFT JOIN pzDownloadExp d ON d.summit_id = s.summit_id
  LEFT JOIN newExp n ON n.summit_id = s.summit_id
  LEFT JOIN rawExp re ON re.exp_id = n.exp_id
  LEFT JOIN rawImfile ri ON ri.exp_id = n.exp_id AND ri.tmp_class_id = si.class_id
 WHERE s.summit_id > %s AND s.dateobs >= %s AND s.dateobs < %s
 GROUP BY s.summit_id"""

# ---------------------------------------------------------------------------------------------------------------
# Label priorities, only for labels with pending work (Label PRIMARY KEY lookups). Labels are bound as parameters;
# only the number of %s placeholders depends on the data.
LABELS_SQL = "SELECT label, priority, active FROM Label WHERE label IN ({placeholders})"
LABEL_CHUNK = 200

SUMMIT_WINDOW = 1500        # exposures read for one night at first (gpc1 takes up to ~1000 a night)
SUMMIT_WIDEN = 4            # widen the window up to 4 times (×4 each) when the night holds more
SUMMIT_FAULT_WINDOW = 3000  # newest exposures whose fileset faults count (~3 nights: pztool's revert horizon)


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
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.night_boundary, self.burntool_good, self._now = night_boundary, burntool_good, now
        self.skipped: dict[str, int] = {}
        self.sources = [ProcessingSource(db, SingleFlight(self._fetcher(db), executor, ttl, max_stale))
                        for db in sorted(databases, key=lambda d: d.name)]
        # one waiter per database so the databases are read in parallel and each get() runs once per scrape
        self._waiters = ThreadPoolExecutor(max_workers=max(1, len(self.sources)), thread_name_prefix="processing-wait")

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
        summit = p.summarize_summit(p.summit_row(r) for r in self._night_rows(session, max_id, start, end))
        pending = sorted({label for _, label, _ in faults} | {label for _, label, _ in runs})
        labels: dict[str, tuple[str, str]] = {}
        for i in range(0, len(pending), LABEL_CHUNK):
            chunk = pending[i:i + LABEL_CHUNK]
            sql = LABELS_SQL.format(placeholders=", ".join(["%s"] * len(chunk)))
            labels.update(p.parse_labels(session.query(sql, chunk)))
        return p.ProcessingSnapshot(faults, by_host, runs, labels, summit, skipped_f + skipped_r)

    def _night_rows(self, session: Session, max_id: int, start: datetime, end: datetime):
        window = SUMMIT_WINDOW
        for _ in range(SUMMIT_WIDEN + 1):
            floor = max_id - window
            below = session.query(SUMMIT_PROBE_SQL, (floor,)) if floor > 0 else []
            if not below or below[0][0] is None or below[0][0] < start:
                break
            window *= 4
        return session.query(SUMMIT_NIGHT_SQL, (self.burntool_good, max(floor, 0), start, end))

    def collect(self, deadline: float) -> Collected:
        """Build fresh families from each database's cached or newly fetched snapshot."""
        fam = Families(METRICS)
        sources = []
        waits = [self._waiters.submit(src.flight.get, deadline) for src in self.sources]
        for src, wait in zip(self.sources, waits):
            fetched: Fetched = wait.result()  # get() itself returns by the deadline
            name = src.db.name
            if fetched.error is not None:
                log.warning("processing database %s: %s", name, fetched.error)
            fam.add("ipp_processing_db_up", [name], 1 if fetched.ok else 0)
            snap = fetched.value
            if snap is not None:
                self._add(fam, name, snap)
            fam.add("ipp_processing_skipped_rows_total", [name], self.skipped.get(name, 0))
            sources.append(SourceHealth.of(f"processing/{name}", fetched))
        return Collected(fam.families(), sources)

    @staticmethod
    def _add(fam: Families, name: str, snap: p.ProcessingSnapshot) -> None:
        pairs = snap.active_pairs()
        for stage, label in pairs:
            for bucket in p.fault_buckets(stage):
                fam.add("ipp_processing_faults", [name, stage, label, bucket], snap.faults.get((stage, label, bucket), 0))
        for stage, label in pairs:
            for state in p.run_states(stage):
                fam.add("ipp_processing_runs", [name, stage, label, state], snap.runs.get((stage, label, state), 0))
        for (stage, host), n in sorted(snap.faults_by_host.items()):
            fam.add("ipp_processing_faults_by_host", [name, stage, host], n)
        for status in p.SUMMIT_STATUSES:
            fam.add("ipp_summit_exposures", [name, status], snap.summit.get(status, 0))
        for label in snap.active_labels():
            if label in snap.labels:
                priority, active = snap.labels[label]
                fam.add("ipp_processing_label_info", [name, label, priority, active], 1)

    def close(self) -> None:
        """Close every database connection."""
        self._waiters.shutdown(wait=False, cancel_futures=True)
        for src in self.sources:
            src.db.close()


def build(config, executor):
    """Return the processing-DB collector, or None when the config has no processing section."""
    if config.processing is None or not config.processing.databases:
        return None
    settings = config.exporter
    return ProcessingCollector([Database(d) for d in config.processing.databases], executor,
                               ttl=settings.cache_ttl, max_stale=settings.max_stale,
                               night_boundary=config.processing.night_boundary)
