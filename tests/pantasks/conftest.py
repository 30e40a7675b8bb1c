"""Shared helpers for the pantasks tests: fake servers driven by the fixture files."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter.collectors.pantasks import PantasksCollector
from exporter.config import PantasksServer
from exporter.transport import LocalRunner

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pantasks"
FAKE_CLIENT = str(FIXTURES / "bin" / "fake_pantasks_client")
STDSCIENCE = {
    "FAKE_STATUS": FIXTURES / "status.stdscience.txt",
    "FAKE_LABELS": FIXTURES / "show.labels.stdscience.txt",
    "FAKE_CONTROLLER": FIXTURES / "controller-status.hosts.txt",
    "FAKE_NS": FIXTURES / "ns.show.dates.current.txt",
}


def fixture_bytes(name: str) -> bytes:
    """Raw bytes of tests/fixtures/pantasks/<name>."""
    return (FIXTURES / name).read_bytes()


class _Static:
    def __init__(self, families):
        self._families = families

    def collect(self):
        return self._families


def exposition(families) -> str:
    """Text exposition of a list of metric families."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Static(families))
    return generate_latest(registry).decode()


@pytest.fixture
def fake_server(tmp_path):
    """Factory: a directory with a ptolemy.rc that tells the fake client how to behave; returns the server config."""

    def make(name: str = "stdscience", timeout: float = 10.0, **settings) -> PantasksServer:
        directory = tmp_path / name
        directory.mkdir()
        merged = {**STDSCIENCE, "FAKE_COUNT": directory / "runs.log", **settings}
        (directory / "ptolemy.rc").write_text("".join(f"{k} {v}\n" for k, v in merged.items() if v is not None))
        return PantasksServer(name=name, directory=str(directory), client=FAKE_CLIENT, timeout=timeout)

    return make


def runs(server: PantasksServer) -> int:
    """How many times the fake client ran for this server."""
    log = Path(server.directory) / "runs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


@pytest.fixture
def executor():
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="test-fetch")
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


@pytest.fixture
def local_collector(executor):
    """Factory: a collector over local fake servers."""

    def make(*servers: PantasksServer, ttl: float = 15.0, max_stale: float = 300.0) -> PantasksCollector:
        return PantasksCollector(servers, {"": LocalRunner()}, executor, ttl, max_stale)

    return make
