"""Helpers for the pantasks tests: the fixture files and the fake pantasks_client that replays them."""

from __future__ import annotations

from pathlib import Path

from exporter.config import PantasksServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pantasks"
FAKE_CLIENT = str(FIXTURES / "bin" / "fake_pantasks_client")
STDSCIENCE = {
    "FAKE_STATUS": FIXTURES / "status.stdscience.txt",
    "FAKE_TASKSTATS": FIXTURES / "status.taskstats.stdscience.txt",
    "FAKE_LABELS": FIXTURES / "show.labels.stdscience.txt",
    "FAKE_CONTROLLER": FIXTURES / "controller-status.hosts.txt",
    "FAKE_NS": FIXTURES / "ns.show.dates.current.txt",
}


def fixture_bytes(name: str) -> bytes:
    """Raw bytes of tests/fixtures/pantasks/<name>."""
    return (FIXTURES / name).read_bytes()


def runs(server: PantasksServer) -> int:
    """How many times the fake client ran for this server."""
    log = Path(server.directory) / "runs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0
