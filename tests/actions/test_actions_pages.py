"""Pages: GET never changes anything, POST needs login and CSRF, board/faults/audit/runbooks/metrics/healthz."""

from __future__ import annotations

import re

from conftest import HOSTS, LABELS, OPERATOR, csrf_token, http_json, login, rows, server_state
from test_actions_hostile import HOSTILE


def _faults(site) -> int:
    return rows(site, "SELECT COUNT(*) FROM chipProcessedImfile WHERE fault <> 0")[0][0]


def test_every_action_get_changes_nothing(client, site, servers):
    before = (_faults(site), server_state(servers, "stdscience"), server_state(servers, "distribution"))
    login(client)  # even a logged-in operator's GET only previews
    for url in (f"/actions/revert?dbname=gpc1&stage=chip&label={LABELS[0]}&fault=3",
                "/actions/revert-toggle?server=stdscience&stage=chip&to=off", f"/actions/host-out?host={HOSTS[0]}",
                f"/actions/host-in?host={HOSTS[0]}", f"/actions/label-add?server=stdscience&label={LABELS[2]}",
                f"/actions/label-remove?server=stdscience&label={LABELS[0]}",
                f"/actions/label-drop?dbname=gpc1&label={LABELS[0]}"):
        assert client.get(url).status_code == 200, url
    after = (_faults(site), server_state(servers, "stdscience"), server_state(servers, "distribution"))
    assert after == before


def test_post_without_csrf_token_is_refused(client, site):
    login(client)
    before = _faults(site)
    response = client.post("/actions/revert", data={"dbname": "gpc1", "stage": "chip", "label": LABELS[0],
                                                     "fault": "3"})
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    bad = client.post("/actions/revert", data={"dbname": "gpc1", "stage": "chip", "label": LABELS[0], "fault": "3",
                                               "csrf_token": "forged"})
    assert bad.status_code == 400 and _faults(site) == before
    assert 'ipp_actions_refused_values_total{field="csrf"} 2.0' in client.get("/metrics").get_data(as_text=True)


def test_post_without_login_runs_nothing_and_asks_to_log_in(client, site):
    token = csrf_token(client, "/login")
    response = client.post("/actions/revert", data={"dbname": "gpc1", "stage": "chip", "label": LABELS[0],
                                                    "fault": "3", "csrf_token": token})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/audit").get_data(as_text=True).count("<tr>") == 1  # header row only


def test_wrong_password_is_refused(client):
    response = client.post("/login", data={"username": OPERATOR, "password": "wrong", "csrf_token": csrf_token(client)})
    assert response.status_code == 401 and "wrong password" in response.get_data(as_text=True)


def test_trusted_proxy_header_logs_in_when_configured(make_app, site):
    client = make_app(actions={"trusted_user_header": "X-Remote-User"}).test_client()
    page = client.get("/", headers={"X-Remote-User": "proxyczar"}).get_data(as_text=True)
    assert "proxyczar" in page


def test_board_lists_stage_label_cells_with_fault_and_revert_links(client, site):
    page = client.get("/").get_data(as_text=True)
    assert "IPP czar board" in page
    label = rows(site, "SELECT r.label FROM chipProcessedImfile i JOIN chipRun r ON r.chip_id = i.chip_id"
                       " WHERE r.state = 'new' AND i.fault = 3 LIMIT 1")[0][0]
    assert f"/faults?dbname=gpc1&amp;stage=chip&amp;label={label}&amp;fault=3" in page
    assert f"/actions/revert?dbname=gpc1&amp;stage=chip&amp;label={label}&amp;fault=3" in page


def test_faults_without_a_stage_lists_the_counts_with_links(client, site):
    # the demo prints /faults?dbname=gpc1: a czar opening it sees what to pick, not a refusal
    response = client.get("/faults?dbname=gpc1")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Outstanding faults in gpc1" in page
    label = rows(site, "SELECT r.label FROM chipProcessedImfile i JOIN chipRun r ON r.chip_id = i.chip_id"
                       " WHERE r.state = 'new' AND i.fault = 3 LIMIT 1")[0][0]
    assert f"/faults?dbname=gpc1&amp;stage=chip&amp;label={label}&amp;fault=3" in page
    assert "/faults?dbname=gpc1&amp;stage=warp_overlap" in page
    assert "pending runs" in page
    assert client.get("/faults?dbname=nope").status_code == 400


def test_faults_page_lists_items_with_host_and_path(client, site):
    label = rows(site, "SELECT r.label FROM chipProcessedImfile i JOIN chipRun r ON r.chip_id = i.chip_id"
                       " WHERE r.state = 'new' AND i.fault = 3 LIMIT 1")[0][0]
    page = client.get(f"/faults?dbname=gpc1&stage=chip&label={label}&fault=3").get_data(as_text=True)
    expected = rows(site, "SELECT COUNT(*) FROM chipProcessedImfile i JOIN chipRun r ON r.chip_id = i.chip_id"
                          " WHERE r.state = 'new' AND i.fault = 3 AND r.label = %s", (label,))[0][0]
    assert f'<span class="count">{expected}</span>' in page and "neb://" in page and "ipp00" in page


def test_runbooks_render_as_html_and_refuse_other_paths(client):
    page = client.get("/runbooks/IppProcessingFaultsRevertable.md").get_data(as_text=True)
    assert "<h1>IppProcessingFaultsRevertable</h1>" in page and "<pre><code>SELECT" in page
    assert client.get("/runbooks/IppProcessingFaultsRevertable").status_code == 200
    for bad in ("..%2F..%2Fetc%2Fpasswd", "IppNoSuchAlert", "ipp<script>"):
        assert client.get(f"/runbooks/{bad}").status_code == 404


def test_metrics_and_healthz(client):
    text = client.get("/metrics").get_data(as_text=True)
    for name in ('ipp_webhook_notifications_total{status="firing"}', 'ipp_webhook_actions_total{action="revert",result="refused"}',
                 "ipp_webhook_action_duration_seconds_bucket", "ipp_actions_queue_depth", "ipp_actions_audit_up 1.0"):
        assert name in text, name
    assert client.get("/healthz").get_data(as_text=True) == "ok\n"


def test_dry_run_shows_what_would_run_and_changes_nothing(make_app, site):
    client = make_app(actions={"dry_run": True}).test_client()
    login(client)
    before = _faults(site)
    token = csrf_token(client, "/login")
    body = client.post("/actions/revert", data={"dbname": "gpc1", "stage": "chip", "label": LABELS[0], "fault": "3",
                                                "csrf_token": token}).get_data(as_text=True)
    assert "dry_run" in body and re.search(r"dry run: not run", body) and _faults(site) == before


def test_board_shows_firing_alerts_from_a_real_alertmanager_with_links(make_app, make_alertmanager):
    alertmanager = make_alertmanager()
    http_json(f"{alertmanager}/api/v2/alerts", [{
        "labels": {"alertname": "IppHostDown", "host": "ipp002", "severity": "warning"},
        "annotations": {"summary": "A cluster host does not answer.",
                        "runbook_url": "http://127.0.0.1:8476/runbooks/IppHostDown.md",
                        "action_url": "http://127.0.0.1:8476/actions/host-out?host=ipp002"}},
        {"labels": {"alertname": "IppEvil", "host": "<b>x</b>"},
         "annotations": {"summary": "<script>alert(1)</script>", "action_url": "javascript:alert(1)"}}])
    client = make_app(actions={"alertmanager_url": alertmanager}).test_client()
    page = client.get("/").get_data(as_text=True)
    assert "IppHostDown" in page and 'href="http://127.0.0.1:8476/actions/host-out?host=ipp002"' in page
    assert "<script>alert(1)</script>" not in page and "javascript:" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_faults_page_refuses_hostile_values(client, site):
    for field in ("dbname", "stage", "label", "fault"):
        for value in HOSTILE:
            params = {"dbname": "gpc1", "stage": "chip", "label": LABELS[0], "fault": "3", field: value}
            if value == "" and field in ("label", "fault"):
                continue  # optional filters: empty means "all"
            response = client.get("/faults", query_string=params)
            assert 400 <= response.status_code < 500, (field, value)
            if "<" in value:
                assert value not in response.get_data(as_text=True)


def test_faults_page_answers_for_every_stage_the_exporter_counts(client, site):
    from exporter.faults_sql import STAGES
    for stage in STAGES:
        response = client.get("/faults", query_string={"dbname": "gpc1", "stage": stage})
        assert response.status_code == 200 and 'class="fail"' not in response.get_data(as_text=True), stage
    assert client.get("/faults?dbname=gpc1&stage=summitcopy&fault=200").status_code == 200
    assert client.get("/faults?dbname=gpc1&stage=chip&fault=200").status_code == 400


def test_a_read_only_database_account_is_enough_for_every_page(make_app, site, tmp_path):
    from exporter.faults_sql import STAGES
    password = tmp_path / "ro.password"
    password.write_text(site.ipp_ro.password)
    client = make_app(processing={"databases": [{"dbname": "gpc1", "host": site.ipp_ro.host, "port": site.ipp_ro.port,
                                                 "user": site.ipp_ro.user, "password_file": str(password)}]}).test_client()
    pages = ["/", f"/actions/revert?dbname=gpc1&stage=chip&label={LABELS[0]}&fault=3",
             f"/actions/revert?dbname=gpc1&stage=dist&label={LABELS[0]}&fault=3",
             f"/actions/label-drop?dbname=gpc1&label={LABELS[0]}"] + [f"/faults?dbname=gpc1&stage={s}" for s in STAGES]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200 and 'class="fail"' not in response.get_data(as_text=True), page
