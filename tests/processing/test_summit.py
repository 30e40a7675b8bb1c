"""The current night's summit → download → registration → burntool progress (real MariaDB), and the golden exposition."""

from __future__ import annotations

from datetime import datetime, timezone

from plugins.exposition import scrape, scrape_text, value

import exporter.collectors.processing as proc

S = "ipp_summit_exposures"


def summit(c, status):
    return value(c, S, dbname="gpc1", status=status)


def _night(rows):
    d = datetime(2025, 5, 2, 6, 0)
    rows.summit(1, "o1", d)                                    # all the way through
    rows.summit(2, "o2", d, burntool=(-14, 14))                # -14 is done too (abs)
    rows.summit(3, "o3", d, burntool=(14, -1))                 # burntool still running: registered only
    rows.summit(4, "o4", d, burntool=(14, None))               # one imfile not registered yet
    rows.summit(5, "o5", d, download="run", download_faults=(203,))  # still downloading, one fault
    rows.summit(6, "o6", d, fault=115, download=None)          # fileset fault at the summit
    rows.summit(7, "o7", d, raw_fault=5)                       # registration fault
    rows.summit(8, "d8", d, exp_type="DARK", fault=2)          # not OBJECT: ignored
    rows.summit(9, "c9", d, fault=2)                           # name starts with c: ignored
    rows.summit(10, "o10", datetime(2025, 5, 1, 23, 59))       # the previous UTC night
    rows.summit(11, "o11", d, burntool=())                     # no imfiles registered at all
    rows.execute("DELETE FROM summitImfile WHERE summit_id = 11")  # ... and none listed at the summit yet


def test_night_progress_counts(rows, make_collector):
    _night(rows)
    c = scrape(make_collector())
    got = {s: summit(c, s) for s in ("taken", "downloaded", "registered", "burntooled", "faulted")}
    assert got == {"taken": 8, "downloaded": 6, "registered": 4, "burntooled": 3, "faulted": 3}
    assert value(c, "ipp_burntool_running_imfiles", dbname="gpc1") == 1  # o3's second imfile at -1


def test_burntool_stuck_at_minus_one_counts_imfiles_of_tonight_only(rows, make_collector):
    d = datetime(2025, 5, 2, 6, 0)
    rows.summit(1, "o1", d, burntool=(-1, -1))
    rows.summit(2, "o2", d, burntool=(14, -1))
    rows.summit(3, "d3", d, exp_type="DARK", burntool=(-1, -1))          # not OBJECT
    rows.summit(4, "o4", datetime(2025, 5, 1, 6, 0), burntool=(-1, -1))  # last night
    c = scrape(make_collector())
    assert value(c, "ipp_burntool_running_imfiles", dbname="gpc1") == 3
    assert summit(c, "registered") == 2 and summit(c, "burntooled") == 0


def test_empty_night_has_every_status_at_zero(rows, make_collector):
    c = scrape(make_collector())
    assert {summit(c, s) for s in ("taken", "downloaded", "registered", "burntooled", "faulted")} == {0}


def test_night_boundary_is_configurable(rows, make_collector):
    rows.summit(1, "early", datetime(2025, 5, 2, 6, 0))
    rows.summit(2, "late", datetime(2025, 5, 2, 18, 0))
    evening = datetime(2025, 5, 2, 19, 0, tzinfo=timezone.utc)
    assert summit(scrape(make_collector(now=evening)), "taken") == 2                         # UTC date
    assert summit(scrape(make_collector(now=evening, night_boundary=(17, 30))), "taken") == 1  # night began 17:30


def test_night_window_widens_when_the_night_is_longer_than_it(rows, make_collector, monkeypatch):
    monkeypatch.setattr(proc, "SUMMIT_WINDOW", 2)
    rows.summit(1, "old", datetime(2025, 5, 1, 6, 0))
    for i in range(2, 12):
        rows.summit(i, f"o{i}", datetime(2025, 5, 2, 6, i))
    assert summit(scrape(make_collector()), "taken") == 10


def test_golden_exposition(rows, make_collector, golden):
    _night(rows)
    rows.chip(1, "new", "M31.nightlyscience", faults=[(2, "ipp001"), (256, "ipp002"), (999, "ipp001")])
    rows.chip(2, "update", "ThreePi.nightlyscience", faults=[(5, "ipp003")], data_state="update")
    rows.insert("camRun", cam_id=1, chip_id=9, state="wait", label="M31.nightlyscience")
    rows.insert("distRun", dist_id=1, stage="warp", stage_id=1, label="ps_ud_QUB", state="new", fault=4)
    rows.insert("distComponent", dist_id=1, component="c1", fault=2)
    rows.insert("chipMask", label="ps_ud_QUB")
    rows.insert("warpRun", warp_id=1, state="new", label="M31.nightlyscience")
    rows.insert("warpSkyCellMap", warp_id=1, skycell_id="s1", tess_id="t", class_id="XY01", fault=3)
    rows.insert("Label", label="M31.nightlyscience", priority=400, active=1)
    rows.insert("Label", label="ThreePi.nightlyscience", priority=300, active=1)
    golden("processing.prom", scrape_text(make_collector()))
