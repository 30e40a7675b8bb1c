"""Robustness against the real MariaDB: read-only sessions, reconnects, hung peers, locks, single flight, staleness."""

from __future__ import annotations

import time

import pytest
from plugins.exposition import ShiftedClock, concurrently, counting_exporter, scrape, text_value, value
from plugins.tools import need_tool
from processing_helpers import SilentServer, ro_config, status_counter

from exporter.collectors import Exporter
from exporter.config import config_from_data
from exporter.db import Database, DatabaseError, QueryTimedOut
from ippsim.mariadb import MariaDBServer
from ippsim.site import Accounts, create_site

UP = "ipp_processing_db_up"
INJECTION = "ps_ud_%' OR 1=1 --"


def test_session_is_read_only_with_statement_guards(site_db):
    # the read-write account on purpose: the session itself must refuse writes
    db = Database(ro_config(site_db, user=site_db.ipp.user, password=site_db.ipp.password, query_timeout=3.0))
    try:
        with pytest.raises(DatabaseError, match="READ ONLY"):
            db.run(lambda s: s.query("INSERT INTO Label (label, priority) VALUES (%s, %s)", ("x", 1)))
        (limits,) = db.run(lambda s: s.query("SELECT @@max_statement_time, @@lock_wait_timeout, @@tx_read_only"))
        assert limits == (3.0, 3, 1)
    finally:
        db.close()


def test_reconnects_after_the_server_kills_the_connection(site_db, make_collector, rows):
    rows.chip(1, "new", "L", faults=[(2, "h")])
    collector = make_collector()
    db = collector.sources[0].db
    assert value(scrape(collector), UP, dbname="gpc1") == 1
    (conn_id,), = db.run(lambda s: s.query("SELECT CONNECTION_ID()"))
    root = site_db.root.connect()
    try:
        with root.cursor() as cur:
            cur.execute("KILL %s", (conn_id,))
        after = scrape(collector)
        assert value(after, UP, dbname="gpc1") == 1
        assert value(after, "ipp_processing_faults", dbname="gpc1", stage="chip", label="L", fault="2") == 1
        assert db.connects == 2
        for _ in range(3):
            scrape(collector)
        with root.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (site_db.ipp_ro.user,))
            assert cur.fetchone()[0] == 1  # one reused connection, not one per scrape
    finally:
        root.close()


def test_reconnects_after_a_mariadb_restart(tmp_path, executor):
    need_tool("mariadbd", "/usr/sbin/mariadbd")
    from exporter.collectors.processing import ProcessingCollector
    server = MariaDBServer(tmp_path / "m")
    try:
        root = server.start()
        site = create_site(root, Accounts("rw", "ro", "nrw", "nro"))
        config = ro_config(site, connect_timeout=1.0, query_timeout=1.0)
        collector = ProcessingCollector([Database(config)], executor, ttl=0, max_stale=0)
        assert value(scrape(collector), UP, dbname="gpc1") == 1
        server.stop()
        assert value(scrape(collector), UP, dbname="gpc1") == 0
        server.start()  # same datadir and socket path
        assert value(scrape(collector), UP, dbname="gpc1") == 1
        collector.close()
    finally:
        server.stop()


def test_an_injection_shaped_label_cannot_widen_the_label_query(rows, make_collector):
    rows.chip(1, "new", INJECTION, faults=[(2, "h")])
    rows.insert("Label", label=INJECTION, priority=7, active=1)
    rows.insert("Label", label="ps_ud_other", priority=8, active=1)
    rows.insert("Label", label="unrelated", priority=9, active=0)
    c = scrape(make_collector())
    info = [dict(labels) for (name, labels) in c_keys(c, "ipp_processing_label_info")]
    assert [(i["label"], i["priority"]) for i in info] == [(INJECTION, "7")]
    assert value(c, "ipp_processing_faults", dbname="gpc1", stage="chip", label=INJECTION, fault="2") == 1


def test_any_byte_in_a_latin1_label_is_exported_not_a_failed_fetch(rows, make_collector):
    # cp1252 (PyMySQL's "latin1") has no character for 0x81 or 0x9D: decoding such a label once failed the fetch
    rows.chip(1, "new", b"lab\x81\x9d\xe9\x80 \"x\"\\", faults=[(2, "h")])
    c = scrape(make_collector())
    assert value(c, UP, dbname="gpc1") == 1
    label = "lab\x81\x9d\u00e9\u20ac \"x\"\\"  # MariaDB's latin1 is cp1252 with the five gaps as C1 controls
    assert value(c, "ipp_processing_faults", dbname="gpc1", stage="chip", label=label, fault="2") == 1


def test_a_fetch_that_finds_the_same_data_reuses_the_bytes_and_a_change_shows(rows, make_collector):
    rows.chip(1, "new", "L", faults=[(2, "h")])
    collector = make_collector()
    with counting_exporter(collector) as (exporter, builds):
        first = exporter.expose(5.0)
        second = exporter.expose(5.0)
        assert collector.sources[0].flight.fetches == 2 and len(builds) == 1
        assert second.pieces[0] is first.pieces[0]
        rows.chip(2, "new", "L", faults=[(2, "h")])
        third = exporter.expose(5.0).text().decode()
        assert len(builds) == 2
        assert text_value(third, "ipp_processing_faults", dbname="gpc1", stage="chip", label="L", fault="2") == 2


def test_a_hung_peer_is_bounded_by_connect_and_read_timeouts():
    with SilentServer() as silent:
        db = Database(ro_config_tcp(silent.port, connect_timeout=0.5, query_timeout=0.5))
        start = time.monotonic()
        with pytest.raises(QueryTimedOut):
            db.run(lambda s: s.query("SELECT 1"))
        assert time.monotonic() - start < 3.0  # handshake read bounded by read_timeout (0.5 + 1 s grace)


def test_dead_and_hung_databases_leave_the_other_sources_intact(site_db, rows, monkeypatch):
    rows.chip(1, "new", "L", faults=[(2, "h")])
    monkeypatch.setenv("GPC_RO", site_db.ipp_ro.password)
    monkeypatch.setenv("NEB_RO", site_db.neb_ro.password)
    with SilentServer() as silent:
        dead_port = SilentServer()
        dead_port.close()  # nothing listens there any more: connection refused
        db = {"user": site_db.ipp_ro.user, "password_env": "GPC_RO", "connect_timeout": "1s", "query_timeout": "1s"}
        config = config_from_data({
            "exporter": {"cache_ttl": 0, "max_stale": 0},
            "processing": {"databases": [
                {**db, "dbname": "gpc1", "unix_socket": site_db.ipp_ro.socket},
                {**db, "dbname": "gpc2", "host": "127.0.0.1", "port": silent.port},
                {**db, "dbname": "gpc3", "host": "127.0.0.1", "port": dead_port.port}]},
            "nebulous": {"user": site_db.neb_ro.user, "password_env": "NEB_RO", "unix_socket": site_db.neb_ro.socket},
        })
        exporter = Exporter(config, enabled=("processing", "nebulous"))
        try:
            start = time.monotonic()
            families = exporter.scrape(budget=1.5)
            took = time.monotonic() - start
        finally:
            exporter.close()
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}
    assert took < 1.5 + 0.3
    assert got[(UP, (("dbname", "gpc1"),))] == 1
    assert got[(UP, (("dbname", "gpc2"),))] == 0
    assert got[(UP, (("dbname", "gpc3"),))] == 0
    assert got[("ipp_nebulous_db_up", ())] == 1
    assert got[("ipp_processing_faults", (("dbname", "gpc1"), ("fault", "2"), ("label", "L"), ("stage", "chip")))] == 1
    assert got[("ipp_scrape_collector_success", (("collector", "processing"),))] == 1
    silent_dbs = [k[0] for k in got if dict(k[1]).get("dbname") in ("gpc2", "gpc3")]
    assert sorted(silent_dbs) == [UP, UP, "ipp_processing_skipped_rows_total", "ipp_processing_skipped_rows_total"]


def test_a_table_lock_held_elsewhere_keeps_the_scrape_in_budget(site_db, rows, make_collector):
    rows.chip(1, "new", "L", faults=[(2, "h")])
    collector = make_collector([ro_config(site_db, query_timeout=1.0)])
    locker = site_db.root.connect("gpc1")
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLES chipRun WRITE")
        start = time.monotonic()
        c = collector.collect(time.monotonic() + 0.5)
        assert time.monotonic() - start < 0.5 + 0.3
        assert value(c, UP, dbname="gpc1") == 0
        time.sleep(1.5)  # the server gives up on the blocked statement (lock_wait_timeout = 1 s)
    finally:
        with locker.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        locker.close()
    assert value(scrape(collector), UP, dbname="gpc1") == 1


def test_concurrent_scrapes_trigger_one_fetch(site_db, rows, make_collector):
    rows.chip(1, "new", "L", faults=[(2, "h")])
    root = site_db.root.connect()
    try:
        before = status_counter(root, "Com_select")
        scrape(make_collector())
        per_fetch = status_counter(root, "Com_select") - before
        collector = make_collector(ttl=60.0)
        before = status_counter(root, "Com_select")
        results = concurrently(lambda: scrape(collector), 8, timeout=10)
        assert len(results) == 8 and all(value(r, UP, dbname="gpc1") == 1 for r in results)
        assert status_counter(root, "Com_select") - before == per_fetch
        assert collector.sources[0].flight.fetches == 1
    finally:
        root.close()


def test_stale_values_are_marked_and_expire(site_db, rows, make_collector):
    rows.chip(1, "new", "L", faults=[(2, "h")])
    clock = ShiftedClock()
    collector = make_collector([ro_config(site_db, query_timeout=1.0)], ttl=10, max_stale=30, clock=clock)
    fresh = scrape(collector, clock=clock)
    assert fresh.sources[0].data_age < 0.5
    locker = site_db.root.connect("gpc1")
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLES chipRun WRITE")
        clock.offset += 11  # past the TTL, without sleeping
        stale = scrape(collector, budget=3.0, clock=clock)  # the fetch fails after 1 s; the last good values served
        assert value(stale, UP, dbname="gpc1") == 0
        assert value(stale, "ipp_processing_faults", dbname="gpc1", stage="chip", label="L", fault="2") == 1
        assert stale.sources[0].data_age >= 11
        clock.offset += 20  # past max_stale
        expired = scrape(collector, budget=3.0, clock=clock)  # older than max_stale now: nothing but _up
        assert value(expired, UP, dbname="gpc1") == 0
        assert value(expired, "ipp_processing_faults", dbname="gpc1", stage="chip", label="L", fault="2") is None
        assert expired.sources[0].data_age == 0
    finally:
        with locker.cursor() as cur:
            cur.execute("UNLOCK TABLES")
        locker.close()


def ro_config_tcp(port: int, **overrides):
    """Config for a TCP peer on loopback (no real account behind it)."""
    from exporter.config import DatabaseConfig
    return DatabaseConfig(dbname="gpc1", user="ipp_ro", password="x", host="127.0.0.1", port=port, **overrides)


def c_keys(c, name):
    return sorted((s.name, tuple(sorted(s.labels.items()))) for f in c.families for s in f.samples if s.name == name)
