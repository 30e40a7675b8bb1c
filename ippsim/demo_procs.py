"""Child processes of the demo (exporter, Prometheus, Alertmanager): own process groups, stopped for sure."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from ippsim.procs import die_with_parent, stop_process_group

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"


class Child:
    """One child in its own session (process group), logging to a file; stop() ends the whole group."""

    def __init__(self, name: str, argv: list[str], log_path: Path, cwd: Path | None = None) -> None:
        self.name, self.argv, self.log_path = name, argv, log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            # own session so stop() ends the whole group; die_with_parent so a killed demo leaves no orphans
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=cwd,
                                            start_new_session=True, preexec_fn=die_with_parent)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group, wait, then SIGKILL it."""
        stop_process_group(self.process, timeout)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def wait_http(url: str, timeout: float, child: Child | None = None) -> bool:
    """Poll `url` until it answers 200 (bounded by `timeout`); False when it never did or the child died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            return False
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def start_exporter(config: Path, port: int, log: Path) -> Child:
    """`ipp-exporter --config.file <config> --web.listen-address 127.0.0.1:<port>` (via this interpreter)."""
    argv = [sys.executable, "-m", "exporter", "--config.file", str(config), "--web.listen-address", f"127.0.0.1:{port}"]
    return Child("exporter", argv, log)


def prometheus_config(repo: Path, out: Path, exporter_port: int, alertmanager_port: int | None,
                      node_port: int | None = None) -> Path:
    """The project's prometheus.yml retargeted at this demo's ports, with absolute rule paths."""
    source = repo / "prometheus.yml"
    data = yaml.safe_load(source.read_text()) if source.is_file() else None
    if not isinstance(data, dict):
        data = {"global": {"scrape_interval": "15s", "evaluation_interval": "15s"}}
    data.setdefault("global", {})["scrape_interval"] = "5s"
    data["global"]["evaluation_interval"] = "5s"
    data["global"]["scrape_timeout"] = "4s"
    data["rule_files"] = sorted(str(p) for p in (repo / "alerts").glob("*.rules.yml"))
    node_job = next((job for job in data.get("scrape_configs") or [] if job.get("job_name") == "node"), None)
    data["scrape_configs"] = [{"job_name": "ipp", "scrape_interval": "5s", "scrape_timeout": "4s",
                               "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}]
    if node_port and node_job:  # the repo's node job (with its `host` relabelling), pointed at the demo's node_exporter
        data["scrape_configs"].append({**node_job, "static_configs": [{"targets": [f"127.0.0.1:{node_port}"]}]})
    if alertmanager_port:
        data["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]}
    else:
        data.pop("alerting", None)
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def alertmanager_config(repo: Path, out: Path) -> Path:
    """The project's alerts/alertmanager.yml, or a minimal one with a do-nothing receiver."""
    source = repo / "alerts" / "alertmanager.yml"
    if source.is_file():
        shutil.copyfile(source, out)
    else:
        out.write_text("route:\n  receiver: demo-null\n  group_by: [alertname]\nreceivers:\n  - name: demo-null\n")
    return out


def start_prometheus(repo: Path, run_dir: Path, exporter_port: int, port: int, am_port: int | None,
                     node_port: int | None = None) -> Child | None:
    """Prometheus on 127.0.0.1:<port> with storage under the run dir; None when not installed."""
    binary = PROMETHEUS if os.access(PROMETHEUS, os.X_OK) else shutil.which("prometheus")
    if not binary:
        return None
    base = run_dir / "prometheus"
    (base / "data").mkdir(parents=True, exist_ok=True)
    config = prometheus_config(repo, base / "prometheus.yml", exporter_port, am_port, node_port)
    argv = [binary, f"--config.file={config}", f"--storage.tsdb.path={base / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=2d"]
    return Child("prometheus", argv, run_dir / "logs" / "prometheus.log")


def start_node_exporter(run_dir: Path, port: int) -> Child | None:
    """node_exporter on 127.0.0.1:<port> for this machine's host metrics; None when not installed."""
    binary = NODE_EXPORTER if os.access(NODE_EXPORTER, os.X_OK) else shutil.which("node_exporter")
    if not binary:
        return None
    return Child("node-exporter", [binary, f"--web.listen-address=127.0.0.1:{port}"], run_dir / "logs" / "node-exporter.log")


def start_alertmanager(repo: Path, run_dir: Path, port: int) -> Child | None:
    """Alertmanager on 127.0.0.1:<port>, clustering off; None when not installed."""
    binary = ALERTMANAGER if os.access(ALERTMANAGER, os.X_OK) else shutil.which("alertmanager")
    if not binary:
        return None
    base = run_dir / "alertmanager"
    (base / "data").mkdir(parents=True, exist_ok=True)
    config = alertmanager_config(repo, base / "alertmanager.yml")
    argv = [binary, f"--config.file={config}", f"--storage.path={base / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    return Child("alertmanager", argv, run_dir / "logs" / "alertmanager.log")
