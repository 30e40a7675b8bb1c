"""Nebulous collector against the real nebulous schema: states, mounts, df figures, the placeholder, failures."""

from __future__ import annotations

import pytest
from plugins.exposition import counting_exporter, samples, scrape, scrape_text, text_value

from exporter.collectors.nebulous import NebulousCollector
from exporter.config import DatabaseConfig
from exporter.db import Database
from exporter.parsers.nebulous import VOLUME_STATES

TB_KIB = 10**12 // 1024


@pytest.fixture
def neb(site_db):
    """Read-write connection to the fresh nebulous database."""
    conn = site_db.neb.connect("nebulous")
    yield conn
    conn.close()


@pytest.fixture
def collector(site_db, executor):
    """A NebulousCollector on the read-only account, no caching."""
    config = DatabaseConfig(dbname="nebulous", user=site_db.neb_ro.user, password=site_db.neb_ro.password,
                            unix_socket=site_db.neb_ro.socket, connect_timeout=2, query_timeout=2)
    made = NebulousCollector(Database(config), executor, ttl=0, max_stale=0)
    yield made
    made.close()


def add_volume(conn, vol_id, host, allocate, available, df=None):
    """A volume row and, when df=(total, used) in KiB, nebdiskd's mountedvol row for it."""
    name, path, mount = f"{host}.{vol_id}", f"/data/{host}.{vol_id}/nebulous", f"/export/{host}.{vol_id}"
    with conn.cursor() as cur:
        cur.execute("INSERT INTO volume (vol_id, name, host, path, allocate, available, xattr, mountpoint)"
                    " VALUES (%s, %s, %s, %s, %s, %s, 0, %s)", (vol_id, name, host, path, allocate, available, mount))
        if df is not None:
            cur.execute("INSERT INTO mountedvol (vol_id, name, host, path, allocate, available, xattr, mountpoint, total, used)"
                        " VALUES (%s, %s, %s, %s, %s, %s, 0, %s, %s, %s)",
                        (vol_id, name, host, path, allocate, available, mount, df[0], df[1]))


def site(conn):
    add_volume(conn, 1, "ipp001", 1, 1, df=(40 * TB_KIB, 30 * TB_KIB))   # up, 75 % used
    add_volume(conn, 2, "ipp002", 0, 1, df=(20 * TB_KIB, 1 * TB_KIB))    # repair
    add_volume(conn, 3, "ipp003", 0, 0)                                  # down, df failed: row deleted
    add_volume(conn, 4, "ipp004", 1, 0, df=(1, 1))                       # allocate_only, nebdiskd placeholder


def test_states_mounts_and_bytes(neb, collector):
    site(neb)
    got = samples(scrape(collector))
    assert got[("ipp_nebulous_db_up", ())] == 1
    state = {}
    for (name, labels), v in got.items():
        if name == "ipp_nebulous_volume_state":
            state.setdefault(dict(labels)["volume"], {})[dict(labels)["state"]] = v
    assert all(set(s) == set(VOLUME_STATES) for s in state.values())  # every state present for every volume
    assert {vol: [k for k, v in s.items() if v == 1] for vol, s in state.items()} == {
        "ipp001.1": ["up"], "ipp002.2": ["repair"], "ipp003.3": ["down"], "ipp004.4": ["allocate_only"]}
    v1 = (("host", "ipp001"), ("volume", "ipp001.1"))
    assert got[("ipp_nebulous_volume_size_bytes", v1)] == 40 * TB_KIB * 1024
    assert got[("ipp_nebulous_volume_used_bytes", v1)] == 30 * TB_KIB * 1024
    assert got[("ipp_nebulous_volume_df_ok", v1)] == 1
    v3 = (("host", "ipp003"), ("volume", "ipp003.3"))
    assert got[("ipp_nebulous_volume_mounted", v3)] == 0
    assert ("ipp_nebulous_volume_size_bytes", v3) not in got


def test_placeholder_is_never_half_full(neb, collector):
    site(neb)
    got = samples(scrape(collector))
    v4 = (("host", "ipp004"), ("volume", "ipp004.4"))
    assert got[("ipp_nebulous_volume_mounted", v4)] == 1
    assert got[("ipp_nebulous_volume_df_ok", v4)] == 0
    # no size/used pair that a used/size ratio could turn into "50 %"
    assert ("ipp_nebulous_volume_size_bytes", v4) not in got and ("ipp_nebulous_volume_used_bytes", v4) not in got


def test_dead_database_reports_down_without_volumes(site_db, executor):
    config = DatabaseConfig(dbname="nebulous", user=site_db.neb_ro.user, password="wrong-password",
                            unix_socket=site_db.neb_ro.socket, connect_timeout=1, query_timeout=1)
    dead = NebulousCollector(Database(config), executor, ttl=0, max_stale=0)
    try:
        got = samples(scrape(dead, budget=2))
    finally:
        dead.close()
    assert got[("ipp_nebulous_db_up", ())] == 0
    assert not [k for k in got if k[0].startswith("ipp_nebulous_volume")]


def test_golden_exposition(neb, collector, golden):
    site(neb)
    golden("nebulous.prom", scrape_text(collector))


def test_a_fetch_that_finds_the_same_rows_reuses_the_bytes_and_a_change_shows(neb, collector):
    site(neb)
    with counting_exporter(collector) as (exporter, builds):
        first = exporter.expose(5.0)
        second = exporter.expose(5.0)  # cache_ttl 0: a new fetch, the same rows
        assert collector.flight.fetches == 2 and len(builds) == 1
        assert second.pieces[0] is first.pieces[0]
        with neb.cursor() as cur:
            cur.execute("UPDATE mountedvol SET used = used + 1 WHERE vol_id = 1")
        third = exporter.expose(5.0).text().decode()
        assert len(builds) == 2
        assert text_value(third, "ipp_nebulous_volume_used_bytes", host="ipp001", volume="ipp001.1") \
            == (30 * TB_KIB + 1) * 1024
