"""What the reliability suite measured, printed at the end of the run: pitfalls survived, fuzz counts, figures."""

from __future__ import annotations

import threading

import pytest

# The "Pitfalls" list of prior-art.md (shared research notes), in its order; each has one test named after it.
PITFALLS = {
    1: "parser crash on unexpected output",
    2: "a collector error ends the process or blanks the page",
    3: "no timeout, hung scrape",
    4: "paramiko deadlock on large output",
    5: "overlapping scrapes pile onto the backend",
    6: "empty results mishandled",
    7: "connection loss never recovered",
    8: "cardinality blow-ups",
    9: "filtering hides important states",
    10: "duplicate remediation from webhook retries and repeats",
    11: "resolved kills a half-done action",
    12: "command injection via labels/annotations",
    13: "unauthenticated or GET-triggered actions",
    14: "I/O at import/registration",
    15: "naming/exposition lint",
    16: "SQL injection from string-built queries",
    17: "stale data looks healthy",
    18: "rule/dashboard files failing open",
}

_lock = threading.Lock()
_figures: dict[str, str] = {}
_fuzz: dict[str, int] = {}
pitfall_outcomes: dict[int, str] = {}
session_outcomes: dict[str, str] = {}  # every test of this session: node id -> passed | failed | skipped


def pitfall(number: int):
    """Mark a test as the one reproducing pitfall `number` of the list."""
    assert number in PITFALLS, number
    return pytest.mark.pitfall(number)


def figure(name: str, text: str) -> None:
    """Record one measured figure for the end-of-run summary."""
    with _lock:
        _figures[name] = text


def count_fuzz(target: str, n: int = 1) -> None:
    """Count `n` fuzz inputs fed to `target`."""
    with _lock:
        _fuzz[target] = _fuzz.get(target, 0) + n


def summary_lines() -> list[str]:
    """The lines printed at the end of the run (empty when no reliability test ran)."""
    lines: list[str] = []
    if pitfall_outcomes:
        survived = sorted(n for n, outcome in pitfall_outcomes.items() if outcome == "passed")
        lines.append(f"pitfalls survived {len(survived)}/{len(PITFALLS)}")
        for number, name in PITFALLS.items():
            lines.append(f"  {number:2d}. {name}: {pitfall_outcomes.get(number, 'not run')}")
    if _fuzz:
        lines.append(f"fuzz inputs: {sum(_fuzz.values())} in all (an untyped exception fails its test) "
                     f"({', '.join(f'{k} {v}' for k, v in sorted(_fuzz.items()))})")
    lines += [f"{name}: {text}" for name, text in sorted(_figures.items())]
    return lines
