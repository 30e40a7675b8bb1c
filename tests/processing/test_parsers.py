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


def test_summit_totals_row_has_every_status():
    assert p.parse_summit_totals((8, 6, 4, None, 3, 2)) == (
        {"taken": 8, "downloaded": 6, "registered": 4, "burntooled": 0, "faulted": 3}, 2)
    assert p.parse_summit_totals(()) == (dict.fromkeys(p.SUMMIT_STATUSES, 0), 0)


def test_masked_labels_add_up():
    assert p.parse_masked([("A", 0), ("B", 0), ("A", 3), (None, 1), ("C",)]) == {"A": 3, "B": 0}


def test_series_and_host_rows():
    faults, hosts, skipped = p.parse_faults([("dist", "L", 2, None, 4), ("chip", None, None, "h1", 2),
                                             ("chip", None, None, None, 1)])
    assert faults == {("dist", "L", "2"): 4}
    assert hosts == {("chip", "h1"): 2}
    assert skipped == 1  # neither a code nor a host


def test_malformed_rows_are_counted():
    faults, hosts, skipped = p.parse_faults([("chip", "L", 2, "h", 3), ("chip", "L", 9, "h", 1), ("nope", "L", 2, None, 1),
                                             ("chip", "L", "x", None, 1), ("chip",), ("chip", None, 0, None, 5)])
    assert faults == {("chip", "L", "2"): 3, ("chip", "L", "other"): 1}
    assert hosts == {("chip", "h"): 4}
    assert skipped == 3
    runs, skipped = p.parse_runs([("chip", "L", "new", 2), ("chip", "L", "full", 1), ("registration", b"R", "run", 1)])
    assert runs == {("chip", "L", "new"): 2, ("registration", "R", "run"): 1}
    assert skipped == 1
