"""Past one machine: two action services (one per monitoring host) behind the two-node Alertmanager cluster, sharing
one MariaDB audit store with the grants docs/deployment.md gives. One code-2 incident, raised in both Alertmanagers as
both Prometheus replicas raise it, runs its revert exactly once; a duplicate delivery to both services runs nothing."""

from __future__ import annotations

import importlib.util
import random
import re
import sys
import time
import urllib.request
from datetime import datetime, timezone

import pytest
import yaml
from deploy_procs import ROOT, http, http_json, ports, server, wait_until
from ha_nodes import PEER_TIMEOUT, TOKEN, alertmanager_pair
from plugins.mariadb import TEST_ACCOUNTS
from plugins.tools import need_tool
from werkzeug.security import generate_password_hash

from ippsim import events
from ippsim.scenario import ScenarioSpec, build
from ippsim.site import create_database, site_params
from ippsim.tools.config import environment

INCIDENT = {"alertname": "IppProcessingFaultsRevertable", "severity": "warning", "dbname": "gpc1",
            "stage": "chip", "fault": "2"}  # + the label that gets the faults
AUDIT_DB, AUDIT_USER, AUDIT_PASSWORD = "ipp_actions_ha", "ipp_actions", "audit-test-password"
# docs/deployment.md "Database accounts": what the audit store's account gets
AUDIT_GRANTS = "SELECT, INSERT, UPDATE, CREATE, INDEX"


def tool_wrappers():
    """write_tools() of tests/actions/conftest.py: the IPP tool stand-ins as executables that log each call."""
    spec = importlib.util.spec_from_file_location("actions_test_support", ROOT / "tests" / "actions" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_tools


def chip_code2_faults(root, label: str) -> int:
    """Outstanding code-2 chip faults of `label` in gpc1."""
    with root.connect("gpc1") as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM chipProcessedImfile i JOIN chipRun r ON r.chip_id = i.chip_id"
                    " WHERE r.label = %s AND r.state = 'new' AND i.fault = 2", (label,))
        return cur.fetchone()[0]


@pytest.fixture(scope="module")
def shared_site(mariadb):
    """A simulated site with code-2 chip faults in one label, and an audit database its own account may use;
    yields (site, label)."""
    create_database(mariadb, "gpc1", "gpc1")
    create_database(mariadb, "nebulous", "nebulous")
    build(mariadb, ScenarioSpec.tiny(seed=5))
    with mariadb.connect("gpc1") as conn:
        label = events.pending_components(conn, "chip", include_stalled=True)[0][3]
        assert events.inject_faults(conn, random.Random(5), stage="chip", code=2, count=4, label=label) > 0
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {AUDIT_DB}")
        cur.execute(f"CREATE DATABASE {AUDIT_DB}")
        for host in ("localhost", "127.0.0.1"):
            cur.execute("DROP USER IF EXISTS %s@%s", (AUDIT_USER, host))
            cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (AUDIT_USER, host, AUDIT_PASSWORD))
            cur.execute(f"GRANT {AUDIT_GRANTS} ON {AUDIT_DB}.* TO %s@%s", (AUDIT_USER, host))
    yield site_params(mariadb, TEST_ACCOUNTS), label
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {AUDIT_DB}")
        for host in ("localhost", "127.0.0.1"):
            cur.execute("DROP USER IF EXISTS %s@%s", (AUDIT_USER, host))


def secret(tmp, name: str, text: str) -> str:
    """A secret file readable by its owner only."""
    path = tmp / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return str(path)


def actions_config(tmp, site, number: int, listen: str, alertmanager: str, tools_dir) -> str:
    """One action service's config: read-only DB accounts, the shared MySQL audit store, auto code-2 reverts."""
    root = site.root
    data = {
        "actions": {"external_url": f"http://{listen}", "webhook_token_file": secret(tmp, "token", TOKEN),
                    "users_file": secret(tmp, "users", f"czar:{generate_password_hash('pw')}"),
                    "secret_key_file": secret(tmp, "secret", "shared-session-key"),
                    "audit": f"mysql://{AUDIT_USER}@{root.host}:{root.port}/{AUDIT_DB}",
                    "audit_password_file": secret(tmp, "audit.password", AUDIT_PASSWORD),
                    "alertmanager_url": alertmanager, "auto_actions": ["revert-code2"]},
        "tools": {"bin_dir": str(tools_dir), "timeout": "60s"},
        "processing": {"databases": [{"dbname": "gpc1", "host": root.host, "port": root.port, "user": site.ipp_ro.user,
                                      "password_file": secret(tmp, "gpc1.password", site.ipp_ro.password)}]},
        "nebulous": {"host": root.host, "port": root.port, "user": site.neb_ro.user,
                     "password_file": secret(tmp, "neb.password", site.neb_ro.password)},
    }
    path = tmp / f"ipp-actions{number}.yml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(scope="module")
def pair(shared_site, tmp_path_factory):
    """Two ipp-actions processes on one audit store, each behind its own node of an Alertmanager cluster."""
    site, label = shared_site
    tmp = tmp_path_factory.mktemp("ha-actions")
    alertmanager = need_tool("alertmanager", "prometheus-alertmanager")
    tools_dir = tool_wrappers()(tmp / "ipp-bin", environment(site.ipp, neb_params=site.neb))
    listen = [f"127.0.0.1:{port}" for port in ports(2)]
    with alertmanager_pair(alertmanager, tmp, [f"http://{a}" for a in listen]) as ams:
        configs = [actions_config(tmp, site, n, listen[n], ams[n], tools_dir) for n in range(2)]
        with server([sys.executable, "-m", "actions", "--config.file", configs[0], "--web.listen-address", listen[0]],
                    f"http://{listen[0]}/healthz", tmp / "actions0.log"), \
                server([sys.executable, "-m", "actions", "--config.file", configs[1], "--web.listen-address", listen[1]],
                       f"http://{listen[1]}/healthz", tmp / "actions1.log"):
            yield {"alertmanagers": ams, "actions": [f"http://{a}" for a in listen], "calls": tools_dir / "calls.log",
                   "root": site.root, "incident": {**INCIDENT, "label": label}}


def counter(base: str, name: str, **labels: str) -> float:
    """A counter of a service's /metrics (0 when the series is absent)."""
    text = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


def revert_calls(path) -> list[str]:
    """The chiptool revert calls the tool stand-ins logged."""
    return [line for line in path.read_text().splitlines() if "-revertprocessedimfile" in line] if path.exists() else []


def test_one_incident_in_both_alertmanagers_runs_the_revert_exactly_once(pair):
    label = pair["incident"]["label"]
    assert chip_code2_faults(pair["root"], label) > 0
    # whole seconds in UTC: the webhook then carries exactly this string (Go's RFC 3339 drops a zero fraction)
    starts_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for am in pair["alertmanagers"]:  # as both Prometheus replicas send it to both nodes
        http_json(f"{am}/api/v2/alerts", [{"labels": pair["incident"], "startsAt": starts_at}])
    wait_until(lambda: sum(counter(a, "ipp_webhook_actions_total", action="revert", result="success")
                           for a in pair["actions"]) >= 1, 45, "the revert to run")
    wait_until(lambda: chip_code2_faults(pair["root"], label) == 0, 10, "the code-2 faults to be reverted")
    time.sleep(2 * PEER_TIMEOUT)  # the other node's turn and any second run would have come by now
    runs = sum(counter(a, "ipp_webhook_actions_total", action="revert") for a in pair["actions"])
    assert runs == 1
    assert len(revert_calls(pair["calls"])) == 1, revert_calls(pair["calls"])


def test_a_duplicate_delivery_to_both_services_runs_nothing(pair):
    (alert,) = [a for a in http_json(f"{pair['alertmanagers'][0]}/api/v2/alerts")
                if a["labels"]["alertname"] == INCIDENT["alertname"]]
    starts_at = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = {"version": "4", "status": "firing", "receiver": "ipp-action-service", "groupKey": "{}:{}",
               "alerts": [{"status": "firing", "labels": alert["labels"], "startsAt": starts_at,
                           "fingerprint": alert["fingerprint"]}]}
    before = len(revert_calls(pair["calls"]))
    for base in pair["actions"]:  # e.g. both nodes notifying while their gossip is cut
        status, body = http(f"{base}/alertmanager", payload, headers={"Authorization": f"Bearer {TOKEN}"})
        assert (status, body.strip()) == (200, b"duplicate")
    time.sleep(2)
    assert len(revert_calls(pair["calls"])) == before == 1
