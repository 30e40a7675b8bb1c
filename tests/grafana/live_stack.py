"""The simulated site with the real monitoring stack around it, for checking every dashboard query.

ippsim's demo builds the site (MariaDB, pantasks servers, the exporter); this adds a real node_exporter,
Alertmanager, the action service and a Prometheus that runs the shipped prometheus.yml (its rules and relabelling) with every
target pointed at these processes and a 2 s scrape/evaluation interval."""

from __future__ import annotations

import io
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml
from plugins.tools import need_tool

from grafana.queries import PrometheusApi
from ippsim import demo_procs as procs
from ippsim.demo import Demo, DemoOptions
from ippsim.pantasks import sim
from ippsim.procs import free_loopback_port

ROOT = Path(__file__).resolve().parents[2]
SCRAPE_SECONDS = 2


@dataclass
class Stack:
    """The running stack: the demo site (events, time steps) and Prometheus's API."""

    demo: Demo
    api: PrometheusApi
    jobs: set[str]  # the scrape jobs of prometheus.yml this stack runs
    step: int = 0

    def tick(self) -> None:
        """One simulated time step of the site (DB and pantasks servers move on)."""
        self.step += 1
        self.demo.tick(self.step)

    def event(self, name: str, **params: object) -> str:
        """Apply an `ipp-sim inject` event through the demo's own code; return its description."""
        from ippsim import demo_events
        return demo_events.apply(self.demo.site, name, dict(params))

    def collect(self, seconds: float) -> None:
        """Let Prometheus scrape and evaluate for `seconds` while the site moves on once per scrape."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.tick()
            time.sleep(max(0.0, min(SCRAPE_SECONDS, deadline - time.monotonic())))


def prometheus_config(path: Path, ports: dict[str, int]) -> set[str]:
    """The shipped prometheus.yml with each job's targets replaced by this stack's ports and short intervals."""
    config = yaml.safe_load((ROOT / "prometheus.yml").read_text())
    interval = f"{SCRAPE_SECONDS}s"
    config["global"].update(scrape_interval=interval, scrape_timeout=interval, evaluation_interval=interval)
    config["rule_files"] = [str(ROOT / "alerts" / "*.rules.yml")]
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}]}
    # every job this stack runs, pointed at its port; a job it does not run is left out
    config["scrape_configs"] = [job for job in config["scrape_configs"] if job["job_name"] in ports]
    for job in config["scrape_configs"]:
        job.update(scrape_interval=interval, scrape_timeout=interval)
        job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return {job["job_name"] for job in config["scrape_configs"]}


def start_actions(run_dir: Path, port: int) -> procs.Child:
    """The action service (python -m actions) on the demo site's databases and pantasks servers."""
    from werkzeug.security import generate_password_hash
    secrets = run_dir / "action-secrets"
    secrets.mkdir(exist_ok=True)
    files = {"users": f"czar:{generate_password_hash('dash-test')}", "token": "dash-test-token",
             "secret_key": "dash-test-secret"}
    for name, text in files.items():
        (secrets / name).write_text(text + "\n")
        (secrets / name).chmod(0o600)
    site = yaml.safe_load((run_dir / "exporter.yml").read_text())  # the demo's exporter config: same site
    config = {"actions": {"external_url": f"http://127.0.0.1:{port}", "webhook_token_file": str(secrets / "token"),
                          "users_file": str(secrets / "users"), "secret_key_file": str(secrets / "secret_key"),
                          "audit": f"sqlite:///{run_dir / 'audit.db'}"},
              "tools": {"bin_dir": str(run_dir / "bin")},
              **{section: site[section] for section in ("processing", "nebulous", "pantasks")}}
    path = run_dir / "ipp-actions.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return procs.Child("ipp-actions", [sys.executable, "-m", "actions", "--config.file", str(path),
                                       "--web.listen-address", f"127.0.0.1:{port}"], run_dir / "logs" / "actions.log")


def start_day(demo: Demo) -> None:
    """Run each pantasks server's daily task as at 00:30 UTC today, so tonight's ns.show.dates page exists."""
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    for directory in demo.site.servers.values():
        sim.advance(directory, 1.0, now=midnight + 1800)


def wait_for_targets(api: PrometheusApi, jobs: set[str], timeout: float) -> set[str]:
    """Jobs whose targets are all up, once every job in `jobs` is (or whatever was up at the deadline)."""
    deadline, healthy = time.monotonic() + timeout, set()
    while time.monotonic() < deadline:
        try:
            active = api.get("/api/v1/targets", state="active")["activeTargets"]
        except OSError:
            active = []
        healthy = {t["labels"]["job"] for t in active} - {t["labels"]["job"] for t in active if t["health"] != "up"}
        if jobs <= healthy:
            break
        time.sleep(0.5)
    return healthy


@contextmanager
def running_stack(run_dir: Path):
    """Start everything (bounded waits), yield a Stack, stop everything."""
    binaries = {"prometheus": need_tool("prometheus", procs.PROMETHEUS),
                "node": need_tool("prometheus-node-exporter", procs.NODE_EXPORTER, "node_exporter"),
                "alertmanager": need_tool("prometheus-alertmanager", procs.ALERTMANAGER, "alertmanager")}
    need_tool("mariadbd", "/usr/sbin/mariadbd")
    ports = {name: free_loopback_port() for name in ("ipp", "node", "prometheus", "alertmanager", "ipp-actions")}
    # each tick is 30 simulated seconds: *.load tasks poll every 5 s, so an hour's failure ratio (which needs
    # 10 jobs) has data after two ticks
    demo = Demo(DemoOptions(run_dir=run_dir, size="tiny", step=30.0, prometheus=False, ssh=False,
                            exporter_port=ports["ipp"]), out=io.StringIO())
    children: list[procs.Child] = []
    try:
        demo.build()
        start_day(demo)
        logs = run_dir / "logs"
        children.append(procs.Child("node-exporter", [binaries["node"], f"--web.listen-address=127.0.0.1:{ports['node']}"],
                                    logs / "node-exporter.log"))
        am_dir = run_dir / "alertmanager"
        am_dir.mkdir(parents=True, exist_ok=True)
        children.append(procs.Child("alertmanager", [
            binaries["alertmanager"], f"--config.file={ROOT / 'alerts' / 'alertmanager.yml'}",
            f"--storage.path={am_dir}", f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
            "--cluster.listen-address="], logs / "alertmanager.log"))
        children.append(start_actions(run_dir, ports["ipp-actions"]))
        if not procs.wait_http(f"http://127.0.0.1:{ports['ipp-actions']}/metrics", 30.0, children[-1]):
            raise RuntimeError(f"the action service did not start:\n{children[-1].log_tail()}")
        config = run_dir / "prometheus.yml"
        jobs = prometheus_config(config, ports)
        children.append(procs.Child("prometheus", [
            binaries["prometheus"], f"--config.file={config}", f"--storage.tsdb.path={run_dir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}"], logs / "prometheus.log"))
        base = f"http://127.0.0.1:{ports['prometheus']}"
        if not procs.wait_http(f"{base}/-/ready", 30.0, children[-1]):
            raise RuntimeError(f"Prometheus did not become ready:\n{children[-1].log_tail()}")
        yield Stack(demo, PrometheusApi(base), jobs)
    finally:
        for child in reversed(children):
            child.stop()
        demo.close()
