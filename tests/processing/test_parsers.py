"""Pure processing-row parsing: fault buckets, night windows, summit aggregation, malformed rows."""

from datetime import datetime, timedelta, timezone

import pytest

from exporter.parsers import processing as p


@pytest.mark.parametrize("stage, code, bucket", [
    ("chip", 2, "2"), ("chip", 256, "256"), ("chip", 26, "26"), ("chip", 7, "other"), ("chip", 203, "other"),
    ("summitcopy", 203, "203"), ("summitcopy", 110, "110"), ("summitcopy", 5, "5"), ("summitcopy", 999, "other"),
    ("diff", -1, "other")])
def test_fault_bucket(stage, code, bucket):
    assert p.fault_bucket(stage, code) == bucket
    assert bucket in p.fault_buckets(stage)


@pytest.mark.parametrize("now, boundary, start", [
    (datetime(2025, 5, 2, 12, 0), (0, 0), datetime(2025, 5, 2)),
    (datetime(2025, 5, 2, 12, 0), (17, 30), datetime(2025, 5, 1, 17, 30)),
    (datetime(2025, 5, 2, 17, 30), (17, 30), datetime(2025, 5, 2, 17, 30)),
    (datetime(2025, 5, 2, 2, 0, tzinfo=timezone(timedelta(hours=-10))), (0, 0), datetime(2025, 5, 2))])
def test_night_window(now, boundary, start):
    assert p.night_window(now, boundary) == (start, start + timedelta(days=1))


def test_summary_filters_like_check_summit_copy():
    rows = [p.SummitRow("o1", "OBJECT", 0, "stop", 2, 2, 2, 0), p.SummitRow("c2", "OBJECT", 3, None, 0, 0, 0, 0),
            p.SummitRow("d3", "DARK", 3, None, 0, 0, 0, 0), p.SummitRow("o4", "OBJECT", 0, "run", 2, 0, 0, 1)]
    assert p.summarize_summit(rows) == {"taken": 2, "downloaded": 1, "registered": 1, "burntooled": 1, "faulted": 1}


def test_malformed_rows_are_counted():
    faults, hosts, skipped = p.parse_faults([("chip", "L", 2, "h", 3), ("chip", "L", 9, "h", 1), ("nope", "L", 2, None, 1),
                                             ("chip", "L", "x", None, 1), ("chip",), ("chip", None, 0, None, 5)])
    assert faults == {("chip", "L", "2"): 3, ("chip", "L", "other"): 1}
    assert hosts == {("chip", "h"): 4}
    assert skipped == 3
    runs, skipped = p.parse_runs([("chip", "L", "new", 2), ("chip", "L", "full", 1), ("registration", b"R", "run", 1)])
    assert runs == {("chip", "L", "new"): 2, ("registration", "R", "run"): 1}
    assert skipped == 1
