"""A soak of the real exporter process: a whole simulated site that keeps changing, N concurrent HTTP scrapers,
and the exporter's RSS, open fds and threads measured at quiet points before and after.

Used by tests/reliability/test_soak.py (60 s) and benchmarks/reliability.py (10 min). Measurements, not timings,
decide: a scrape counts as over budget only past Prometheus's own scrape timeout (the header we send).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import yaml
from reliability_site import PantasksSite, db_entry

from ippsim import scenario
from ippsim.mariadb import MariaDBServer
from ippsim.pantasks import sim
from ippsim.procs import free_loopback_port
from ippsim.site import Accounts, create_site
from ippsim.sshd import SshdServer

SCRAPE_TIMEOUT = 3.0   # what our scrapers tell the exporter (X-Prometheus-Scrape-Timeout-Seconds), and their own limit
SERVER_TIMEOUT = 2.0   # pantasks client timeout
TTL = 1.0              # short, so the soak runs many fetches, not just cache hits
# glibc gives each thread that allocates its own malloc arena; their fragmentation grows RSS slowly under many
# scrape threads although Python's own memory stays flat (tracemalloc). Two arenas is the usual setting for a
# threaded Python server, and the one the soak measures (benchmarks/reliability.py --malloc-arena-max 0 for glibc's).
MALLOC_ARENA_MAX = "2"
PANTASKS_EVENTS = (("hung", "up"), ("down", "up"), ("scheduler-stop", "scheduler-run"), ("restart", None),
                   ("statsreset", None), ("controller-stop", "controller-run"))


@dataclass
class ProcessFigures:
    """One look at the exporter process."""

    rss_kib: int
    fds: int
    threads: int

    @classmethod
    def of(cls, pid: int) -> "ProcessFigures":
        """Read /proc/<pid>."""
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
        return cls(int(status["VmRSS"].split()[0]), len(os.listdir(f"/proc/{pid}/fd")), int(status["Threads"]))


@dataclass
class SoakResult:
    """What one soak measured."""

    seconds: float
    scrapers: int
    scrapes: int = 0
    failed: int = 0
    over_budget: int = 0
    worst: float = 0.0
    durations: list[float] = field(default_factory=list, repr=False)
    churn_steps: int = 0
    before: ProcessFigures | None = None
    points: list[ProcessFigures] = field(default_factory=list)
    after: ProcessFigures | None = None

    @property
    def rss_growth(self) -> float:
        """Relative RSS growth from the first quiet point to the last."""
        assert self.before and self.after
        return self.after.rss_kib / self.before.rss_kib - 1

    def percentile(self, q: float) -> float:
        """A scrape-duration percentile (seconds)."""
        ordered = sorted(self.durations)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0

    def summary(self) -> str:
        """One line of figures."""
        assert self.before and self.after
        return (f"{self.seconds:.0f}s, {self.scrapers} scrapers, {self.scrapes} scrapes ({self.failed} failed, "
                f"{self.over_budget} over the {SCRAPE_TIMEOUT:g}s budget; p50 {self.percentile(0.5) * 1000:.0f} ms, "
                f"p99 {self.percentile(0.99) * 1000:.0f} ms, worst {self.worst * 1000:.0f} ms), {self.churn_steps} "
                f"churn steps; RSS {self.before.rss_kib / 1024:.1f} -> {self.after.rss_kib / 1024:.1f} MiB "
                f"({self.rss_growth * 100:+.1f} %), fds {self.before.fds} -> {self.after.fds}, "
                f"threads {self.before.threads} -> {self.after.threads}"
                + (f"; per minute RSS MiB {' '.join(f'{p.rss_kib / 1024:.1f}' for p in self.points)}, threads "
                   f"{' '.join(str(p.threads) for p in self.points)}" if len(self.points) > 1 else ""))


@dataclass
class SoakSite:
    """The real parts behind one soak."""

    base: Path
    config_file: Path
    pantasks: PantasksSite
    servers: list[str]
    root: object
    rw: object
    neb_rw: object


@contextlib.contextmanager
def soak_site(base: Path, *, ssh: bool = True) -> Iterator[SoakSite]:
    """A private MariaDB with a tiny built site, three local simulated pantasks servers and one over a private sshd."""
    db = MariaDBServer(base / "db")
    sshd = SshdServer(base / "sshd") if ssh else None
    try:
        root = db.start()
        dbs = create_site(root, Accounts("rw-pass", "ro-pass", "neb-rw-pass", "neb-ro-pass"))
        scenario.build(root, scenario.ScenarioSpec.tiny())
        pantasks = PantasksSite(base / "pantasks")
        servers = [pantasks.server(name, kind, timeout=f"{SERVER_TIMEOUT}s", seed=n)
                   for n, (name, kind) in enumerate((("stdscience", "stdscience"), ("summitcopy", "summitcopy"),
                                                     ("registration", "registration")))]
        config: dict = {
            "exporter": {"scrape_timeout": "10s", "timeout_offset": "500ms", "cache_ttl": f"{TTL}s", "max_stale": "30s"},
            "pantasks": {"servers": servers},
            "processing": {"databases": [db_entry(dbs.ipp_ro, "gpc1")]},
            "nebulous": db_entry(dbs.neb_ro, "nebulous"),
        }
        if sshd is not None:
            info = sshd.start()
            servers.append(pantasks.server("distribution", "distribution", host="127.0.0.1",
                                           timeout=f"{SERVER_TIMEOUT}s", seed=9))
            config["ssh"] = {"user": info.user, "port": info.port, "key_file": info.key_file,
                             "known_hosts": info.known_hosts, "connect_timeout": "1s"}
        config_file = base / "exporter.yml"
        config_file.write_text(yaml.safe_dump(config))
        yield SoakSite(base, config_file, pantasks, [s["name"] for s in servers], root, dbs.ipp, dbs.neb)
    finally:
        if sshd is not None:
            sshd.stop()
        db.stop()


class Churn(threading.Thread):
    """Keeps the site changing: the processing DB and nebulous move on, pantasks servers hang, die and restart."""

    def __init__(self, site: SoakSite, seed: int = 7) -> None:
        super().__init__(name="soak-churn", daemon=True)
        self.site, self.rng = site, random.Random(seed)
        self.stop_event, self.calm = threading.Event(), threading.Event()
        self.steps = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        conn, neb = self.site.rw.connect("gpc1"), self.site.neb_rw.connect("nebulous")
        try:
            while not self.stop_event.is_set():
                scenario.advance(conn, self.rng, neb_conn=neb)
                for name in self.site.servers:
                    directory = self.site.pantasks.root / name
                    sim.advance(directory, 30.0)
                    if self.calm.is_set():
                        sim.apply_event(directory, "up")
                    elif self.rng.random() < 0.15:
                        fault, cure = self.rng.choice(PANTASKS_EVENTS)
                        sim.apply_event(directory, fault, busy_wait=1.0 if fault == "hung" else None)
                        if cure and self.rng.random() < 0.5:
                            sim.apply_event(directory, cure)
                    elif self.rng.random() < 0.3:
                        sim.apply_event(directory, "up")
                self.steps += 1
                self.stop_event.wait(0.3)
        except BaseException as exc:  # reported by the soak, never lost in a thread
            self.error = exc
        finally:
            conn.close()
            neb.close()


def scrape_once(url: str) -> float:
    """One HTTP scrape as Prometheus makes it; return how long it took (raises on an error status)."""
    request = urllib.request.Request(url, headers={"X-Prometheus-Scrape-Timeout-Seconds": str(SCRAPE_TIMEOUT),
                                                   "Accept-Encoding": "gzip"})
    start = time.monotonic()
    with urllib.request.urlopen(request, timeout=SCRAPE_TIMEOUT + 10) as response:
        response.read()
        assert response.status == 200
    return time.monotonic() - start


class Scrapers:
    """N threads scraping back to back while `running` is set."""

    def __init__(self, url: str, count: int, result: SoakResult) -> None:
        self.url, self.result = url, result
        self.running, self.stop_event = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._busy = 0
        self.threads = [threading.Thread(target=self._loop, name=f"scraper-{n}", daemon=True) for n in range(count)]
        for thread in self.threads:
            thread.start()

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            if not self.running.wait(0.1):
                continue
            with self._lock:
                self._busy += 1
            try:
                took = scrape_once(self.url)
                with self._lock:
                    self.result.scrapes += 1
                    self.result.durations.append(took)
                    self.result.worst = max(self.result.worst, took)
                    self.result.over_budget += took > SCRAPE_TIMEOUT
            except Exception:  # counted: a refused or failed scrape is a finding, not a crash of the soak
                with self._lock:
                    self.result.failed += 1
            finally:
                with self._lock:
                    self._busy -= 1

    def pause(self, limit: float = 30.0) -> None:
        """Stop starting scrapes and wait for the ones in flight."""
        self.running.clear()
        deadline = time.monotonic() + limit
        while self._busy and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        """End every thread."""
        self.stop_event.set()
        self.running.clear()
        for thread in self.threads:
            thread.join(timeout=SCRAPE_TIMEOUT + 15)


def start_exporter(site: SoakSite, log_path: Path, arenas: str = MALLOC_ARENA_MAX) -> tuple[subprocess.Popen, str]:
    """The real CLI on a free loopback port; returns the process and its /metrics URL once it answers."""
    env = dict(os.environ)
    env.pop("MALLOC_ARENA_MAX", None)
    if arenas and arenas != "0":
        env["MALLOC_ARENA_MAX"] = arenas
    for _attempt in range(3):
        port = free_loopback_port()
        with open(log_path, "ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "exporter", "--config.file", str(site.config_file),
                                        "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "error"],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                       env=env)
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError):
                scrape_once(url)
                return process, url
            time.sleep(0.1)
        stop_exporter(process)
    raise RuntimeError(f"the exporter did not start: {log_path.read_text(errors='replace')[-2000:]}")


def stop_exporter(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def quiet_point(scrapers: Scrapers, churn: Churn, pid: int) -> ProcessFigures:
    """Calm the site, let scrapes and fetches drain, scrape the calm site once more, then read the process figures."""
    churn.calm.set()
    scrapers.pause()
    time.sleep(SERVER_TIMEOUT + 0.3)  # a fetch started just before is over by now
    scrapers.running.set()
    time.sleep(TTL + 0.3)  # the calm site is fetched again under load
    scrapers.pause()
    time.sleep(1.0)  # the calm fetches those scrapes started are over
    figures = ProcessFigures.of(pid)
    churn.calm.clear()
    return figures


def saturate(site: SoakSite, scrapers: Scrapers, seconds: float = SCRAPE_TIMEOUT + 2 * TTL) -> None:
    """Make every source slow at once while the scrapers run, so every pool grows to its peak concurrency.

    Thread pools start threads lazily, up to the most tasks ever in flight at once; after this, a thread count
    that still grows is a leak, not a pool warming up.
    """
    for name in site.servers:
        sim.apply_event(site.pantasks.root / name, "hung", busy_wait=SCRAPE_TIMEOUT)
    locker = site.root.connect()
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLES gpc1.chipRun WRITE, nebulous.volume WRITE")
        scrapers.running.set()
        time.sleep(seconds)
    finally:
        with locker.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        locker.close()
        for name in site.servers:
            sim.apply_event(site.pantasks.root / name, "up")


def soak(seconds: float, scrapers: int = 20, warmup: float = 10.0, base: Path | None = None,
         ssh: bool = True, arenas: str = MALLOC_ARENA_MAX) -> SoakResult:
    """Run the soak: `seconds` of load with churn in all (every scrape counts), the first quiet point after `warmup`."""
    temp = Path(tempfile.mkdtemp(prefix="reliab-soak-")) if base is None else base
    os.chmod(temp, 0o700)
    result = SoakResult(seconds, scrapers)
    try:
        with soak_site(temp, ssh=ssh) as site:
            process, url = start_exporter(site, temp / "exporter.log", arenas)
            churn = Churn(site)
            load = Scrapers(url, scrapers, result)
            started = time.monotonic()
            try:
                churn.start()
                load.running.set()
                time.sleep(warmup)
                churn.calm.set()
                saturate(site, load)
                churn.calm.clear()
                result.before = quiet_point(load, churn, process.pid)
                points = max(1, int(seconds // 60))  # a quiet point a minute; the last one is `after`
                for n in range(points):
                    load.running.set()
                    # the whole soak, warm-up and saturation included, lasts `seconds` up to its last quiet point
                    time.sleep(max(0.0, started + seconds * (n + 1) / points - time.monotonic()))
                    result.points.append(quiet_point(load, churn, process.pid))
                result.after = result.points[-1]
            finally:
                load.close()
                churn.stop_event.set()
                churn.join(timeout=30)
                stop_exporter(process)
            result.churn_steps = churn.steps
            if churn.error is not None:
                raise RuntimeError(f"the churn thread failed: {churn.error!r}") from churn.error
    finally:
        if base is None:
            shutil.rmtree(temp, ignore_errors=True)
    return result
