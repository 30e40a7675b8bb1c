"""The pantasks collector end to end: fake clients run locally and over a real sshd, golden exposition, promtool."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import yaml
from pantasks_helpers import FAKE_CLIENT, FIXTURES, runs
from plugins.exposition import ShiftedClock, concurrently
from plugins.exposition import scrape_text as scrape
from plugins.exposition import text_samples as samples
from plugins.exposition import text_value as value
from plugins.tools import need_tool

from exporter import cli
from exporter.collectors.pantasks import METRICS, PantasksCollector
from exporter.config import PantasksServer, SshConfig
from exporter.parsers.pantasks import HOST_STATES, JOB_STATES
from exporter.transport import LocalRunner, SshRunner

CONTRACT = [spec.name for spec in METRICS]


def test_exposition_matches_golden_and_passes_promtool(fake_server, local_collector, golden, tmp_path):
    text = scrape(local_collector(fake_server("stdscience")))
    golden("pantasks.prom", text)
    promtool = need_tool("promtool")
    check = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


def test_every_enum_state_is_present(fake_server, local_collector):
    text = scrape(local_collector(fake_server("stdscience")))
    for state in JOB_STATES:
        assert value(text, "ipp_pantasks_queue_jobs", server="stdscience", state=state) is not None
    assert value(text, "ipp_pantasks_queue_jobs", server="stdscience", state="BUSY") == 2
    for host in ("ipp016", "ipp017", "ipp018", "ipp019", "ippc30", "ippc31"):
        states = {s: value(text, "ipp_pantasks_controller_host_state", server="stdscience", host=host, state=s)
                  for s in HOST_STATES}
        assert sorted(states.values()) == [0, 0, 0, 0, 0, 1], host
    assert value(text, "ipp_pantasks_controller_host_state", server="stdscience", host="ipp019", state="OFF") == 1


def test_empty_server_is_up_with_zero_states(fake_server, local_collector):
    server = fake_server("empty", FAKE_STATUS=FIXTURES / "status.empty.txt", FAKE_LABELS=FIXTURES / "show.labels.none.txt",
                         FAKE_CONTROLLER=FIXTURES / "controller-status.inactive.txt", FAKE_NS=None)
    text = scrape(local_collector(server))
    assert value(text, "ipp_pantasks_up", server="empty") == 1
    assert value(text, "ipp_pantasks_scheduler_running", server="empty") == 0
    assert [value(text, "ipp_pantasks_queue_jobs", server="empty", state=s) for s in JOB_STATES] == [0] * 6
    assert value(text, "ipp_pantasks_controller_active", server="empty") == 0
    assert "ipp_pantasks_task_active{" not in text


@pytest.mark.parametrize("busy, up", [("status -jobs", 0), ("show.labels", 1), ("controller status", 1)])
def test_busy_answers(fake_server, local_collector, busy, up):
    text = scrape(local_collector(fake_server("s", FAKE_BUSY=busy)))
    assert value(text, "ipp_pantasks_busy", server="s") == 1
    assert value(text, "ipp_pantasks_up", server="s") == up


def test_refused_and_garbage_servers_are_down_and_do_not_crash(fake_server, local_collector):
    refused, garbage = fake_server("refused", FAKE_MODE="refused"), fake_server("garbage", FAKE_MODE="garbage")
    text = scrape(local_collector(refused, garbage))
    assert value(text, "ipp_pantasks_up", server="refused") == 0
    assert value(text, "ipp_pantasks_up", server="garbage") == 0
    assert value(text, "ipp_pantasks_busy", server="garbage") == 0


def test_parse_errors_count_once_per_fetched_output(fake_server, executor):
    server = fake_server("s", FAKE_STATUS=FIXTURES / "status.truncated.txt")
    clock = ShiftedClock()
    collector = PantasksCollector((server,), {"": LocalRunner()}, executor, 10.0, 300.0, clock=clock)
    first = scrape(collector, clock=clock)
    second = scrape(collector, clock=clock)  # served from the cache: no new output, no new errors
    assert value(first, "ipp_pantasks_parse_errors_total", server="s") == 1
    assert value(second, "ipp_pantasks_parse_errors_total", server="s") == 1
    assert runs(server) == 1
    clock.offset += 11  # past the TTL, without sleeping
    assert value(scrape(collector, clock=clock), "ipp_pantasks_parse_errors_total", server="s") == 2
    assert runs(server) == 2


def test_hung_server_does_not_hold_up_the_good_one(fake_server, local_collector):
    hung, good = fake_server("hung", FAKE_MODE="hang", timeout=4), fake_server("good")
    collector = local_collector(hung, good)
    start = time.monotonic()
    text = scrape(collector, budget=2.0)
    took = time.monotonic() - start
    assert took < 2.5
    assert value(text, "ipp_pantasks_up", server="hung") == 0
    assert value(text, "ipp_pantasks_up", server="good") == 1
    assert value(text, "ipp_pantasks_task_jobs_total", server="good", task="chip.imfile.run") == 23527


def test_server_timeout_kills_the_hung_client(fake_server, local_collector):
    collector = local_collector(fake_server("hung", FAKE_MODE="hang", timeout=0.5))
    fetched = collector.flights["hung"].get(time.monotonic() + 3.0)
    assert not fetched.ok and "no answer within 0.5s" in str(fetched.error)


def test_concurrent_scrapes_share_one_fetch_per_server(fake_server, local_collector):
    servers = [fake_server(f"s{i}", FAKE_DELAY=0.05) for i in range(3)]
    collector = local_collector(*servers)
    texts = concurrently(lambda: scrape(collector), 8, timeout=20)
    assert len(texts) == 8
    assert all(value(t, "ipp_pantasks_up", server=s.name) == 1 for t in texts for s in servers)
    assert [runs(s) for s in servers] == [1, 1, 1]
    assert [collector.flights[s.name].fetches for s in servers] == [1, 1, 1]


def test_collector_over_ssh(fake_server, sshd, executor):
    local = fake_server("remote")
    server = PantasksServer(name="remote", directory=local.directory, client=FAKE_CLIENT, host=sshd.host, timeout=10)
    runner = SshRunner(sshd.host, SshConfig(sshd.user, sshd.known_hosts, sshd.port, sshd.key_file))
    collector = PantasksCollector((server,), {sshd.host: runner}, executor, 15.0, 300.0)
    try:
        text = scrape(collector, budget=10.0)
    finally:
        collector.close()
    assert value(text, "ipp_pantasks_up", server="remote") == 1
    assert value(text, "ipp_pantasks_label_info", server="remote", label="ps_ud_QUB") == 1


def test_cli_once_prints_every_pantasks_metric(fake_server, tmp_path, capsys):
    server = fake_server("stdscience")
    config = tmp_path / "ipp.yml"
    config.write_text(yaml.safe_dump({"pantasks": {"servers": [
        {"name": "stdscience", "directory": server.directory, "client": FAKE_CLIENT, "timeout": "10s"}]}}))
    assert cli.main(["--config.file", str(config), "--once"]) == 0
    text = capsys.readouterr().out
    names = {s[0] for s in samples(text)}
    for name in CONTRACT:
        assert name in names or f"{name}_total" in names or name.removesuffix("_total") + "_total" in names, name
    assert value(text, "ipp_scrape_collector_success", collector="pantasks") == 1
    assert value(text, "ipp_source_data_age_seconds", source="pantasks/stdscience") is not None


def test_cli_once_as_a_subprocess(fake_server, tmp_path):
    server = fake_server("stdscience")
    config = tmp_path / "ipp.yml"
    config.write_text(yaml.safe_dump({"pantasks": {"servers": [
        {"name": "stdscience", "directory": server.directory, "client": FAKE_CLIENT}]}}))
    result = subprocess.run([sys.executable, "-m", "exporter", "--config.file", str(config), "--once"],
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert 'ipp_pantasks_up{server="stdscience"} 1.0' in result.stdout.decode()
