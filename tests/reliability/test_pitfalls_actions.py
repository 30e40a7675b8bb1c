"""Pitfalls of the prior-art list about the action service (10, 11, 13), proven by the action service's own tests.

Those tests (tests/actions/, real MariaDB, tool stand-ins, Flask app) already reproduce each pitfall; copying their
fixtures here would duplicate them. Each pitfall test below passes only when every named test passed: in the same
session when it ran there (the whole suite runs tests/actions first), else in one pytest subprocess. A renamed test
fails here with its name, never silently.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from reliability_report import pitfall, session_outcomes

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK = "tests/actions/test_actions_webhook.py"
PAGES = "tests/actions/test_actions_pages.py"
PROOFS = {
    10: [f"{WEBHOOK}::test_replaying_a_notification_100_times_runs_the_action_once"],
    11: [f"{WEBHOOK}::test_slow_tool_gets_a_fast_ack_and_resolved_does_not_abort_it"],
    13: [f"{WEBHOOK}::test_webhook_refuses_a_missing_or_wrong_token_and_bad_payloads",
         f"{PAGES}::test_every_action_get_changes_nothing", f"{PAGES}::test_post_without_csrf_token_is_refused",
         f"{PAGES}::test_post_without_login_runs_nothing_and_asks_to_log_in"],
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, str]:
    """{test name: passed | failed | skipped} of every proof, from this session or from one subprocess run."""
    nodes = [node for proofs in PROOFS.values() for node in proofs]
    if all(node in session_outcomes for node in nodes):
        return {node.rsplit("::", 1)[1]: session_outcomes[node] for node in nodes} | {"_output": "(this session)"}
    report = tmp_path_factory.mktemp("actions-proofs") / "report.xml"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                             *nodes], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=900,
                            check=False)
    if not report.exists():
        pytest.fail(f"the action-service tests did not run:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    found = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped" and outcome == "passed":
                outcome = "skipped"
        found[case.get("name", "")] = outcome
    found["_output"] = result.stdout[-3000:]
    return found


def check(number: int, outcomes: dict[str, str]) -> None:
    """Every proof of pitfall `number` ran and passed."""
    for node in PROOFS[number]:
        name = node.rsplit("::", 1)[1]
        assert name in outcomes, f"{node} no longer exists: point PROOFS at the test that now proves this pitfall"
        assert outcomes[name] == "passed", f"{node}: {outcomes[name]}\n{outcomes['_output']}"


@pitfall(10)
def test_pitfall_10_duplicate_remediation_from_webhook_retries_and_repeats(outcomes):
    check(10, outcomes)


@pitfall(11)
def test_pitfall_11_resolved_kills_a_half_done_action(outcomes):
    check(11, outcomes)


@pitfall(13)
def test_pitfall_13_unauthenticated_or_get_triggered_actions(outcomes):
    check(13, outcomes)
