"""Reliability suite: pitfall bookkeeping and the end-of-run summary ("pitfalls survived N/N", fuzz counts, figures)."""

from __future__ import annotations

import reliability_report

_pitfall_of: dict[str, int] = {}  # test node id -> pitfall number


def pytest_configure(config):
    config.addinivalue_line("markers", "pitfall(number): the test reproducing one pitfall of the prior-art list")


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
