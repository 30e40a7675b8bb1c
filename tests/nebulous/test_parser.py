"""Pure nebulous row parsing: neb-host states, the df placeholder, malformed rows."""

import pytest

from exporter.parsers.nebulous import parse_volume, parse_volumes, volume_state


@pytest.mark.parametrize("allocate, available, state", [
    (1, 1, "up"), (0, 1, "repair"), (0, 0, "down"), (1, 0, "allocate_only"), (None, None, "down"), (True, None, "allocate_only")])
def test_volume_state(allocate, available, state):
    assert volume_state(allocate, available) == state


def test_placeholder_and_zero_total_are_not_df_figures():
    for total, used in ((1, 1), (0, 0)):
        vol = parse_volume(("h", "h.0", 1, 1, 1, total, used))
        assert (vol.mounted, vol.df_ok, vol.size_bytes, vol.used_bytes) == (True, False, None, None)
    real = parse_volume(("h", "h.0", 1, 1, 1, 1000, 500))
    assert (real.df_ok, real.size_bytes, real.used_bytes) == (True, 1024000, 512000)


def test_malformed_rows_are_counted_not_fatal():
    vols, skipped = parse_volumes([("b", "b.0", 1, 1, 0, None, None), ("a", None, 1, 1, 0, None, None), ("x",),
                                   ("a", "a.0", 1, 1, 1, "many", 2), (b"a\xe9", b"a.1", 0, 0, 0, None, None)])
    assert skipped == 3
    assert [(v.host, v.volume) for v in vols] == [("a\xe9", "a.1"), ("b", "b.0")]


def test_rows_seen_in_the_last_fetch_are_not_parsed_again():
    rows = [("b", "b.0", 1, 1, 1, 1000, 500), ("a", "a.0", 0, 1, 0, None, None), ("c", None, 1, 1, 0, None, None)]
    first: dict = {}
    vols, skipped = parse_volumes(rows, remember=first)
    assert [v.volume for v in vols] == ["a.0", "b.0"] and skipped == 1 and len(first) == 2
    changed = [rows[0], ("a", "a.0", 1, 1, 0, None, None), ["x", ["unhashable"]]]
    second: dict = {}
    again, skipped = parse_volumes(changed, previous=first, remember=second)
    assert again[1] is vols[1]  # b.0: the same row, the same Volume
    assert again[0] is not vols[0] and again[0].state == "up"  # a.0 changed: parsed again
    assert skipped == 1 and set(second) == {rows[0], changed[1]}
    assert parse_volumes(changed)[0] == again  # the memo never changes the answer
