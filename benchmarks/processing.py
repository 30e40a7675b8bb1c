"""Processing/nebulous scrape cost on simulated sites of growing history; prints times, ratios and RSS in one run.

    .venv/bin/python benchmarks/processing.py [--sizes 100k,1M,10M] [--repeat 7] [--site real|small]
                                              [--explain] [--query-exporter]

For each size the same active work sits on top of N historical component rows. `--site real` (default) is
ScenarioSpec.real_site: ~5 000 outstanding faults over ~600 (stage, label, code) series, 2 000 pending runs over
12 labels, 400 volumes on 200 hosts, 100 exposures tonight, and history holding old faulted registration and
summit rows. Figures: per statement, the server's own time (SHOW PROFILES) and Rows_read (sum of the
session's Handler_read_* counters) and the rows sent; the full uncached scrape (processing + nebulous through
the Exporter wrapper, rendered to exposition text) against the same SQL run raw through plain PyMySQL cursors
on the exporter's own connections (and, for information, on a fresh connection); the same scrape gzip-encoded
as Prometheus asks for it, with the site unchanged and with a run, a fault and a volume changed before each
fetch. Every size's server stays up and each round measures every size in turn (each round starting with
another step), so the ratios and the growth are measured side by side under the same load; optionally
query-exporter (PyPI, in its own venv) on the same SQL; the exporter's RSS for one --once scrape.
Targets (issue 12): scrape ÷ raw SQL ≤ 1.25 at every size, growth 100k → 10M ≤ 1.15 with
Rows_read constant per statement.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta, timezone
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pymysql  # noqa: E402
from query_exporter import bench_query_exporter, query_exporter_venv  # noqa: E402

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


def raw_statements(max_id: int, floor: int, start, end, labels):
    """(name, db, sql, params) of every statement one fetch runs, with the parameters it binds."""
    out = [
        ("max summit_id", "gpc1", proc.SUMMIT_MAX_SQL, ()),
        ("faults", "gpc1", proc.FAULTS_SQL, {"summit_floor": max_id - proc.SUMMIT_FAULT_WINDOW}),
        ("runs", "gpc1", proc.RUNS_SQL, ()),
        ("chipMask", "gpc1", proc.MASKED_SQL, ()),
        ("night probe", "gpc1", proc.SUMMIT_PROBE_SQL, (floor,)),
        ("night", "gpc1", proc.SUMMIT_NIGHT_SQL, {"good": proc.p.BURNTOOL_GOOD, "floor": floor, "start": start,
                                                  "end": end}),
        ("volumes", "nebulous", neb.VOLUMES_SQL, ()),
    ]
    if labels:
        out.append(("labels", "gpc1", proc.LABELS_SQL.format(placeholders=", ".join(["%s"] * len(labels))),
                    list(labels)))
    return out


def raw_runner(root, statements):
    """(run, close, conns): the same statements on plain PyMySQL connections (the floor)."""
    conns = {db: pymysql.connect(unix_socket=root.socket, user="root", database=db, autocommit=True)
             for db in ("gpc1", "nebulous")}

    def run():
        for _name, db, sql, params in statements:
            with conns[db].cursor() as cur:
                cur.execute(sql, params)
                cur.fetchall()

    def close():
        for conn in conns.values():
            conn.close()
    return run, close, conns


def raw_on_exporter_connections(exporter, statements):
    """The same statements through plain PyMySQL cursors on the exporter's own connections (the floor).

    Its own connections, because on this VM two connections to one server differ by up to ~1.5 ms per fetch
    (whichever server thread and CPU they land on), which is a quarter of what is being measured."""
    dbs = {"gpc1": next(c for c in exporter.collectors if c.name == "processing").sources[0].db,
           "nebulous": next(c for c in exporter.collectors if c.name == "nebulous").db}

    def plain(dbname):
        def work(session):
            with session._db._conn.cursor() as cur:  # the exporter's connection, without the exporter's code
                for _name, db, sql, params in statements:
                    if db == dbname:
                        cur.execute(sql, params)
                        cur.fetchall()
        return work

    def run():
        for dbname, db in dbs.items():
            db.run(plain(dbname))
    return run


def _handler_reads(cur) -> int:
    cur.execute("SHOW SESSION STATUS LIKE 'Handler_read%'")
    return sum(int(value) for _name, value in cur.fetchall())


def rows_read(conns, statements) -> list[tuple[int, int]]:
    """(Rows_read, rows sent) per statement: the session's Handler_read_* counters around one execution."""
    out = []
    for _name, db, sql, params in statements:
        with conns[db].cursor() as cur:
            base = _handler_reads(cur)
            overhead = _handler_reads(cur) - base  # what SHOW STATUS itself reads
            before = _handler_reads(cur)
            cur.execute(sql, params)
            sent = len(cur.fetchall())
            out.append((_handler_reads(cur) - before - overhead, sent))
    return out


def server_ms(conns, statements) -> list[float]:
    """One execution of each statement; its server-side duration from SHOW PROFILES (profiling is on)."""
    out = []
    for _name, db, sql, params in statements:
        with conns[db].cursor() as cur:
            cur.execute(sql, params)
            cur.fetchall()
            cur.execute("SHOW PROFILES")
            out.append(float(cur.fetchall()[-1][1]) * 1e3)
    return out


_RSS_CHILD = """
import sys
from exporter.cli import main
code = main(["--config.file", sys.argv[1], "--once"])
print(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")), file=sys.stderr)
sys.exit(code)
"""


def exporter_rss(config_path: Path) -> int:
    """Peak RSS (bytes) of one `ipp-exporter --once` process on the bench site.

    Read from the child's own /proc/self/status VmHWM: wait4()'s ru_maxrss would include this (large) parent's
    memory, which a forked child inherits as its high-water mark across exec."""
    child = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(config_path)], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=300, check=False)
    if child.returncode != 0 or "ipp_processing_db_up" not in child.stdout:
        raise RuntimeError(f"ipp-exporter --once failed ({child.returncode}): {child.stderr[-500:]}")
    line = next((ln for ln in reversed(child.stderr.splitlines()) if ln.startswith("VmHWM")), "VmHWM: 0 kB")
    return int(line.split()[1]) * 1024


def explain_all(root, statements) -> None:
    """Print EXPLAIN for every statement as docs/queries.md shows it."""
    conn = pymysql.connect(unix_socket=root.socket, user="root", autocommit=True)
    try:
        for name, db, sql, params in statements:
            with conn.cursor() as cur:
                cur.execute(f"USE {db}")  # fixed database names
                cur.execute("EXPLAIN " + sql, params)
                header = [d[0] for d in cur.description][:10]
                print(f"-- EXPLAIN {name}")
                print("   ", " | ".join(header))
                for row in cur.fetchall():
                    print("   ", " | ".join("" if v is None else str(v) for v in row[:10]))
    finally:
        conn.close()


def build_site(root, size: int, site: str, keep_updates: bool):
    """Create and fill the bench databases; returns (spec, build result)."""
    create_site(root, ACCOUNTS)
    spec = (scenario.ScenarioSpec.real_site(size) if site == "real"
            else scenario.ScenarioSpec.for_component_rows(size))
    built = scenario.build(root, spec)
    with root.connect("gpc1") as conn, conn.cursor() as cur:
        if not keep_updates:
            # the generator re-opens ~2 % of finished chip runs as 'update' with a fault, which scales the
            # *active* work with history; the comparison wants the same active work at every size
            cur.execute("UPDATE chipRun SET state = 'full' WHERE state = 'update' AND exp_id <> 0")
        for table in ANALYZED:
            cur.execute(f"ANALYZE TABLE {table}")  # fixed list of table names
            cur.fetchall()
    return spec, built


ANALYZED = ("chipRun", "chipProcessedImfile", "camRun", "camProcessedExp", "fakeRun", "fakeProcessedImfile", "warpRun",
            "warpSkyfile", "warpSkyCellMap", "stackRun", "stackSumSkyfile", "diffRun", "diffSkyfile", "magicDSRun",
            "magicDSFile", "distRun", "distComponent", "summitExp", "newExp", "rawExp", "rawImfile", "pzDownloadExp")


def full_scrape(exporter, gzipped: bool = False) -> int:
    """One uncached scrape rendered to exposition bytes (what Prometheus receives); returns its size."""
    exposition = exporter.expose(55.0)
    return len(exposition.gzipped() if gzipped else exposition.text())


# Writes between the scrapes of the "changing" variant: at night a run, a fault and a disk's usage move between
# fetches, so those families are rendered (and gzipped) again while the unchanged ones are reused.
CHANGES = (
    ("gpc1", "UPDATE chipRun SET state = IF(state = 'new', 'wait', 'new') WHERE state IN ('new', 'wait')"
             " ORDER BY chip_id LIMIT 1"),
    ("gpc1", "UPDATE chipProcessedImfile SET fault = IF(fault = 2, 3, 2) WHERE fault IN (2, 3)"
             " ORDER BY chip_id, class_id LIMIT 1"),
    ("nebulous", "UPDATE mountedvol SET used = used + 1 ORDER BY vol_id LIMIT 1"),
)


def change_site(conns) -> None:
    """Apply CHANGES (root connections, autocommit)."""
    for db, sql in CHANGES:
        with conns[db].cursor() as cur:
            cur.execute(sql)


def prepare(root, size: int, args, base: Path) -> dict:
    """Build one size and open what the rounds use: the exporter (no cache) and raw connections."""
    spec, built = build_site(root, size, args.site, args.keep_history_updates)
    now = (spec.night_start + timedelta(hours=6)).replace(tzinfo=timezone.utc)
    data = exporter_config(root)
    exporter = Exporter(config_from_data(data), enabled=("processing", "nebulous"))
    collector = next(c for c in exporter.collectors if c.name == "processing")
    collector._now = lambda: now  # the simulated night, not the wall clock
    snap = collector.sources[0].db.run(collector.fetch)
    start, end = proc.p.night_window(now.replace(tzinfo=None), (0, 0))
    with root.connect("gpc1") as c, c.cursor() as cur:
        cur.execute(proc.SUMMIT_MAX_SQL)
        max_id = cur.fetchone()[0] or 0
    floor = max(0, max_id - proc.SUMMIT_WINDOW)
    statements = raw_statements(max_id, floor, start, end, snap.active_labels())
    raw_run = raw_on_exporter_connections(exporter, statements)
    fresh_run, raw_close, _ = raw_runner(root, statements)
    # profiling, Rows_read and the changing variant's writes on connections of their own: the raw floor runs
    # unprofiled, as the exporter's statements do
    _, measure_close, conns = raw_runner(root, statements)
    for conn in conns.values():
        with conn.cursor() as cur:
            cur.execute("SET profiling = 1, profiling_history_size = 100")
    path = base / f"exporter-{size}.yaml"
    import yaml
    path.write_text(yaml.safe_dump(data))
    return dict(size=size, root=root, built=built, exporter=exporter, snap=snap, statements=statements,
                raw_run=raw_run, fresh_run=fresh_run, raw_close=lambda: (raw_close(), measure_close()), conns=conns,
                config_path=path, ms=[], scrape=[], raw=[], fresh=[],
                gzip=[], changing=[])


def measure_side_by_side(sites: list[dict], repeat: int) -> None:
    """Every round measures every size in turn (statements, then the scrapes and raw SQL), so load hits all alike."""
    for site in sites:
        site["reads"] = rows_read(site["conns"], site["statements"])
        full_scrape(site["exporter"]), site["raw_run"]()  # warm-up
    for round_ in range(repeat):
        for site in sites:
            site["ms"].append(server_ms(site["conns"], site["statements"]))
            exporter = site["exporter"]
            steps = [[(partial(full_scrape, exporter), "scrape")], [(partial(full_scrape, exporter, True), "gzip")],
                     [(partial(change_site, site["conns"]), None), (partial(full_scrape, exporter, True), "changing")],
                     [(site["raw_run"], "raw")], [(site["fresh_run"], "fresh")]]
            # each round starts with another step: whatever runs first after the profiling statements pays extra
            for fn, out in [step for group in steps[round_ % len(steps):] + steps[:round_ % len(steps)] for step in group]:
                started = time.perf_counter()
                fn()
                if out:
                    site[out].append(time.perf_counter() - started)


def result(site: dict, qe_s: float) -> dict:
    """Medians and workload figures of one size."""
    snap = site["snap"]
    per_statement = list(zip(*site["ms"], strict=True))
    costs = [(name, statistics.median(ms), reads, sent) for (name, *_rest), ms, (reads, sent)
             in zip(site["statements"], per_statement, site["reads"], strict=True)]
    return dict(size=site["size"], built=site["built"], costs=costs, qe=qe_s,
                **{key: statistics.median(site[key]) for key in ("scrape", "gzip", "changing", "raw", "fresh")}, rss=exporter_rss(site["config_path"]),
                body=full_scrape(site["exporter"]), faults=sum(snap.faults.values()), series=len(snap.faults),
                runs=sum(n for (stage, _l, _s), n in snap.runs.items() if stage not in ("summitcopy", "registration")),
                summit=snap.summit.get("taken", 0))


def print_result(r) -> None:
    """One size: the workload it measured, each statement, then the scrape line."""
    print(f"\n== {r['size']:,} history component rows ({r['built'].component_rows:,} in component tables): "
          f"{r['faults']:,} outstanding faults in {r['series']} fault series, {r['runs']:,} pending runs, "
          f"{r['summit']} OBJECT exposures tonight; exposition {r['body'] / 1024:.0f} KiB")
    print(f"   {'statement':<14} {'server ms':>9} {'Rows_read':>10} {'rows sent':>9}")
    for name, ms, rows_read, sent in r["costs"]:
        print(f"   {name:<14} {ms:>9.2f} {rows_read:>10,} {sent:>9,}")
    server = sum(ms for _, ms, _, _ in r["costs"])
    print(f"   {'all':<14} {server:>9.2f} {sum(c[2] for c in r['costs']):>10,} {sum(c[3] for c in r['costs']):>9,}")
    print(f"   uncached scrape {r['scrape'] * 1e3:.1f} ms, raw SQL {r['raw'] * 1e3:.1f} ms, scrape/raw "
          f"{r['scrape'] / r['raw']:.2f} (target <= 1.25); raw SQL on a fresh connection {r['fresh'] * 1e3:.1f} ms; "
          f"query-exporter {r['qe'] * 1e3:.1f} ms; RSS {r['rss'] / 2**20:.1f} MiB")
    print(f"   gzip-encoded as Prometheus asks: site unchanged {r['gzip'] * 1e3:.1f} ms ({r['gzip'] / r['raw']:.2f}x raw);"
          f" a run, a fault and a volume changed before each fetch {r['changing'] * 1e3:.1f} ms "
          f"({r['changing'] / r['raw']:.2f}x raw)", flush=True)


def print_growth(results) -> None:
    """Growth from the smallest to the largest size: scrape, raw SQL, and each statement's Rows_read."""
    first, last = results[0], results[-1]
    print(f"\ngrowth {first['size']:,} -> {last['size']:,} (measured side by side, round by round): "
          f"scrape {last['scrape'] / first['scrape']:.2f}x, raw SQL {last['raw'] / first['raw']:.2f}x (target <= 1.15)")
    for (name, ms0, read0, _), (_, ms1, read1, _) in zip(first["costs"], last["costs"], strict=True):
        print(f"   {name:<14} server {ms1 / ms0 if ms0 else float('nan'):5.2f}x  Rows_read {read0:,} -> {read1:,}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100k,1M", help="historical component rows per run (10M takes minutes)")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--site", choices=("real", "small"), default="real",
                        help="real: the issue-12 real-site workload; small: the demo-shaped night only")
    parser.add_argument("--workdir", default=None, help="keep the servers and the query-exporter venv here")
    parser.add_argument("--query-exporter", action="store_true", help="also time query-exporter (needs PyPI)")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN plans for each size")
    parser.add_argument("--keep-history-updates", action="store_true",
                        help="keep the generator's re-opened 'update' chip runs (active work then grows with history)")
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    base = Path(args.workdir or tempfile.mkdtemp(prefix="ipp-bench-"))
    binary = query_exporter_venv(base) if args.query_exporter else None
    servers, sites = [], []
    try:
        for size in sizes:  # every size's server stays up, so the rounds can measure them side by side
            servers.append(MariaDBServer(base / f"db-{size}", buffer_pool="1G", startup_timeout=120))
            sites.append(prepare(servers[-1].start(), size, args, base))
        measure_side_by_side(sites, args.repeat)
        results = []
        for site in sites:
            if args.explain:
                explain_all(site["root"], site["statements"])
            qe_s = (bench_query_exporter(binary, site["root"], base, [s[1:] for s in site["statements"]], args.repeat)
                    if binary else float("nan"))
            results.append(result(site, qe_s))
            print_result(results[-1])
    finally:
        for site in sites:
            site["raw_close"]()
            site["exporter"].close()
        for server in servers:
            server.stop()
    if len(results) > 1:
        print_growth(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
