"""Pitfalls of the prior-art list that concern the exporter's sources, each reproduced on real parts and survived.

One test per pitfall, named after it (the numbers are the list's); tests/reliability/conftest.py counts them.
"""

from __future__ import annotations

import ast
import re
import socket
import threading
import time
from pathlib import Path

from reliability_report import pitfall
from reliability_site import (
    FIXTURES,
    CountingListener,
    client_runs,
    databases,
    http_get,
    make_exporter,
    of_source,
    root_rows,
    served,
    text_samples,
    timed_scrape,
    up,
)

from exporter.parsers.nebulous import VOLUME_STATES
from exporter.parsers.pantasks import HOST_STATES, JOB_STATES
from exporter.parsers.processing import SUMMIT_STATUSES, fault_buckets, run_states

ROOT = Path(__file__).resolve().parents[2]
SLACK = 0.5  # seconds over a scrape budget allowed on a noisy shared machine
HOSTILE_LABELS = ("ps_ud_%' OR 1=1 --", "x'; DROP TABLE Label; --", 'q" OR ""="', "back\\slash' #", "new\nline")


def exporter_for(data: dict, **sections):
    """An exporter for the config sections given (short TTLs unless the test says otherwise)."""
    config = {"exporter": {"scrape_timeout": "5s", "timeout_offset": 0, "cache_ttl": 0, "max_stale": "5m"}, **data}
    return make_exporter(config, enabled=tuple(k for k in ("pantasks", "processing", "nebulous") if k in config))


@pitfall(1)
def test_pitfall_01_parser_crash_on_unexpected_output(fake_server, pantasks_site):
    bad = [fake_server("truncated", FAKE_STATUS=FIXTURES / "status.truncated.txt"),
           fake_server("nonutf8", FAKE_STATUS=FIXTURES / "status.non-utf8.txt",
                       FAKE_LABELS=FIXTURES / "show.labels.non-utf8.txt"),
           fake_server("longnames", FAKE_STATUS=FIXTURES / "status.long-names.txt"),
           fake_server("overflow", FAKE_STATUS=FIXTURES / "status.overflow.txt"),
           fake_server("garbage", FAKE_MODE="garbage"), fake_server("empty", FAKE_STATUS="/dev/null")]
    exporter = exporter_for({"pantasks": {"servers": [pantasks_site.server("healthy"), *bad]}})
    try:
        samples = timed_scrape(exporter, 5.0).samples
    finally:
        exporter.close()
    assert samples[("ipp_scrape_collector_success", (("collector", "pantasks"),))] == 1
    assert up(samples, "pantasks/healthy") == 1
    assert len([k for k in of_source(samples, "pantasks/healthy") if k[0] == "ipp_pantasks_task_active"]) > 5
    errors = {s["name"]: samples[("ipp_pantasks_parse_errors_total", (("server", s["name"]),))] for s in bad}
    assert errors["truncated"] >= 1 and errors["garbage"] >= 1, errors
    assert up(samples, "pantasks/garbage") == 0 and up(samples, "pantasks/empty") == 0


class Exploding:
    """A collector with a bug: every collect() raises."""

    name = "exploding"

    def collect(self, deadline: float):
        raise RuntimeError("a bug in one collector")


@pitfall(2)
def test_pitfall_02_a_collector_error_ends_the_process_or_blanks_the_page(pantasks_site):
    dead = socket.create_server(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # connection refused from now on
    data = {"pantasks": {"servers": [pantasks_site.server("healthy")]},
            "processing": {"databases": [{"dbname": "gpc1", "user": "ipp_ro", "host": "127.0.0.1", "port": dead_port,
                                          "connect_timeout": "1s", "query_timeout": "1s"}]}}
    builder = exporter_for(data)
    exporter = make_exporter_with([*builder.collectors, Exploding()], data)
    try:
        with served(exporter) as url:
            for _ in range(2):  # the process keeps serving after the failure
                status, text = http_get(url)
                assert status == 200
                samples = text_samples(text)
                assert samples[("ipp_pantasks_up", (("server", "healthy"),))] == 1
                assert samples[("ipp_processing_db_up", (("dbname", "gpc1"),))] == 0
                assert samples[("ipp_scrape_collector_success", (("collector", "exploding"),))] == 0
                assert samples[("ipp_scrape_collector_success", (("collector", "processing"),))] == 1
    finally:
        exporter.close()
        builder.close()


def make_exporter_with(collectors, data):
    """An exporter around given collectors (a broken one among real ones)."""
    from exporter.collectors import Exporter
    from exporter.config import config_from_data
    config = config_from_data({"exporter": {"cache_ttl": 0}, **data})
    return Exporter(config, collectors=collectors)


@pitfall(3)
def test_pitfall_03_no_timeout_hung_scrape(fake_server, sshd):
    silent = CountingListener()
    try:
        db = {"user": "ipp_ro", "host": "127.0.0.1", "port": silent.port, "connect_timeout": "4s", "query_timeout": "4s"}
        # every source's own time limit is far beyond the scrape budget: only the budget can end the scrape
        data = {"pantasks": {"servers": [fake_server("hung", FAKE_MODE="hang", timeout="4s"),
                                         {"name": "silentssh", "directory": "/tmp", "host": "127.0.0.1",
                                          "timeout": "4s"}]},
                "ssh": {"user": sshd.user, "port": silent.port, "key_file": sshd.key_file,
                        "known_hosts": sshd.known_hosts, "connect_timeout": "4s"},
                "processing": {"databases": [{**db, "dbname": "gpc1"}]}, "nebulous": db}
        exporter = exporter_for(data)
        try:
            for _ in range(3):
                scraped = timed_scrape(exporter, 1.0)
                assert scraped.took <= 1.0 + SLACK, scraped.took
                for source in ("pantasks/hung", "pantasks/silentssh", "processing/gpc1", "nebulous"):
                    assert up(scraped.samples, source) == 0, source
        finally:
            exporter.close()
        assert silent.accepted, "the silent peer was never contacted"
    finally:
        silent.close()


@pitfall(4)
def test_pitfall_04_paramiko_deadlock_on_large_output(pantasks_site, sshd):
    servers = [pantasks_site.server("huge", host="127.0.0.1", faulty=True, timeout="20s"),
               pantasks_site.server("fine", host="127.0.0.1", timeout="10s")]
    pantasks_site.set_fault("huge", "huge")  # 5 MiB on each stream, beyond the ~2 MiB SSH window
    data = {"pantasks": {"servers": servers},
            "ssh": {"user": sshd.user, "port": sshd.port, "key_file": sshd.key_file, "known_hosts": sshd.known_hosts}}
    exporter = exporter_for(data)
    try:
        scraped = timed_scrape(exporter, 15.0)
        assert scraped.took < 15.0, "the 10 MiB client run was never drained"
        assert up(scraped.samples, "pantasks/huge") == 0 and up(scraped.samples, "pantasks/fine") == 1
        pantasks_site.set_fault("huge", None)
        assert up(timed_scrape(exporter, 15.0).samples, "pantasks/huge") == 1  # the shared connection still works
    finally:
        exporter.close()


@pitfall(5)
def test_pitfall_05_overlapping_scrapes_pile_onto_the_backend(built_site, fake_server):
    server = fake_server("stdscience", FAKE_DELAY="0.05")
    data = {"pantasks": {"servers": [server]}, **databases(built_site)}
    selects_before = com_select(built_site)
    single = exporter_for(data)
    try:
        timed_scrape(single, 10.0)
    finally:
        single.close()
    per_fetch = com_select(built_site) - selects_before
    runs_before = client_runs(server)
    config = {**data, "exporter": {"scrape_timeout": "10s", "timeout_offset": 0, "cache_ttl": "60s", "max_stale": "5m"}}
    exporter = make_exporter(config)
    try:
        with served(exporter) as url:
            selects_before = com_select(built_site)
            results: list[int] = []
            threads = [threading.Thread(target=lambda: results.append(http_get(url)[0])) for _ in range(20)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
    finally:
        exporter.close()
    assert results == [200] * 20
    assert client_runs(server) - runs_before == 1
    assert com_select(built_site) - selects_before == per_fetch > 0


def com_select(site) -> int:
    """The server's global count of SELECT statements."""
    return int(root_rows(site.root, "SHOW GLOBAL STATUS LIKE 'Com_select'")[0][1])


@pitfall(6)
def test_pitfall_06_empty_results_mishandled(site_db, fake_server):
    server = fake_server("idle", FAKE_STATUS=FIXTURES / "status.empty.txt", FAKE_LABELS=FIXTURES / "show.labels.none.txt",
                         FAKE_CONTROLLER=FIXTURES / "controller-status.inactive.txt", FAKE_NS=None)
    config = {"exporter": {"scrape_timeout": "10s", "timeout_offset": 0, "cache_ttl": "60s", "max_stale": "5m"},
              "pantasks": {"servers": [server]}, **databases(site_db)}
    exporter = make_exporter(config)
    try:
        first = timed_scrape(exporter, 10.0).samples
        selects = com_select(site_db)
        second = timed_scrape(exporter, 10.0).samples
    finally:
        exporter.close()
    for samples in (first, second):
        assert up(samples, "pantasks/idle") == 1 and up(samples, "processing/gpc1") == 1 and up(samples, "nebulous") == 1
        assert [samples[("ipp_pantasks_queue_jobs", (("server", "idle"), ("state", s)))] for s in JOB_STATES] == [0] * 6
        assert [samples[("ipp_summit_exposures", (("dbname", "gpc1"), ("status", s)))] for s in SUMMIT_STATUSES] \
            == [0] * len(SUMMIT_STATUSES)
    # an empty answer is cached like any other: the second scrape asked nobody
    assert client_runs(server) == 1 and com_select(site_db) == selects


@pitfall(7)
def test_pitfall_07_connection_loss_never_recovered(built_site, pantasks_site, sshd):
    data = {"pantasks": {"servers": [pantasks_site.server("remote", host="127.0.0.1")]},
            "ssh": {"user": sshd.user, "port": sshd.port, "key_file": sshd.key_file, "known_hosts": sshd.known_hosts},
            **databases(built_site)}
    exporter = exporter_for(data)
    try:
        before = timed_scrape(exporter, 10.0).samples
        assert all(up(before, s) == 1 for s in ("pantasks/remote", "processing/gpc1", "nebulous"))
        ids = root_rows(built_site.root, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER IN ('ipp_ro', 'neb_ro')")
        assert len(ids) == 2
        for (conn_id,) in ids:
            root_rows(built_site.root, "KILL %s", (conn_id,))
        assert sshd.drop_connections() > 0
        after = timed_scrape(exporter, 10.0).samples
    finally:
        exporter.close()
    for source in ("pantasks/remote", "processing/gpc1", "nebulous"):
        assert up(after, source) == 1, source
        assert of_source(after, source) == of_source(before, source), source


def status_with_jobs(count: int) -> str:
    """A status table with `count` queued jobs (each its own job id, as a busy server prints them)."""
    jobs = "".join(f" {count:4d}  {n:8d}: {'chip.imfile.run':<25s} {JOB_STATES[n % 6]:>10s} {'chip_imfile.pl':>20s}\n"
                   for n in range(1, count + 1))
    return ("\n Scheduler is running\n Controller is running\n\n Task Status\n"
            "  AV Name                 Nrun  Njobs  Ngood Nfail Ntime Command\n"
            "  ++ chip.imfile.run         3  23527  17755  5769     0 chip_imfile.pl\n\n"
            f" Jobs in Pantasks Queue\n{jobs}")


@pitfall(8)
def test_pitfall_08_cardinality_blow_ups(built_site, fake_server, tmp_path):
    (tmp_path / "few.txt").write_text(status_with_jobs(6))
    (tmp_path / "many.txt").write_text(status_with_jobs(3000))
    rw = built_site.ipp.connect("gpc1")
    try:
        with rw.cursor() as cur:  # faults with many distinct codes, as a bad night could leave them
            cur.execute("UPDATE chipProcessedImfile SET fault = 1000 + (chip_id * 7 + LENGTH(class_id)) % 500")
            cur.execute("UPDATE chipRun SET state = 'new'")
    finally:
        rw.close()
    data = {"pantasks": {"servers": [fake_server("few", FAKE_STATUS=tmp_path / "few.txt"),
                                     fake_server("many", FAKE_STATUS=tmp_path / "many.txt")]},
            **databases(built_site)}
    exporter = exporter_for(data)
    try:
        samples = timed_scrape(exporter, 10.0).samples
    finally:
        exporter.close()
    per_server = {name: len([k for k in samples if dict(k[1]).get("server") == name]) for name in ("few", "many")}
    assert per_server["few"] == per_server["many"], per_server  # 3000 jobs cost no more series than 6
    faults = [dict(labels) for name, labels in samples if name == "ipp_processing_faults"]
    assert faults and all(f["fault"] in fault_buckets(f["stage"]) for f in faults)
    assert any(f["fault"] == "other" for f in faults)
    dated = re.compile(r"^\d{4}-\d{2}-\d{2}|^\d{9,}$|^\d+\.\d+$")  # dates, unix times, job ids, floats
    for name, labels in samples:
        for label, value in labels:
            assert not dated.search(value), (name, label, value)


@pitfall(9)
def test_pitfall_09_filtering_hides_important_states(built_site, fake_server):
    neb = built_site.neb.connect("nebulous")
    try:
        with neb.cursor() as cur:
            cur.execute("SELECT vol_id FROM volume ORDER BY vol_id")
            vol_ids = [row[0] for row in cur.fetchall()]
            assert len(vol_ids) >= 4
            for vol_id, (allocate, available) in zip(vol_ids, ((0, 0), (0, 1), (1, 0), (1, 1)), strict=False):
                cur.execute("UPDATE volume SET allocate = %s, available = %s WHERE vol_id = %s",
                            (allocate, available, vol_id))
    finally:
        neb.close()
    data = {"pantasks": {"servers": [fake_server("stdscience")]}, **databases(built_site)}
    exporter = exporter_for(data)
    try:
        samples = timed_scrape(exporter, 10.0).samples
    finally:
        exporter.close()
    volumes = {(d["host"], d["volume"]) for d in (dict(k[1]) for k in samples if k[0] == "ipp_nebulous_volume_state")}
    shown = {d["state"] for d in (dict(k[1]) for k, v in samples.items() if k[0] == "ipp_nebulous_volume_state" and v)}
    assert shown >= {"down", "repair", "allocate_only", "up"}
    for host, volume in volumes:
        states = [samples[("ipp_nebulous_volume_state", (("host", host), ("state", s), ("volume", volume)))]
                  for s in VOLUME_STATES]
        assert sorted(states) == [0] * (len(VOLUME_STATES) - 1) + [1]
    hosts = {dict(k[1])["host"] for k in samples if k[0] == "ipp_pantasks_controller_host_state"}
    for host in hosts:
        assert all(("ipp_pantasks_controller_host_state", (("host", host), ("server", "stdscience"), ("state", s)))
                   in samples for s in HOST_STATES)
    assert samples[("ipp_pantasks_controller_host_state", (("host", "ipp018"), ("server", "stdscience"),
                                                            ("state", "DOWN")))] == 1
    pairs = {(d["stage"], d["label"]) for d in (dict(k[1]) for k in samples if k[0] == "ipp_processing_runs")}
    assert pairs
    for stage, label in pairs:
        assert all(("ipp_processing_runs", (("dbname", "gpc1"), ("label", label), ("stage", stage), ("state", s)))
                   in samples for s in run_states(stage))


@pitfall(14)
def test_pitfall_14_io_at_import_or_registration(fake_server, sshd, tmp_path):
    silent = CountingListener()
    try:
        server = fake_server("stdscience")
        db = {"user": "ipp_ro", "host": "127.0.0.1", "port": silent.port, "connect_timeout": "1s", "query_timeout": "1s"}
        data = {"pantasks": {"servers": [server, {"name": "remote", "directory": "/tmp", "host": "127.0.0.1"}]},
                "ssh": {"user": sshd.user, "port": silent.port, "key_file": sshd.key_file,
                        "known_hosts": sshd.known_hosts, "connect_timeout": "1s"},
                "processing": {"databases": [{**db, "dbname": "gpc1"}]}, "nebulous": db}
        exporter = exporter_for(data)
        try:
            from exporter.http import make_app
            make_app(exporter)
            time.sleep(0.3)
            assert silent.accepted == [] and client_runs(server) == 0  # building and registering did no I/O
            timed_scrape(exporter, 1.0)
            time.sleep(0.3)
            assert len(silent.accepted) >= 2 and client_runs(server) == 1  # a scrape does (the check can fail)
        finally:
            exporter.close()
    finally:
        silent.close()


@pitfall(16)
def test_pitfall_16_sql_injection_from_string_built_queries(built_site):
    rw = built_site.ipp.connect("gpc1")
    try:
        with rw.cursor() as cur:
            cur.execute("SET SESSION foreign_key_checks = 0")
            for n, label in enumerate(HOSTILE_LABELS):
                cur.execute("INSERT INTO chipRun (chip_id, exp_id, state, label) VALUES (%s, %s, 'new', %s)",
                            (90000 + n, 90000 + n, label))
                cur.execute("INSERT INTO Label (label, priority, active) VALUES (%s, %s, 1)", (label, 500 + n))
    finally:
        rw.close()
    exporter = exporter_for(databases(built_site))
    try:
        samples = timed_scrape(exporter, 10.0).samples
    finally:
        exporter.close()
    info = {d["label"]: d["priority"] for d in (dict(k[1]) for k in samples if k[0] == "ipp_processing_label_info")}
    for n, label in enumerate(HOSTILE_LABELS):
        assert info[label] == str(500 + n), label  # each label finds exactly its own row
    assert root_rows(built_site.root, "SELECT COUNT(*) FROM Label", database="gpc1")[0][0] >= len(HOSTILE_LABELS)
    sources = {str(p.relative_to(ROOT)): p.read_text() for p in sorted((ROOT / "exporter").rglob("*.py"))}
    assert string_built_queries(sources) == []


def string_built_queries(sources: dict[str, str]) -> list[str]:
    """Calls of .query()/.execute() whose SQL is an f-string, a % format or a concatenation ("file:line")."""
    found = []
    for name, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args \
                    and node.func.attr in ("query", "execute", "executemany"):
                sql = node.args[0]
                if isinstance(sql, ast.JoinedStr) or (isinstance(sql, ast.BinOp) and isinstance(sql.op, (ast.Mod, ast.Add))):
                    found.append(f"{name}:{node.lineno}")
    return found


def test_the_sql_check_finds_string_built_queries():
    bad = ("s.query(f\"SELECT 1 WHERE a = '{x}'\")\ns.query(\"SELECT %s\" % x)\ncur.execute(\"A\" + x)\n"
           "s.query(SQL, (x,))\n")
    assert string_built_queries({"bad.py": bad}) == ["bad.py:1", "bad.py:2", "bad.py:3"]
