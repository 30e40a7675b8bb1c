"""Alert rules, Alertmanager routing and runbooks, checked with the real promtool, amtool and Alertmanager."""

import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from plugins.tools import need_tool

from ippsim.procs import free_loopback_port as free_port

ROOT = Path(__file__).resolve().parents[1]
ALERTS = ROOT / "alerts"
RULE_FILES = sorted(ALERTS.glob("*.rules.yml"))
TEST_FILES = sorted((ALERTS / "tests").glob("*_test.yml"))
RUNBOOKS = ROOT / "docs" / "runbooks"
SEVERITIES = {"critical", "warning", "info"}
ALWAYS_FIRING = {"IppWatchdog"}  # no "absent" case can exist
# Metrics the rules may use that the IPP exporter does not declare: Prometheus's own `up`
# and node_exporter's names (job "node").
OTHER_EXPORTERS = {
    "up",
    "node_load15",
    "node_cpu_seconds_total",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemTotal_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_readonly",
    # read by alerts/dashboards.rules.yml (the hosts dashboard's 7-day panels)
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_disk_io_time_seconds_total",
}
ACTION_PATHS = ("/faults?", "/actions/revert?", "/actions/revert-toggle?", "/actions/host-out?",
                "/actions/host-in?", "/actions/label-add?", "/actions/label-remove?", "/actions/label-drop?")
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                "bool", "offset", "inf", "nan"}


def load_rules() -> list[dict]:
    """Every rule of every alerts/*.rules.yml, each tagged with its file's source name."""
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                rules.append({**rule, "source": path.name.removesuffix(".rules.yml")})
    return rules


RULES = load_rules()
ALERT_RULES = [r for r in RULES if "alert" in r]
ALERT_NAMES = sorted({r["alert"] for r in ALERT_RULES})
RECORDED = {r["record"] for r in RULES if "record" in r}


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a tool with a time limit, capturing text output."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, **kwargs)


def metric_names(expr: str) -> set[str]:
    """Names of the series a PromQL expression selects (functions, keywords, labels and durations removed)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])[A-Za-z_:][\w:]*", text):
        following = text[match.end():].lstrip()
        if match.group() not in PROMQL_WORDS and not following.startswith("("):
            names.add(match.group())
    return names


def declared_metrics() -> set[str]:
    """Metric names in docs/metrics.md table rows (`| \\`name\\` | type | labels | help |`)."""
    path = ROOT / "docs" / "metrics.md"
    if not path.exists():
        pytest.fail("docs/metrics.md is missing: generate it with `python -m exporter.docs` (the rules are checked against it)")
    return set(re.findall(r"^\| `([a-zA-Z_:][\w:]*)` \|", path.read_text(), flags=re.MULTILINE))


def alert_cases() -> dict[str, list[tuple[str, str, str, list]]]:
    """alertname -> [(test file, test name, eval_time, exp_alerts)] from every promtool test file."""
    cases: dict[str, list] = {}
    for path in TEST_FILES:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.setdefault(case["alertname"], []).append(
                    (path.name, test.get("name", "?"), case["eval_time"], case.get("exp_alerts") or []))
    return cases


def minutes(duration: str) -> float:
    """A Prometheus duration such as 1h30m as minutes."""
    units = {"d": 1440, "h": 60, "m": 1, "s": 1 / 60}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)([dhms])", duration))


# --- promtool ------------------------------------------------------------------------------------

def test_promtool_check_rules_passes_on_every_rules_file():
    result = run([need_tool("promtool"), "check", "rules", *map(str, RULE_FILES)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(test_file):
    result = run([need_tool("promtool"), "test", "rules", test_file.name], cwd=test_file.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_config_passes_on_prometheus_yml():
    result = run([need_tool("promtool"), "check", "config", "prometheus.yml"], cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout


def test_every_rules_file_has_a_unit_test_file_that_loads_it():
    for path in RULE_FILES:
        test_file = ALERTS / "tests" / f"{path.name.removesuffix('.rules.yml')}_test.yml"
        assert test_file.exists(), f"{path.name} has no {test_file.name}"
        assert f"../{path.name}" in yaml.safe_load(test_file.read_text())["rule_files"]


# --- rule contents ------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", ALERT_RULES, ids=lambda r: f"{r['alert']}-{r['labels'].get('severity')}")
def test_alert_has_severity_summary_description_and_runbook(rule):
    assert re.fullmatch(r"Ipp[A-Z][A-Za-z0-9]+", rule["alert"])
    assert rule["labels"]["severity"] in SEVERITIES
    notes = rule["annotations"]
    assert notes["summary"].strip() and "{{" not in notes["summary"], "summary must read the same for a whole group"
    if rule["alert"] not in ALWAYS_FIRING:
        assert re.search(r"\$labels\.|\$value", notes["description"]), "description must name the series"
    assert notes["runbook_url"] == "{{ $externalLabels.ipp_runbook_base }}/" + rule["alert"] + ".md"


@pytest.mark.parametrize("rule", [r for r in ALERT_RULES if "action_url" in r["annotations"]], ids=lambda r: r["alert"])
def test_action_url_points_at_an_action_service_page_with_escaped_labels(rule):
    url = rule["annotations"]["action_url"]
    base = "{{ $externalLabels.ipp_action_service }}"
    assert url.startswith(base) and url[len(base):].startswith(ACTION_PATHS), url
    assert re.findall(r"\{\{ \$labels\.\w+ \}\}", url) == [], "label values in a URL must go through urlquery"


def test_recording_rules_follow_level_metric_operation_and_have_one_definition():
    records = [r["record"] for r in RULES if "record" in r]
    assert len(records) == len(set(records))
    for name in records:
        assert re.fullmatch(r"[a-z_]*:[a-z][a-z0-9_]*:[a-z0-9_]+", name), name


def test_every_metric_in_a_rule_is_declared_by_an_exporter_or_recorded():
    known = declared_metrics() | RECORDED | OTHER_EXPORTERS
    used = {name: rule.get("alert") or rule.get("record") for rule in RULES for name in metric_names(rule["expr"])}
    unknown = {name: where for name, where in used.items() if name not in known}
    assert not unknown, f"metrics neither in docs/metrics.md nor recorded: {unknown}"


def test_metric_name_extraction_ignores_functions_labels_and_numbers():
    expr = ('sum by (host) (rate(node_load15{mode="x y", job=~"a|b"}[5m])) / on (host) group_left () '
            'foo:bar:sum > 5e11 and label_replace(up, "dst", "$1", "src", "(.*)")')
    assert metric_names(expr) == {"node_load15", "foo:bar:sum", "up"}


# --- unit-test coverage -------------------------------------------------------------------------

@pytest.mark.parametrize("alertname", ALERT_NAMES)
def test_alert_is_tested_firing_with_annotations_and_not_firing(alertname):
    cases = alert_cases().get(alertname, [])
    firing = [c for c in cases if c[3]]
    assert firing, f"{alertname}: no promtool case asserts it firing"
    rule_annotations = {k for r in ALERT_RULES if r["alert"] == alertname for k in r["annotations"]}
    for _, _, _, exp_alerts in firing:
        for alert in exp_alerts:
            assert rule_annotations <= set(alert.get("exp_annotations", {})), f"{alertname}: assert every annotation"
            assert "severity" in alert["exp_labels"]
    if alertname in ALWAYS_FIRING:
        return
    silent = [c for c in cases if not c[3]]
    assert silent, f"{alertname}: no promtool case asserts it absent"
    if any("for" in r for r in ALERT_RULES if r["alert"] == alertname):
        # "not yet": silent earlier than a firing case of the same test
        assert any(s[:2] == f[:2] and minutes(s[2]) < minutes(f[2]) for s in silent for f in firing), \
            f"{alertname}: no case shows it still pending inside its `for:`"


# --- runbooks -----------------------------------------------------------------------------------

@pytest.mark.parametrize("alertname", ALERT_NAMES)
def test_every_alert_has_a_runbook_with_the_five_sections(alertname):
    path = RUNBOOKS / f"{alertname}.md"
    assert path.exists(), f"missing {path.relative_to(ROOT)}"
    text = path.read_text()
    assert text.startswith(f"# {alertname}\n")
    for section in ("Meaning", "Impact", "Confirm", "Fix", "Action link"):
        assert re.search(rf"^## {section}\b", text, flags=re.MULTILINE), f"{alertname}: no '## {section}'"


def test_runbook_index_lists_every_alert_and_nothing_else():
    index = (RUNBOOKS / "README.md").read_text()
    linked = set(re.findall(r"\]\((Ipp\w+)\.md\)", index))
    assert linked == set(ALERT_NAMES)
    assert {p.stem for p in RUNBOOKS.glob("Ipp*.md")} == set(ALERT_NAMES)


# --- Alertmanager -------------------------------------------------------------------------------

def route_expectations() -> list[tuple[str, str, str]]:
    """(alertname, severity, receivers) lines of alerts/tests/routes.txt."""
    lines = (ALERTS / "tests" / "routes.txt").read_text().splitlines()
    rows = [re.fullmatch(r"(\w+) (\w+): ([\w,-]+)", line) for line in lines if line and not line.startswith("#")]
    assert all(rows), "routes.txt lines are `<alertname> <severity>: <receiver>[,<receiver>]`"
    return [row.groups() for row in rows]


def test_amtool_check_config_passes():
    result = run([need_tool("amtool"), "check-config", str(ALERTS / "alertmanager.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_route_expectations_cover_every_alert_and_severity():
    expected = {(a, s) for a, s, _ in route_expectations()}
    assert expected == {(r["alert"], r["labels"]["severity"]) for r in ALERT_RULES}


@pytest.mark.parametrize("alertname,severity,receivers", route_expectations())
def test_amtool_routes_alert_to_its_receivers(alertname, severity, receivers):
    result = run([need_tool("amtool"), "config", "routes", "test", f"--config.file={ALERTS / 'alertmanager.yml'}",
                  f"--verify.receivers={receivers}", f"alertname={alertname}", f"severity={severity}"])
    assert result.returncode == 0, f"{alertname} went to {result.stdout.strip()}, expected {receivers}"


def http_json(url: str, payload: object | None = None) -> object:
    """GET (or POST payload as JSON) and decode the JSON answer."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
    return json.loads(body) if body else None


def serve(argv: list[str], ready_path: str):
    """Start a server process on a fresh loopback port; yield its base URL once ready_path answers."""
    port = free_port()
    proc = subprocess.Popen([*argv, f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                http_json(base + ready_path)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, f"{argv[0]} did not start"
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def alertmanager(tmp_path):
    """A real Alertmanager running alerts/alertmanager.yml; yields its base URL."""
    binary = need_tool("alertmanager", "prometheus-alertmanager")
    yield from serve([binary, f"--config.file={ALERTS / 'alertmanager.yml'}", f"--storage.path={tmp_path}",
                      "--cluster.listen-address="], "/api/v2/status")


@pytest.fixture
def prometheus(tmp_path):
    """A real Prometheus running a copy of prometheus.yml and alerts/; yields its base URL."""
    binary = need_tool("prometheus")
    shutil.copy(ROOT / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copytree(ALERTS, tmp_path / "alerts")
    yield from serve([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                      f"--storage.tsdb.path={tmp_path / 'data'}"], "/api/v1/status/config")


def test_prometheus_loads_the_rules_and_labels_node_targets_by_host(prometheus):
    groups = http_json(f"{prometheus}/api/v1/rules")["data"]["groups"]
    assert sorted(g["name"] for g in groups) == sorted(f"ipp-{p.name.removesuffix('.rules.yml')}" for p in RULE_FILES)
    deadline = time.monotonic() + 20
    while True:
        targets = http_json(f"{prometheus}/api/v1/targets?state=active")["data"]["activeTargets"]
        by_job = {t["labels"]["job"]: t for t in targets}
        if set(by_job) == {"ipp", "node", "prometheus", "alertmanager"} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert set(by_job) == {"ipp", "ipp-actions", "node", "prometheus", "alertmanager"}
    assert by_job["node"]["labels"]["host"] == "127.0.0.1"
    assert "host" not in by_job["ipp"]["labels"]
    assert by_job["ipp"]["scrapeInterval"] == "30s" and by_job["ipp"]["scrapeTimeout"] == "25s"


def suppressed_by_alertmanager(base: str, sent: dict[str, dict]) -> set[str]:
    """Post the alerts (keyed by a case name) to a real Alertmanager; the cases it reports suppressed."""
    for key, labels in sent.items():
        labels["case"] = key
    http_json(f"{base}/api/v2/alerts", [{"labels": labels} for labels in sent.values()])
    deadline = time.monotonic() + 15
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        alerts = http_json(f"{base}/api/v2/alerts")
        states = {a["labels"]["case"]: a["status"]["state"] for a in alerts}
        if len(states) == len(sent):
            time.sleep(1.0)  # inhibitions are computed when alerts are read; give the last ones a moment
            alerts = http_json(f"{base}/api/v2/alerts")
            states = {a["labels"]["case"]: a["status"]["state"] for a in alerts}
            break
        time.sleep(0.3)
    assert set(states) == set(sent)
    return {case for case, state in states.items() if state == "suppressed"}


def test_alertmanager_inhibits_what_the_config_says(alertmanager):
    sent = {
        "pantasks-down": {"alertname": "IppPantasksDown", "severity": "critical", "server": "stdscience"},
        "task-on-dead-server": {"alertname": "IppPantasksTaskFailing", "severity": "warning", "server": "stdscience", "task": "chip.imfile.run"},
        "task-on-live-server": {"alertname": "IppPantasksTaskFailing", "severity": "warning", "server": "distribution", "task": "dist.process.run"},
        "excluded": {"alertname": "IppHostExcluded", "severity": "info", "host": "ipp016"},
        "excluded-host-down": {"alertname": "IppHostDown", "severity": "warning", "host": "ipp016"},
        "other-host-down": {"alertname": "IppHostDown", "severity": "warning", "host": "ipp020"},
        "full-critical": {"alertname": "IppNebulousVolumeAlmostFull", "severity": "critical", "host": "ipp030", "volume": "ipp030.0"},
        "full-warning": {"alertname": "IppNebulousVolumeAlmostFull", "severity": "warning", "host": "ipp030", "volume": "ipp030.0"},
        "db-down": {"alertname": "IppProcessingDbDown", "severity": "critical", "dbname": "gpc1"},
        "faults-gpc1": {"alertname": "IppProcessingFaultsNeedAttention", "severity": "warning", "dbname": "gpc1", "stage": "warp", "label": "L", "fault": "4"},
        "faults-gpc2": {"alertname": "IppProcessingFaultsNeedAttention", "severity": "warning", "dbname": "gpc2", "stage": "warp", "label": "L", "fault": "4"},
        # a source's own down alert inhibits its staleness; other sources' staleness stays
        "stale-dead-server": {"alertname": "IppSourceDataStale", "severity": "warning", "source": "pantasks/stdscience", "server": "stdscience"},
        "stale-live-server": {"alertname": "IppSourceDataStale", "severity": "warning", "source": "pantasks/distribution", "server": "distribution"},
        "stale-dead-db": {"alertname": "IppSourceDataStale", "severity": "warning", "source": "processing/gpc1", "dbname": "gpc1"},
        "stale-live-db": {"alertname": "IppSourceDataStale", "severity": "warning", "source": "processing/gpc2", "dbname": "gpc2"},
        "stale-nebulous": {"alertname": "IppSourceDataStale", "severity": "warning", "source": "nebulous"},
        # a dead server does not hide a label missing from every live server (the rule remembers a dead
        # server's labels for an hour instead)
        "label-missing-while-server-dead": {"alertname": "IppProcessingLabelNotInPantasks", "severity": "warning", "dbname": "gpc2", "label": "M31"},
        # node_exporter down and the controllers' DOWN are one incident
        "controllers-down-ipp020": {"alertname": "IppHostDownInEveryController", "severity": "warning", "host": "ipp020"},
        "controllers-down-ipp021": {"alertname": "IppHostDownInEveryController", "severity": "warning", "host": "ipp021"},
    }
    assert suppressed_by_alertmanager(alertmanager, sent) == {
        "task-on-dead-server", "excluded-host-down", "full-warning", "faults-gpc1", "stale-dead-server", "stale-dead-db",
        "controllers-down-ipp020"}


def test_alertmanager_lets_a_missing_label_explain_its_unreverted_faults_and_nebulous_down_its_staleness(alertmanager):
    sent = {
        "label-missing": {"alertname": "IppProcessingLabelNotInPantasks", "severity": "warning", "dbname": "gpc2", "label": "M31"},
        "revert-missing-label": {"alertname": "IppProcessingFaultsRevertable", "severity": "warning", "dbname": "gpc2", "stage": "chip", "label": "M31"},
        "revert-other-label": {"alertname": "IppProcessingFaultsRevertable", "severity": "warning", "dbname": "gpc2", "stage": "chip", "label": "ThreePi"},
        "revert-other-db": {"alertname": "IppProcessingFaultsRevertable", "severity": "warning", "dbname": "gpc1", "stage": "chip", "label": "M31"},
        "nebulous-down": {"alertname": "IppNebulousDbDown", "severity": "critical"},
        "stale-nebulous": {"alertname": "IppSourceDataStale", "severity": "warning", "source": "nebulous"},
        "stale-pantasks": {"alertname": "IppSourceDataStale", "severity": "warning", "source": "pantasks/stdscience", "server": "stdscience"},
    }
    assert suppressed_by_alertmanager(alertmanager, sent) == {"revert-missing-label", "stale-nebulous"}
