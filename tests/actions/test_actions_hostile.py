"""Hostile values through every field of every action and of the webhook: refused with a 4xx, counted, never run,
never shown unescaped."""

from __future__ import annotations

from urllib.parse import urlencode

from conftest import HOSTS, LABELS, TOKEN, csrf_token, login, rows, server_state

from actions.catalog import FIELDS

HOSTILE = [
    "x; rm -rf /", "$(touch /tmp/ipp-pwned)", "`id`", "a\nb", "a\rb", "a\tb", "'", '"', "%'OR 1=1--",
    "ps_ud_%' OR 1=1 --", "-all", "--help", "-label", "-dbname", "-fault", "\x00", "a\x00b", "é", "ipp016é",
    "A" * 10_000, "<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "../../etc/passwd", "a b", "a|b",
    "a&b", "a>b", "a<b", "${IFS}", "*", "?", "[a]", "~root", "a\\b", "%", "%%", "a%", " ", "", "1 OR 1=1",
    "' OR ''='", "\"; DROP TABLE chipRun; --", "{{7*7}}", "{% debug %}", "\u202ereversed", "ipp016;reboot",
    "ipp016 && reboot", "ipp016\nshutdown", "echo IPPEXPORTER_SECTION end", "add.label x; del.label y", "26; 2",
    "2.0", "-2", "99999", "NaN", "\x1b[31mred", "a" * 65, "é" * 10, "\ufffd", "x' -- ", "$HOME", "!!", "#",
    "label=other", "\u0000\u0001\u0002", "𝕏", "a/b", "a,b", "@", "..",
]
# valid values for the fields not under test
VALID = {"dbname": "gpc1", "stage": "chip", "label": LABELS[0], "fault": "3", "server": "stdscience", "to": "off",
         "host": HOSTS[0]}
VALID_BY_ACTION = {"label-add": {"label": LABELS[2]}}


def _refusals(client) -> float:
    total = 0.0
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith("ipp_actions_refused_values_total{"):
            total += float(line.split()[-1])
    return total


def _state(site, servers):
    return (rows(site, "SELECT chip_id, class_id, fault FROM chipProcessedImfile ORDER BY 1, 2"),
            rows(site, "SELECT chip_id, state, label FROM chipRun ORDER BY 1"),
            server_state(servers, "stdscience"), server_state(servers, "distribution"))


def _assert_escaped(body: str, value: str) -> None:
    if "<" in value:  # markup: must only ever appear as &lt;...
        assert value not in body, f"{value!r} shown unescaped"


def test_at_least_sixty_hostile_values():
    assert len(set(HOSTILE)) >= 60


def test_hostile_values_in_every_field_are_refused_counted_and_never_run(make_app, site, servers, tmp_path):
    client = make_app(actions={"inventory_ttl": "60s", "max_actions_per_minute": 100000}).test_client()
    login(client)
    token = csrf_token(client, "/login")
    before = _state(site, servers)
    for action in FIELDS:
        _hostile_action(client, token, action)
    assert not (tmp_path / "ipp-bin" / "calls.log").exists(), "a tool ran"
    assert _state(site, servers) == before


def _hostile_action(client, token: str, action: str) -> None:
    refused_before = _refusals(client)
    sent = 0
    for field in FIELDS[action]:
        for value in HOSTILE:
            params = {**VALID, **VALID_BY_ACTION.get(action, {}), field: value}
            params = {k: params[k] for k in FIELDS[action]}
            got = client.get(f"/actions/{action}?{urlencode(params)}")
            assert 400 <= got.status_code < 500, (field, value, got.status_code)
            _assert_escaped(got.get_data(as_text=True), value)
            posted = client.post(f"/actions/{action}", data={**params, "csrf_token": token})
            assert 400 <= posted.status_code < 500, (field, value, posted.status_code)
            _assert_escaped(posted.get_data(as_text=True), value)
            sent += 2
    # non-UTF-8 bytes in the query string
    raw = client.get(f"/actions/{action}?" + "&".join(f"{f}=%FF%FE" for f in FIELDS[action]))
    assert 400 <= raw.status_code < 500
    assert _refusals(client) - refused_before == sent + 1, action


def test_hostile_webhook_labels_are_refused_counted_recorded_and_never_run(make_app, site, servers, tmp_path):
    app = make_app(actions={"inventory_ttl": "60s"})
    client = app.test_client()
    before, refused_before = _state(site, servers), _refusals(client)
    sent = 0
    for index, value in enumerate(HOSTILE):
        for field in ("dbname", "stage", "label"):
            labels = {"alertname": "IppProcessingFaultsRevertable", "dbname": "gpc1", "stage": "chip",
                      "label": LABELS[0], "fault": "2", field: value}
            body = {"version": "4", "status": "firing", "receiver": "svc", "groupKey": "g", "alerts": [
                {"status": "firing", "labels": labels, "annotations": {}, "startsAt": f"2026-11-27T20:{index:02d}:00Z",
                 "fingerprint": f"{field}{index}"}]}
            answer = client.post("/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
            assert answer.status_code == 200  # recorded and acknowledged: Alertmanager must not retry it
            sent += 1
    assert app.extensions["ipp_actions"].drain(30)
    assert _refusals(client) - refused_before == sent
    metrics = client.get("/metrics").get_data(as_text=True)  # refusals are not duplicates
    assert f'ipp_webhook_notifications_total{{status="firing"}} {float(sent)}' in metrics
    assert not (tmp_path / "ipp-bin" / "calls.log").exists()
    assert _state(site, servers) == before
    audit = client.get("/audit?page=0").get_data(as_text=True)
    assert "<script>" not in audit and "refused" in audit
