"""Processing-DB rows → records: fault-code buckets, pending runs, label priorities, the night's summit progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

# Stages in exposition order; the collector's SQL uses exactly these names.
STAGES = ("summitcopy", "registration", "chip", "camera", "fake", "warp", "stack", "diff", "destreak", "dist")

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


def fault_buckets(stage: str) -> tuple[str, ...]:
    """Every fault-label value a stage can produce, in order (the bounded set)."""
    codes = KNOWN_FAULTS + (SUMMIT_FAULTS if stage == "summitcopy" else ())
    return tuple(str(c) for c in sorted(codes)) + (OTHER,)


def fault_bucket(stage: str, code: int) -> str:
    """Map a raw fault code to its label value: the number when known for the stage, else `other`."""
    known = KNOWN_FAULTS + (SUMMIT_FAULTS if stage == "summitcopy" else ())
    return str(code) if code in known else OTHER


def run_states(stage: str) -> tuple[str, ...]:
    """The pending run states reported for a stage (every one is always present)."""
    return INTAKE_STATES if stage in INTAKE_STAGES else PENDING_STATES


def _text(value) -> str:
    if value is None:
        return NO_LABEL
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    return str(value)


@dataclass(frozen=True)
class ProcessingSnapshot:
    """Everything one fetch learned about one processing database, ready to expose."""

    faults: dict[tuple[str, str, str], int]          # (stage, label, bucket) → outstanding faults
    faults_by_host: dict[tuple[str, str], int]       # (stage, host) → outstanding faults
    runs: dict[tuple[str, str, str], int]            # (stage, label, state) → pending runs
    labels: dict[str, tuple[str, str]]               # label → (priority, active) from the Label table
    summit: dict[str, int]                           # status → exposures of the current night
    skipped: int = 0                                 # rows that did not fit (counted, logged by the collector)

    def active_pairs(self) -> list[tuple[str, str]]:
        """(stage, label) pairs with pending runs or outstanding faults, sorted."""
        return sorted({(s, l) for s, l, _ in self.faults} | {(s, l) for s, l, _ in self.runs})

    def active_labels(self) -> list[str]:
        """Labels with pending work, sorted."""
        return sorted({label for _, label in self.active_pairs()})


def parse_faults(rows: Iterable[Sequence]) -> tuple[dict, dict, int]:
    """Rows (stage, label, fault, host, count) → ({(stage, label, bucket): n}, {(stage, host): n}, skipped)."""
    faults: dict[tuple[str, str, str], int] = {}
    by_host: dict[tuple[str, str], int] = {}
    skipped = 0
    for row in rows:
        try:
            stage, label, code, host, count = _text(row[0]), _text(row[1]), int(row[2]), row[3], int(row[4])
        except (IndexError, TypeError, ValueError):
            skipped += 1
            continue
        if stage not in STAGES:
            skipped += 1
            continue
        if code == 0 or count <= 0:  # the SQL already drops these; a zero fault is not a fault
            continue
        key = (stage, label, fault_bucket(stage, code))
        faults[key] = faults.get(key, 0) + count
        if host is not None:  # destreak and dist keep no host per component
            hkey = (stage, _text(host))
            by_host[hkey] = by_host.get(hkey, 0) + count
    return faults, by_host, skipped


def parse_runs(rows: Iterable[Sequence]) -> tuple[dict, int]:
    """Rows (stage, label, state, count) → ({(stage, label, state): n}, skipped); unknown states are skipped."""
    runs: dict[tuple[str, str, str], int] = {}
    skipped = 0
    for row in rows:
        try:
            stage, label, state, count = _text(row[0]), _text(row[1]), _text(row[2]), int(row[3])
        except (IndexError, TypeError, ValueError):
            skipped += 1
            continue
        if stage not in STAGES or state not in run_states(stage):
            skipped += 1
            continue
        key = (stage, label, state)
        runs[key] = runs.get(key, 0) + count
    return runs, skipped


def parse_labels(rows: Iterable[Sequence]) -> dict[str, tuple[str, str]]:
    """Label-table rows (label, priority, active) → {label: (priority, active)} as label-value strings."""
    out = {}
    for row in rows:
        if len(row) < 3 or row[0] is None:
            continue
        priority = "" if row[1] is None else str(int(row[1]))
        active = "" if row[2] is None else str(int(row[2]))
        out[_text(row[0])] = (priority, active)
    return out


def is_object_exposure(exp_name, exp_type) -> bool:
    """nightly_science.pl check_summit_copy: only OBJECT exposures whose name does not start with 'c' count."""
    return _text(exp_type) == "OBJECT" and not _text(exp_name).startswith("c")


@dataclass(frozen=True)
class SummitRow:
    """One summit exposure of the night, aggregated over its imfiles by the night query."""

    exp_name: str
    exp_type: str
    summit_fault: int
    download_state: str | None
    imfiles: int          # summit imfiles (summitImfile rows)
    registered: int       # of those, with a non-NULL rawImfile.burntool_state
    burntooled: int       # of those, with abs(burntool_state) = BURNTOOL.STATE.GOOD
    other_faults: int     # download + registration faults on the exposure


def summit_row(row: Sequence) -> SummitRow:
    """Night-query row (exp_name, exp_type, summit_fault, download_state, imfiles, registered, burntooled, faults)."""
    return SummitRow(_text(row[0]), _text(row[1]), int(row[2] or 0), None if row[3] is None else _text(row[3]),
                     int(row[4] or 0), int(row[5] or 0), int(row[6] or 0), int(row[7] or 0))


def summarize_summit(rows: Iterable[SummitRow]) -> dict[str, int]:
    """Count OBJECT exposures by progress: taken, downloaded, registered, burntooled, faulted (all present)."""
    out = dict.fromkeys(SUMMIT_STATUSES, 0)
    for r in rows:
        if not is_object_exposure(r.exp_name, r.exp_type):
            continue
        out["taken"] += 1
        out["downloaded"] += r.download_state == "stop"
        complete = r.imfiles > 0
        out["registered"] += complete and r.registered == r.imfiles
        out["burntooled"] += complete and r.burntooled == r.imfiles
        out["faulted"] += r.summit_fault != 0 or r.other_faults > 0
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
