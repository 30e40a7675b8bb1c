"""Child processes of the demo (exporter, Prometheus, Alertmanager): own process groups, stopped for sure."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from ippsim.demo_rules import scale
from ippsim.procs import die_with_parent, stop_process_group

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"


class Child:
    """One child in its own session (process group), logging to a file; stop() ends the whole group."""

    def __init__(self, name: str, argv: list[str], log_path: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.name, self.argv, self.log_path, self.cwd = name, argv, log_path, cwd
        self.env = {**os.environ, **env} if env else None
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process = self._spawn(b"")

    def _spawn(self, banner: bytes) -> subprocess.Popen:
        with open(self.log_path, "ab") as log:
            log.write(banner)
            log.flush()
            # own session so stop() ends the whole group; die_with_parent so a killed demo leaves no orphans
            return subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.cwd,
                                    env=self.env, start_new_session=True, preexec_fn=die_with_parent)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group, wait, then SIGKILL it."""
        stop_process_group(self.process, timeout)

    def restart(self) -> None:
        """Start the same command again (after it died); the log goes on in the same file."""
        self.stop(timeout=2.0)
        self.process = self._spawn(f"\n---- {self.name} restarted by the demo ----\n".encode())

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


@dataclass(frozen=True)
class StackPorts:
    """Where the demo's parts listen on 127.0.0.1 (None: that part is not running)."""

    exporter: int
    prometheus: int
    alertmanager: int | None = None
    node_exporter: int | None = None
    actions: int | None = None
    mail: int | None = None


def _retarget(job: dict, port: int) -> dict:
    return {**job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}


def prometheus_config(repo: Path, out: Path, ports: StackPorts, rule_files: list[Path],
                      interval: str = "5s") -> Path:
    """The project's prometheus.yml retargeted at this demo's ports and rule copies, with short intervals."""
    data = yaml.safe_load((repo / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in data.get("scrape_configs") or []}
    glob = data.setdefault("global", {})
    glob.update(scrape_interval=interval, evaluation_interval=interval, scrape_timeout="4s")
    labels = glob.setdefault("external_labels", {})
    if ports.actions:  # the alerts' action and runbook links point at the demo's action service
        labels["ipp_action_service"] = f"http://127.0.0.1:{ports.actions}"
        labels["ipp_runbook_base"] = f"http://127.0.0.1:{ports.actions}/runbooks"
    data["rule_files"] = [str(path) for path in rule_files]
    wanted = {"ipp": ports.exporter, "node": ports.node_exporter, "prometheus": ports.prometheus,
              "alertmanager": ports.alertmanager, "ipp-actions": ports.actions}
    data["scrape_configs"] = []
    for name, port in wanted.items():
        if port:
            job = jobs.get(name, {"job_name": name})
            job = {**job, "scrape_interval": interval, "scrape_timeout": "4s"}
            data["scrape_configs"].append(_retarget(job, port))
    if ports.alertmanager:
        data["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ports.alertmanager}"]}]}]}
    else:
        data.pop("alerting", None)
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _compress_route(route: dict, speed: float) -> None:
    for key, floor in (("group_wait", 1), ("group_interval", 5), ("repeat_interval", 60)):
        if key in route:
            route[key] = scale(route[key], speed, floor)
    for child in route.get("routes") or []:
        _compress_route(child, speed)


def alertmanager_config(repo: Path, out: Path, ports: StackPorts, token_file: Path, speed: float = 1) -> Path:
    """The project's alerts/alertmanager.yml with receivers that work here: the demo's action service and mail sink."""
    data = yaml.safe_load((repo / "alerts" / "alertmanager.yml").read_text())
    glob = data.setdefault("global", {})
    if ports.mail:
        glob.update(smtp_smarthost=f"127.0.0.1:{ports.mail}", smtp_require_tls=False)
    _compress_route(data["route"], speed)
    for receiver in data.get("receivers") or []:
        hooks = receiver.get("webhook_configs") or []
        if ports.actions:
            for hook in hooks:
                hook["url"] = f"http://127.0.0.1:{ports.actions}/alertmanager"
                hook["http_config"] = {"authorization": {"type": "Bearer", "credentials_file": str(token_file)}}
        elif hooks:  # no action service: this receiver would only fail
            receiver.pop("webhook_configs")
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _installed_child(name: str, binary: str, fallback: str, run_dir: Path, args: list[str],
                    data_flag: str | None = None) -> Child | None:
    """`binary args...` as child `name` logging to RUN/logs/<name>.log, with its data under RUN/<name>/data when it
    keeps any (`data_flag`=<dir>); None when the program is not installed."""
    path = binary if os.access(binary, os.X_OK) else shutil.which(fallback)
    if not path:
        return None
    if data_flag:
        data = run_dir / name / "data"
        data.mkdir(parents=True, exist_ok=True)
        args = [f"{data_flag}={data}", *args]
    return Child(name, [path, *args], run_dir / "logs" / f"{name}.log")


def start_prometheus(run_dir: Path, config: Path, port: int) -> Child | None:
    """Prometheus on 127.0.0.1:<port> with storage under the run dir; None when not installed."""
    return _installed_child("prometheus", PROMETHEUS, "prometheus", run_dir,
                            [f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
                             "--storage.tsdb.retention.time=2d"], "--storage.tsdb.path")


def start_node_exporter(run_dir: Path, port: int) -> Child | None:
    """node_exporter on 127.0.0.1:<port> for this machine's host metrics; None when not installed."""
    return _installed_child("node-exporter", NODE_EXPORTER, "node_exporter", run_dir,
                            [f"--web.listen-address=127.0.0.1:{port}"])


def start_alertmanager(run_dir: Path, config: Path, port: int) -> Child | None:
    """Alertmanager on 127.0.0.1:<port>, clustering off; None when not installed."""
    return _installed_child("alertmanager", ALERTMANAGER, "alertmanager", run_dir,
                            [f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
                             "--cluster.listen-address="], "--storage.path")


def start_actions(config: Path, port: int, log: Path, env: dict[str, str] | None = None) -> Child:
    """`ipp-actions --config.file <config> --web.listen-address 127.0.0.1:<port>` (via this interpreter)."""
    argv = [sys.executable, "-m", "actions", "--config.file", str(config), "--web.listen-address", f"127.0.0.1:{port}"]
    return Child("action-service", argv, log, env=env)


class Supervisor:
    """Restarts a part of the demo that died, after `delay` seconds (long enough for its alerts to fire)."""

    def __init__(self, say, delay: float) -> None:
        self.say, self.delay = say, delay
        self.down_since: dict[str, float] = {}

    def check(self, children: list[Child], db=None, site=None) -> list[str]:
        """Look at every child and MariaDB once; restart what has been down for `delay` seconds; names restarted."""
        restarted = [child.name for child in children if self._watch(child.name, child.alive(), child.restart)]
        if db is not None and self._watch("mariadb", db.running, lambda: self._restart_db(db, site)):
            restarted.append("mariadb")
        return restarted

    @staticmethod
    def _restart_db(db, site) -> None:
        if site is not None:
            site.close()  # the demo's own connections reopen on the next step
        db.start()

    def _watch(self, name: str, alive: bool, restart) -> bool:
        if alive:
            self.down_since.pop(name, None)
            return False
        now = time.monotonic()
        since = self.down_since.setdefault(name, now)
        if since == now:
            self.say(f"{name} is not running; the demo restarts it in {self.delay:g}s (its alerts can fire meanwhile)")
            return False
        if now - since < self.delay:
            return False
        self.down_since.pop(name, None)
        try:
            restart()
        except Exception as exc:  # tried again after another delay
            self.say(f"restarting {name} failed: {exc}")
            return False
        self.say(f"{name} restarted")
        return True
