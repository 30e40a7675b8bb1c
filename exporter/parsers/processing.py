"""Processing-DB rows → records: fault-code buckets, pending runs, label priorities, the night's summit progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache, cached_property
from typing import Iterable, Sequence

from exporter.parsers import column_text

# Stages in exposition order; the collector's SQL uses exactly these names.
STAGES = ("summitcopy", "registration", "chip", "camera", "fake", "warp", "warp_overlap", "stack", "diff", "magic",
          "destreak", "dist", "publish")
# warpSkyCellMap faults belong to warp runs: every label with pending warp runs also gets warp_overlap series
SHADOW_STAGES = {"warp": "warp_overlap"}

# psExit.h codes 1-6, 26 = PXTOOL_DO_NOT_REVERT_FAULT, 256 = EXIT_CRASH_ERR (pantasks saw the job crash).
KNOWN_FAULTS = (1, 2, 3, 4, 5, 6, 26, 256)
# summit_copy.pl / dsget exit codes that pztool -clearcommonfaults knows (HTTP-like), plus 110 (exposure dropped).
SUMMIT_FAULTS = (104, 110, 115, 200, 202, 203, 255)
OTHER = "other"

# Run states that mean "work still to do" (pxIsValidState); summit copy and registration use `run`.
PENDING_STATES = ("new", "update", "wait", "error_cleaned", "error_purged", "error_scrubbed")
INTAKE_STATES = ("run",)
INTAKE_STAGES = ("summitcopy", "registration")

SUMMIT_STATUSES = ("taken", "downloaded", "registered", "burntooled", "faulted")
BURNTOOL_GOOD = 14  # BURNTOOL.STATE.GOOD for gpc1 (pantasks default); abs() of it means done, -1 means running
NO_LABEL = ""  # summit copy has no label column; a NULL label is shown as the empty string


def _known_faults(stage: str) -> frozenset[int]:
    return frozenset(KNOWN_FAULTS + (SUMMIT_FAULTS if stage == "summitcopy" else ()))


_KNOWN = {stage: _known_faults(stage) for stage in STAGES}


@cache
def fault_buckets(stage: str) -> tuple[str, ...]:
    """Every fault-label value a stage can produce, in order (the bounded set)."""
    return tuple(str(c) for c in sorted(_known_faults(stage))) + (OTHER,)


def fault_bucket(stage: str, code: int) -> str:
    """Map a raw fault code to its label value: the number when known for the stage, else `other`."""
    known = _KNOWN.get(stage)
    return str(code) if code in (_known_faults(stage) if known is None else known) else OTHER


def run_states(stage: str) -> tuple[str, ...]:
    """The pending run states reported for a stage (every one is always present)."""
    return INTAKE_STATES if stage in INTAKE_STAGES else PENDING_STATES


@dataclass(frozen=True)
class ProcessingSnapshot:
    """Everything one fetch learned about one processing database, ready to expose."""

    faults: dict[tuple[str, str, str], int]          # (stage, label, bucket) → outstanding faults
    faults_by_host: dict[tuple[str, str], int]       # (stage, host) → outstanding faults
    runs: dict[tuple[str, str, str], int]            # (stage, label, state) → pending runs
    labels: dict[str, tuple[str, str]]               # label → (priority, active) from the Label table
    summit: dict[str, int]                           # status → exposures of the current night
    skipped: int = 0                                 # rows that did not fit (counted, logged by the collector)
    masked: dict[str, int] = field(default_factory=dict)  # chipMask label → its 'new' chip runs held back
    burntool_running: int = 0                        # tonight's imfiles at burntool_state -1

    @cached_property
    def _active_pairs(self) -> list[tuple[str, str]]:
        pairs = {(s, l) for s, l, _ in self.faults} | {(s, l) for s, l, _ in self.runs}
        return sorted(pairs | {(SHADOW_STAGES[s], l) for s, l in pairs if s in SHADOW_STAGES})

    def active_pairs(self) -> list[tuple[str, str]]:
        """(stage, label) pairs with pending runs or outstanding faults, sorted (worked out once; do not modify)."""
        return self._active_pairs

    def run_pairs(self) -> list[tuple[str, str]]:
        """active_pairs() of stages that have run tables (warp_overlap has none of its own)."""
        return [(s, l) for s, l in self.active_pairs() if s not in SHADOW_STAGES.values()]

    def active_labels(self) -> list[str]:
        """Labels with pending work, sorted."""
        return sorted({label for _, label in self.active_pairs()})


def parse_faults(rows: Iterable[Sequence]) -> tuple[dict, dict, int]:
    """Rows (stage, label, fault, host, count) → ({(stage, label, bucket): n}, {(stage, host): n}, skipped).

    The statement sends series rows (host NULL) and per-host rows (fault NULL); a row with both counts in both."""
    faults: dict[tuple[str, str, str], int] = {}
    by_host: dict[tuple[str, str], int] = {}
    skipped = 0
    for row in rows:
        try:
            stage, label, code, host, count = column_text(row[0]), column_text(row[1]), row[2], row[3], int(row[4])
            code = None if code is None else int(code)
        except (IndexError, TypeError, ValueError):
            skipped += 1
            continue
        if stage not in STAGES or (code is None and host is None):
            skipped += 1
            continue
        if code == 0 or count <= 0:  # the SQL already drops these; a zero fault is not a fault
            continue
        if code is not None:
            key = (stage, label, fault_bucket(stage, code))
            faults[key] = faults.get(key, 0) + count
        if host is not None:  # several tables keep no host per component
            hkey = (stage, column_text(host))
            by_host[hkey] = by_host.get(hkey, 0) + count
    return faults, by_host, skipped


def parse_runs(rows: Iterable[Sequence]) -> tuple[dict, int]:
    """Rows (stage, label, state, count) → ({(stage, label, state): n}, skipped); unknown states are skipped."""
    runs: dict[tuple[str, str, str], int] = {}
    skipped = 0
    for row in rows:
        try:
            stage, label, state, count = column_text(row[0]), column_text(row[1]), column_text(row[2]), int(row[3])
        except (IndexError, TypeError, ValueError):
            skipped += 1
            continue
        if stage not in STAGES or state not in run_states(stage):
            skipped += 1
            continue
        key = (stage, label, state)
        runs[key] = runs.get(key, 0) + count
    return runs, skipped


def parse_label_priorities(rows: Iterable[Sequence]) -> dict[str, tuple[str, str]]:
    """Label-table rows (label, priority, active) → {label: (priority, active)} as label-value strings."""
    out = {}
    for row in rows:
        if len(row) < 3 or row[0] is None:
            continue
        priority = "" if row[1] is None else str(int(row[1]))
        active = "" if row[2] is None else str(int(row[2]))
        out[column_text(row[0])] = (priority, active)
    return out


def parse_summit_totals(row: Sequence) -> tuple[dict[str, int], int]:
    """The night query's one row (taken, downloaded, registered, burntooled, faulted, imfiles at burntool -1)
    → ({status: exposures} with every status present, imfiles at -1); a missing or NULL value counts 0."""
    values = [int(v or 0) for v in tuple(row)[:len(SUMMIT_STATUSES) + 1]]
    values += [0] * (len(SUMMIT_STATUSES) + 1 - len(values))
    return dict(zip(SUMMIT_STATUSES, values, strict=False)), values[len(SUMMIT_STATUSES)]


def parse_masked(rows: Iterable[Sequence]) -> dict[str, int]:
    """chipMask rows (label, held-back runs) → {label: runs}; each mask label appears, 0 when nothing waits."""
    out: dict[str, int] = {}
    for row in rows:
        if len(row) < 2 or row[0] is None:
            continue
        label = column_text(row[0])
        out[label] = out.get(label, 0) + int(row[1] or 0)
    return out


def night_window(now: datetime, boundary: tuple[int, int]) -> tuple[datetime, datetime]:
    """The current observing night [start, end) in naive UTC: it starts at the latest boundary time ≤ now."""
    if now.tzinfo is not None:
        now = now.astimezone(timezone.utc).replace(tzinfo=None)
    hour, minute = boundary
    start = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if start > now:
        start -= timedelta(days=1)
    return start, start + timedelta(days=1)
