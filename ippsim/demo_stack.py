"""The demo's monitoring half: mail sink, Alertmanager, node_exporter, Prometheus on rule copies; the URLs to print."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from ippsim import demo_procs as procs
from ippsim.demo_config import DEMO_OPERATOR
from ippsim.demo_rules import write_scaled_rules
from ippsim.mailsink import MailSink

REPO = Path(__file__).resolve().parent.parent
SCRAPE_INTERVAL = "5s"
MIN_WINDOW_SECONDS = 20.0  # at a 5 s scrape a rate() window needs a few samples
MIN_FOR_SECONDS = 5.0


def start_monitoring(demo) -> str:
    """Start the mail sink, Alertmanager, node_exporter and Prometheus for `demo`; returns a note for its phase line."""
    opts, run_dir = demo.opts, demo.run_dir
    if not opts.prometheus:
        return ": skipped (--no-prometheus)"
    sink = MailSink(run_dir / "mail").start()
    demo.stoppers.append(("mail sink", sink.stop))
    actions_up = any(child.name == "action-service" for child in demo.children)
    ports = procs.StackPorts(exporter=opts.exporter_port, prometheus=opts.prometheus_port,
                             alertmanager=opts.alertmanager_port, node_exporter=opts.node_exporter_port,
                             actions=opts.actions_port if actions_up else None, mail=sink.port)
    base = run_dir / "alertmanager"
    base.mkdir(parents=True, exist_ok=True)
    am_config = procs.alertmanager_config(REPO, base / "alertmanager.yml", ports,
                                          demo.secrets.path("webhook.token"), opts.speed)
    if demo.start_child(procs.start_alertmanager(run_dir, am_config, opts.alertmanager_port)) is None:
        ports = procs.StackPorts(**{**ports.__dict__, "alertmanager": None})
    if demo.start_child(procs.start_node_exporter(run_dir, opts.node_exporter_port)) is None:
        ports = procs.StackPorts(**{**ports.__dict__, "node_exporter": None})
    rules = write_scaled_rules(sorted((REPO / "alerts").glob("*.rules.yml")), run_dir / "prometheus" / "rules",
                               opts.speed, MIN_WINDOW_SECONDS, MIN_FOR_SECONDS)
    prom_config = procs.prometheus_config(REPO, run_dir / "prometheus" / "prometheus.yml", ports, rules,
                                          SCRAPE_INTERVAL)
    if demo.start_child(procs.start_prometheus(run_dir, prom_config, opts.prometheus_port)) is None:
        return ": Prometheus is not installed"
    return ""


def _ipp_sim_command() -> str:
    """How to call ipp-sim from any shell: the venv's script by absolute path, else this interpreter."""
    script = Path(sys.executable).parent / "ipp-sim"
    if script.is_file():
        return str(script)
    return shutil.which("ipp-sim") or f"{sys.executable} -m ippsim.cli"


def url_lines(demo) -> list[str]:
    """What the demo prints once everything is up: every URL and command works as printed."""
    opts, names = demo.opts, {child.name for child in demo.children}
    url = demo.url
    lines = []
    if "action-service" in names:
        lines += [f"czar board (open this first) : {url(opts.actions_port, '/')}",
                  f"operator login               : {DEMO_OPERATOR} / {demo.secrets.operator_password}",
                  f"faulted items                : {url(opts.actions_port, '/faults?dbname=gpc1')}",
                  f"runbooks                     : {url(opts.actions_port, '/runbooks/IppProcessingFaultStorm')}",
                  f"action audit                 : {url(opts.actions_port, '/audit')}"]
    lines.append(f"exporter metrics             : {url(opts.exporter_port, '/metrics')}")
    if "prometheus" in names:
        lines.append(f"Prometheus alerts (API)      : {url(opts.prometheus_port, '/api/v1/alerts')}"
                     "  (Debian's package has no web UI)")
    if "alertmanager" in names:
        lines += [f"Alertmanager alerts (API)    : {url(opts.alertmanager_port, '/api/v2/alerts')}",
                  f"e-mail notifications         : {demo.run_dir / 'mail'} (one .eml file per message)"]
    lines += [
        "Grafana                      : not installable here; the dashboards (grafana/dashboards) run with"
        " `docker compose up grafana` at a site (docs/dashboards.md)",
        f"pantasks servers             : {demo.run_dir / 'servers'} (cd there and run"
        f" {demo.run_dir / 'bin' / 'pantasks_client'})",
        f"inject an event              : {_ipp_sim_command()} inject <event> --run-dir {demo.run_dir}",
        f"time                         : a step every {opts.step:g}s moves the site {opts.sim_seconds:g}s"
        f" (--speed {opts.speed:g}); alert delays and windows are {opts.speed:g}x shorter in the demo's rule"
        f" copies ({demo.run_dir / 'prometheus' / 'rules'})",
        f"scenario                     : {opts.scenario}; Ctrl-C stops everything",
    ]
    return lines
