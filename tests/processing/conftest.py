"""Fixtures for the processing-DB tests: row writers on the real gpc1 schema, collectors on the read-only account."""

from __future__ import annotations

import pytest
from processing_helpers import NOW, Rows, ro_config

from exporter.collectors.processing import ProcessingCollector
from exporter.db import Database


@pytest.fixture
def rows(site_db):
    """Row writer on the fresh gpc1 database."""
    conn = site_db.ipp.connect("gpc1")
    try:
        yield Rows(conn)
    finally:
        conn.close()


@pytest.fixture
def make_collector(site_db, executor):
    """Factory: a ProcessingCollector on gpc1 (no caching unless asked), closed after the test."""
    made = []

    def make(configs=None, ttl: float = 0.0, max_stale: float = 0.0, now=NOW, **kw) -> ProcessingCollector:
        configs = configs or [ro_config(site_db)]
        collector = ProcessingCollector([Database(c) for c in configs], executor, ttl=ttl, max_stale=max_stale,
                                        now=lambda: now, **kw)
        made.append(collector)
        return collector

    yield make
    for collector in made:
        collector.close()
