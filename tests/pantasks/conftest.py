"""Fixtures for the pantasks tests: fake servers driven by the fixture files."""

from __future__ import annotations

import pytest
from pantasks_helpers import FAKE_CLIENT, STDSCIENCE

from exporter.collectors.pantasks import PantasksCollector
from exporter.config import PantasksServer
from exporter.transport import LocalRunner


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


@pytest.fixture
def local_collector(executor):
    """Factory: a collector over local fake servers."""

    def make(*servers: PantasksServer, ttl: float = 15.0, max_stale: float = 300.0) -> PantasksCollector:
        return PantasksCollector(servers, {"": LocalRunner()}, executor, ttl, max_stale)

    return make
