"""The demo's monitoring half: compressed rule copies, receivers that work here, the mail sink, supervision."""

from __future__ import annotations

import smtplib
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from plugins.tools import need_tool

from ippsim import demo_procs as procs
from ippsim.demo_rules import parse_duration, scale_expr, write_scaled_rules
from ippsim.mailsink import MailSink

REPO = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((REPO / "alerts").glob("*.rules.yml"))


@pytest.mark.parametrize("expr, speed, expected", [
    ("rate(x[5m])", 10, "rate(x[30s])"),
    ("max_over_time(y[1h:1m])", 10, "max_over_time(y[6m:6s])"),
    ("x offset 1d", 24, "x offset 1h"),
    ("rate(x[1m])", 10, "rate(x[20s])"),  # never below the floor: a window needs samples
    ('x{a=~"[0-9]+"}[10m]', 1, 'x{a=~"[0-9]+"}[10m]'),
    ("predict_linear(r:ratio[6h], 24 * 3600) > 1", 60, "predict_linear(r:ratio[6m], (24 * 3600) / 60) > 1"),  # label regexes are not windows; speed 1 changes nothing
])
def test_scale_expr_compresses_windows_and_offsets(expr, speed, expected):
    assert scale_expr(expr, speed, 20) == expected


def test_parse_duration_refuses_garbage():
    assert parse_duration("1h30m") == 5400
    with pytest.raises(ValueError):
        parse_duration("5 minutes")


def test_scaled_rule_copies_are_valid_and_shorter(tmp_path):
    promtool = need_tool("promtool", "/usr/bin/promtool")
    copies = write_scaled_rules(RULE_FILES, tmp_path, 10, 20, 5)
    assert [c.name for c in copies] == [r.name for r in RULE_FILES]
    result = subprocess.run([promtool, "check", "rules", *map(str, copies)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for source, copy in zip(RULE_FILES, copies, strict=True):
        before = [r for g in yaml.safe_load(source.read_text())["groups"] for r in g["rules"]]
        after = [r for g in yaml.safe_load(copy.read_text())["groups"] for r in g["rules"]]
        assert [r.get("alert") or r["record"] for r in after] == [r.get("alert") or r["record"] for r in before]
        for old, new in zip(before, after, strict=True):
            if old.get("for") and parse_duration(old["for"]) >= 50:
                assert parse_duration(new["for"]) == pytest.approx(parse_duration(old["for"]) / 10, abs=1)
    # the shipped files are untouched
    assert all("demo copy" not in source.read_text() for source in RULE_FILES)


def test_demo_alertmanager_config_points_receivers_at_working_sinks(tmp_path):
    amtool = need_tool("amtool", "/usr/bin/amtool")
    ports = procs.StackPorts(exporter=1, prometheus=2, alertmanager=3, actions=8999, mail=2525)
    token = tmp_path / "webhook.token"
    token.write_text("secret\n")
    path = procs.alertmanager_config(REPO, tmp_path / "am.yml", ports, token, speed=10)
    data = yaml.safe_load(path.read_text())
    assert data["global"]["smtp_smarthost"] == "127.0.0.1:2525"
    hooks = [hook for receiver in data["receivers"] for hook in receiver.get("webhook_configs") or []]
    assert hooks and all(hook["url"] == "http://127.0.0.1:8999/alertmanager" for hook in hooks)
    assert all(hook["http_config"]["authorization"]["credentials_file"] == str(token) for hook in hooks)
    assert parse_duration(data["route"]["group_wait"]) == 3  # 30s / 10
    result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_demo_prometheus_config_is_valid(tmp_path):
    promtool = need_tool("promtool", "/usr/bin/promtool")
    copies = write_scaled_rules(RULE_FILES, tmp_path / "rules", 10, 20, 5)
    ports = procs.StackPorts(exporter=18475, prometheus=19090, alertmanager=19093, node_exporter=19100, actions=18476)
    path = procs.prometheus_config(REPO, tmp_path / "prometheus.yml", ports, copies)
    data = yaml.safe_load(path.read_text())
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in data["scrape_configs"]}
    assert jobs == {"ipp": ["127.0.0.1:18475"], "node": ["127.0.0.1:19100"], "prometheus": ["127.0.0.1:19090"],
                    "alertmanager": ["127.0.0.1:19093"], "ipp-actions": ["127.0.0.1:18476"]}
    assert data["global"]["external_labels"]["ipp_runbook_base"] == "http://127.0.0.1:18476/runbooks"
    result = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mail_sink_stores_each_message(tmp_path):
    sink = MailSink(tmp_path / "mail").start()
    try:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as smtp:
            smtp.sendmail("am@ipp.example", ["czar@ipp.example"], "Subject: [FIRING:1] X\r\n\r\n.dot line\r\nbody\r\n")
            smtp.sendmail("am@ipp.example", ["czar@ipp.example"], "Subject: second\r\n\r\nbody\r\n")
        messages = sink.messages()
        assert len(messages) == 2
        text = messages[0].read_text()
        assert "Subject: [FIRING:1] X" in text and "\n.dot line" in text and "czar@ipp.example" in text
    finally:
        sink.stop()


def test_supervisor_restarts_a_killed_child_after_the_delay(tmp_path):
    said: list[str] = []
    child = procs.Child("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log")
    supervisor = procs.Supervisor(said.append, delay=0.5)
    try:
        first = child.pid
        child.process.kill()
        child.process.wait(timeout=10)
        supervisor.check([child])
        assert not child.alive() and "restarts it in 0.5s" in said[-1]
        time.sleep(0.6)
        supervisor.check([child])
        assert child.alive() and child.pid != first and said[-1] == "sleeper restarted"
        assert "restarted by the demo" in (tmp_path / "s.log").read_text()
    finally:
        child.stop()
