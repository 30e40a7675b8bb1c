"""Pitfalls of the prior-art list about hostile values, the exposition, staleness and the rule/dashboard files,
each reproduced on real parts (sshd, MariaDB, promtool, amtool) and survived.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from plugins.tools import need_tool
from prometheus_client.parser import text_string_to_metric_families
from reliability_report import pitfall
from reliability_site import databases, http_get, make_exporter, sample_map, served, timed_scrape, up

from exporter.collectors import Exporter
from exporter.config import config_from_data
from ippsim.pantasks import sim
from ippsim.pantasks.sites import create_server

ROOT = Path(__file__).resolve().parents[2]
# each would create its canary file if a shell ever interpreted it
HOSTILE_DIRS = ("semi; touch {canary}1", "subst $(touch {canary}2)", "tick `touch {canary}3`",
                "quote' ; touch {canary}4 ; '", 'dq" ; touch {canary}5 ; "', "nl\ntouch {canary}6", "amp && touch {canary}7")
HOSTILE_LABEL = 'x"} 1\nipp_injected_metric 1\n# '


def run_tool(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a tool with a time limit, capturing text."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, **kwargs)


@pitfall(12)
def test_pitfall_12_command_injection_via_labels_and_config_values(tmp_path, pantasks_site, sshd):
    canary = tmp_path / "canary"
    servers = []
    for n, pattern in enumerate(HOSTILE_DIRS):
        directory = tmp_path / "servers" / pattern.format(canary=canary)
        create_server(directory, "stdscience", seed=n)
        for host in (None, "127.0.0.1"):
            entry = {"name": f"s{n}{'r' if host else 'l'}", "directory": str(directory), "timeout": "20s",
                     "client": str(pantasks_site.client)}
            servers.append({**entry, "host": host} if host else entry)
    data = {"exporter": {"cache_ttl": 0}, "pantasks": {"servers": servers},
            "ssh": {"user": sshd.user, "port": sshd.port, "key_file": sshd.key_file, "known_hosts": sshd.known_hosts}}
    exporter = make_exporter(data, enabled=("pantasks",))
    try:
        samples = timed_scrape(exporter, 30.0).samples
    finally:
        exporter.close()
    # every client found its server through the literal directory (so each value arrived as one argument) ...
    assert {s["name"]: up(samples, f"pantasks/{s['name']}") for s in servers} == {s["name"]: 1 for s in servers}
    # ... and no shell ever ran a piece of one
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("canary")) == []


@pitfall(15)
def test_pitfall_15_naming_and_exposition_lint(built_site, pantasks_site):
    promtool = need_tool("promtool")
    rw = built_site.ipp.connect("gpc1")
    try:
        with rw.cursor() as cur:
            cur.execute("SET SESSION foreign_key_checks = 0")
            cur.execute("INSERT INTO chipRun (chip_id, exp_id, state, label) VALUES (99001, 99001, 'new', %s)",
                        (HOSTILE_LABEL,))
            cur.execute("INSERT INTO Label (label, priority, active) VALUES (%s, 7, 1)", (HOSTILE_LABEL,))
    finally:
        rw.close()
    data = {"exporter": {"cache_ttl": 0}, "pantasks": {"servers": [pantasks_site.server("stdscience")]},
            **databases(built_site)}
    exporter = make_exporter(data)
    try:
        with served(exporter) as url:
            status, text = http_get(url)
    finally:
        exporter.close()
    assert status == 200
    check = run_tool([promtool, "check", "metrics"], input=text)
    assert check.returncode == 0, check.stdout + check.stderr
    names = {f.name for f in text_string_to_metric_families(text)}
    assert "ipp_injected_metric" not in names and {"ipp_pantasks_up", "ipp_processing_faults", "ipp_nebulous_db_up"} <= names
    labels = {dict(k[1]).get("label") for k in sample_map(text_string_to_metric_families(text))}
    assert HOSTILE_LABEL in labels  # escaped on the way out, intact on the way back in
    assert "_created" not in text  # no _created series beside the counters


@pitfall(17)
def test_pitfall_17_stale_data_looks_healthy(pantasks_site, tmp_path):
    promtool = need_tool("promtool")
    server = pantasks_site.server("stdscience")
    offset = [0.0]  # the exporter's one clock, moved on a minute per scrape (Exporter(clock=..., wall=...))
    config = config_from_data({"exporter": {"cache_ttl": "15s", "max_stale": "2h", "scrape_timeout": "20s"},
                               "pantasks": {"servers": [server]}})
    exporter = Exporter(config, enabled=("pantasks",), clock=lambda: time.monotonic() + offset[0],
                        wall=lambda: time.time() + offset[0])
    wall_start = time.time()
    ages, successes, ups = [], [], []
    try:
        for minute in range(31):
            if minute == 1:
                sim.apply_event(server["directory"], "down")  # the server stops answering for good
            offset[0] = minute * 60.0
            samples = timed_scrape(exporter, 20.0).samples
            ages.append(samples[("ipp_source_data_age_seconds", (("source", "pantasks/stdscience"),))])
            successes.append(samples[("ipp_source_last_success_timestamp_seconds", (("source", "pantasks/stdscience"),))])
            ups.append(up(samples, "pantasks/stdscience"))
            # the last good values stay on show while stale: exactly what must not look healthy
            assert ("ipp_pantasks_task_jobs_total", (("server", "stdscience"), ("task", "chip.imfile.run"))) in samples
    finally:
        exporter.close()
    assert ups[0] == 1 and set(ups[1:]) == {0}
    assert len(set(successes)) == 1  # no success since the first scrape
    assert all(later > earlier for earlier, later in zip(ages[1:], ages[2:], strict=False)) and ages[-1] >= 29 * 60
    # the real rule, fed the values the exporter really served, fires (and not before its 15 min + 5 min)
    series = {"ipp_source_data_age_seconds": " ".join(f"{a:.0f}" for a in ages),
              "ipp_source_last_success_timestamp_seconds": " ".join(f"{successes[0] - wall_start:.0f}" for _ in ages)}
    firing = ('ALERTS{alertname="IppSourceDataStale", alertstate="firing", source="pantasks/stdscience", '
              'server="stdscience", severity="warning", job="ipp", instance="exporter:8475"}')
    test = {"rule_files": [str(ROOT / "alerts" / "exporter.rules.yml")], "evaluation_interval": "1m",
            "tests": [{"interval": "1m",
                       "input_series": [{"series": f'{name}{{source="pantasks/stdscience",job="ipp",instance="exporter:8475"}}',
                                         "values": values} for name, values in series.items()],
                       "promql_expr_test": [
                           {"expr": 'ALERTS{alertname="IppSourceDataStale", alertstate="firing"}', "eval_time": "12m",
                            "exp_samples": []},
                           {"expr": 'ALERTS{alertname="IppSourceDataStale", alertstate="firing"}', "eval_time": "28m",
                            "exp_samples": [{"labels": firing, "value": 1}]}]}]}
    path = tmp_path / "stale_test.yml"
    path.write_text(yaml.safe_dump(test))
    result = run_tool([promtool, "test", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def break_first_expr(text: str) -> str:
    """A rules file whose first alert expression is no longer PromQL."""
    data = yaml.safe_load(text)
    data["groups"][0]["rules"][0]["expr"] = "ipp_pantasks_up == == 0"
    return yaml.safe_dump(data)


@pitfall(18)
def test_pitfall_18_rule_and_dashboard_files_failing_open(tmp_path):
    promtool, amtool = need_tool("promtool"), need_tool("amtool")
    rule_files = sorted((ROOT / "alerts").glob("*.rules.yml"))
    assert rule_files
    for path in rule_files:  # every shipped file passes, and the same file broken is refused: the check is closed
        assert run_tool([promtool, "check", "rules", str(path)]).returncode == 0, path
        broken = tmp_path / path.name
        broken.write_text(break_first_expr(path.read_text()))
        assert run_tool([promtool, "check", "rules", str(broken)]).returncode != 0, path
    config = ROOT / "alerts" / "alertmanager.yml"
    assert run_tool([amtool, "check-config", str(config)]).returncode == 0
    bad_config = tmp_path / "alertmanager.yml"
    data = yaml.safe_load(config.read_text())
    data["route"]["receiver"] = "no-such-receiver"
    bad_config.write_text(yaml.safe_dump(data))
    assert run_tool([amtool, "check-config", str(bad_config)]).returncode != 0
    dashboards = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
    assert dashboards
    for path in dashboards:
        board = json.loads(path.read_text())
        exprs = [t.get("expr", "") for p in board.get("panels", []) for t in p.get("targets", [])]
        assert board.get("uid") and exprs and all(exprs), path
        with pytest.raises(json.JSONDecodeError):
            json.loads(path.read_text()[:-2])  # a truncated dashboard cannot slip through as valid
