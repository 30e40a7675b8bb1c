"""The ipp-exporter command line, run as a real process."""

import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from ippsim.procs import free_loopback_port as free_port

EXE = [sys.executable, "-m", "exporter"]


def run(*args, **kw):
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=60, **kw)


def test_help_names_every_flag():
    out = run("--help")
    assert out.returncode == 0
    for flag in ("--config.file", "--web.listen-address", "--once", "--check-config", "--log.level",
                 "--collector.pantasks", "--no-collector.processing", "--collector.nebulous"):
        assert flag in out.stdout


def test_check_config_lists_every_problem_and_exits_2(tmp_path):
    cfg = tmp_path / "bad.yml"
    cfg.write_text("pantasks:\n  servers:\n    - name: a\n      client: [1]\n    - {}\nbogus: 1\n")
    out = run("--config.file", str(cfg), "--check-config")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "pantasks.servers[0].directory: required" in out.stderr
    assert "pantasks.servers[0].client: expected a non-empty string" in out.stderr
    assert "pantasks.servers[1].name: required" in out.stderr
    assert "bogus: unknown key" in out.stderr
    assert "5 problems" in out.stderr


def test_check_config_ok(tmp_path):
    cfg = tmp_path / "ok.yml"
    cfg.write_text("exporter: {scrape_timeout: 5s}\n")
    out = run("--config.file", str(cfg), "--check-config")
    assert (out.returncode, out.stdout.strip()) == (0, f"{cfg}: OK")


def test_once_prints_exposition_and_exits_0(tmp_path):
    cfg = tmp_path / "empty.yml"
    cfg.write_text("{}\n")
    out = run("--config.file", str(cfg), "--once")
    assert out.returncode == 0, out.stderr
    assert "# TYPE ipp_scrape_collector_success gauge" in out.stdout


def test_missing_config_file_exits_2(tmp_path):
    out = run("--config.file", str(tmp_path / "nope.yml"), "--once")
    assert "cannot read file" in _one_line_exit_2(out)


def test_bad_listen_address_exits_2(tmp_path):
    cfg = tmp_path / "empty.yml"
    cfg.write_text("{}\n")
    out = run("--config.file", str(cfg), "--web.listen-address", "nonsense")
    assert out.returncode == 2 and "expected host:port" in out.stderr


def test_serves_metrics_and_stops_on_sigint(tmp_path):
    cfg = tmp_path / "empty.yml"
    cfg.write_text("{}\n")
    port = free_port()
    proc = subprocess.Popen([*EXE, "--config.file", str(cfg), "--web.listen-address", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        body = None
        for _ in range(100):  # bounded: up to ~10 s for the server to come up
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    body = response.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert body and "ipp_scrape_collector_success" in body
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def _serve_and_scrape(cfg, listen: str, url: str) -> str:
    proc = subprocess.Popen([*EXE, "--config.file", str(cfg), "--web.listen-address", listen],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(100):  # bounded: up to ~10 s for the server to come up
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode())
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    return response.read().decode()
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the exporter never answered")
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_serves_on_an_ipv6_address(tmp_path):
    cfg = tmp_path / "empty.yml"
    cfg.write_text("{}\n")
    port = free_port()
    body = _serve_and_scrape(cfg, f"[::1]:{port}", f"http://[::1]:{port}/metrics")
    assert "ipp_scrape_collector_success" in body


def _one_line_exit_2(out) -> str:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ipp-exporter: "), out.stderr
    return lines[0]


def test_port_in_use_is_one_line_and_exit_2(tmp_path):
    cfg = tmp_path / "empty.yml"
    cfg.write_text("{}\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _one_line_exit_2(run("--config.file", str(cfg), "--web.listen-address", f"127.0.0.1:{port}"))
    assert "address already in use" in line


@pytest.mark.parametrize("address, message", [("[::1]:x", "expected host:port"), ("::1:9000", "in brackets"),
                                              ("[zz]:9000", "not an IPv6 address"),
                                              ("192.0.2.1:9000", "cannot listen")])
def test_every_bad_listen_address_is_one_line_and_exit_2(tmp_path, address, message):
    cfg = tmp_path / "empty.yml"
    cfg.write_text("{}\n")
    line = _one_line_exit_2(run("--config.file", str(cfg), "--web.listen-address", address))
    assert message in line
