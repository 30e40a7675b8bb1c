"""Each event has its intended, observable effect on the simulated site."""

from __future__ import annotations

import random

import pytest

from ippsim import events as ev
from ippsim import history as h
from ippsim.scenario import Rates, ScenarioSpec, advance, build

OUTSTANDING_CHIP = ("SELECT COUNT(*) FROM chipProcessedImfile i JOIN chipRun r ON r.chip_id = i.chip_id"
                    " WHERE i.fault = %s AND r.state = 'new'")


@pytest.fixture
def site(site_db):
    build(site_db.root, ScenarioSpec.tiny(seed=3))
    with site_db.root.connect("gpc1") as conn, site_db.root.connect("nebulous") as neb:
        yield site_db, conn, neb


def _one(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


@pytest.mark.parametrize("stage", ["chip", "camera", "fake", "warp", "stack", "diff", "destreak"])
def test_inject_faults_adds_outstanding_faults_of_that_code(site, stage):
    _site, conn, _neb = site
    s = ev.STAGES[stage]
    sql = (f"SELECT COUNT(*) FROM `{s.component_table}` p JOIN `{s.run_table}` r ON r.`{s.run_id}` = p.`{s.run_id}`"
           " WHERE r.state = 'new' AND p.fault = 6")
    before = _one(conn, sql)[0]
    pending = len(ev.pending_components(conn, stage))
    assert pending > 0, "tiny scenario must leave pending work in every stage"
    added = ev.inject_faults(conn, random.Random(1), stage=stage, code=6, count=2)
    assert added == min(2, pending) and _one(conn, sql)[0] == before + added


def test_inject_dist_faults_are_run_level(site):
    _site, conn, _neb = site
    before = _one(conn, "SELECT COUNT(*) FROM distRun WHERE state = 'new' AND fault = 256")[0]
    added = ev.inject_faults(conn, random.Random(1), stage="dist", code=256, count=1)
    assert added == 1
    assert _one(conn, "SELECT COUNT(*) FROM distRun WHERE state = 'new' AND fault = 256")[0] == before + 1


def test_fault_storm_hits_several_stages(site):
    _site, conn, _neb = site
    assert ev.fault_storm(conn, random.Random(2), count=70, codes=(2,)) >= 7
    with conn.cursor() as cur:
        stages_hit = 0
        for stage in ev.PROCESSING_ORDER[:-1]:  # magicDSFile has no hostname
            s = ev.STAGES[stage]
            cur.execute(f"SELECT COUNT(*) FROM `{s.component_table}` WHERE hostname = 'ipp001' AND fault = 2")
            stages_hit += cur.fetchone()[0] > 0
    assert stages_hit >= 4


def test_stalled_label_never_progresses(site):
    _site, conn, _neb = site
    label = _one(conn, "SELECT label FROM chipRun WHERE state = 'new' ORDER BY chip_id LIMIT 1")[0]
    assert ev.stall_label(conn, label) > 0
    count_sql = "SELECT COUNT(*) FROM chipProcessedImfile p JOIN chipRun r USING (chip_id) WHERE r.label = %s AND r.note = %s"
    before = _one(conn, count_sql, (label, ev.STALL_NOTE))[0]
    advance(conn, random.Random(4), 5, rates=Rates(arrivals_per_tick=0))
    assert _one(conn, count_sql, (label, ev.STALL_NOTE))[0] == before
    assert _one(conn, "SELECT COUNT(*) FROM chipRun WHERE note = %s AND state <> 'new'", (ev.STALL_NOTE,))[0] == 0


def test_host_goes_bad_faults_its_components_and_unmounts_its_volumes(site):
    _site, conn, neb = site
    added = ev.host_goes_bad(conn, random.Random(5), "ipp004", count=3, neb_conn=neb, volumes="unmounted")
    assert added > 0
    assert _one(conn, "SELECT COUNT(*) FROM chipProcessedImfile WHERE hostname = 'ipp004' AND fault = 2")[0] >= 1
    assert _one(neb, "SELECT COUNT(*) FROM mountedvol WHERE host = 'ipp004'")[0] == 0
    assert _one(neb, "SELECT COUNT(*) FROM volume WHERE host = 'ipp004'")[0] == 1


def test_volume_events_change_mountedvol(site):
    _site, _conn, neb = site
    assert ev.fill_volume(neb, "ipp001.0", 0.99) == 1
    total, used = _one(neb, "SELECT total, used FROM mountedvol WHERE name = 'ipp001.0'")
    assert used == int(total * 0.99)
    assert ev.nebdiskd_placeholder(neb, "ipp002.0") == 1
    assert _one(neb, "SELECT total, used FROM mountedvol WHERE name = 'ipp002.0'") == (1, 1)
    assert ev.unmount_volume(neb, "ipp003.0") == 1
    assert _one(neb, "SELECT COUNT(*) FROM mountedvol WHERE name = 'ipp003.0'")[0] == 0


@pytest.mark.parametrize("state, flags", [("up", (1, 1)), ("repair", (0, 1)), ("down", (0, 0)),
                                          ("allocate_only", (1, 0))])
def test_host_states_set_both_volume_tables(site, state, flags):
    _site, _conn, neb = site
    assert ev.set_host_state(neb, "ipp002", state) == 1
    assert _one(neb, "SELECT allocate, available FROM volume WHERE host = 'ipp002'") == flags
    assert _one(neb, "SELECT allocate, available FROM mountedvol WHERE host = 'ipp002'") == flags


def test_summit_and_burntool_falling_behind(site):
    _site, conn, _neb = site
    not_copied = ("SELECT COUNT(*) FROM summitExp s LEFT JOIN pzDownloadExp d USING (summit_id)"
                  " WHERE d.summit_id IS NULL")
    before = _one(conn, not_copied)[0]
    assert ev.summit_falls_behind(conn, random.Random(6), count=4) == 4
    assert _one(conn, not_copied)[0] == before + 4
    unburnt = "SELECT COUNT(*) FROM rawImfile WHERE burntool_state = 0"
    before = _one(conn, unburnt)[0]
    assert ev.burntool_falls_behind(conn, random.Random(7), count=2, n_ota=3) == 2
    assert _one(conn, unburnt)[0] == before + 6


def test_summit_copy_faults_use_the_given_code(site):
    _site, conn, _neb = site
    ev.summit_falls_behind(conn, random.Random(8), count=2, n_ota=8, level=h.DOWNLOADING)
    added = ev.summit_copy_faults(conn, random.Random(8), code=203, count=2)
    assert added >= 1
    assert _one(conn, "SELECT COUNT(*) FROM pzDownloadImfile WHERE fault = 203")[0] >= added


def test_advance_keeps_faulted_runs_pending(site):
    _site, conn, _neb = site
    ev.inject_faults(conn, random.Random(9), stage="chip", code=5, count=1)
    run = _one(conn, "SELECT r.chip_id FROM chipProcessedImfile i JOIN chipRun r USING (chip_id)"
                     " WHERE i.fault = 5 AND r.state = 'new' LIMIT 1")[0]
    advance(conn, random.Random(10), 10, rates=Rates(fault_rate=0.0, components_per_tick=50))
    assert _one(conn, "SELECT state FROM chipRun WHERE chip_id = %s", (run,)) == ("new",)
    assert h.DONE == 10


def _exported_faults(conn) -> dict:
    """The exporter's own fault statement and parser on the simulated site: {(stage, label, bucket): n}."""
    from exporter.collectors import processing as proc
    from exporter.parsers.processing import parse_faults
    with conn.cursor() as cur:
        cur.execute(proc.FAULTS_SQL, {"summit_floor": 0})
        faults, _hosts, skipped = parse_faults(cur.fetchall())
    assert skipped == 0
    return faults


def _stage_total(faults: dict, stage: str, bucket: str) -> int:
    return sum(n for (s, _label, b), n in faults.items() if s == stage and b == bucket)


@pytest.mark.parametrize("event, stage, bucket", [
    (lambda conn, rng: ev.overlap_faults(conn, rng, code=4, count=2), "warp_overlap", "4"),
    (lambda conn, rng: ev.dist_component_faults(conn, rng, code=3, count=2), "dist", "3"),
    (lambda conn, rng: ev.magic_faults(conn, rng, code=5, count=2), "magic", "5"),
    (lambda conn, rng: ev.publish_faults(conn, rng, code=6, count=2), "publish", "6"),
])
def test_new_fault_sources_show_in_the_exporters_count(site, event, stage, bucket):
    _site, conn, _neb = site
    before = _stage_total(_exported_faults(conn), stage, bucket)
    added = event(conn, random.Random(4))
    assert added == 2
    assert _stage_total(_exported_faults(conn), stage, bucket) == before + 2


def test_burntool_stuck_and_chipmask(site):
    _site, conn, _neb = site
    assert ev.burntool_stuck(conn, count=3) == 3
    assert _one(conn, "SELECT COUNT(*) FROM rawImfile WHERE burntool_state = -1")[0] >= 3
    label = _one(conn, "SELECT label FROM chipRun WHERE state = 'new' ORDER BY chip_id LIMIT 1")[0]
    assert ev.mask_label(conn, label) == 1
    from exporter.collectors import processing as proc
    with conn.cursor() as cur:
        cur.execute(proc.MASKED_SQL)
        held = sum(n for masked, n in cur.fetchall() if masked == label)
    assert held == _one(conn, "SELECT COUNT(*) FROM chipRun WHERE state = 'new' AND label = %s", (label,))[0] > 0
    assert ev.mask_label(conn, label, masked=False) == 1
    assert _one(conn, "SELECT COUNT(*) FROM chipMask")[0] == 0
