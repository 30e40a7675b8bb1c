"""Nebulous volume rows → records: neb-host state from allocate/available, mounts, df figures and nebdiskd's placeholder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Iterable, Mapping, Sequence

from exporter.parsers import column_text

# neb-host sets up = 1/1, repair = 0/1, down = 0/0; 1/0 cannot be set with neb-host but can exist in the table.
VOLUME_STATES = ("up", "repair", "down", "allocate_only")
KIB = 1024  # mountedvol.total/used are df 1K-blocks
# nebdiskd writes total=1, used=1 when df gave nothing but the partition is in /etc/autofs/auto.data
PLACEHOLDER = (1, 1)


def volume_state(allocate, available) -> str:
    """The neb-host state for a volume's allocate/available flags (NULL counts as false)."""
    allocate, available = bool(allocate), bool(available)
    if allocate and available:
        return "up"
    if available:
        return "repair"
    if allocate:
        return "allocate_only"
    return "down"


@dataclass(frozen=True)
class Volume:
    """One nebulous volume as exported."""

    host: str
    volume: str
    state: str
    mounted: bool
    df_ok: bool
    size_bytes: int | None   # None when there are no real df figures (unmounted or placeholder)
    used_bytes: int | None


def parse_volume(row: Sequence) -> Volume:
    """Row (host, name, allocate, available, mounted, total, used) → Volume; raises ValueError on a malformed row."""
    if len(row) < 7 or row[1] is None:
        raise ValueError(f"malformed volume row: {row!r}")
    host, name, allocate, available, has_mount, raw_total, raw_used = row[:7]
    mounted = bool(has_mount)
    size = used = None
    if mounted and raw_total is not None and raw_used is not None:
        total_kib, used_kib = int(raw_total), int(raw_used)
        # anything at or below the placeholder is not a df answer (a real volume has more than one KiB)
        if (total_kib, used_kib) != PLACEHOLDER and total_kib > 1 and used_kib >= 0:
            size, used = total_kib * KIB, used_kib * KIB
    return Volume(host=column_text(host), volume=column_text(name), state=volume_state(allocate, available), mounted=mounted,
                  df_ok=size is not None, size_bytes=size, used_bytes=used)


def parse_volumes(rows: Iterable[Sequence], previous: Mapping[Hashable, Volume] | None = None,
                  remember: dict[Hashable, Volume] | None = None) -> tuple[list[Volume], int]:
    """All rows → (volumes sorted by host and name, number of malformed rows skipped).

    A row found in `previous` (row → Volume, from the last fetch) is not parsed again; every good row and its
    Volume go into `remember` when given. Between two fetches nearly every row is the same."""
    out, skipped = [], 0
    for row in rows:
        try:
            vol = previous.get(row) if previous else None
        except TypeError:  # an unhashable row is simply parsed
            vol = None
        if vol is None:
            try:
                vol = parse_volume(row)
            except (ValueError, TypeError):
                skipped += 1
                continue
        if remember is not None:
            try:
                remember[row] = vol
            except TypeError:
                pass
        out.append(vol)
    out.sort(key=lambda v: (v.host, v.volume))
    return out, skipped
