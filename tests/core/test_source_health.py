"""Per-source self-metrics over real MariaDB: fetches and connections are counted and exported, not test-only."""

from plugins.exposition import text_value

from exporter.collectors import Exporter
from exporter.config import config_from_data


def test_fetches_and_connects_are_exported_per_source(site_db, monkeypatch):
    monkeypatch.setenv("CORE_GPC_RO", site_db.ipp_ro.password)
    monkeypatch.setenv("CORE_NEB_RO", site_db.neb_ro.password)
    config = config_from_data({
        "exporter": {"cache_ttl": 0, "max_stale": 0},
        "processing": {"databases": [{"dbname": "gpc1", "user": site_db.ipp_ro.user, "password_env": "CORE_GPC_RO",
                                      "unix_socket": site_db.ipp_ro.socket}]},
        "nebulous": {"user": site_db.neb_ro.user, "password_env": "CORE_NEB_RO", "unix_socket": site_db.neb_ro.socket},
    })
    exporter = Exporter(config, enabled=("processing", "nebulous"))
    try:
        texts = [exporter.expose(10.0).text().decode() for _ in range(3)]
    finally:
        exporter.close()
    last = texts[-1]
    for source in ("processing/gpc1", "nebulous"):
        assert text_value(last, "ipp_source_fetches_total", source=source) == 3  # cache_ttl 0: one fetch a scrape
        assert text_value(last, "ipp_source_connects_total", source=source) == 1  # one connection, reused
    assert text_value(last, "ipp_processing_db_up", dbname="gpc1") == 1
    assert text_value(last, "ipp_nebulous_db_up") == 1
