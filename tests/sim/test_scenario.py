"""Scenario builds are deterministic, have the intended shape, and advance() moves the site."""

from __future__ import annotations

import random

from ippsim import history as h
from ippsim.scenario import Rates, ScenarioSpec, advance, build, tonight_levels
from ippsim.site import table_names

_CHECKSUM_TABLES = ("summitExp", "pzDownloadImfile", "rawImfile", "chipRun", "chipProcessedImfile", "warpSkyfile",
                    "diffSkyfile", "distRun")


def _checksums(site) -> dict:
    with site.root.connect("gpc1") as conn, conn.cursor() as cur:
        out = {}
        for table in _CHECKSUM_TABLES:  # fixed names
            cur.execute(f"CHECKSUM TABLE `{table}`")
            out[table] = cur.fetchone()[1]
        return out


def _count(site, sql, db="gpc1"):
    with site.root.connect(db) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_same_seed_gives_the_same_rows(site_db):
    first = build(site_db.root, ScenarioSpec.tiny(seed=7))
    sums = _checksums(site_db)
    from ippsim.site import create_database
    create_database(site_db.root, "gpc1", "gpc1")
    create_database(site_db.root, "nebulous", "nebulous")
    second = build(site_db.root, ScenarioSpec.tiny(seed=7))
    assert first.counts == second.counts and _checksums(site_db) == sums
    create_database(site_db.root, "gpc1", "gpc1")
    create_database(site_db.root, "nebulous", "nebulous")
    build(site_db.root, ScenarioSpec.tiny(seed=8))
    assert _checksums(site_db) != sums


def test_tiny_build_has_every_stage_and_state(site_db):
    result = build(site_db.root, ScenarioSpec.tiny())
    assert 300 < result.rows < 3000
    for table in ("summitExp", "pzDownloadImfile", "rawImfile", "chipProcessedImfile", "camProcessedExp",
                  "fakeProcessedImfile", "warpSkyfile", "stackSumSkyfile", "diffSkyfile", "magicDSFile", "distRun"):
        assert result.counts.get(table, 0) > 0, table
    assert _count(site_db, "SELECT COUNT(*) FROM chipRun WHERE state = 'new'") >= 1
    assert _count(site_db, "SELECT COUNT(*) FROM chipRun WHERE state = 'cleaned'") >= 1
    assert _count(site_db, "SELECT COUNT(*) FROM pzDownloadExp WHERE state = 'run'") >= 1
    assert _count(site_db, "SELECT COUNT(*) FROM summitExp s LEFT JOIN pzDownloadExp d USING (summit_id)"
                           " WHERE d.summit_id IS NULL") >= 1
    assert _count(site_db, "SELECT COUNT(*) FROM rawImfile WHERE burntool_state = 0") >= 1
    assert _count(site_db, "SELECT COUNT(*) FROM rawExp WHERE exp_type <> 'OBJECT'") >= 1
    assert _count(site_db, "SELECT COUNT(*) FROM chipProcessedImfile WHERE fault <> 0") >= 1
    assert _count(site_db, "SELECT COUNT(*) FROM volume", "nebulous") == 4
    assert _count(site_db, "SELECT COUNT(*) FROM mountedvol WHERE used < total AND total > 1000", "nebulous") == 4
    assert _count(site_db, "SELECT COUNT(*) FROM Label WHERE active = 1") == 3


def test_build_reports_progress_up_to_the_total(site_db):
    seen = []
    build(site_db.root, ScenarioSpec.tiny(), progress=lambda done, total: seen.append((done, total)), batch=50)
    assert len(seen) > 3
    assert all(done <= total for done, total in seen) and seen[-1][0] == seen[-1][1]
    assert [d for d, _t in seen] == sorted(d for d, _t in seen)


def test_tonight_levels_span_summit_to_done():
    levels = tonight_levels(11)
    assert levels[0] == h.DONE and levels[-1] == h.SUMMIT and set(levels) == set(range(h.DONE + 1))
    assert tonight_levels(1) == [h.DONE] and tonight_levels(0) == []


def test_gpc1_class_ids_are_the_60_otas():
    ids = h.ota_class_ids(60)
    assert len(ids) == 60 and ids[0] == "XY01" and ids[-1] == "XY76" and "XY00" not in ids and "XY77" not in ids


def test_demo_spec_scales_to_component_rows():
    spec = ScenarioSpec.for_component_rows(1_000_000)
    per = 7 * spec.n_ota + 5 * spec.n_skycells
    assert 0.9e6 < (spec.history_exposures + spec.tonight_exposures) * per < 1.1e6


def test_advance_moves_processing_summit_and_disks(site_db):
    build(site_db.root, ScenarioSpec.tiny())
    used_before = _count(site_db, "SELECT SUM(used) FROM mountedvol", "nebulous")
    summit_before = _count(site_db, "SELECT COUNT(*) FROM summitExp")
    full_before = _count(site_db, "SELECT COUNT(*) FROM chipRun WHERE state = 'full'")
    with site_db.root.connect("gpc1") as conn, site_db.root.connect("nebulous") as neb:
        done = advance(conn, random.Random(3), 6, neb_conn=neb, rates=Rates(fault_rate=0.0))
    assert done["chip_components"] > 0 and done["arrived"] == 6 and done["burntooled"] > 0
    assert _count(site_db, "SELECT COUNT(*) FROM summitExp") == summit_before + 6
    assert _count(site_db, "SELECT COUNT(*) FROM chipRun WHERE state = 'full'") > full_before
    assert _count(site_db, "SELECT SUM(used) FROM mountedvol", "nebulous") > used_before
    # fault_rate 0: everything advance wrote itself is fault-free
    assert _count(site_db, "SELECT COUNT(*) FROM camRun r JOIN camProcessedExp p USING (cam_id)"
                           " WHERE r.state = 'full' AND p.fault <> 0") == 0


def test_advance_zero_steps_changes_nothing(site_db):
    build(site_db.root, ScenarioSpec.tiny())
    with site_db.root.connect("gpc1") as conn:
        assert advance(conn, random.Random(1), 0) == {}


def test_schema_tables_cover_generated_tables():
    from ippsim.db import COLUMNS
    assert set(COLUMNS) <= set(table_names("gpc1")) | set(table_names("nebulous"))


def test_real_site_spec_has_the_issue_12_shape():
    spec = ScenarioSpec.real_site(1_000_000)
    assert len(spec.labels) == 12 and spec.hosts * spec.volumes_per_host == 400
    assert (spec.active_runs, spec.active_faults, spec.tonight_exposures) == (2000, 5000, 100)
    assert spec.stale_intake_faults > 0


def test_active_workload_and_stale_intake_faults(site_db):
    from dataclasses import replace

    from exporter.collectors import processing as proc
    from exporter.parsers.processing import parse_faults, parse_runs
    from ippsim.scenario import ACTIVE_STAGES, REAL_SITE_LABELS
    spec = replace(ScenarioSpec.tiny(seed=5), labels=REAL_SITE_LABELS, hosts=20, active_runs=len(ACTIVE_STAGES) * 12 * 3,
                   active_faults=600, stale_intake_faults=0.5)
    build(site_db.root, spec)
    with site_db.root.connect("gpc1") as conn, conn.cursor() as cur:
        cur.execute(proc.FAULTS_SQL, {"summit_floor": 10**9})
        faults, by_host, skipped = parse_faults(cur.fetchall())
        cur.execute(proc.RUNS_SQL)
        runs, _ = parse_runs(cur.fetchall())
        cur.execute("SELECT COUNT(*) FROM rawImfile r JOIN newExp n ON n.exp_id = r.exp_id"
                    " WHERE r.fault <> 0 AND n.state = 'stop'")
        stale = cur.fetchone()[0]
    series = {(s, label) for s, label, _ in faults}
    assert {s for s, _ in series} >= set(ACTIVE_STAGES)
    assert {label for s, label in series if s in ACTIVE_STAGES} == {n for n, _ in REAL_SITE_LABELS}
    total = sum(faults.values())
    assert 450 <= total <= 800, total                       # about active_faults (+ tonight's own)
    pending = sum(n for (s, _l, state), n in runs.items() if s in ACTIVE_STAGES)
    assert pending >= spec.active_runs
    assert stale > 0                                       # old faulted registration rows exist ...
    assert not [k for k in faults if k[0] == "registration"]  # ... and none of them is counted
