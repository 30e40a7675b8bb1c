"""exporter.faults_sql as the one table of fault sources: the action service's /faults lists and revert previews
(actions/sql.py) built from it, against the real schema, and a guard that the lists total what the exporter counts."""

from __future__ import annotations

import random

import pytest
from plugins.exposition import samples, scrape
from processing_helpers import generated_site, ro_config

from actions.preview import fault_rows
from actions.sql import REVERT_EFFECTS, effect_sql, fault_list_sql
from exporter.db import Database
from exporter.faults_sql import STAGES, sources_for
from ippsim import events


@pytest.fixture
def db(site_db):
    """The action service's kind of read-only Database on gpc1."""
    database = Database(ro_config(site_db))
    yield database
    database.close()


def _rows(db, sql_pair, label=None, fault=None):
    """(count, items) of a (COUNT, page) query pair, the first 100 rows."""
    params = {"label": label, "fault": fault, "limit": 100, "offset": 0}
    count_sql, page_sql = sql_pair
    count = db.run(lambda s: s.query(count_sql, params))[0][0]
    return int(count), [row[0] for row in db.run(lambda s: s.query(page_sql, params))]


def _effects(db, stage, label, fault):
    return {(e.tool, e.mode, e.verb): _rows(db, effect_sql(e), label, fault) for e in REVERT_EFFECTS[stage]}


def test_fake_preview_includes_finished_runs_like_faketool(rows, db):
    # faketool_revertprocessedimfile.sql has no run-state filter (and no -fault): a revert also deletes these rows
    for fake_id, state, label in ((1, "new", "K"), (2, "full", "K"), (3, "full", "OTHER")):
        rows.insert("rawExp", exp_id=fake_id, exp_name=f"o{fake_id}", fault=0)
        rows.insert("chipRun", chip_id=fake_id, exp_id=fake_id, state="full", label=label)
        rows.insert("camRun", cam_id=fake_id, chip_id=fake_id, state="full", label=label)
        rows.insert("fakeRun", fake_id=fake_id, cam_id=fake_id, state=state, label=label)
        rows.insert("fakeProcessedImfile", fake_id=fake_id, exp_id=fake_id, class_id=f"XY0{fake_id}", fault=4,
                    hostname="h1")
    [(key, (count, items))] = _effects(db, "fake", "K", 3).items()
    assert key == ("faketool", "-revertprocessedimfile", "deleted (pending again)")
    assert (count, sorted(items)) == (2, ["fake_id 1 o1 XY01", "fake_id 2 o2 XY02"])
    listed = _rows(db, fault_list_sql(sources_for("fake")[0], True, True), "K", 4)  # the exporter's rule
    assert listed == (1, ["fake_id 1 o1 XY01"])


def test_chip_preview_deletes_new_resets_update_and_binds_labels_literally(rows, db):
    for chip_id in (1, 2, 3, 4):
        rows.insert("rawExp", exp_id=chip_id, exp_name=f"o{chip_id}", fault=0)
    rows.chip(1, "new", "L1", faults=[(2, "ipp001"), (4, "ipp002")])
    rows.chip(2, "full", "L1", faults=[(2, "ipp001")])
    rows.chip(3, "new", "L1' OR '1'='1", faults=[(2, "ipp003")])
    rows.chip(4, "update", "L1", faults=[(2, "ipp004")], data_state="update")
    got = _effects(db, "chip", "L1", 2)
    assert got == {("chiptool", "-revertprocessedimfile", "deleted (pending again)"): (1, ["chip_id 1 o1 XY00"]),
                   ("chiptool", "-revertprocessedimfile", "fault set to 0"): (1, ["chip_id 4 o4 XY00"])}
    source = sources_for("chip")[0]
    assert _rows(db, fault_list_sql(source, True, False), "L1")[0] == 3
    assert _rows(db, fault_list_sql(source, True, False), "L1' OR '1'='1")[1] == ["chip_id 3 o3 XY00"]


def test_dist_preview_resets_runs_and_deletes_components(rows, db):
    rows.insert("distRun", dist_id=1, stage="chip", stage_id=1, label="DL", state="new", fault=2)
    rows.insert("distComponent", dist_id=1, component="a", fault=2)
    rows.insert("distRun", dist_id=2, stage="chip", stage_id=2, label="DL", state="goto_cleaned", fault=2)
    rows.insert("distRun", dist_id=3, stage="chip", stage_id=3, label="DL", state="full", fault=2)
    assert _effects(db, "dist", "DL", 2) == {
        ("disttool", "-revertcomponent", "deleted (pending again)"): (1, ["dist_id 1 component a"]),
        ("disttool", "-revertrun", "fault set to 0"): (2, ["dist_id 1 run (chip 1)", "dist_id 2 run (chip 2)"])}


def test_registration_preview_is_the_bare_table_without_label(rows, db):
    # regtool's revert SQL has no join and regtool takes no -label: every faulted row, whatever its exposure
    rows.insert("newExp", exp_id=1, summit_id=1, state="run", label="R")
    rows.insert("rawImfile", exp_id=1, class_id="XY01", tmp_class_id="XY01", fault=3, hostname="ipp001")
    rows.insert("rawImfile", exp_id=2, class_id="XY02", tmp_class_id="XY02", fault=3, hostname="ipp001")
    rows.insert("rawExp", exp_id=2, exp_name="o2", fault=3, hostname="ipp001")
    got = _effects(db, "registration", "ignored", 3)
    assert got == {("regtool", "-revertprocessedimfile", "deleted (pending again)"): (2, ["exp_id 1 XY01", "exp_id 2 XY02"]),
                   ("regtool", "-revertprocessedexp", "deleted (pending again)"): (1, ["exp_id 2 o2"])}
    assert [s.table for s in sources_for("registration")] == ["rawImfile", "rawExp"]
    with pytest.raises(ValueError):
        sources_for("nope")


def _list_total(db, stage, label, fault=None) -> int:
    return sum(rs.count for rs in fault_rows(db, stage, label, fault))


def test_fault_lists_total_what_the_exporter_counts_on_a_generated_site(site_db, rows, make_collector, db):
    spec = generated_site(site_db, rows)
    with site_db.root.connect("gpc1") as conn:
        events.inject_faults(conn, random.Random(3), stage="chip", code=77, count=2)  # an "other" code
        rows.insert("magicRun", magic_id=900001, state="new", label="ps_ud_QUB")  # stages the scenario leaves quiet
        rows.insert("magicNodeResult", magic_id=900001, node=7, fault=2)
        rows.insert("publishClient", client_id=900001, active=1)
        rows.insert("publishRun", pub_id=900001, client_id=900001, stage_id=1, state="new", label="ps_ud_QUB")
        rows.insert("publishDone", pub_id=900001, fault=5, hostname="ipp002")
    counted: dict[tuple[str, str], dict[str, int]] = {}
    for key, n in samples(scrape(make_collector()), "ipp_processing_faults").items():
        labels = dict(key[1])
        if n:
            counted.setdefault((labels["stage"], labels["label"]), {})[labels["fault"]] = int(n)
    site_labels = {label for label, _priority in spec.labels} | {label for _, label in counted} | {""}
    checked = 0
    for stage in STAGES:
        labelled = all(source.has_label for source in sources_for(stage))  # summitcopy: no label, the list ignores one
        for label in sorted(site_labels) if labelled else [""]:
            series = counted.get((stage, label), {})
            assert _list_total(db, stage, label) == sum(series.values()), (stage, label)
            for fault in series.keys() - {"other"}:
                assert _list_total(db, stage, label, int(fault)) == series[fault], (stage, label, fault)
                checked += 1
    assert checked >= 10 and {stage for stage, _ in counted} == set(STAGES)  # every source had faults to compare
    assert any("other" in series for series in counted.values())
