"""Scrape serving at real-site size: render once per fetch, scrape storms, RSS; prints figures and targets.

    .venv/bin/python benchmarks/scrape.py [--history 20k] [--servers 10] [--tasks 300] [--rounds 10]
                                          [--scrapes 1000]

One run builds a real-size simulated site (ScenarioSpec.real_site: ~5 000 outstanding faults, 400 nebulous
volumes, `--history` rows of history) in a private MariaDB, plus `--servers` simulated pantasks servers with
`--tasks` tasks each, and starts the real exporter (`python -m exporter`) twice on loopback: cache_ttl 0 (every
scrape fetches everything) and cache_ttl 1h (every scrape after the first is served from the cache). Figures:
- uncached scrapes: duration of each, against the scrape budget (target: all within it);
- side by side in this process on the same data: building + rendering the families on every scrape (what each
  scrape cost before render-once) vs serving the cached bytes, and the ratio;
- 20 concurrent cached scrapes (target p99 ≤ 25 ms) and 200 concurrent (target: none fails, p99 ≤ 250 ms),
  each scraper with Accept-Encoding: gzip as Prometheus sends it, from 20 client processes;
- exporter RSS after `--scrapes` scrapes (target ≤ 80 MB).
The machine is shared and noisy: compare the ratios, and rerun before trusting a single absolute figure.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from exporter.collectors import Exporter  # noqa: E402
from exporter.config import config_from_data  # noqa: E402
from exporter.exposition import LineMemo, Piece  # noqa: E402
from ippsim import scenario  # noqa: E402
from ippsim.mariadb import MariaDBServer  # noqa: E402
from ippsim.pantasks import sites, state  # noqa: E402
from ippsim.pantasks.wrapper import write_client  # noqa: E402
from ippsim.procs import free_loopback_port  # noqa: E402
from ippsim.site import Accounts, create_site  # noqa: E402

ACCOUNTS = Accounts("scrape-rw", "scrape-ro", "scrape-nrw", "scrape-nro")
BUDGET = 10.0  # the default scrape_timeout


def parse_size(text: str) -> int:
    """20k → 20000, 1M → 1000000."""
    units = {"k": 1000, "m": 1_000_000}
    text = text.strip().lower()
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def pantasks_servers(base: Path, count: int, tasks: int) -> list[dict]:
    """`count` simulated stdscience-like servers with `tasks` tasks each; their config entries."""
    client = write_client(base / "bin")
    servers = []
    for i in range(count):
        directory = sites.create_server(base / f"server{i:02d}", "stdscience", seed=i)
        with state.modify(directory) as data:
            template = data["tasks"]
            data["tasks"] = [dict(template[n % len(template)], name=f"{template[n % len(template)]['name']}.{n:03d}")
                             for n in range(tasks)]
        servers.append({"name": f"server{i:02d}", "directory": str(directory), "client": str(client),
                        "timeout": "8s"})
    return servers


def exporter_config(site, servers: list[dict], ttl: str) -> dict:
    os.environ["SCRAPE_RO"], os.environ["SCRAPE_NRO"] = ACCOUNTS.ipp_ro_password, ACCOUNTS.neb_ro_password
    return {
        "exporter": {"cache_ttl": ttl, "max_stale": "1h", "scrape_timeout": f"{BUDGET:g}s", "timeout_offset": 0},
        "pantasks": {"servers": servers, "max_workers": 10},
        "processing": {"databases": [{"dbname": "gpc1", "user": "ipp_ro", "password_env": "SCRAPE_RO",
                                      "unix_socket": site.socket}]},
        "nebulous": {"user": "neb_ro", "password_env": "SCRAPE_NRO", "unix_socket": site.socket},
    }


class Served:
    """The exporter as its own process on a loopback port."""

    def __init__(self, config: dict, base: Path, name: str) -> None:
        path = base / f"{name}.yml"
        path.write_text(yaml.safe_dump(config))
        self.port = free_loopback_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "exporter", "--config.file", str(path),
                                      "--web.listen-address", f"127.0.0.1:{self.port}", "--log.level", "error"],
                                     cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.scrape(timeout=30)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"exporter {name} did not start: {self.proc.stderr.read().decode()}")

    def scrape(self, timeout: float = 30, decode: bool = False) -> tuple[float, int]:
        """One gzip scrape over a new connection: (seconds until the body is read, size; decoded if asked)."""
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise OSError(f"HTTP {response.status}")
        finally:
            conn.close()
        took = time.perf_counter() - start  # decoding is the client's cost, not the exporter's
        gzipped = response.getheader("Content-Encoding") == "gzip"
        return took, len(gzip.decompress(body) if decode and gzipped else body)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """User + system CPU time the exporter process has used."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _scrape_once(port: int) -> float | None:
    """One gzip scrape on a new connection; its latency, or None when it failed."""
    start = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        finally:
            conn.close()
    except OSError:
        return None
    return time.perf_counter() - start if ok else None


def _client_process(port: int, threads: int, start_at: float) -> list[float | None]:
    """In a client process: `threads` scrapes released together at `start_at` (time.time)."""
    results: list[float | None] = []
    lock = threading.Lock()

    def one() -> None:
        time.sleep(max(0.0, start_at - time.time()))
        latency = _scrape_once(port)
        with lock:
            results.append(latency)

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=90)
    return results


def storm(served: Served, clients: int, rounds: int, processes: int = 20) -> tuple[list[float], int]:
    """`rounds` times, `clients` scrapers released at once from `processes` client processes (so that the
    client's own GIL does not queue the replies); (latencies, failures)."""
    latencies: list[float] = []
    failures = 0
    with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(abs, range(processes)))  # start the client processes before timing anything
        for _ in range(rounds):
            start_at = time.time() + 0.5
            shares = [clients // processes + (1 if n < clients % processes else 0) for n in range(processes)]
            futures = [pool.submit(_client_process, served.port, share, start_at) for share in shares if share]
            for future in futures:
                for latency in future.result(timeout=120):
                    if latency is None:
                        failures += 1
                    else:
                        latencies.append(latency)
    return latencies, failures


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def _direct(exporter: Exporter) -> int:
    """Build every collector's samples and render them with the direct renderer, nothing remembered; the size."""
    deadline = time.monotonic() + 60
    return sum(len(Piece.render(c.request()(deadline).built(), memo=LineMemo()).text) for c in exporter.collectors)


def side_by_side(config: dict, repeat: int) -> tuple[float, float, float, int]:
    """Median ms of building + rendering every scrape (prometheus_client objects and generate_latest; the direct
    renderer with nothing reused) and of serving the cached bytes, on the same cached data in this process."""
    exporter = Exporter(config_from_data(config))
    try:
        exporter.expose(60.0)  # fetch once; the cache TTL is an hour
        times: dict[str, list[float]] = {"client": [], "direct": [], "cached": []}
        for _ in range(repeat):
            for name, fn in (("client", lambda: len(Piece.render(exporter.scrape(60.0)).text)),
                             ("direct", lambda: _direct(exporter)), ("cached", lambda: exporter.expose(60.0).gzipped())):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        size = len(exporter.expose(60.0).text())
        client, direct, cached = (statistics.median(times[name]) * 1000 for name in ("client", "direct", "cached"))
        return client, direct, cached, size
    finally:
        exporter.close()


def series_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            counts[name] = counts.get(name, 0) + 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=parse_size, default=parse_size("20k"), help="history rows (default 20k)")
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=10, help="storm rounds per concurrency level")
    parser.add_argument("--scrapes", type=int, default=1000, help="scrapes before the RSS reading")
    parser.add_argument("--uncached", type=int, default=5, help="uncached (cache_ttl 0) scrapes")
    args = parser.parse_args()
    results: list[tuple[str, bool]] = []
    with tempfile.TemporaryDirectory(prefix="ipp-scrape-bench-") as tmp:
        base = Path(tmp)
        with MariaDBServer(base / "mariadb") as root:
            start = time.perf_counter()
            create_site(root, ACCOUNTS)
            scenario.build(root, scenario.ScenarioSpec.real_site(args.history))
            servers = pantasks_servers(base / "pantasks", args.servers, args.tasks)
            print(f"site: real_site({args.history:,} history rows), {args.servers} pantasks servers x {args.tasks} "
                  f"tasks, built in {time.perf_counter() - start:.0f} s")

            uncached = Served(exporter_config(root, servers, "0s"), base, "uncached")
            try:
                times = []
                for _ in range(args.uncached):
                    took, size = uncached.scrape(decode=True)
                    times.append(took)
                conn = http.client.HTTPConnection("127.0.0.1", uncached.port, timeout=30)
                conn.request("GET", "/metrics")
                counts = series_counts(conn.getresponse().read().decode())
                conn.close()
            finally:
                uncached.stop()
            tasks = counts.get("ipp_pantasks_task_running", 0)
            faults = counts.get("ipp_processing_faults", 0)
            volumes = counts.get("ipp_nebulous_volume_mounted", 0)
            print(f"uncached (cache_ttl 0): {size:,} bytes, {sum(counts.values()):,} samples "
                  f"({tasks} task series, {faults} fault series, {volumes} volumes); "
                  f"scrape ms: {', '.join(f'{t * 1000:.0f}' for t in times)}; budget {BUDGET * 1000:.0f} ms")
            results.append((f"uncached scrape max {max(times) * 1000:.0f} ms <= budget {BUDGET * 1000:.0f} ms",
                            max(times) <= BUDGET))

            cached_config = exporter_config(root, servers, "1h")
            client_ms, direct_ms, cached_ms, body = side_by_side(cached_config, repeat=20)
            print(f"side by side, same data ({body:,} bytes): build+render per scrape with prometheus_client "
                  f"{client_ms:.1f} ms, with the direct renderer and nothing reused {direct_ms:.1f} ms "
                  f"({client_ms / direct_ms:.1f}x faster), serving the cached bytes {cached_ms:.2f} ms "
                  f"({client_ms / cached_ms:.0f}x)")

            cached = Served(cached_config, base, "cached")
            try:
                cpu_before = cached.cpu_seconds()
                alone = [cached.scrape()[0] for _ in range(200)]
                cpu_ms = (cached.cpu_seconds() - cpu_before) / len(alone) * 1000
                print(f"one scraper at a time, cached: p50 {pct(alone, 0.5) * 1000:.1f} ms, "
                      f"p99 {pct(alone, 0.99) * 1000:.1f} ms; exporter CPU {cpu_ms:.2f} ms per scrape "
                      f"(20 at once need ~{20 * cpu_ms:.0f} ms of one core; load average {os.getloadavg()[0]:.1f} "
                      f"on {os.cpu_count()} cores)")
                for clients, target in ((20, 0.025), (200, 0.250)):
                    latencies, failures = storm(cached, clients, args.rounds)
                    p50, p99 = pct(latencies, 0.5), pct(latencies, 0.99)
                    print(f"{clients} concurrent cached scrapes x {args.rounds} rounds: p50 {p50 * 1000:.1f} ms, "
                          f"p99 {p99 * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms, failures {failures}")
                    results.append((f"{clients} concurrent: p99 {p99 * 1000:.1f} ms <= {target * 1000:.0f} ms, "
                                    f"{failures} failed", p99 <= target and failures == 0))
                done = 200 + args.rounds * 220  # the storms' scrapes count too
                while done < args.scrapes:
                    cached.scrape()
                    done += 1
                rss = cached.rss_mb()
                print(f"exporter RSS after {done} scrapes: {rss:.1f} MB")
                results.append((f"RSS {rss:.1f} MB <= 80 MB", rss <= 80))
            finally:
                cached.stop()
    print()
    for text, ok in results:
        print(f"{'PASS' if ok else 'MISS'}  {text}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
