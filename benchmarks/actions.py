"""Action-service figures in one run: webhook ack latency under load, preview time on a big label, RSS.

    .venv/bin/python benchmarks/actions.py [--rate 200] [--seconds 30] [--incidents 100] [--faults 10000]

A private MariaDB holds the tiny simulated site plus one label with `--faults` faulted chip items. ipp-actions runs
as its own process (waitress, SQLite audit store) with stand-in tools that only log their calls. The load replays
Alertmanager notifications of IppProcessingFaultsRevertable at `--rate` per second for `--seconds` (bounded), cycling
through `--incidents` distinct incidents over 10 labels, on 8 keep-alive connections. Figures: ack p50/p99/max
(target p99 <= 50 ms), notifications lost (non-2xx), actions run per incident (target exactly 1 each: 0 lost,
0 duplicates), preview time for the big label against the same COUNT + page SQL run raw (target <= 300 ms), and
the service's RSS before and after.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from actions.sql import REVERT_EFFECTS, effect_sql  # noqa: E402
from ippsim import scenario  # noqa: E402
from ippsim.mariadb import MariaDBServer  # noqa: E402
from ippsim.procs import free_loopback_port, stop_process_group  # noqa: E402
from ippsim.site import Accounts, create_site  # noqa: E402

ACCOUNTS = Accounts("bench-rw", "bench-ro", "bench-nrw", "bench-nro")
TOKEN = "bench-token"
BIG = "Big.label"
LABELS = tuple(f"bench.label{i}" for i in range(10))
TOOLS = ("chiptool", "camtool", "faketool", "warptool", "difftool", "stacktool", "disttool", "regtool", "neb-host")


def load_site(root, faults: int) -> None:
    """The tiny scenario plus BIG (faults/100 runs of 100 faulted imfiles) and ten small labels."""
    scenario.build(root, scenario.ScenarioSpec.tiny(seed=9))
    with root.connect("gpc1") as conn, conn.cursor() as cur:
        cur.execute("SET SESSION foreign_key_checks = 0")
        cur.execute("SELECT exp_id FROM rawExp ORDER BY exp_id LIMIT 1")
        exp_id = cur.fetchone()[0]
        runs = max(1, faults // 100)
        for label in (BIG, *LABELS):
            cur.execute("INSERT INTO Label (label, priority, active) VALUES (%s, 100, 1)", (label,))
        cur.executemany("INSERT INTO chipRun (exp_id, state, label) VALUES (%s, 'new', %s)",
                        [(exp_id, BIG)] * runs)
        cur.execute("SELECT chip_id FROM chipRun WHERE label = %s", (BIG,))
        ids = [r[0] for r in cur.fetchall()]
        rows = [(chip_id, exp_id, f"XY{n:02d}", "full", f"ipp{n % 9:03d}", f"neb://ipp/{chip_id}/{n}", 2)
                for chip_id in ids for n in range(faults // runs)]
        cur.executemany("INSERT INTO chipProcessedImfile (chip_id, exp_id, class_id, data_state, hostname, path_base,"
                        " fault) VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)


def write_tools(directory: Path) -> Path:
    """Tools that only log their argv: the benchmark measures the service, not the tools."""
    directory.mkdir()
    for name in TOOLS:
        path = directory / name
        path.write_text(f"#!/bin/sh\necho \"{name} $*\" >> {directory / 'calls.log'}\n")
        path.chmod(0o755)
    return directory


def start_service(tmp: Path, site, port: int) -> subprocess.Popen:
    (tmp / "token").write_text(TOKEN)
    (tmp / "users").write_text(f"bench:{generate_password_hash('bench')}\n")
    (tmp / "pw").write_text(site.ipp.password)
    config = {
        "actions": {"webhook_token_file": str(tmp / "token"), "users_file": str(tmp / "users"),
                    "audit": f"sqlite:///{tmp / 'audit.db'}", "auto_max_per_hour": 10000,
                    "max_actions_per_minute": 100000, "queue_size": 100000},
        "tools": {"bin_dir": str(write_tools(tmp / "bin"))},
        "processing": {"databases": [{"dbname": "gpc1", "host": site.ipp.host, "port": site.ipp.port,
                                      "user": site.ipp.user, "password_file": str(tmp / "pw")}]},
    }
    (tmp / "ipp-actions.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen([sys.executable, "-m", "actions", f"--config.file={tmp / 'ipp-actions.yml'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn", "--web.threads=16"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(tmp / "service.log").open("w"),
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("ipp-actions did not start:\n" + (tmp / "service.log").read_text()[-2000:]) from None
            time.sleep(0.2)


def notification(incident: int) -> bytes:
    label = LABELS[incident % len(LABELS)]
    alert = {"status": "firing", "labels": {"alertname": "IppProcessingFaultsRevertable", "dbname": "gpc1",
                                            "stage": "chip", "label": label, "fault": "2"},
             "annotations": {}, "startsAt": f"2026-11-27T{incident // 60 % 24:02d}:{incident % 60:02d}:00Z",
             "endsAt": "0001-01-01T00:00:00Z", "fingerprint": f"bench{incident}"}
    return json.dumps({"version": "4", "status": "firing", "receiver": "svc", "groupKey": f"g{incident}",
                       "alerts": [alert]}).encode()


def replay(port: int, rate: float, seconds: float, incidents: int, connections: int = 8) -> tuple[list[float], int]:
    """Send notifications at `rate`/s for `seconds`; return (ack latencies in s, non-2xx count)."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    start = time.monotonic()
    total = int(rate * seconds)

    def worker(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for n in range(offset, total, connections):
            due = start + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body = notification(n % incidents)
            sent = time.perf_counter()
            try:
                conn.request("POST", "/alertmanager", body, {"Authorization": f"Bearer {TOKEN}",
                                                             "Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                ok = 200 <= response.status < 300
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                ok = False
            elapsed = time.perf_counter() - sent
            with lock:
                latencies.append(elapsed)
                failures[0] += not ok
        conn.close()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    return latencies, failures[0]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def timed(fn, repeat: int) -> list[float]:
    fn()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--faults", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    args.seconds = min(args.seconds, 120.0)  # bounded load
    with tempfile.TemporaryDirectory(prefix="bench-actions-") as tmpdir:
        tmp = Path(tmpdir)
        server = MariaDBServer(tmp / "mariadb")
        try:
            root = server.start()
            site = create_site(root, ACCOUNTS)
            load_site(root, args.faults)
            port = free_loopback_port()
            proc = start_service(tmp, site, port)
            try:
                return report(args, tmp, site, port, proc)
            finally:
                stop_process_group(proc)
        finally:
            server.stop()


def report(args, tmp: Path, site, port: int, proc: subprocess.Popen) -> int:
    base = f"http://127.0.0.1:{port}"
    rss_start = rss_kib(proc.pid)
    preview_url = f"{base}/actions/revert?dbname=gpc1&stage=chip&label={BIG}&fault=2"
    page = urllib.request.urlopen(preview_url, timeout=30).read().decode()
    assert f'<span class="count">{args.faults}</span>' in page, "the preview must count every faulted item"
    preview = timed(lambda: urllib.request.urlopen(preview_url, timeout=30).read(), args.repeat)
    faults = timed(lambda: urllib.request.urlopen(
        f"{base}/faults?dbname=gpc1&stage=chip&label={BIG}&fault=2&page=3", timeout=30).read(), args.repeat)
    conn = site.ipp.connect("gpc1", tcp=True)  # over TCP, as the service connects
    params = {"label": BIG, "fault": 2, "limit": 50, "offset": 0}

    def raw() -> None:
        with conn.cursor() as cur:
            for effect in REVERT_EFFECTS["chip"]:
                count_sql, page_sql = effect_sql(effect)
                cur.execute(count_sql, params)
                if cur.fetchone()[0]:
                    cur.execute(page_sql, params)
                    cur.fetchall()
    raw_times = timed(raw, args.repeat)
    conn.close()

    latencies, failures = replay(port, args.rate, args.seconds, args.incidents)
    deadline = time.monotonic() + 120
    calls: list[str] = []
    while time.monotonic() < deadline:
        log = tmp / "bin" / "calls.log"
        calls = log.read_text().splitlines() if log.exists() else []
        if len(calls) >= args.incidents:
            time.sleep(2)  # any duplicate would land now
            calls = log.read_text().splitlines()
            break
        time.sleep(0.5)
    rss_end = rss_kib(proc.pid)
    q = statistics.quantiles(latencies, n=100)
    per_label = {label: sum(f"-label {label} " in c for c in calls) for label in LABELS}
    expected = {label: sum(1 for i in range(args.incidents) if LABELS[i % len(LABELS)] == label) for label in LABELS}
    med = statistics.median
    print(f"webhook: {len(latencies)} notifications in {args.seconds:g} s at {args.rate:g}/s over {args.incidents} incidents")
    print(f"  ack latency p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
          f" (target p99 <= 50 ms)")
    print(f"  non-2xx (lost): {failures}; actions run: {len(calls)} for {args.incidents} incidents"
          f" (duplicates {max(0, len(calls) - args.incidents)}, missing {sum(max(0, expected[k] - per_label[k]) for k in LABELS)})")
    print(f"preview of {args.faults} faulted items: median {med(preview) * 1000:.1f} ms, max {max(preview) * 1000:.1f} ms"
          f" (target <= 300 ms); same SQL raw: median {med(raw_times) * 1000:.1f} ms;"
          f" preview / raw = {med(preview) / med(raw_times):.2f}")
    print(f"faults page (page 4 of {args.faults // 50}): median {med(faults) * 1000:.1f} ms")
    print(f"service RSS: {rss_start / 1024:.1f} MiB at start, {rss_end / 1024:.1f} MiB after the load")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
