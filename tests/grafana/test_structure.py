"""The committed dashboards and provisioning files: fresh, SDK-valid, linted, and naming only known metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard
from test_alerts import RECORDED, declared_metrics, metric_names

from grafana import build
from grafana.queries import load_dashboards, panels, seconds, targets
from grafana.site import load as load_site

ROOT = Path(__file__).resolve().parents[2]
BOARDS = load_dashboards()
UIDS = sorted(BOARDS)
TOPICS = {"ipp-overview": "Czar overview", "ipp-pantasks": "Pantasks", "ipp-faults": "Faults",
          "ipp-storage": "Storage", "ipp-hosts": "Hosts", "ipp-health": "Exporter & stack health"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# In the metric contract's action-service table; the action service does not declare them in docs/metrics.md (yet).
CONTRACT_ONLY = {"ipp_webhook_notifications_total", "ipp_webhook_actions_total"}
ACTION_PATHS = ("/faults?", "/actions/revert?", "/actions/revert-toggle?", "/actions/host-out?", "/actions/host-in?",
                "/actions/label-add?", "/actions/label-remove?", "/actions/label-drop?")
BUILTINS = {"__rate_interval", "__interval", "__range"}


def visible_panels(board: dict) -> list[dict]:
    """Panels that show data (rows only group them)."""
    return [panel for panel in panels(board) if panel["type"] != "row"]


def test_committed_files_equal_a_fresh_build():
    stale = build.stale(build.outputs())
    assert not stale, f"out of date (run `.venv/bin/python -m grafana.build`): {[str(p) for p in stale]}"


def test_every_dashboard_topic_is_built_with_uid_file_name_and_title():
    assert UIDS == sorted(TOPICS)
    for uid, board in BOARDS.items():
        assert board["uid"] == uid
        assert board["title"] == f"IPP / {TOPICS[uid]}"
        assert "ipp" in board["tags"]


@pytest.mark.parametrize("uid", UIDS)
def test_dashboard_survives_a_round_trip_through_the_sdk_models(uid):
    register_default_plugins()
    original = BOARDS[uid]
    again = json.loads(json.dumps(Dashboard.from_json(original), cls=JSONEncoder))
    assert again == original


def test_round_trip_check_catches_a_misspelled_key():
    register_default_plugins()
    broken = json.loads(json.dumps(BOARDS["ipp-overview"]))
    broken["panels"][1]["gridPoss"] = broken["panels"][1].pop("gridPos")
    assert json.loads(json.dumps(Dashboard.from_json(broken), cls=JSONEncoder)) != broken


@pytest.mark.parametrize("uid", UIDS)
def test_panel_ids_unique_and_every_panel_has_title_description_datasource_unit(uid):
    board = BOARDS[uid]
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids)
    for panel in panels(board):
        assert panel.get("title", "").strip(), panel["id"]
    for panel in visible_panels(board):
        where = f"{uid} #{panel['id']} {panel['title']}"
        assert panel.get("description", "").strip(), where
        assert panel["datasource"] == DATASOURCE, where
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{where}: no unit"
        assert panel["targets"], where
        ref_ids = [target.get("refId") for target in panel["targets"]]
        assert all(ref_ids) and len(ref_ids) == len(set(ref_ids)), where
        assert all(target["datasource"] == DATASOURCE for target in panel["targets"]), where


@pytest.mark.parametrize("uid", UIDS)
def test_panels_sit_on_the_grid_without_overlapping(uid):
    taken = set()
    for panel in panels(BOARDS[uid]):
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & taken, f"{uid}: {panel['title']} overlaps another panel"
        taken |= cells


# --- dashboard-linter rules ----------------------------------------------------------------------

def test_datasource_is_a_template_variable_everywhere():
    for uid, board in BOARDS.items():
        variables = board["templating"]["list"]
        assert variables[0]["name"] == "datasource" and variables[0]["query"] == "prometheus", uid
        for variable in variables[1:]:
            if variable["type"] == "query":
                assert variable["datasource"] == DATASOURCE, f"{uid}: ${variable['name']}"


def test_no_query_hard_codes_a_job_or_instance():
    hard_coded = re.compile(r"\b(job|instance)\s*(=~|!~|!=|=)\s*\"(?!\$)")
    found = [f"{t.uid} #{t.panel_id}: {t.expr}" for board in BOARDS.values() for t in targets(board)
             if hard_coded.search(t.expr)]
    found += [f"{uid} ${v['name']}" for uid, board in BOARDS.items() for v in board["templating"]["list"]
              if hard_coded.search(str(v.get("query", "")))]
    assert not found


def test_rates_use_rate_interval():
    windows = re.compile(r"\b(rate|irate|increase)\((?:[^\[]*)\[([^\]]+)\]")
    found = [f"{t.uid} #{t.panel_id}: {t.expr}" for board in BOARDS.values() for t in targets(board)
             for _fn, window in windows.findall(t.expr) if window != "$__rate_interval"]
    assert not found
    assert any("$__rate_interval" in t.expr for board in BOARDS.values() for t in targets(board))


def test_every_variable_a_query_uses_is_defined():
    for uid, board in BOARDS.items():
        defined = {v["name"] for v in board["templating"]["list"]} | BUILTINS
        for target in targets(board):
            used = set(re.findall(r"\$\{?([A-Za-z_]\w*)", target.expr))
            assert used <= defined, f"{uid} #{target.panel_id}: {used - defined}"


def _links(panel: dict) -> list[dict]:
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    links = list(defaults.get("links", []))
    for item in panel.get("fieldConfig", {}).get("overrides", []):
        for prop in item["properties"]:
            if prop["id"] == "links":
                links += prop["value"]
    return links


def test_data_links_go_to_action_service_pages_runbooks_or_ipp_dashboards():
    urls = [(uid, link["url"]) for uid, board in BOARDS.items() for panel in panels(board) for link in _links(panel)]
    assert urls
    for uid, url in urls:
        if url.startswith("${action_service}"):
            assert url[len("${action_service}"):].startswith(ACTION_PATHS), url
        else:
            assert url.startswith(("${runbook_base}/", "/d/ipp-")), url
        assert "://" not in url, f"{uid}: hard-coded host in {url}"


def test_fault_cells_link_to_their_items_and_revert_preview_with_every_parameter():
    table = next(p for p in panels(BOARDS["ipp-overview"]) if p["title"].startswith("Outstanding faults by stage"))
    urls = [link["url"] for link in _links(table)]
    for path in ("/faults?", "/actions/revert?"):
        url = next(u for u in urls if path in u)
        for name in ("dbname", "stage", "label", "fault"):
            assert f"{name}=${{__data.fields.{name}:percentencode}}" in url


def test_link_variables_default_to_prometheus_external_labels():
    site = load_site()
    for board in BOARDS.values():
        defaults = {v["name"]: v.get("query") for v in board["templating"]["list"] if v["type"] == "textbox"}
        if any(_links(panel) for panel in panels(board)):
            assert defaults == {"action_service": site.action_service, "runbook_base": site.runbook_base}


# --- metric names --------------------------------------------------------------------------------

def test_every_ipp_metric_in_a_query_is_declared_or_recorded():
    known = declared_metrics() | RECORDED | CONTRACT_ONLY
    used = {name: f"{t.uid} #{t.panel_id}" for board in BOARDS.values() for t in targets(board)
            for name in metric_names(t.expr) if name.startswith("ipp_") or ":" in name}
    unknown = {name: where for name, where in used.items() if name not in known}
    assert not unknown, f"neither in docs/metrics.md nor a recording rule: {unknown}"
    assert len(used) > 30


# --- provisioning --------------------------------------------------------------------------------

def test_datasource_time_interval_is_the_scrape_interval():
    prometheus = yaml.safe_load((ROOT / "prometheus.yml").read_text())
    ipp_job = next(job for job in prometheus["scrape_configs"] if job["job_name"] == "ipp")
    scrape = ipp_job.get("scrape_interval", prometheus["global"]["scrape_interval"])
    source = yaml.safe_load((ROOT / "grafana/provisioning/datasources/ipp.yml").read_text())["datasources"][0]
    assert source["type"] == "prometheus" and source["jsonData"]["timeInterval"] == scrape
    assert seconds(scrape) > 0


def test_dashboard_provider_path_is_the_one_the_readme_says_to_mount():
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/ipp.yml").read_text())["providers"][0]
    readme = (ROOT / "grafana" / "README.md").read_text()
    assert provider["type"] == "file" and provider["options"]["path"] in readme
    assert "/etc/grafana/provisioning" in readme
