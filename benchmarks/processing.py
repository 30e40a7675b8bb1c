"""Processing/nebulous scrape cost on simulated sites of growing history; prints times, ratios and RSS in one run.

    .venv/bin/python benchmarks/processing.py [--sizes 100k,1M,10M] [--repeat 7] [--no-query-exporter]

For each size the same active work ("tonight") sits on top of N historical component rows. Figures:
full scrape (processing + nebulous through the Exporter wrapper, no cache), the same SQL run raw on one
PyMySQL connection, query-exporter (PyPI, in its own venv) running the same SQL, and the exporter's RSS
for one --once scrape. Targets: scrape growth 100k→10M ≤ 1.3×, exporter ÷ raw ≤ 1.25.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pymysql  # noqa: E402

from exporter.collectors import Exporter  # noqa: E402
from exporter.collectors import nebulous as neb  # noqa: E402
from exporter.collectors import processing as proc  # noqa: E402
from exporter.config import config_from_data  # noqa: E402
from ippsim import scenario  # noqa: E402
from ippsim.mariadb import MariaDBServer  # noqa: E402
from ippsim.site import Accounts, create_site  # noqa: E402

ACCOUNTS = Accounts("bench-rw", "bench-ro", "bench-nrw", "bench-nro")
SIZE = re.compile(r"^(\d+)([kKmM]?)$")


def parse_size(text: str) -> int:
    """100k → 100000, 1M → 1000000."""
    match = SIZE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return int(match.group(1)) * {"": 1, "k": 1000, "m": 1_000_000}[match.group(2).lower()]


def median_time(fn, repeat: int) -> float:
    """Median wall time of fn() over `repeat` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(first, second, repeat: int) -> tuple[float, float]:
    """Medians of two workloads timed alternately, so that load from elsewhere hits both alike."""
    first(), second()
    a, b = [], []
    for _ in range(repeat):
        for fn, out in ((first, a), (second, b)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b)


def exporter_config(root, now_boundary=(0, 0)):
    """Config for the bench site on the read-only accounts, no caching."""
    os.environ["BENCH_RO"], os.environ["BENCH_NRO"] = ACCOUNTS.ipp_ro_password, ACCOUNTS.neb_ro_password
    return {
        "exporter": {"cache_ttl": 0, "max_stale": 0, "scrape_timeout": "60s"},
        "processing": {"databases": [{"dbname": "gpc1", "user": "ipp_ro", "password_env": "BENCH_RO",
                                      "unix_socket": root.socket, "query_timeout": "50s"}],
                       "night_boundary": "%02d:%02d" % now_boundary},
        "nebulous": {"user": "neb_ro", "password_env": "BENCH_NRO", "unix_socket": root.socket, "query_timeout": "50s"},
    }


def raw_statements(now: datetime, max_id: int, floor: int, start, end):
    """The statements one fetch runs, with the parameters it binds (labels added by the caller)."""
    return [
        ("gpc1", proc.SUMMIT_MAX_SQL, ()),
        ("gpc1", proc.FAULTS_SQL, {"summit_floor": max_id - proc.SUMMIT_FAULT_WINDOW}),
        ("gpc1", proc.RUNS_SQL, ()),
        ("gpc1", proc.SUMMIT_PROBE_SQL, (floor,)),
        ("gpc1", proc.SUMMIT_NIGHT_SQL, (proc.p.BURNTOOL_GOOD, floor, start, end)),
        ("nebulous", neb.VOLUMES_SQL, ()),
    ]


def raw_runner(root, statements, labels, repeat, per_query=False):
    """(run, close): the same statements on plain PyMySQL connections (the floor); per_query prints each one's median."""
    conns = {db: pymysql.connect(unix_socket=root.socket, user="root", database=db, autocommit=True)
             for db in ("gpc1", "nebulous")}
    label_sql = proc.LABELS_SQL.format(placeholders=", ".join(["%s"] * len(labels)))

    def run():
        for db, sql, params in statements + ([("gpc1", label_sql, labels)] if labels else []):
            with conns[db].cursor() as cur:
                cur.execute(sql, params)
                cur.fetchall()

    def close():
        for conn in conns.values():
            conn.close()
    try:
        if per_query:
            for db, sql, params in statements:
                def one(db=db, sql=sql, params=params):
                    with conns[db].cursor() as cur:
                        cur.execute(sql, params)
                        cur.fetchall()
                print(f"    {median_time(one, repeat) * 1e3:7.2f} ms  {sql.strip().splitlines()[0][:70]}")
    except BaseException:
        close()
        raise
    return run, close


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query_exporter_venv(base: Path) -> Path:
    """A venv with query-exporter and PyMySQL from PyPI (reused when it exists)."""
    venv = base / "query-exporter-venv"
    binary = venv / "bin" / "query-exporter"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "query-exporter", "pymysql"], check=True)
    return binary


def bench_query_exporter(binary: Path, root, workdir: Path, statements, repeat) -> float:
    """Median /metrics time of query-exporter running the same SQL on request (no interval)."""
    import yaml
    port = free_port()
    queries, metrics = {}, {}
    for n, (db, sql, params) in enumerate(statements):
        names = [f"p{i}" for i in range(len(params))] if not isinstance(params, dict) else list(params)
        text = sql.replace("%%", "%")
        if isinstance(params, dict):
            for key in params:
                text = text.replace(f"%({key})s", f":{key}")
        else:
            for name in names:
                text = text.replace("%s", f":{name}", 1)
        values = dict(zip(names, params)) if not isinstance(params, dict) else dict(params)
        metric = f"bench_q{n}"
        metrics[metric] = {"type": "gauge"}
        # every statement is wrapped so its row count is the one exported value: same work, one sample
        queries[f"q{n}"] = {"databases": [db], "metrics": [metric],
                            "sql": f"SELECT COUNT(*) AS {metric} FROM ({text}) AS t",
                            **({"parameters": [{k: str(v) for k, v in values.items()}]} if values else {})}
    dsn = {db: f"mysql+pymysql://root@localhost/{db}?unix_socket={root.socket}" for db in ("gpc1", "nebulous")}
    config = {"databases": {db: {"dsn": d} for db, d in dsn.items()}, "metrics": metrics, "queries": queries}
    path = workdir / "query-exporter.yaml"
    path.write_text(yaml.safe_dump(config))
    proc_ = subprocess.Popen([str(binary), "--config", str(path), "--port", str(port), "--host", "127.0.0.1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url, timeout=30).read()
                break
            except OSError:
                time.sleep(0.2)
        return median_time(lambda: urllib.request.urlopen(url, timeout=60).read(), repeat)
    finally:
        proc_.terminate()
        proc_.wait(timeout=10)


def exporter_rss(config_path: Path) -> int:
    """Peak RSS (bytes) of one `ipp-exporter --once` process on the bench site."""
    child = subprocess.Popen([sys.executable, "-m", "exporter.cli", "--config.file", str(config_path), "--once"],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    return usage.ru_maxrss * 1024


def explain_all(root, statements) -> None:
    """Print EXPLAIN for every statement (docs/queries.md copies these)."""
    conn = pymysql.connect(unix_socket=root.socket, user="root", autocommit=True)
    try:
        for db, sql, params in statements:
            with conn.cursor() as cur:
                cur.execute(f"USE {db}")
                cur.execute("EXPLAIN " + sql, params)
                print(f"-- EXPLAIN {sql.strip().splitlines()[0][:70]}")
                for row in cur.fetchall():
                    print("   ", " | ".join("" if v is None else str(v) for v in row[:10]))
    finally:
        conn.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100k,1M,10M", help="historical component rows per run")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--workdir", default=None, help="keep the servers and the query-exporter venv here")
    parser.add_argument("--no-query-exporter", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN plans for each size")
    parser.add_argument("--keep-history-updates", action="store_true",
                        help="keep the generator's re-opened 'update' chip runs (active work then grows with history)")
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    base = Path(args.workdir or tempfile.mkdtemp(prefix="ipp-bench-"))
    binary = None if args.no_query_exporter else query_exporter_venv(base)
    import yaml
    results = []
    print(f"{'history rows':>12} {'comp rows':>10} {'scrape ms':>10} {'raw SQL ms':>10} {'exp/raw':>8} "
          f"{'q-exp ms':>9} {'q-exp/raw':>9} {'RSS MiB':>8}")
    for size in sizes:
        server = MariaDBServer(base / f"db-{size}", buffer_pool="1G", startup_timeout=120)
        root = server.start()
        try:
            create_site(root, ACCOUNTS)
            spec = scenario.ScenarioSpec.for_component_rows(size)
            built = scenario.build(root, spec)
            conn = root.connect("gpc1")
            with conn.cursor() as cur:
                if not args.keep_history_updates:
                    # the generator re-opens ~2 % of finished chip runs as 'update' with a fault, which scales the
                    # *active* work with history; the comparison wants the same active work at every size
                    cur.execute("UPDATE chipRun SET state = 'full' WHERE state = 'update'")
                for table in ("chipRun", "chipProcessedImfile", "camRun", "camProcessedExp", "warpRun", "warpSkyfile",
                              "stackRun", "stackSumSkyfile", "diffRun", "diffSkyfile", "distRun", "summitExp"):
                    cur.execute(f"ANALYZE TABLE {table}")  # fixed list of table names
                    cur.fetchall()
            conn.close()
            now = (spec.night_start + timedelta(hours=6)).replace(tzinfo=timezone.utc)
            data = exporter_config(root)
            config = config_from_data(data)
            exporter = Exporter(config, enabled=("processing", "nebulous"))
            collector = next(c for c in exporter.collectors if c.name == "processing")
            collector._now = lambda: now  # the simulated night, not the wall clock
            snap = collector.sources[0].db.run(collector.fetch)
            start, end = proc.p.night_window(now.replace(tzinfo=None), (0, 0))
            with root.connect("gpc1") as c, c.cursor() as cur:
                cur.execute(proc.SUMMIT_MAX_SQL)
                max_id = cur.fetchone()[0] or 0
            floor = max(0, max_id - proc.SUMMIT_WINDOW)
            statements = raw_statements(now, max_id, floor, start, end)
            raw_run, raw_close = raw_runner(root, statements, snap.active_labels(), args.repeat, per_query=args.explain)
            scrape_s, raw_s = interleaved(lambda: exporter.scrape(55.0), raw_run, args.repeat)
            raw_close()
            exporter.close()
            if args.explain:
                explain_all(root, statements)
            qe_s = bench_query_exporter(binary, root, base, statements, args.repeat) if binary else float("nan")
            path = base / "exporter.yaml"
            data["processing"]["databases"][0]["query_timeout"] = "50s"
            path.write_text(yaml.safe_dump(data))
            rss = exporter_rss(path)
            results.append((size, scrape_s))
            print(f"{size:>12,} {built.component_rows:>10,} {scrape_s * 1e3:>10.1f} {raw_s * 1e3:>10.1f} "
                  f"{scrape_s / raw_s:>8.2f} {qe_s * 1e3:>9.1f} {qe_s / raw_s:>9.2f} {rss / 2**20:>8.1f}", flush=True)
        finally:
            server.stop()
    if len(results) > 1:
        print(f"scrape growth {results[0][0]:,} → {results[-1][0]:,} rows: {results[-1][1] / results[0][1]:.2f}× "
              f"(target ≤ 1.3×)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
