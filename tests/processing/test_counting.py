"""Counting rules of the processing collector against the real gpc1 schema in MariaDB (metrics.md, exact)."""

from __future__ import annotations

from datetime import datetime

from plugins.exposition import samples, scrape, value

import exporter.collectors.processing as proc
from exporter.parsers.processing import KNOWN_FAULTS as KNOWN
from exporter.parsers.processing import PENDING_STATES, fault_buckets

F = "ipp_processing_faults"
R = "ipp_processing_runs"
H = "ipp_processing_faults_by_host"


def faults(c, stage, label, fault):
    return value(c, F, dbname="gpc1", stage=stage, label=label, fault=fault)


def test_chip_faults_follow_the_revert_rule(rows, make_collector):
    rows.chip(1, "new", "L1", faults=[(2, "ipp001"), (4, "ipp002"), (77, "ipp001"), (0, "ipp003")])
    rows.chip(2, "update", "L1", faults=[(5, "ipp001")], data_state="update")   # counts: update + data_state update
    rows.chip(3, "update", "L1", faults=[(5, "ipp001")], data_state="full")     # does not: component not in update
    rows.chip(4, "full", "L1", faults=[(2, "ipp001")])                         # finished run: history
    rows.chip(5, "drop", "L1", faults=[(2, "ipp001")])
    c = scrape(make_collector())
    assert value(c, "ipp_processing_db_up", dbname="gpc1") == 1
    assert faults(c, "chip", "L1", "2") == 1
    assert faults(c, "chip", "L1", "4") == 1
    assert faults(c, "chip", "L1", "5") == 1
    assert faults(c, "chip", "L1", "other") == 1  # 77 is not a known code
    assert faults(c, "chip", "L1", "1") == 0      # every bucket present, 0 when empty
    assert value(c, H, dbname="gpc1", stage="chip", host="ipp001") == 3
    assert value(c, H, dbname="gpc1", stage="chip", host="ipp002") == 1
    assert value(c, H, dbname="gpc1", stage="chip", host="ipp003") is None  # fault 0 is not a fault


def test_camera_and_stack_have_no_data_state_so_update_faults_count(rows, make_collector):
    rows.insert("camRun", cam_id=1, chip_id=1, state="update", label="L2")
    rows.insert("camProcessedExp", cam_id=1, fault=3, hostname="ipp004")
    rows.insert("camRun", cam_id=2, chip_id=2, state="full", label="L2")
    rows.insert("camProcessedExp", cam_id=2, fault=3, hostname="ipp004")
    rows.insert("stackRun", stack_id=1, state="update", label="L2")
    rows.insert("stackSumSkyfile", stack_id=1, fault=2, hostname="ipp005")
    rows.insert("stackRun", stack_id=2, state="new", label="L2")
    rows.insert("stackSumSkyfile", stack_id=2, fault=None, hostname="ipp005")  # NULL is not a fault
    c = scrape(make_collector())
    assert faults(c, "camera", "L2", "3") == 1
    assert faults(c, "stack", "L2", "2") == 1
    assert sum(v for (n, l), v in _stage(c, "stack").items()) == 1


def test_null_faults_and_data_state_on_warp_diff_fake_destreak(rows, make_collector):
    rows.insert("warpRun", warp_id=1, state="new", label="W")
    rows.insert("warpSkyfile", warp_id=1, skycell_id="s1", tess_id="t", fault=None, data_state="full")
    rows.insert("warpSkyfile", warp_id=1, skycell_id="s2", tess_id="t", fault=6, data_state="full", hostname="h1")
    rows.insert("diffRun", diff_id=1, state="update", label="D", diff_mode=1)
    rows.insert("diffSkyfile", diff_id=1, skycell_id="s1", fault=2, data_state="update", hostname="h2")
    rows.insert("diffSkyfile", diff_id=1, skycell_id="s2", fault=2, data_state="full", hostname="h2")
    rows.insert("fakeRun", fake_id=1, state="new", label="K")
    rows.insert("fakeProcessedImfile", fake_id=1, exp_id=1, class_id="XY01", fault=256, hostname="h3")
    rows.insert("magicDSRun", magic_ds_id=1, state="new", label="S")
    rows.insert("magicDSFile", magic_ds_id=1, component="c1", fault=5)
    rows.insert("magicDSFile", magic_ds_id=1, component="c2", fault=0)
    c = scrape(make_collector())
    assert faults(c, "warp", "W", "6") == 1 and sum(_stage(c, "warp").values()) == 1
    assert faults(c, "diff", "D", "2") == 1
    assert faults(c, "fake", "K", "256") == 1
    assert faults(c, "destreak", "S", "5") == 1
    # destreak keeps no host per file: no by-host series for it
    assert not [k for k in c_hosts(c) if dict(k[1])["stage"] == "destreak"]


def test_dist_counts_component_faults_of_new_runs_and_run_faults_once(rows, make_collector):
    # disttool_revertcomponent.sql: faulted distComponent rows of 'new' runs; disttool_revertrun.sql: faulted
    # distRun rows in 'new' or 'goto_cleaned', one per run however many components it has
    rows.insert("distRun", dist_id=1, stage="chip", stage_id=1, label="DL", state="new", fault=2)
    for comp in ("a", "b", "c"):
        rows.insert("distComponent", dist_id=1, component=comp, fault=2)
    rows.insert("distComponent", dist_id=1, component="d", fault=0)
    rows.insert("distRun", dist_id=2, stage="chip", stage_id=2, label="DL", state="full", fault=4)
    rows.insert("distComponent", dist_id=2, component="a", fault=5)              # finished run: history
    rows.insert("distRun", dist_id=3, stage="chip", stage_id=3, label="DL", state="goto_cleaned", fault=5)
    rows.insert("distComponent", dist_id=3, component="a", fault=6)              # not reverted by -revertcomponent
    rows.insert("distRun", dist_id=4, stage="chip", stage_id=4, label="DL", state="new", fault=0)
    rows.insert("distComponent", dist_id=4, component="a", fault=256)            # component fault, run fine
    c = scrape(make_collector())
    assert faults(c, "dist", "DL", "2") == 4      # 3 components + the run itself
    assert faults(c, "dist", "DL", "5") == 1      # goto_cleaned run fault
    assert faults(c, "dist", "DL", "256") == 1
    assert faults(c, "dist", "DL", "4") == 0 and faults(c, "dist", "DL", "6") == 0


def test_registration_counts_only_exposures_still_registering(rows, make_collector):
    # a faulted rawImfile/rawExp holds its exposure in newExp.state = 'run' (regtool_pendingexp.sql, regtool.c);
    # faulted rows of exposures that went on to 'stop' are old history, not current faults
    rows.insert("newExp", exp_id=7, summit_id=7, state="run", label="R")
    rows.insert("rawImfile", exp_id=7, class_id="XY01", tmp_class_id="ota01", fault=5, hostname="ipp010")
    rows.insert("rawExp", exp_id=7, fault=2, hostname="ipp010")
    for exp_id in range(100, 130):
        rows.insert("newExp", exp_id=exp_id, summit_id=exp_id, state="stop", label="R")
        rows.insert("rawImfile", exp_id=exp_id, class_id="XY01", tmp_class_id="ota01", fault=4, hostname="ipp011")
        rows.insert("rawExp", exp_id=exp_id, fault=3, hostname="ipp011")
    c = scrape(make_collector())
    assert faults(c, "registration", "R", "5") == 1
    assert faults(c, "registration", "R", "2") == 1
    assert faults(c, "registration", "R", "4") == 0 and faults(c, "registration", "R", "3") == 0
    assert value(c, H, dbname="gpc1", stage="registration", host="ipp011") is None


def test_warp_overlap_magic_and_publish_faults(rows, make_collector):
    rows.insert("warpRun", warp_id=1, state="new", label="W")
    rows.insert("warpSkyCellMap", warp_id=1, skycell_id="s1", tess_id="t", class_id="XY01", fault=4)
    rows.insert("warpSkyCellMap", warp_id=1, skycell_id="s2", tess_id="t", class_id="XY01", fault=0)
    rows.insert("warpRun", warp_id=2, state="full", label="W")
    rows.insert("warpSkyCellMap", warp_id=2, skycell_id="s1", tess_id="t", class_id="XY01", fault=4)
    rows.insert("magicRun", magic_id=1, state="new", label="M")
    rows.insert("magicNodeResult", magic_id=1, node="n1", fault=5)
    rows.insert("magicRun", magic_id=2, state="full", label="M")
    rows.insert("magicNodeResult", magic_id=2, node="n1", fault=5)
    rows.insert("publishClient", client_id=1, active=1, name="on")
    rows.insert("publishClient", client_id=2, active=0, name="off")
    rows.insert("publishRun", pub_id=1, client_id=1, stage_id=1, state="new", label="P")
    rows.insert("publishDone", pub_id=1, fault=2, hostname="ipp020")
    rows.insert("publishRun", pub_id=2, client_id=2, stage_id=2, state="new", label="P")  # inactive client
    rows.insert("publishDone", pub_id=2, fault=2, hostname="ipp020")
    c = scrape(make_collector())
    assert faults(c, "warp_overlap", "W", "4") == 1
    assert faults(c, "warp", "W", "4") == 0          # the overlap fault is not a skyfile fault
    assert faults(c, "magic", "M", "5") == 1
    assert faults(c, "publish", "P", "2") == 1
    assert value(c, H, dbname="gpc1", stage="publish", host="ipp020") == 1
    assert value(c, R, dbname="gpc1", stage="magic", label="M", state="new") == 1
    assert value(c, R, dbname="gpc1", stage="publish", label="P", state="new") == 2
    assert value(c, R, dbname="gpc1", stage="warp_overlap", label="W", state="new") is None


def test_chipmask_holds_back_new_chip_runs(rows, make_collector):
    rows.insert("chipMask", label="MASKED")
    rows.insert("chipMask", label="IDLE")
    rows.chip(1, "new", "MASKED")
    rows.chip(2, "new", "MASKED")
    rows.chip(3, "full", "MASKED")
    rows.chip(4, "new", "FREE")
    c = scrape(make_collector())
    masked = {dict(k[1])["label"]: v for k, v in samples(c, "ipp_processing_chip_masked_runs").items()}
    assert masked == {"MASKED": 2, "IDLE": 0}


def test_labels_without_label_row_still_get_series_and_info_only_for_pending(rows, make_collector):
    rows.chip(1, "new", "orphan", faults=[(2, "ipp001")])
    rows.chip(2, "new", "known")
    rows.insert("Label", label="known", priority=300, active=1)
    rows.insert("Label", label="idle", priority=100, active=0)   # no pending work: no info series
    c = scrape(make_collector())
    assert faults(c, "chip", "orphan", "2") == 1
    assert value(c, R, dbname="gpc1", stage="chip", label="known", state="new") == 1
    info = {dict(k[1])["label"]: dict(k[1]) for k in samples(c, "ipp_processing_label_info")}
    assert set(info) == {"known"}
    assert info["known"]["priority"] == "300" and info["known"]["active"] == "1"


def test_runs_every_pending_state_present(rows, make_collector):
    rows.chip(1, "new", "Q")
    rows.chip(2, "new", "Q")
    rows.chip(3, "error_cleaned", "Q")
    rows.chip(4, "full", "Q")
    rows.chip(5, "cleaned", "Q")
    rows.insert("newExp", exp_id=9, summit_id=9, state="run", label="Q")
    rows.insert("pzDownloadExp", summit_id=9, state="run")
    c = scrape(make_collector())
    got = {dict(k[1])["state"]: v for k, v in samples(c, R).items() if dict(k[1])["stage"] == "chip"}
    assert got == {**dict.fromkeys(PENDING_STATES, 0), "new": 2, "error_cleaned": 1}
    assert value(c, R, dbname="gpc1", stage="registration", label="Q", state="run") == 1
    assert value(c, R, dbname="gpc1", stage="summitcopy", label="", state="run") == 1
    # a stage/label with runs but no faults still has every fault bucket, at 0
    assert {dict(k[1])["fault"] for k in samples(c, F) if dict(k[1])["stage"] == "chip"} == set(fault_buckets("chip"))


def test_registration_and_summitcopy_faults(rows, make_collector, monkeypatch):
    monkeypatch.setattr(proc, "SUMMIT_FAULT_WINDOW", 3)
    rows.insert("newExp", exp_id=7, summit_id=7, state="run", label="R")
    rows.insert("rawImfile", exp_id=7, class_id="XY01", tmp_class_id="ota01", fault=5, hostname="ipp010")
    rows.insert("rawExp", exp_id=7, fault=2, hostname="ipp010")
    rows.summit(2, "old", datetime(2025, 3, 1, 6, 2), fault=203, download=None)  # older than the window
    for old in range(3, 9):  # old fileset faults below the window: the branch must not read them
        rows.summit(old, f"x{old}", datetime(2025, 3, 1, 6, 2), fault=104, download=None)
    rows.summit(11, "o1", datetime(2025, 5, 2, 6, 0), download="run", download_faults=(203, 999, 0))
    rows.summit(12, "o2", datetime(2025, 5, 2, 6, 1), download="stop", download_faults=(203,))  # finished: history
    rows.summit(13, "o3", datetime(2025, 5, 2, 6, 2), fault=110, download=None)
    rows.summit(10, "o9", datetime(2025, 5, 2, 5, 59), fault=104, download=None)   # below the window (size 3)
    rows.summit(14, "o4", datetime(2025, 5, 2, 6, 3), fault=104, download="stop")  # downloaded since: stale
    rows.summit(1, "o0", datetime(2025, 3, 1, 6, 2), fault=110, download=None)  # outside the newest-exposure window
    c = scrape(make_collector())
    assert faults(c, "registration", "R", "5") == 1
    assert faults(c, "registration", "R", "2") == 1
    assert faults(c, "summitcopy", "", "203") == 1
    assert faults(c, "summitcopy", "", "other") == 1   # 999
    assert faults(c, "summitcopy", "", "110") == 1     # the fileset fault of o3 only
    assert faults(c, "summitcopy", "", "104") == 0     # o9 is old, o4 went on to download (pztool -pendingexp)
    assert value(c, H, dbname="gpc1", stage="summitcopy", host="ippc01") == 2
    assert value(c, H, dbname="gpc1", stage="registration", host="ipp010") == 2


def test_summit_code_on_a_processing_stage_is_other(rows, make_collector):
    rows.chip(1, "new", "L", faults=[(203, "ipp001")])
    c = scrape(make_collector())
    assert faults(c, "chip", "L", "other") == 1
    assert faults(c, "chip", "L", "203") is None


def _stage(c, stage):
    return {k: v for k, v in samples(c, F).items() if dict(k[1])["stage"] == stage}


def c_hosts(c):
    return samples(c, H)


# Plain restatements of the tools' revert filters (no hints, no shared code with exporter.faults_sql), to check
# the exporter's index-pinned statement against on a generated site with every kind of fault and stale history.
REFERENCE = {
    "chip": "SELECT r.label, i.fault, COUNT(*) FROM chipProcessedImfile i JOIN chipRun r ON r.chip_id = i.chip_id"
            " WHERE i.fault <> 0 AND (r.state = 'new' OR (r.state = 'update' AND i.data_state = 'update'))"
            " GROUP BY 1, 2",
    "camera": "SELECT r.label, e.fault, COUNT(*) FROM camProcessedExp e JOIN camRun r ON r.cam_id = e.cam_id"
              " WHERE e.fault <> 0 AND r.state IN ('new', 'update') GROUP BY 1, 2",
    "warp_overlap": "SELECT r.label, m.fault, COUNT(*) FROM warpSkyCellMap m JOIN warpRun r ON r.warp_id = m.warp_id"
                    " WHERE m.fault <> 0 AND r.state = 'new' GROUP BY 1, 2",
    "dist": "SELECT label, fault, SUM(n) FROM ("
            " SELECT r.label, c.fault, COUNT(*) AS n FROM distComponent c JOIN distRun r ON r.dist_id = c.dist_id"
            "  WHERE c.fault <> 0 AND r.state = 'new' GROUP BY 1, 2"
            " UNION ALL SELECT label, fault, COUNT(*) FROM distRun WHERE fault <> 0"
            "  AND state IN ('new', 'goto_cleaned') GROUP BY 1, 2) AS t GROUP BY 1, 2",
    "registration": "SELECT label, fault, SUM(n) FROM ("
                    " SELECT n.label, i.fault, COUNT(*) AS n FROM rawImfile i JOIN newExp n ON n.exp_id = i.exp_id"
                    "  WHERE i.fault <> 0 AND n.state = 'run' GROUP BY 1, 2"
                    " UNION ALL SELECT n.label, e.fault, COUNT(*) FROM rawExp e JOIN newExp n ON n.exp_id = e.exp_id"
                    "  WHERE e.fault <> 0 AND n.state = 'run' GROUP BY 1, 2) AS t GROUP BY 1, 2",
}


def test_exporter_counts_match_plain_revert_filters_on_a_generated_site(site_db, rows, make_collector):
    from processing_helpers import generated_site
    generated_site(site_db, rows)
    with site_db.root.connect("gpc1") as conn:
        expected = {}
        with conn.cursor() as cur:
            for stage, sql in REFERENCE.items():
                cur.execute(sql)
                for label, code, n in cur.fetchall():
                    key = (stage, label, str(code) if code in KNOWN else "other")
                    expected[key] = expected.get(key, 0) + int(n)
    c = scrape(make_collector())
    got = {(dict(k[1])["stage"], dict(k[1])["label"], dict(k[1])["fault"]): v
           for k, v in samples(c, F).items() if v and dict(k[1])["stage"] in REFERENCE}
    assert got == expected
    assert {stage for stage, _, _ in got} == set(REFERENCE)  # every source had faults to compare
