"""Past one machine, on loopback with the real Debian binaries: an HA pair of Prometheus (deploy/ha/prometheus.yml,
`replica` from the environment) alerting into a two-node Alertmanager cluster (the flags of
deploy/ha/alertmanager.default, gossip on loopback) that runs the shipped routing. One incident reaches the
webhook receivers once; a silence made on one node holds on the other."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from deploy_procs import ROOT, http_json, load_render, ports, wait_until
from ha_nodes import PEER_TIMEOUT, TOKEN, alertmanager_pair, prometheus_replica, victoria_metrics
from plugins.tools import need_tool

HA = ROOT / "deploy" / "ha"
# An actionable incident as the shipped rules raise it: code-2 faults, which the shipped routing sends to
# the action service (and to the czar's e-mail).
INCIDENT = {"alertname": "IppProcessingFaultsRevertable", "severity": "warning", "dbname": "gpc1",
            "stage": "chip", "label": "M31.nightlyscience", "fault": "2"}


class Receiver:
    """A webhook receiver standing in for one host's action service: records every notification it gets."""

    def __init__(self) -> None:
        self.notifications: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - name fixed by the base class
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.notifications.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                               "payload": json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def firing(self) -> list[dict]:
        """Notifications about the test incident with status firing."""
        return [n for n in self.notifications if n["payload"]["status"] == "firing"
                and n["payload"]["commonLabels"].get("alertname") == INCIDENT["alertname"]]


def prometheus_config(tmp_path: Path, alertmanagers: list[str], victoria: str) -> Path:
    """deploy/ha/prometheus.yml with test timing, one incident rule, loopback Alertmanagers and VictoriaMetrics,
    and one scrape job (of a dead target, so both replicas write the same `up` series)."""
    config = yaml.safe_load((HA / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": alertmanagers}]
    config["rule_files"] = [str(tmp_path / "incident.rules.yml")]
    (remote,) = config["remote_write"]
    remote["url"] = f"http://{victoria}/api/v1/write"
    remote["queue_config"]["batch_send_deadline"] = "1s"
    config["scrape_configs"] = [{"job_name": "prometheus", "static_configs": [{"targets": ["127.0.0.1:1"]}]}]
    rule = {"alert": INCIDENT["alertname"], "expr": "vector(1)",
            "labels": {k: v for k, v in INCIDENT.items() if k != "alertname"}}
    (tmp_path / "incident.rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "ha-test", "rules": [rule]}]}))
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def ha_stack(tmp_path_factory):
    """Two receivers, a two-node Alertmanager cluster (one receiver each), two Prometheus replicas."""
    tmp = tmp_path_factory.mktemp("ha")
    prometheus, alertmanager = need_tool("prometheus"), need_tool("alertmanager", "prometheus-alertmanager")
    prom1, prom2 = ports(2)
    with Receiver() as receiver1, Receiver() as receiver2, victoria_metrics(tmp) as victoria, \
            alertmanager_pair(alertmanager, tmp, [receiver1.url, receiver2.url]) as (am1, am2):
        config = prometheus_config(tmp, [am.removeprefix("http://") for am in (am1, am2)],
                                   victoria.removeprefix("http://"))
        with prometheus_replica(prometheus, tmp, config, "ippmon01", prom1) as p1, \
                prometheus_replica(prometheus, tmp, config, "ippmon02", prom2) as p2:
            yield {"alertmanagers": [am1, am2], "prometheus": [p1, p2], "receivers": [receiver1, receiver2],
                   "victoria": victoria}


def test_the_replicas_differ_only_in_their_replica_label(ha_stack):
    replicas = []
    for url in ha_stack["prometheus"]:
        labels = yaml.safe_load(http_json(f"{url}/api/v1/status/config")["data"]["yaml"])["global"]["external_labels"]
        replicas.append(labels.pop("replica"))
        assert labels["site"] == "ipp"
    assert replicas == ["ippmon01", "ippmon02"]


def test_one_incident_gives_one_notification_with_one_alert_without_replica(ha_stack):
    receivers = ha_stack["receivers"]
    wait_until(lambda: sum(len(r.firing()) for r in receivers), 30, "a firing notification")
    # both replicas sent the alert to both nodes ...
    for url in ha_stack["prometheus"]:
        def sent_to(url=url):
            text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
            return re.findall(r'^prometheus_notifications_sent_total\{alertmanager="([^"]+)"\} ([1-9][0-9.e+]*)$', text, re.M)

        assert len(wait_until(lambda: len(sent_to()) == 2 and sent_to(), 10, f"{url} to send to both nodes")) == 2
    # ... and after the other node's turn has passed (peer position x peer timeout), still one notification
    time.sleep(2 * PEER_TIMEOUT)
    firing = [n for r in receivers for n in r.firing()]
    assert len(firing) == 1, [n["payload"]["groupKey"] for n in firing]
    (notification,) = firing
    assert notification["auth"] == f"Bearer {TOKEN}"
    shipped_urls = [w["url"] for r in load_render().load_shipped()["receivers"] for w in r.get("webhook_configs", [])]
    assert notification["path"] in {urlsplit(url).path for url in shipped_urls}
    (alert,) = notification["payload"]["alerts"]
    assert "replica" not in alert["labels"], "alert_relabel_configs must drop the replica label"
    assert {k: alert["labels"][k] for k in INCIDENT} == INCIDENT
    for am in ha_stack["alertmanagers"]:
        alerts = [a for a in http_json(f"{am}/api/v2/alerts") if a["labels"]["alertname"] == INCIDENT["alertname"]]
        assert len(alerts) == 1 and "replica" not in alerts[0]["labels"]


def test_a_silence_made_on_one_node_holds_on_the_other(ha_stack):
    am1, am2 = ha_stack["alertmanagers"]
    now = datetime.now(timezone.utc)
    silence = {"matchers": [{"name": "host", "value": "ipp016", "isRegex": False, "isEqual": True}],
               "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
               "createdBy": "czar", "comment": "ipp016 taken out for repair"}
    silence_id = http_json(f"{am1}/api/v2/silences", silence)["silenceID"]

    def replicated():
        found = [s for s in http_json(f"{am2}/api/v2/silences") if s["id"] == silence_id]
        return found and found[0]["status"]["state"] == "active"

    wait_until(replicated, 10, "the silence to reach the second node")
    alert = {"labels": {"alertname": "IppHostDown", "severity": "warning", "host": "ipp016"}}
    other = {"labels": {"alertname": "IppHostDown", "severity": "warning", "host": "ipp020"}}
    http_json(f"{am2}/api/v2/alerts", [alert, other])

    def states():
        got = {a["labels"]["host"]: a["status"] for a in http_json(f"{am2}/api/v2/alerts?filter=alertname%3D%22IppHostDown%22")}
        return got if len(got) == 2 and got["ipp016"]["state"] == "suppressed" else None

    got = wait_until(states, 10, "the silenced alert to be suppressed on the second node")
    assert got["ipp016"]["silencedBy"] == [silence_id]
    assert got["ipp020"]["state"] == "active"


def test_the_long_term_store_gets_one_series_from_the_pair(ha_stack):
    for url in ha_stack["prometheus"]:  # both replicas write ...
        def written(url=url):
            text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
            return re.search(r"^prometheus_remote_storage_(?:succeeded_)?samples_total\S* [1-9]", text, re.M)

        wait_until(written, 20, f"{url} to write into VictoriaMetrics")

    def series():
        found = http_json(f"{ha_stack['victoria']}/api/v1/series?match[]=up")["data"]
        return found or None

    found = wait_until(series, 20, "the pair's `up` series in VictoriaMetrics")
    assert len(found) == 1 and "replica" not in found[0], found  # ... the same series, once
