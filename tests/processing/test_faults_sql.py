"""exporter.faults_sql item queries (what the action service previews) against the real schema."""

from __future__ import annotations

import pytest
from processing_helpers import ro_config

from exporter import faults_sql as fs
from exporter.db import Database


def _items(site_db, stage, labels, fault=None, revert=True, limit=100):
    sql = fs.fault_items_sql(stage, len(labels), fault=fault is not None, revert=revert)
    params = fs.fault_items_params(stage, labels, fault, limit)
    db = Database(ro_config(site_db))
    try:
        return db.run(lambda session: session.query(sql, params))
    finally:
        db.close()


def test_fake_preview_includes_finished_runs_like_faketool(rows, site_db):
    # faketool_revertprocessedimfile.sql has no run-state filter: a revert also deletes these rows
    rows.insert("fakeRun", fake_id=1, state="new", label="K")
    rows.insert("fakeProcessedImfile", fake_id=1, exp_id=1, class_id="XY01", fault=4, hostname="h1")
    rows.insert("fakeRun", fake_id=2, state="full", label="K")
    rows.insert("fakeProcessedImfile", fake_id=2, exp_id=2, class_id="XY02", fault=4, hostname="h2")
    rows.insert("fakeRun", fake_id=3, state="full", label="OTHER")
    rows.insert("fakeProcessedImfile", fake_id=3, exp_id=3, class_id="XY03", fault=4, hostname="h3")
    preview = _items(site_db, "fake", ["K"], fault=4)
    assert sorted(r[5] for r in preview) == ["1:XY01", "2:XY02"]
    assert {r[1] for r in preview} == {"faketool -revertprocessedimfile"}
    counted = _items(site_db, "fake", ["K"], fault=4, revert=False)  # the exporter's rule: new/update runs only
    assert [r[5] for r in counted] == ["1:XY01"]


def test_chip_preview_follows_the_revert_rule_and_binds_labels_literally(rows, site_db):
    rows.chip(1, "new", "L1", faults=[(2, "ipp001"), (4, "ipp002")])
    rows.chip(2, "full", "L1", faults=[(2, "ipp001")])
    rows.chip(3, "new", "L1' OR '1'='1", faults=[(2, "ipp003")])
    assert [r[5] for r in _items(site_db, "chip", ["L1"], fault=2)] == ["1:XY00"]
    assert len(_items(site_db, "chip", ["L1"])) == 2
    assert [r[2] for r in _items(site_db, "chip", ["L1' OR '1'='1"])] == ["L1' OR '1'='1"]


def test_dist_preview_lists_components_and_run_faults(rows, site_db):
    rows.insert("distRun", dist_id=1, stage="chip", stage_id=1, label="DL", state="new", fault=2)
    rows.insert("distComponent", dist_id=1, component="a", fault=2)
    rows.insert("distRun", dist_id=2, stage="chip", stage_id=2, label="DL", state="goto_cleaned", fault=2)
    got = sorted((r[0], r[1], r[5]) for r in _items(site_db, "dist", ["DL"], fault=2))
    assert got == [("component", "disttool -revertcomponent", "1:a"), ("run", "disttool -revertrun", "1"),
                   ("run", "disttool -revertrun", "2")]


def test_limit_and_unknown_stage(rows, site_db):
    rows.chip(1, "new", "L", faults=[(2, f"h{n}") for n in range(5)])
    assert len(_items(site_db, "chip", ["L"], limit=3)) == 3
    with pytest.raises(ValueError):
        fs.fault_items_sql("nope", 1)
