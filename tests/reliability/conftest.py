"""Reliability suite: pitfall bookkeeping and the end-of-run summary ("pitfalls survived N/N", fuzz counts, figures)."""

from __future__ import annotations

import pytest
import reliability_report
from reliability_site import FAKE_CLIENT, FIXTURES, PantasksSite

from ippsim.scenario import ScenarioSpec, build

_pitfall_of: dict[str, int] = {}  # test node id -> pitfall number


class _SessionOutcomes:
    """A plugin (not a conftest hook, so it sees every test of the session): each test's outcome by node id."""

    def pytest_runtest_logreport(self, report):
        outcomes = reliability_report.session_outcomes
        if report.failed:
            outcomes[report.nodeid] = "failed"
        elif report.skipped:
            outcomes.setdefault(report.nodeid, "skipped")
        elif report.when == "call":
            outcomes.setdefault(report.nodeid, "passed")


def pytest_configure(config):
    config.addinivalue_line("markers", "pitfall(number): the test reproducing one pitfall of the prior-art list")
    config.pluginmanager.register(_SessionOutcomes(), "reliability-session-outcomes")


def pytest_collection_modifyitems(items):
    for item in items:
        marker = item.get_closest_marker("pitfall")
        if marker is not None:
            _pitfall_of[item.nodeid] = marker.args[0]


def pytest_runtest_logreport(report):
    number = _pitfall_of.get(report.nodeid)
    if number is None:
        return
    outcomes = reliability_report.pitfall_outcomes
    if report.failed:  # in set-up, call or teardown
        outcomes[number] = "FAILED"
    elif report.skipped:
        outcomes.setdefault(number, "skipped")
    elif report.when == "call" and outcomes.get(number) != "FAILED":
        outcomes[number] = "passed"


def pytest_terminal_summary(terminalreporter):
    lines = reliability_report.summary_lines()
    if lines:
        terminalreporter.section("reliability")
        for line in lines:
            terminalreporter.write_line(line)


# ---- fixtures shared by the pitfall tests ----

@pytest.fixture
def pantasks_site(tmp_path) -> PantasksSite:
    """Simulated pantasks servers (and faulty ones) under tmp_path."""
    return PantasksSite(tmp_path / "pantasks")


@pytest.fixture
def built_site(site_db):
    """The session MariaDB's fresh gpc1 + nebulous, filled with the tiny simulated site."""
    build(site_db.root, ScenarioSpec.tiny())
    return site_db


@pytest.fixture
def fake_server(tmp_path):
    """Factory: a pantasks server answered by the fixture-replaying fake client, set up by FAKE_* settings."""

    def make(name: str, timeout: str = "5s", **settings) -> dict:
        directory = tmp_path / "fake" / name
        directory.mkdir(parents=True)
        merged = {"FAKE_STATUS": FIXTURES / "status.stdscience.txt", "FAKE_LABELS": FIXTURES / "show.labels.stdscience.txt",
                  "FAKE_CONTROLLER": FIXTURES / "controller-status.hosts.txt",
                  "FAKE_NS": FIXTURES / "ns.show.dates.current.txt", "FAKE_COUNT": directory / "runs.log", **settings}
        (directory / "ptolemy.rc").write_text("".join(f"{k} {v}\n" for k, v in merged.items() if v is not None))
        return {"name": name, "directory": str(directory), "client": str(FAKE_CLIENT), "timeout": timeout}

    return make
