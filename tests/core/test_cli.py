"""The ipp-exporter command line, run as a real process."""

import signal
import subprocess
import sys
import time
import urllib.request

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
    assert out.returncode == 2 and "cannot read file" in out.stderr


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
