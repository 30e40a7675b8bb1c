"""Dashboard query cost on 7 days of backfilled data from the simulated site; prints p50/p99 and the slowest panels.

    .venv/bin/python benchmarks/dashboards.py [--days 7] [--interval 30] [--snapshots 40] [--size tiny|demo]
                                              [--hosts 60] [--repeat 3] [--work-dir DIR]

1. The simulated site (ippsim's demo: MariaDB, pantasks servers, the exporter) moves on `--snapshots` steps with
   a fault storm, reverts, disk filling and a host taken out on the way; the exporter is scraped after each step.
   A real node_exporter is scraped once.
2. Those snapshots become `--days` of samples every `--interval` seconds (gauges hold each snapshot's value for
   its share of the time, counters grow linearly between snapshots) in OpenMetrics text, plus node_exporter
   series for `--hosts` hosts (the scenario's names first) with a daily load cycle, plus `up` and scrape
   series; `promtool tsdb create-blocks-from openmetrics` turns each 2 h window into a TSDB block (one file
   per window: promtool reads its whole input once per block, so one 9.5 GB file took over an hour).
3. A real Prometheus opens the blocks; the recording rules of alerts/*.rules.yml are backfilled with
   `promtool tsdb create-blocks-from rules`, one pass per dependency level (a rule on a recorded series needs
   the pass before it).
4. Every panel query of every dashboard is run `--repeat` times (best time kept) over the dashboard's default
   range and over the whole backfilled range, with Grafana's step and $__rate_interval for a 30 s scrape.

Targets (issue 10): a whole dashboard's queries <= 1 s on 7 days, no single panel > 250 ms.
"""

from __future__ import annotations

import argparse
import io
import math
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from grafana.queries import Interval, PrometheusApi, default_range, expand, load_dashboards, targets, variable_values  # noqa: E402
from ippsim import demo_events  # noqa: E402
from ippsim import demo_procs as procs  # noqa: E402
from ippsim.demo import Demo, DemoOptions  # noqa: E402
from ippsim.procs import free_loopback_port  # noqa: E402

NODE_METRICS = ("node_uname_info", "node_cpu_seconds_total", "node_load15", "node_memory_MemAvailable_bytes",
                "node_memory_MemTotal_bytes", "node_filesystem_avail_bytes", "node_filesystem_size_bytes",
                "node_filesystem_readonly", "node_network_receive_bytes_total", "node_network_transmit_bytes_total",
                "node_disk_io_time_seconds_total")
# events applied on the way (snapshot index -> event), so faults, reverts, disks and hosts all change
STORY = {5: ("fault-storm", {"stage": "chip", "count": 25, "fault": 2}), 10: ("revert", {"stage": "chip"}),
         15: ("disk-fill", {"host": "ipp002", "fraction": 0.93}), 20: ("recurring-faults", {"stage": "warp"}),
         25: ("neb-host", {"host": "ipp003", "state": "repair"}), 30: ("fault-storm", {"count": 30, "fault": 5})}
Sample = tuple[str, tuple[tuple[str, str], ...]]


def read_exposition(text: str) -> tuple[dict[Sample, float], set[str]]:
    """Samples of one scrape keyed by (name, labels), and the names of the counter samples."""
    samples, counters = {}, set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
            if family.type == "counter":
                counters.add(sample.name)
    return samples, counters


def fetch(url: str) -> str:
    """GET a metrics page."""
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


def record_snapshots(work: Path, size: str, count: int) -> tuple[list[dict[Sample, float]], set[str], str, list[str]]:
    """Scrape the exporter after each of `count` site steps; also one node_exporter scrape and the host names."""
    port, node_port = free_loopback_port(), free_loopback_port()
    demo = Demo(DemoOptions(run_dir=work / "site", size=size, step=30.0, prometheus=False, ssh=False,
                            exporter_port=port), out=io.StringIO())
    node = None
    try:
        demo.build()
        node = procs.start_node_exporter(work, node_port)
        snapshots, counters = [], set()
        for step in range(count):
            if step in STORY:
                event, params = STORY[step]
                try:
                    demo_events.apply(demo.site, event, dict(params))
                except (ValueError, KeyError) as exc:
                    print(f"  event {event} refused: {exc}")
            demo.tick(step + 1)
            time.sleep(2.1)  # past the exporter's cache TTL, so each snapshot is a fresh collection
            samples, names = read_exposition(fetch(f"http://127.0.0.1:{port}/metrics"))
            snapshots.append(samples)
            counters |= names
        if node is None or not procs.wait_http(f"http://127.0.0.1:{node_port}/metrics", 10.0, node):
            raise RuntimeError("node_exporter is not installed or did not start")
        return snapshots, counters, fetch(f"http://127.0.0.1:{node_port}/metrics"), list(demo.site.hosts)
    finally:
        if node is not None:
            node.stop()
        demo.close()


def escape(value: str) -> str:
    """A label value in exposition syntax."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def series_name(name: str, labels: tuple[tuple[str, str], ...]) -> str:
    """name{label="value",...}."""
    return name + "{" + ",".join(f'{key}="{escape(value)}"' for key, value in labels) + "}"


BLOCK_SECONDS = 2 * 3600  # promtool cuts 2 h blocks and re-reads its whole input for each: one file per block


class Writer:
    """Collect series (name, labels, value function); write them block by block and let promtool cut blocks."""

    def __init__(self, times: list[int]) -> None:
        self.times, self.entries = times, []

    @property
    def samples(self) -> int:
        return len(self.entries) * len(self.times)

    def series(self, name: str, labels: dict[str, str], value_at) -> None:
        """Add one series: value_at(index, timestamp) gives its sample at each timestamp."""
        self.entries.append((series_name(name, tuple(sorted(labels.items()))), value_at))

    def backfill(self, work: Path, tsdb: Path) -> int:
        """Write each 2 h window (series sorted by name, OpenMetrics keeps a family together) and run promtool."""
        self.entries.sort(key=lambda entry: entry[0].split("{", 1)[0])
        windows = defaultdict(list)
        for index, timestamp in enumerate(self.times):
            windows[timestamp // BLOCK_SECONDS].append((index, timestamp))
        written = 0
        for window in windows.values():
            path = work / "window.om"
            with open(path, "w", buffering=1 << 20) as out:
                for key, value_at in self.entries:
                    out.writelines(f"{key} {value_at(i, t):.10g} {t}\n" for i, t in window)
                out.write("# EOF\n")
            written += path.stat().st_size
            run(["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", str(path), str(tsdb)])
        (work / "window.om").unlink(missing_ok=True)
        return written


def write_ipp(writer: Writer, snapshots: list[dict[Sample, float]], counters: set[str]) -> int:
    """Exporter series: gauges step through the snapshots, counters grow linearly between them."""
    keys = sorted({key for snapshot in snapshots for key in snapshot})
    per_snapshot = len(writer.times) / len(snapshots)
    for name, labels in keys:
        values = [snapshot.get((name, labels), math.nan) for snapshot in snapshots]
        if name in counters:
            def value_at(i, _t, values=values):
                position = min(i / per_snapshot, len(values) - 1.0)
                low = int(position)
                high = min(low + 1, len(values) - 1)
                return values[low] + (values[high] - values[low]) * (position - low)
        else:
            def value_at(i, _t, values=values):
                return values[min(int(i / per_snapshot), len(values) - 1)]
        writer.series(name, {**dict(labels), "job": "ipp", "instance": "127.0.0.1:8475"}, value_at)
    return len(keys)


def write_node(writer: Writer, node_text: str, hosts: list[str], seed: int = 1) -> int:
    """node_exporter series for every host (counters at a random steady rate, load with a daily cycle),
    and `up` and scrape series for every target."""
    samples, counters = read_exposition(node_text)
    rng = random.Random(seed)
    series = []
    for host in hosts:
        base_load, target = rng.uniform(0.3, 2.5), {"job": "node", "instance": f"{host}:9100", "host": host}
        for (name, labels), value in samples.items():
            if name not in NODE_METRICS:
                continue
            if name in counters:
                rate_per_s = rng.uniform(0.0, 1.0) * (1 if name == "node_cpu_seconds_total" else 1e6)
                value_at = lambda _i, t, v=value, r=rate_per_s: v + r * (t - writer.times[0])  # noqa: E731
            elif name == "node_load15":
                value_at = lambda _i, t, b=base_load: b * (1 + 0.5 * math.sin(2 * math.pi * t / 86400))  # noqa: E731
            else:
                value_at = lambda _i, _t, v=value: v  # noqa: E731
            series.append((name, {**dict(labels), **target}, value_at))
        series += [(metric, target, lambda _i, _t, v=value: v) for metric, value in
                   (("up", 1.0), ("scrape_duration_seconds", 0.05), ("scrape_samples_scraped", 300.0))]
    exporter = {"job": "ipp", "instance": "127.0.0.1:8475"}
    series += [(metric, exporter, lambda _i, _t, v=value: v) for metric, value in
               (("up", 1.0), ("scrape_duration_seconds", 0.4), ("scrape_samples_scraped", 3000.0))]
    for name, labels, value_at in series:
        writer.series(name, labels, value_at)
    return len(series)


def run(argv: list[str], timeout: float = 3600) -> str:
    """Run a tool; raise with its output when it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


class Prometheus:
    """A Prometheus on the backfilled TSDB (no scraping, no rules): only answers queries."""

    def __init__(self, work: Path, tsdb: Path) -> None:
        self.work, self.tsdb, self.child = work, tsdb, None
        self.port = free_loopback_port()
        (work / "prometheus.yml").write_text("global:\n  scrape_interval: 30s\nscrape_configs: []\n")
        self.api = PrometheusApi(f"http://127.0.0.1:{self.port}", timeout=120)

    def start(self) -> None:
        binary = shutil.which("prometheus") or procs.PROMETHEUS
        self.child = procs.Child("prometheus", [
            binary, f"--config.file={self.work / 'prometheus.yml'}", f"--storage.tsdb.path={self.tsdb}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=60d",
            "--query.max-samples=200000000"], self.work / "prometheus.log")
        if not procs.wait_http(f"{self.api.base_url}/-/ready", 120.0, self.child):
            raise RuntimeError(f"Prometheus did not start:\n{self.child.log_tail()}")

    def settle(self, quiet_seconds: float = 150.0, timeout: float = 3600.0) -> int:
        """Wait until Prometheus has compacted the backfilled blocks (its compaction loop runs every minute, so
        quiet for longer than that); return the number of blocks. Thousands of small overlapping blocks would make
        every query slower than on a server that has run for a week."""
        deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
        while time.monotonic() < deadline:
            text = fetch(f"{self.api.base_url}/metrics")
            state = dict(re.findall(r"^prometheus_tsdb_(blocks_loaded|compactions_total|vertical_compactions_total)"
                                    r" (\S+)$", text, flags=re.M))
            if state != last:
                last, since = state, time.monotonic()
            elif time.monotonic() - since >= quiet_seconds:
                break
            time.sleep(5)
        return int(float((last or {}).get("blocks_loaded", 0)))

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
            self.child = None


def rule_levels() -> list[list[dict]]:
    """Recording rules grouped by dependency depth (level 0 reads only exported series)."""
    rules = [rule for path in sorted((ROOT / "alerts").glob("*.rules.yml"))
             for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"] if "record" in rule]
    depth: dict[str, int] = {}
    while len(depth) < len(rules):
        for rule in rules:
            used = [other["record"] for other in rules if re.search(rf"(?<![\w:]){re.escape(other['record'])}(?![\w:])",
                                                                    rule["expr"])]
            if rule["record"] not in depth and all(name in depth for name in used):
                depth[rule["record"]] = 1 + max((depth[name] for name in used), default=-1)
    levels: list[list[dict]] = [[] for _ in range(max(depth.values()) + 1)]
    for rule in rules:
        levels[depth[rule["record"]]].append(rule)
    return levels


def backfill_rules(prom: Prometheus, work: Path, start: int, end: int, interval: int) -> None:
    """Backfill the recording rules without data yet, one promtool pass per dependency level, restarting
    Prometheus in between."""
    for level, every in enumerate(rule_levels()):
        rules = [rule for rule in every if not prom.api.get("/api/v1/query", query=f"count({rule['record']})",
                                                            time=end)["result"]]
        if not rules:
            continue
        rule_file = work / f"rules-{level}.yml"
        rule_file.write_text(yaml.safe_dump({"groups": [{"name": f"level{level}", "rules": rules}]}, sort_keys=False))
        out = work / f"rule-blocks-{level}"
        t0 = time.monotonic()
        run(["promtool", "tsdb", "create-blocks-from", "rules", f"--url={prom.api.base_url}", f"--start={start}",
             f"--end={end}", f"--eval-interval={interval}s", f"--output-dir={out}", "-q", str(rule_file)])
        prom.stop()
        for block in out.glob("*/"):
            shutil.move(str(block), prom.tsdb / block.name)
        prom.start()
        print(f"  recording rules level {level}: {len(rules)} rules backfilled in {time.monotonic() - t0:.0f}s")


def time_queries(api: PrometheusApi, end: float, full_range: float, repeat: int) -> dict:
    """{(uid, range name): {(panel id, title): seconds}}: each panel's targets, best of `repeat`, summed."""
    results: dict = defaultdict(dict)
    for uid, board in load_dashboards().items():
        for range_name, window in (("default", default_range(board)), ("7d", full_range)):
            values, firsts = variable_values(board, lambda selector, label, start=end - window: api.label_values(
                selector, label, start, end))
            interval = Interval.for_range(window, 30.0)
            for target in targets(board):
                chosen = {**values, target.repeat: firsts[target.repeat]} if target.repeat else values
                expr = expand(target.expr, chosen, interval)
                best = math.inf
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    api.run(expr, target.instant, end, interval)
                    best = min(best, time.perf_counter() - t0)
                key = (target.panel_id, target.title)
                results[(uid, range_name)][key] = results[(uid, range_name)].get(key, 0.0) + best
    return results


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def report(results: dict) -> None:
    """Per dashboard and range: panels, p50, p99, max and total; then the ten slowest panels."""
    print(f"\n{'dashboard':<14} {'range':<8} {'panels':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'total ms':>9}")
    for (uid, range_name), panels in sorted(results.items()):
        times = list(panels.values())
        print(f"{uid:<14} {range_name:<8} {len(times):>6} {1000 * statistics.median(times):>8.1f} "
              f"{1000 * percentile(times, 99):>8.1f} {1000 * max(times):>8.1f} {1000 * sum(times):>9.1f}")
    slowest = sorted(((t, uid, rng, pid, title) for (uid, rng), panels in results.items()
                      for (pid, title), t in panels.items()), reverse=True)[:10]
    print("\nslowest panels:")
    for seconds_taken, uid, range_name, panel_id, title in slowest:
        print(f"  {1000 * seconds_taken:8.1f} ms  {uid} #{panel_id} {title} ({range_name})")
    over = [(uid, rng) for (uid, rng), panels in results.items() if sum(panels.values()) > 1.0]
    slow = [(uid, pid) for (uid, _r), panels in results.items() for (pid, _t), t in panels.items() if t > 0.25]
    print(f"\ntargets: dashboards over 1 s total: {over or 'none'}; panels over 250 ms: {slow or 'none'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--interval", type=int, default=30)
    parser.add_argument("--snapshots", type=int, default=40)
    parser.add_argument("--size", choices=("tiny", "demo"), default="tiny")
    parser.add_argument("--hosts", type=int, default=60, help="node_exporter hosts (the scenario's first)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, help="keep the files here (default: a temporary directory)")
    parser.add_argument("--reuse", action="store_true",
                        help="time the TSDB a previous run left in --work-dir (new recording rules are backfilled)")
    args = parser.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="ipp-dash-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.reuse:
        start, end = (int(n) for n in (work / "range.txt").read_text().split())
    else:
        start, end = generate(args, work)
    prom = Prometheus(work, work / "tsdb")
    try:
        prom.start()
        backfill_rules(prom, work, start, end, args.interval)
        t0 = time.monotonic()
        blocks = prom.settle()
        print(f"compaction settled: {blocks} blocks ({time.monotonic() - t0:.0f}s)")
        report(time_queries(prom.api, float(end), float(end - start), args.repeat))
    finally:
        prom.stop()
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def generate(args: argparse.Namespace, work: Path) -> tuple[int, int]:
    """Record the site, backfill its series into work/tsdb; return the (start, end) of the data."""
    t0 = time.monotonic()
    snapshots, counters, node_text, hosts = record_snapshots(work, args.size, args.snapshots)
    hosts = (hosts + [f"ipp{n:03d}" for n in range(len(hosts) + 1, args.hosts + 1)])[:args.hosts]
    print(f"site: {len(snapshots)} snapshots of {len(snapshots[-1])} exporter samples ({time.monotonic() - t0:.0f}s)")
    end = int(time.time()) // args.interval * args.interval - 3600
    start = end - int(args.days * 86400)
    t0 = time.monotonic()
    writer = Writer(list(range(start, end + 1, args.interval)))
    ipp_series = write_ipp(writer, snapshots, counters)
    node_series = write_node(writer, node_text, hosts)
    tsdb = work / "tsdb"
    size_mb = writer.backfill(work, tsdb) / 1e6
    print(f"backfill: {ipp_series} exporter + {node_series} node series, {writer.samples / 1e6:.1f}M samples, "
          f"{size_mb:.0f} MB of OpenMetrics, promtool create-blocks-from openmetrics ({time.monotonic() - t0:.0f}s)")
    (work / "range.txt").write_text(f"{start} {end}\n")
    return start, end


if __name__ == "__main__":
    sys.exit(main())
