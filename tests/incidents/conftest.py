"""The incident tests' running demo (one per module) and the table printed at the end of the run."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # demo_stack, loop

from loop import REPORT  # noqa: E402

COLUMNS = (("phase", 8), ("incident", 34), ("alert", 36), ("fire", 6), ("receiver", 36), ("action", 44),
           ("resolve", 8))


def pytest_terminal_summary(terminalreporter) -> None:
    """incident, alert, time to fire, receiver, action, time to resolve (seconds after injection, --speed 60)."""
    if not REPORT:
        return
    write = terminalreporter.write_line
    terminalreporter.section("incident loop (times in real seconds after injection; 1 s = 1 simulated minute)")
    write("  ".join(name.ljust(width) for name, width in COLUMNS))
    for row in REPORT:
        write("  ".join(str(row[name])[:width].ljust(width) for name, width in COLUMNS))
        if row.get("notes"):
            write(f"    -> {row['notes']}")
