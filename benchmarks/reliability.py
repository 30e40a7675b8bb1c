"""Reliability benchmark: a million fuzz inputs into the pure parsers, then a 10-minute soak of the real exporter.

Prints figures; asserts nothing (the bounded versions are tests/reliability/). Run:
    .venv/bin/python benchmarks/reliability.py [--fuzz-inputs 1000000] [--soak-seconds 600] [--scrapers 20]
Needs mariadbd (and sshd for the SSH server of the soak; --no-ssh without it).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "reliability"), str(ROOT / "tests"), str(ROOT)]

import fuzz_targets  # noqa: E402  (tests/reliability: the same targets the hypothesis tests use)


def fuzz_worker(args: tuple[int, int]) -> tuple[dict[str, int], list[str], float]:
    """Feed `count` mutated inputs (round-robin over the targets) from one seed; return counts and failures."""
    seed, count = args
    rng = random.Random(seed)
    seeds = fuzz_targets.seed_texts()
    targets = list(fuzz_targets.TARGETS)
    counts = dict.fromkeys(targets, 0)
    failures: list[str] = []
    start = time.perf_counter()
    for n in range(count):
        target = targets[n % len(targets)]
        value = fuzz_targets.random_input(target, seeds, rng)
        try:
            fuzz_targets.feed(target, value)
        except Exception:  # an untyped exception is the finding this benchmark looks for
            if len(failures) < 20:
                failures.append(f"{target}: {value!r:.300}\n{traceback.format_exc(limit=3)}")
        counts[target] += 1
    return counts, failures, time.perf_counter() - start


def run_fuzz(total: int, processes: int) -> None:
    """Split `total` inputs over `processes` workers and print the figures."""
    share = -(-total // processes)
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(fuzz_worker, [(1000 + n, share) for n in range(processes)])
    wall = time.perf_counter() - start
    counts: dict[str, int] = {}
    failures = [f for _, found, _ in results for f in found]
    for found, _, _ in results:
        for target, n in found.items():
            counts[target] = counts.get(target, 0) + n
    fed = sum(counts.values())
    print(f"fuzz: {fed} inputs in {wall:.1f}s with {processes} processes ({fed / wall:.0f} inputs/s); "
          f"untyped exceptions: {len(failures)}")
    for target, n in sorted(counts.items()):
        print(f"  {target:14s} {n:9d}")
    for failure in failures[:5]:
        print("FAILURE", failure)


def run_soak(seconds: float, scrapers: int, ssh: bool, arenas: str) -> None:
    """Run the soak and print its figures."""
    from soak import soak
    result = soak(seconds, scrapers=scrapers, ssh=ssh, arenas=arenas)
    print(f"soak (MALLOC_ARENA_MAX={arenas if arenas != '0' else 'glibc default'}): {result.summary()}")
    print(f"soak limits: RSS growth {result.rss_growth * 100:+.1f} % (limit 5 %), fds {result.before.fds} -> "
          f"{result.after.fds}, threads {result.before.threads} -> {result.after.threads}, "
          f"{result.over_budget} scrapes over budget, {result.failed} failed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz-inputs", type=int, default=1_000_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--soak-seconds", type=float, default=600.0)
    parser.add_argument("--scrapers", type=int, default=20)
    parser.add_argument("--no-ssh", action="store_true", help="soak without the SSH pantasks server")
    parser.add_argument("--malloc-arena-max", default="2", help="the exporter's MALLOC_ARENA_MAX (0: glibc's default)")
    args = parser.parse_args(argv)
    if args.fuzz_inputs > 0:
        run_fuzz(args.fuzz_inputs, args.processes)
    if args.soak_seconds > 0:
        run_soak(args.soak_seconds, args.scrapers, not args.no_ssh, args.malloc_arena_max)
    return 0


if __name__ == "__main__":
    sys.exit(main())
