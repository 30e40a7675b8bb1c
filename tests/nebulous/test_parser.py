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
