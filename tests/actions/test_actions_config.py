"""Config and CLI: every problem listed with its path (exit 2), secrets only from files; locks and limits."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from conftest import LABELS, PROJECT, TOKEN, csrf_token, login
from test_actions_webhook import _code2_label, payload

from actions.config import config_from_data
from exporter.config import ConfigError


def _check(tmp_path, data) -> subprocess.CompletedProcess:
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(data))
    return subprocess.run([sys.executable, "-m", "actions", f"--config.file={path}", "--check-config"], cwd=PROJECT,
                          capture_output=True, text=True, timeout=60, check=False)


def test_check_config_lists_every_problem_with_its_path(tmp_path, config_data):
    data = config_data(actions={"audit": "postgres://x", "webhook_token": "inline-secret", "dry_run": "yes",
                                "auto_actions": ["reboot-everything"], "colour": "blue"},
                       tools={"bin_dir": "relative/bin", "host": "ipp 016"})
    result = _check(tmp_path, data)
    assert result.returncode == 2
    for path in ("actions.audit:", "actions.webhook_token: secrets may not be inline", "actions.dry_run:",
                 "actions.auto_actions:", "actions.colour: unknown key", "tools.bin_dir:", "tools.host:",
                 "tools.host: needs an ssh section"):
        assert path in result.stderr, path


def test_check_config_accepts_the_test_config_and_the_example(tmp_path, config_data):
    result = _check(tmp_path, config_data())
    assert result.returncode == 0 and "OK" in result.stdout
    with pytest.raises(ConfigError) as failure:  # the example names files that exist only on a real site
        config_from_data(yaml.safe_load((PROJECT / "examples" / "ipp-actions.yml").read_text()))
    # only the missing files are problems: the shape is valid
    assert all("cannot read" in p for p in failure.value.problems), failure.value.problems


def test_missing_token_and_users_are_config_errors(config_data):
    data = config_data()
    del data["actions"]["webhook_token_file"], data["actions"]["users_file"]
    with pytest.raises(ConfigError) as failure:
        config_from_data(data)
    assert any(p.startswith("actions.webhook_token_file") for p in failure.value.problems)
    assert any(p.startswith("actions.users_file") for p in failure.value.problems)


def test_a_second_action_on_a_locked_target_is_refused(app, client):
    login(client)
    service = app.extensions["ipp_actions"]
    lock = service._lock(f"label:gpc1/{LABELS[0]}")
    with lock:
        response = client.post("/actions/label-drop", data={"dbname": "gpc1", "label": LABELS[0],
                                                            "csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 409 and "another action" in response.get_data(as_text=True)


def test_global_rate_limit_refuses_with_429(make_app):
    client = make_app(actions={"max_actions_per_minute": 1}).test_client()
    login(client)
    token = csrf_token(client, "/login")
    data = {"server": "stdscience", "stage": "chip", "to": "on", "csrf_token": token}
    assert client.post("/actions/revert-toggle", data=data).status_code == 200
    assert client.post("/actions/revert-toggle", data=data).status_code == 429


def test_auto_actions_are_rate_limited_and_can_be_switched_off(make_app, site, tmp_path):
    label = _code2_label(site)
    app = make_app(actions={"auto_max_per_hour": 1})
    client = app.test_client()
    for start in ("2026-11-27T20:00:00Z", "2026-11-27T21:00:00Z"):
        client.post("/alertmanager", json=payload(label, starts=start), headers={"Authorization": f"Bearer {TOKEN}"})
    assert app.extensions["ipp_actions"].drain(30)
    statuses = sorted(r.status for r in app.extensions["ipp_actions"].audit.recent())
    assert statuses == ["refused", "success"]
    off = make_app(actions={"auto_actions": [], "audit": f"sqlite:///{tmp_path / 'off.db'}"})
    off.test_client().post("/alertmanager", json=payload(label, starts="2026-11-28T00:00:00Z"),
                           headers={"Authorization": f"Bearer {TOKEN}"})
    assert off.extensions["ipp_actions"].drain(10) and off.extensions["ipp_actions"].audit.recent() == []


def _serve(tmp_path, data, listen: str) -> subprocess.CompletedProcess:
    path = tmp_path / "serve.yml"
    path.write_text(yaml.safe_dump(data))
    return subprocess.run([sys.executable, "-m", "actions", f"--config.file={path}", f"--web.listen-address={listen}"],
                          cwd=PROJECT, capture_output=True, text=True, timeout=60, check=False)


def test_cannot_start_is_exit_1_with_a_clear_message(tmp_path, config_data):
    import socket

    from ippsim.procs import free_loopback_port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = _serve(tmp_path, config_data(), f"127.0.0.1:{busy.getsockname()[1]}")
    assert result.returncode == 1 and "cannot listen on" in result.stderr, result.stderr
    down = config_data(actions={"audit": f"mysql://nobody@127.0.0.1:{free_loopback_port()}/audit",
                                "audit_password_env": "HOME"})
    result = _serve(tmp_path, down, "127.0.0.1:0")
    assert result.returncode == 1 and "audit store" in result.stderr, result.stderr
