"""Benchmark the pantasks source: parse throughput and scrape latency (prints figures; not a test).

Run: .venv/bin/python benchmarks/pantasks.py
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "pantasks"))
sys.path.insert(0, str(ROOT))

from make_fixtures import list_jobs, status, taskstats  # noqa: E402  (the fixture printer, same C formats)

from exporter.collectors.pantasks import PantasksCollector  # noqa: E402
from exporter.config import PantasksServer  # noqa: E402
from exporter.parsers.pantasks import parse_status, parse_taskstats  # noqa: E402
from exporter.transport import LocalRunner  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "pantasks"
FAKE_CLIENT = str(FIXTURES / "bin" / "fake_pantasks_client")


def big_status(n: int) -> str:
    tasks = [(f"task.{i:05d}.run", i % 3 != 0, i % 5 != 0, i * 7, i * 5, i, i % 2, "script.pl") for i in range(n)]
    jobs = [(i, f"task.{i:05d}.run", "BUSY", "script.pl") for i in range(min(n, 500))]
    return status(tasks, jobs) if jobs else status(tasks, []) + list_jobs([])


def bench_parse(n: int = 5000, repeat: int = 20) -> None:
    text = big_status(n)
    parse_status(text)  # warm up
    start = time.perf_counter()
    for _ in range(repeat):
        report = parse_status(text)
    took = (time.perf_counter() - start) / repeat
    assert len(report.tasks) == n and report.errors == 0
    print(f"parse_status: {n} task rows in {took * 1000:.1f} ms -> {n / took:,.0f} rows/s")
    rows = [(f"task.{i:05d}.run", True, True, (i, 1.0, 2.5, 9.0), (i, 1.0, 2.5, 9.0), (0, -1.0, 0.0, 0.0))
            for i in range(n)]
    stats = taskstats(rows)
    start = time.perf_counter()
    for _ in range(repeat):
        timing = parse_taskstats(stats)
    took_stats = (time.perf_counter() - start) / repeat
    assert len(timing.tasks) == n and timing.errors == 0
    print(f"parse_taskstats: {n} task rows in {took_stats * 1000:.1f} ms -> {n / took_stats:,.0f} rows/s "
          f"({took_stats / took:.2f}x parse_status, measured side by side)")


def make_servers(root: Path, count: int) -> list[PantasksServer]:
    servers = []
    for i in range(count):
        directory = root / f"server{i}"
        directory.mkdir()
        (directory / "ptolemy.rc").write_text(
            f"FAKE_STATUS {FIXTURES / 'status.stdscience.txt'}\nFAKE_LABELS {FIXTURES / 'show.labels.stdscience.txt'}\n"
            f"FAKE_CONTROLLER {FIXTURES / 'controller-status.hosts.txt'}\nFAKE_NS {FIXTURES / 'ns.show.dates.current.txt'}\n")
        servers.append(PantasksServer(name=f"server{i}", directory=str(directory), client=FAKE_CLIENT, timeout=20))
    return servers


def bench_scrape(count: int = 10, scrapers: int = 8) -> None:
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=16) as pool:
        servers = make_servers(Path(tmp), count)
        # ttl 0: every scrape starts fresh fetches (cold), unless another scrape's fetch is in flight
        collector = PantasksCollector(tuple(servers), {"": LocalRunner()}, pool, ttl=0.0, max_stale=60.0)
        start = time.perf_counter()
        collector.collect(time.monotonic() + 30)
        print(f"cold scrape, {count} local servers: {(time.perf_counter() - start) * 1000:.0f} ms")

        durations: list[float] = []

        def one() -> None:
            t0 = time.perf_counter()
            collector.collect(time.monotonic() + 30)
            durations.append(time.perf_counter() - t0)

        before = sum(f.fetches for f in collector.flights.values())
        threads = [threading.Thread(target=one) for _ in range(scrapers)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        wall = time.perf_counter() - start
        fetches = sum(f.fetches for f in collector.flights.values()) - before
        print(f"{scrapers} concurrent scrapes, {count} servers: wall {wall * 1000:.0f} ms, "
              f"max {max(durations) * 1000:.0f} ms, client runs {fetches} (single-flight shares in-flight fetches)")

        cached = PantasksCollector(tuple(servers), {"": LocalRunner()}, pool, ttl=60.0, max_stale=60.0)
        cached.collect(time.monotonic() + 30)
        start = time.perf_counter()
        for _ in range(20):
            cached.collect(time.monotonic() + 30)
        print(f"cached scrape, {count} servers: {(time.perf_counter() - start) / 20 * 1000:.2f} ms")


if __name__ == "__main__":
    bench_parse()
    bench_scrape()
