"""Deterministic generation of a whole simulated IPP site: hosts, volumes, labels, history and tonight."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Callable

from ippsim import history as h
from ippsim.db import COMPONENT_TABLES, BulkLoader
from ippsim.mariadb import ConnParams

DEFAULT_LABELS = (("M31.nightlyscience", 400), ("ThreePi.nightlyscience", 300), ("MD04.nightlyscience", 350),
                  ("MD09.nightlyscience", 350), ("SweetSpot.nightlyscience", 250), ("ps_ud_QUB", 100))
# twelve labels for a real-site-size workload (issue 12): the nightly ones plus reprocessing and survey labels
REAL_SITE_LABELS = DEFAULT_LABELS + (("MD01.nightlyscience", 350), ("MD08.nightlyscience", 350),
                                     ("STS.nightlyscience", 200), ("LAP.ThreePi.20250501", 150),
                                     ("ps_ud_MOPS", 120), ("CNP.reprocess", 50))
# stages whose pending runs and faults the active workload writes (tables of the db.COLUMNS allowlist)
ACTIVE_STAGES = ("chip", "camera", "fake", "warp", "stack", "diff", "destreak", "dist")
KIB_PER_TB = 1_000_000_000_000 // 1024


@dataclass(frozen=True)
class ScenarioSpec:
    """Size and shape of a simulated site; the same spec and seed always give the same rows."""

    seed: int = 1
    hosts: int = 4
    volumes_per_host: int = 1
    labels: tuple[tuple[str, int], ...] = DEFAULT_LABELS[:3]
    history_exposures: int = 12
    history_nights: int = 3
    tonight_exposures: int = 22
    n_ota: int = 4
    n_skycells: int = 3
    fault_rate: float = 0.1
    summit_fault_rate: float = 0.1
    non_object_fraction: float = 0.1
    cleaned_fraction: float = 0.5
    night: str = "2025-05-02"
    # real-site active workload on top of tonight (0 = none): pending runs over every label and ACTIVE_STAGES,
    # and outstanding faults among their components, over `fault_codes` codes per (stage, label)
    active_runs: int = 0
    active_faults: int = 0
    fault_codes: int = 6
    # fraction of history exposures that keep old, finished faulted registration/summit rows (real sites do)
    stale_intake_faults: float = 0.0

    @classmethod
    def tiny(cls, seed: int = 1) -> "ScenarioSpec":
        """A few hundred rows: for unit tests (builds in well under a second)."""
        return cls(seed=seed)

    @classmethod
    def demo(cls, seed: int = 1) -> "ScenarioSpec":
        """A lively site for the demo: a dozen hosts, all labels, full 60-OTA exposures."""
        return cls(seed=seed, hosts=12, volumes_per_host=2, labels=DEFAULT_LABELS, history_exposures=150,
                   history_nights=5, tonight_exposures=60, n_ota=60, n_skycells=20, fault_rate=0.04,
                   summit_fault_rate=0.02)

    @classmethod
    def for_component_rows(cls, rows: int, seed: int = 1) -> "ScenarioSpec":
        """A demo-shaped site scaled so that it holds about `rows` component rows (benchmarks)."""
        base = cls.demo(seed)
        per_exposure = 7 * base.n_ota + 5 * base.n_skycells
        exposures = max(1, rows // per_exposure)
        return replace(base, history_exposures=max(1, exposures - base.tonight_exposures),
                       history_nights=max(1, exposures // 600), hosts=60)

    @classmethod
    def real_site(cls, rows: int, seed: int = 1) -> "ScenarioSpec":
        """The issue-12 site: ~5 000 faults over ~600 (stage, label, code) series, ~2 000 pending runs over 12
        labels, 400 volumes on 200 hosts, 100 exposures tonight, and `rows` history rows with stale intake faults."""
        base = replace(cls.for_component_rows(rows, seed), hosts=200, volumes_per_host=2, labels=REAL_SITE_LABELS,
                       tonight_exposures=100, active_runs=2000, active_faults=5000, stale_intake_faults=0.03)
        return replace(base, history_exposures=max(1, base.history_exposures - 40))

    @property
    def host_names(self) -> list[str]:
        """ipp001, ipp002, ..."""
        return [f"ipp{n:03d}" for n in range(1, self.hosts + 1)]

    @property
    def night_start(self) -> datetime:
        """Start of tonight's observing (05:30 UTC, Hawaii evening) of the current night."""
        return datetime.strptime(self.night, "%Y-%m-%d") + timedelta(hours=5, minutes=30)

    def estimated_rows(self) -> int:
        """Rough total row count, for progress reporting."""
        exposures = self.history_exposures + self.tonight_exposures
        return exposures * (7 * self.n_ota + 5 * self.n_skycells + 16) + self.hosts * self.volumes_per_host * 2


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote: rows per table and the time it took."""

    counts: dict
    seconds: float

    @property
    def rows(self) -> int:
        """Total rows written."""
        return sum(self.counts.values())

    @property
    def component_rows(self) -> int:
        """Rows in per-component tables."""
        return sum(n for table, n in self.counts.items() if table in COMPONENT_TABLES)


def tonight_levels(count: int) -> list[int]:
    """Progress level of each of tonight's exposures, oldest first: older ones are further along."""
    if count <= 1:
        return [h.DONE] * count
    return [round(h.DONE * (count - 1 - j) / (count - 1)) for j in range(count)]


def _context(spec: ScenarioSpec, rng: random.Random) -> h.GenContext:
    return h.GenContext(rng=rng, hosts=spec.host_names, n_ota=spec.n_ota, n_skycells=spec.n_skycells,
                        fault_rate=spec.fault_rate, summit_fault_rate=spec.summit_fault_rate)


def _emit_storage(loader: BulkLoader, spec: ScenarioSpec, rng: random.Random) -> None:
    hosts = spec.host_names
    for cab in range(1, (len(hosts) + 7) // 8 + 1):
        loader.add("cabinet", (cab, f"cab{cab:02d}", 0, "ITC"))
    vol_id = 0
    for index, host in enumerate(hosts):
        for k in range(spec.volumes_per_host):
            vol_id += 1
            name = f"{host}.{k}"
            path, mountpoint = f"/data/{name}/nebulous", f"/export/{name}"
            loader.add("volume", (vol_id, name, host, path, 1, 1, 0, mountpoint, index // 8 + 1, None))
            total = rng.randrange(20, 41) * KIB_PER_TB
            used = int(total * rng.uniform(0.45, 0.88))
            loader.add("mountedvol", (vol_id, name, host, path, 1, 1, 0, mountpoint, total, used, None))


def _emit_exposures(loader: BulkLoader, spec: ScenarioSpec, rng: random.Random) -> h.GenContext:
    ctx = _context(spec, rng)
    labels = [name for name, _priority in spec.labels]
    for label, priority in spec.labels:
        loader.add("Label", (label, priority, 1, "ippsim"))
    for target_id, stage in enumerate(("warp", "diff", "stack", "chip"), start=1):
        loader.add("distTarget", (target_id, "ALL", "ANY", stage, 0, "active", "ippsim"))
    nights = max(1, spec.history_nights)
    per_night = max(1, -(-spec.history_exposures // nights))
    cleaned_upto = int(spec.history_exposures * spec.cleaned_fraction)
    for n in range(spec.history_exposures):
        night, k = divmod(n, per_night)
        dateobs = spec.night_start - timedelta(days=nights - night) + timedelta(seconds=45 * k)
        # every 1/fraction-th exposure is a calibration frame (deterministic spacing, random type)
        calibration = int((n + 1) * spec.non_object_fraction) > int(n * spec.non_object_fraction)
        exp_type = rng.choice(("DARK", "BIAS", "FLAT")) if calibration else "OBJECT"
        h.emit_exposure(loader.add, ctx, dateobs=dateobs, level=h.DONE, label=rng.choice(labels), exp_type=exp_type,
                        finished_state="cleaned" if n < cleaned_upto else "full")
    if spec.active_runs:
        # a real-site benchmark compares sizes: tonight and the active work must not depend on how much history
        # the random source went through first (ids still continue after history)
        ctx.rng = rng = random.Random(f"{spec.seed}-tonight")
    for j, level in enumerate(tonight_levels(spec.tonight_exposures)):
        dateobs = spec.night_start + timedelta(seconds=40 * j)
        exp_type = "OBJECT" if (rng.random() >= spec.non_object_fraction or level >= h.CHIP) else "DARK"
        h.emit_exposure(loader.add, ctx, dateobs=dateobs, level=level, label=rng.choice(labels), exp_type=exp_type)
    return ctx


def _sprinkle_history(conn, spec: ScenarioSpec, rng: random.Random) -> None:
    """Old runs in the states real sites accumulate: some 'update' with faults, some 'drop' with faults."""
    with conn.cursor() as cur:
        cur.execute("SELECT chip_id FROM chipRun WHERE state IN ('full', 'cleaned') ORDER BY chip_id")
        finished = [row[0] for row in cur.fetchall()]
        picks = rng.sample(finished, min(len(finished), max(1, len(finished) // 25))) if finished else []
        for n, chip_id in enumerate(sorted(picks)):
            new_state = "update" if n % 2 == 0 else "drop"
            cur.execute("UPDATE chipRun SET state = %s WHERE chip_id = %s", (new_state, chip_id))
            cur.execute("SELECT class_id FROM chipProcessedImfile WHERE chip_id = %s ORDER BY class_id LIMIT 1",
                        (chip_id,))
            row = cur.fetchone()
            if row:
                cur.execute("UPDATE chipProcessedImfile SET data_state = %s, fault = %s"
                            " WHERE chip_id = %s AND class_id = %s",
                            ("update" if new_state == "update" else "full", rng.choice((2, 4, 5)), chip_id, row[0]))


def _stale_intake_faults(conn, spec: ScenarioSpec) -> None:
    """Old, finished exposures that keep faulted rawImfile/rawExp/pzDownloadImfile/summitExp rows (history a
    real site accumulates: faults set after the exposure moved on, or never cleaned). Their newExp is 'stop' and
    their pzDownloadExp 'stop', so none of them is outstanding. Every 1/fraction-th history exposure, by id."""
    every = max(1, round(1 / spec.stale_intake_faults))
    history = spec.history_exposures  # summit_id and exp_id 1..history belong to history (tonight comes after)
    with conn.cursor() as cur:
        cur.execute("UPDATE rawImfile SET fault = 5 WHERE exp_id <= %s AND exp_id %% %s = 1 AND class_id = 'XY01'",
                    (history, every))
        cur.execute("UPDATE rawExp SET fault = 2 WHERE exp_id <= %s AND exp_id %% %s = 2", (history, every))
        cur.execute("UPDATE summitExp SET fault = 104 WHERE summit_id <= %s AND summit_id %% %s = 3",
                    (history, every))
        cur.execute("UPDATE pzDownloadImfile SET fault = 255 WHERE summit_id <= %s AND summit_id %% %s = 4"
                    " AND class_id = 'XY01'", (history, every))


def build(root: ConnParams, spec: ScenarioSpec, *, dbname: str = "gpc1", nebulous_db: str = "nebulous",
          progress: Callable[[int, int], None] | None = None, batch: int = 5000) -> BuildResult:
    """Fill existing empty site databases (see ippsim.site.create_site) with the rows of `spec`."""
    started = time.monotonic()
    rng = random.Random(spec.seed)
    counts: dict[str, int] = {}
    with root.connect(nebulous_db) as neb, BulkLoader(neb, batch=batch) as loader:
        _emit_storage(loader, spec, rng)
    counts.update(loader.counts)
    with root.connect(dbname) as conn:
        with BulkLoader(conn, batch=batch, total=spec.estimated_rows(), progress=progress) as loader:
            ctx = _emit_exposures(loader, spec, rng)
            if spec.active_runs:
                h.emit_active_workload(loader.add, ctx, labels=[name for name, _ in spec.labels],
                                       stages=ACTIVE_STAGES, runs=spec.active_runs, faults=spec.active_faults,
                                       codes_per_series=spec.fault_codes, when=spec.night_start)
        _sprinkle_history(conn, spec, rng)
        if spec.stale_intake_faults:
            _stale_intake_faults(conn, spec)
    for table, n in loader.counts.items():
        counts[table] = counts.get(table, 0) + n
    if progress:
        progress(loader.done, loader.done)
    return BuildResult(counts=counts, seconds=time.monotonic() - started)


@dataclass(frozen=True)
class Rates:
    """How much happens in one advance() step."""

    components_per_tick: int = 6
    fault_rate: float = 0.05
    summit_fault_rate: float = 0.02
    arrivals_per_tick: int = 1
    downloads_per_tick: int = 8
    registrations_per_tick: int = 8
    burntool_per_tick: int = 8
    n_ota: int = 4
    n_skycells: int = 3
    disk_fill_kib: int = 50 * 1024 * 1024
    dist_finish_probability: float = 0.5
    # (code, weight) pairs the random faults are drawn from; () = history.FAULT_WEIGHTS. A quiet night draws only
    # codes the revert tasks retry, e.g. ((2, 1),).
    fault_weights: tuple[tuple[int, int], ...] = ()
    idle_stages: tuple[str, ...] = ()  # stages no pantasks server runs: their components are not processed
    # stages a revert just reopened: their items with a persistent cause wait until pantasks picks them up again
    # (load poll + job run time), so a scrape sees the revert's dip before they fault again
    retries_waiting: tuple[str, ...] = ()


def advance(conn, rng: random.Random, step: int = 1, *, neb_conn=None, rates: Rates = Rates()) -> dict:
    """Move the site on by `step` ticks; returns counters of what happened (see docs/simulated-site.md)."""
    from ippsim import ticks  # local import: ticks imports this module (Rates)

    totals: dict[str, int] = {}
    for _tick in range(max(0, step)):
        for key, value in ticks.tick(conn, rng, neb_conn=neb_conn, rates=rates).items():
            totals[key] = totals.get(key, 0) + value
    return totals
