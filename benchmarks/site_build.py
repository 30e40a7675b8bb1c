"""Print simulated-site build time and rows/s for 100 k, 1 M (and opt-in 10 M) component rows.

Usage: python benchmarks/site_build.py [--real-site] [100k] [1M] [10M]   (default: 100k 1M). Not run in CI.
--real-site builds ScenarioSpec.real_site (issue 12's active workload on top of the history).
"""

from __future__ import annotations

import sys
import tempfile
import time

from ippsim.mariadb import MariaDBServer
from ippsim.scenario import ScenarioSpec, build
from ippsim.site import Accounts, create_site

SIZES = {"100k": 100_000, "1M": 1_000_000, "10M": 10_000_000}


def _progress(label: str):
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] > 5 or done == total:
            last[0] = now
            print(f"  {label}: {done:,}/{total:,} rows", file=sys.stderr, flush=True)
    return report


def main(argv: list[str]) -> int:
    """Build each requested size into a fresh throwaway server and print the figures."""
    real_site = "--real-site" in argv
    names = [a for a in argv if a != "--real-site"] or ["100k", "1M"]
    unknown = [n for n in names if n not in SIZES]
    if unknown:
        print(f"unknown size(s) {unknown}; choose from {list(SIZES)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ippsim-bench-") as tmp, \
            MariaDBServer(tmp, buffer_pool="1G") as root:
        accounts = Accounts("bench-rw", "bench-ro", "bench-neb", "bench-neb-ro")
        print(f"{'size':>6} {'component rows':>15} {'all rows':>12} {'seconds':>9} {'rows/s':>10}")
        for name in names:
            create_site(root, accounts)
            spec = ScenarioSpec.real_site(SIZES[name]) if real_site else ScenarioSpec.for_component_rows(SIZES[name])
            result = build(root, spec, progress=_progress(name))
            print(f"{name:>6} {result.component_rows:>15,} {result.rows:>12,} {result.seconds:>9.1f}"
                  f" {result.rows / result.seconds:>10,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
