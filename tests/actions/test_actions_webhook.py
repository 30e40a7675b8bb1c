"""The Alertmanager webhook: bearer token, fast ack, at-most-once per incident (replays, restarts, two replicas
sharing MariaDB), resolved never aborts a run, and a real Alertmanager routing a real alert to the service."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT, TOKEN, http_json, rows, wait_for

from ippsim.procs import free_loopback_port, stop_process_group

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _code2_label(site) -> str:
    """Turn the site's injected code-3 chip faults into code 2 (NFS-like); return a label that has them."""
    with site.root.connect("gpc1") as conn, conn.cursor() as cur:
        cur.execute("UPDATE chipProcessedImfile SET fault = 2 WHERE fault = 3")
    return _outstanding(site)[0][0]


def _outstanding(site, label: str | None = None) -> list[tuple]:
    return rows(site, "SELECT r.label, COUNT(*) FROM chipProcessedImfile i JOIN chipRun r ON r.chip_id = i.chip_id"
                      " WHERE r.state = 'new' AND i.fault = 2" + (" AND r.label = %s" if label else "")
                + " GROUP BY r.label ORDER BY r.label", (label,) if label else ())


def payload(label: str, status: str = "firing", fingerprint: str = "f00dfeed", starts: str = "2026-11-27T20:00:00Z"):
    """An Alertmanager v4 notification of IppProcessingFaultsRevertable."""
    alert = {"status": status, "labels": {"alertname": "IppProcessingFaultsRevertable", "dbname": "gpc1",
                                          "stage": "chip", "label": label, "fault": "2", "severity": "warning"},
             "annotations": {}, "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
             "fingerprint": fingerprint}
    return {"version": "4", "groupKey": "{}:{alertname=\"IppProcessingFaultsRevertable\"}", "truncatedAlerts": 0,
            "status": status, "receiver": "svc", "groupLabels": {}, "commonLabels": alert["labels"],
            "commonAnnotations": {}, "externalURL": "http://alertmanager", "alerts": [alert]}


def _calls(tools_dir: Path) -> list[str]:
    log = tools_dir / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def _metric(client, name: str) -> float:
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_webhook_refuses_a_missing_or_wrong_token_and_bad_payloads(client, site):
    assert client.post("/alertmanager", json=payload("x")).status_code == 401
    assert client.post("/alertmanager", json=payload("x"), headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post("/alertmanager", data=b"{not json", headers=AUTH).status_code == 400
    assert client.post("/alertmanager", json={"version": "3"}, headers=AUTH).status_code == 400
    assert client.post("/alerts", json=payload("x")).status_code == 401  # the path alerts/alertmanager.yml used
    assert _metric(client, 'ipp_webhook_notifications_total{status="rejected"}') == 5


def test_replaying_a_notification_100_times_runs_the_action_once(app, client, site, tmp_path):
    label = _code2_label(site)
    answers = [client.post("/alertmanager", json=payload(label), headers=AUTH).status_code for _ in range(100)]
    assert answers == [200] * 100
    assert app.extensions["ipp_actions"].drain(30)
    assert _calls(tmp_path / "ipp-bin") == [f"chiptool -revertprocessedimfile -label {label} -fault 2 -dbname gpc1"]
    assert _outstanding(site, label) == []
    assert _metric(client, 'ipp_webhook_notifications_total{status="duplicate"}') == 99
    assert _metric(client, 'ipp_webhook_actions_total{action="revert",result="success"}') == 1
    # a new incident (a later startsAt) of the same alert may act again
    assert client.post("/alertmanager", json=payload(label, starts="2026-11-28T20:00:00Z"), headers=AUTH).status_code == 200
    assert app.extensions["ipp_actions"].drain(30) and len(_calls(tmp_path / "ipp-bin")) == 2


def test_slow_tool_gets_a_fast_ack_and_resolved_does_not_abort_it(make_app, site, tmp_path):
    app = make_app(tools={"bin_dir": str(tmp_path / "slow-bin")})
    client = app.test_client()
    label = _code2_label(site)
    start = time.monotonic()
    assert client.post("/alertmanager", json=payload(label), headers=AUTH).status_code == 200
    ack = time.monotonic() - start
    assert ack < 1.0, f"ack took {ack:.2f}s while the tool sleeps 3 s"
    assert wait_for(lambda: _calls(tmp_path / "slow-bin"), timeout=10)  # the tool has started
    assert client.post("/alertmanager", json=payload(label, status="resolved"), headers=AUTH).status_code == 200
    assert app.extensions["ipp_actions"].drain(30)
    assert _outstanding(site, label) == []
    audit = app.extensions["ipp_actions"].audit.recent()
    assert [(r.actor, r.status) for r in audit] == [("alertmanager", "success")]


def test_a_real_alertmanager_routes_a_real_alert_to_the_service(app, site, make_alertmanager, serve_app):
    label = _code2_label(site)
    base = serve_app(app)
    alertmanager = make_alertmanager(webhook_url=f"{base}/alertmanager")
    http_json(f"{alertmanager}/api/v2/alerts", [{"labels": dict(payload(label)["alerts"][0]["labels"])}])
    audit = app.extensions["ipp_actions"].audit
    done = wait_for(lambda: [r for r in audit.recent() if r.status == "success"], timeout=30)
    assert done and done[0].actor == "alertmanager" and done[0].source.startswith("IppProcessingFaultsRevertable")
    assert _outstanding(site, label) == []


@pytest.fixture
def audit_db(mariadb):
    """A fresh MariaDB database for a shared audit store; returns its mysql:// URL (root over the socket)."""
    with mariadb.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS ipp_actions_audit")
        cur.execute("CREATE DATABASE ipp_actions_audit")
    return f"mysql://{mariadb.user}@localhost/ipp_actions_audit?unix_socket={mariadb.socket}"


def _start_service(config_file: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.Popen([sys.executable, "-m", "actions", f"--config.file={config_file}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"], cwd=PROJECT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def test_two_service_processes_sharing_mariadb_run_the_action_once(config_data, site, audit_db, tmp_path, mariadb):
    label = _code2_label(site)
    config = tmp_path / "ipp-actions.yml"
    config.write_text(yaml.safe_dump(config_data(actions={"audit": audit_db})))
    ports = [free_loopback_port(), free_loopback_port()]
    procs = [_start_service(config, port) for port in ports]
    try:
        for proc, port in zip(procs, ports, strict=True):
            def ready(port=port, proc=proc):
                try:
                    return http_json(f"http://127.0.0.1:{port}/healthz")
                except OSError:
                    assert proc.poll() is None, "ipp-actions exited"
            assert wait_for(ready, timeout=30), "ipp-actions did not start"
        codes: list[int] = []

        def replay(port: int) -> None:  # an HA pair of Alertmanagers: both replicas get every notification
            for _ in range(20):
                http_json(f"http://127.0.0.1:{port}/alertmanager", payload(label), headers=AUTH)
                codes.append(200)
        threads = [threading.Thread(target=replay, args=(port,)) for port in ports]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert codes == [200] * 40

        def finished():
            with mariadb.connect("ipp_actions_audit") as conn, conn.cursor() as cur:
                cur.execute("SELECT status, owner FROM ipp_actions")
                return [r for r in cur.fetchall() if r[0] not in ("queued", "running")]
        done = wait_for(finished, timeout=30)
        assert len(done) == 1 and done[0][0] == "success"
        assert _calls(tmp_path / "ipp-bin") == [f"chiptool -revertprocessedimfile -label {label} -fault 2 -dbname gpc1"]
    finally:
        for proc in procs:
            stop_process_group(proc)


def test_webhook_answers_503_when_it_cannot_record_or_check(make_app, site, tmp_path):
    label = _code2_label(site)
    app = make_app(processing={"databases": [{"dbname": "gpc1", "host": "127.0.0.1", "port": free_loopback_port(),
                                              "user": "nobody", "connect_timeout": "1s"}]})
    client = app.test_client()
    # the processing DB is unreachable: the label cannot be checked, so Alertmanager must retry later
    assert client.post("/alertmanager", json=payload(label), headers=AUTH).status_code == 503
    assert app.extensions["ipp_actions"].audit.recent() == []  # the incident's one run is not spent
    app.extensions["ipp_actions"].audit.close()  # the audit store is gone
    assert client.post("/alertmanager", json=payload(label, starts="2026-11-29T00:00:00Z"),
                       headers=AUTH).status_code == 503


def test_webhook_refuses_hostile_bodies_with_4xx(client):
    bodies = [b"[" * 200_000 + b"]" * 200_000, b"\xff\xfe\x00", b'{"version": "4", "status": "firing", "alerts": 7}',
              b'{"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {"a": 1}}]}',
              b'{"version": "4", "status": "$(id)", "alerts": []}', b"A" * (5 * 1024 * 1024)]
    for body in bodies:
        answer = client.post("/alertmanager", data=body, headers={**AUTH, "Content-Type": "application/json"})
        assert 400 <= answer.status_code < 500, (body[:40], answer.status_code)


def test_a_restarted_service_does_not_run_the_incident_again(make_app, site, tmp_path):
    label = _code2_label(site)
    first = make_app()
    assert first.test_client().post("/alertmanager", json=payload(label), headers=AUTH).status_code == 200
    assert first.extensions["ipp_actions"].drain(30)
    first.extensions["ipp_actions"].close()
    second = make_app()  # same SQLite audit file: a restart
    assert second.test_client().post("/alertmanager", json=payload(label), headers=AUTH).get_data(as_text=True) == \
        "duplicate\n"
    assert second.extensions["ipp_actions"].drain(30)
    assert len(_calls(tmp_path / "ipp-bin")) == 1


def test_a_queued_action_on_a_busy_target_waits_and_then_runs(app, site, tmp_path):
    label = _code2_label(site)
    service = app.extensions["ipp_actions"]
    service.sweep_every, service.sweep_age = 0.2, 0.0
    with service._lock(f"label:gpc1/{label}"):  # a person's action on the same label is running
        assert app.test_client().post("/alertmanager", json=payload(label), headers=AUTH).status_code == 200
        assert wait_for(lambda: service.queue.unfinished_tasks == 0, timeout=10)
        time.sleep(0.5)
        assert [r.status for r in service.audit.recent()] == ["queued"] and _calls(tmp_path / "ipp-bin") == []
    done = wait_for(lambda: [r for r in service.audit.recent() if r.status == "success"], timeout=20)
    assert done and len(_calls(tmp_path / "ipp-bin")) == 1
