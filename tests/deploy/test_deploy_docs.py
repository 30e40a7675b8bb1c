"""docs/deployment.md and docs/operators-guide.md name only things that exist: files, alerts, dashboards, panels,
action pages, ports; and the operator's guide covers every duty of the czar procedures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from deploy_procs import ROOT

DEPLOYMENT = (ROOT / "docs" / "deployment.md").read_text()
GUIDE = (ROOT / "docs" / "operators-guide.md").read_text()
PROCEDURES = Path("/work/shared/reference/czar-procedures.txt")
DASHBOARDS = {p.stem: json.loads(p.read_text()) for p in (ROOT / "grafana" / "dashboards").glob("*.json")}
# The sections of the czar procedures (their headings, as the procedures spell them).
DUTIES = ("Getting started and checking processing status", "Using pantasks",
          "Morning duties: checking summitcopy and burntool", "Stopping and starting the pantasks servers",
          "Queuing data", "Removing data from the queue", "Running the microtest scripts",
          "Finding and dealing with errors", "Reverting", "Reverting from pantasks_client",
          "Reverting faults with codes other than 2", "Removing a troublesome host", "Changing the code",
          "Who to contact")
ACTION_PAGES = {"revert", "revert-toggle", "host-out", "host-in", "label-add", "label-remove", "label-drop"}


def alert_names() -> set[str]:
    """Every alert of the shipped rules."""
    return {rule["alert"] for path in (ROOT / "alerts").glob("*.rules.yml")
            for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"] if "alert" in rule}


def panel_titles(node: object) -> set[str]:
    """Every panel (and row) title of a dashboard."""
    if isinstance(node, dict):
        return ({node["title"]} if "title" in node else set()).union(*(panel_titles(v) for v in node.get("panels", [])))
    return set()


@pytest.mark.parametrize("name,text", [("deployment.md", DEPLOYMENT), ("operators-guide.md", GUIDE)])
def test_every_repository_path_named_exists(name, text):
    paths = set(re.findall(r"`((?:deploy|alerts|grafana|docs|actions|exporter|ippsim|tests)/[^`\s]*)`", text))
    paths |= {p for p in ("Dockerfile", "docker-compose.yml") if f"`{p}`" in text}
    assert paths or name != "deployment.md"
    for path in paths:
        assert list(ROOT.glob(path)), f"{name} names {path}, which does not exist"


@pytest.mark.parametrize("name,text", [("deployment.md", DEPLOYMENT), ("operators-guide.md", GUIDE)])
def test_every_alert_named_exists(name, text):
    named = set(re.findall(r"\bIpp[A-Z]\w*+(?!\.\*)", text))  # not a regex such as IppPantasks.*
    assert named - alert_names() == set(), f"{name} names alerts that do not exist"


def test_the_guide_names_every_dashboard_by_its_uid_and_only_real_panels():
    named = set(re.findall(r"`(ipp-[a-z]+)`", GUIDE))
    assert named == set(DASHBOARDS), "list every dashboard, by file name / uid"
    titles = set().union(*(panel_titles({"panels": d["panels"]}) for d in DASHBOARDS.values()))
    prose = re.sub(r"```.*?```", "", GUIDE, flags=re.DOTALL)  # code blocks quote shell arguments
    without_procedure_quotes = re.sub(r"\*\*.*?\*\*", "", prose, flags=re.DOTALL)
    quoted = set(re.findall(r'"([^"\n]+)"', without_procedure_quotes))
    assert quoted, "the guide should point at panels by their titles"
    assert quoted - titles == set(), "quoted panel titles that no dashboard has"


def test_the_guide_links_only_action_pages_of_the_contract():
    used = set(re.findall(r"/actions/([a-z-]+)", GUIDE))
    assert used == ACTION_PAGES, f"missing {ACTION_PAGES - used}, unknown {used - ACTION_PAGES}"


def test_the_guide_covers_every_section_of_the_czar_procedures():
    if PROCEDURES.exists():  # shared/ sits beside the clone in CI; the list must be the procedures' own words
        text = PROCEDURES.read_text()
        assert all(duty in text for duty in DUTIES)
    quotes = " ".join(re.findall(r"\*\*(.*?)\*\*", GUIDE, flags=re.DOTALL)).replace("\n", " ")
    missing = [duty for duty in DUTIES if duty not in quotes]
    assert not missing, f"the guide does not map: {missing}"


def test_the_port_table_matches_the_configs():
    table = dict(re.findall(r"^\| (\d{4}) \| ([^|]+) \|", DEPLOYMENT, flags=re.MULTILINE))
    assert set(table) == {"8475", "8476", "9090", "9093", "9094", "9100", "3000", "8428"}
    configs = "".join(p.read_text() for p in (ROOT / "deploy").rglob("*") if p.is_file())
    configs += (ROOT / "docker-compose.yml").read_text()
    for port in table:
        assert port in configs, f"port {port} appears in no deployment config"
