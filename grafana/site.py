"""What the dashboards take from the shipped prometheus.yml: scrape interval, Prometheus URL, link bases."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_YML = ROOT / "prometheus.yml"


@dataclass(frozen=True)
class SiteSettings:
    """Values the generated dashboards and provisioning files share with prometheus.yml."""

    scrape_interval: str      # the datasource's timeInterval, so $__rate_interval covers four scrapes
    prometheus_url: str       # where Grafana reaches Prometheus (the `prometheus` job's own target)
    action_service: str       # external label ipp_action_service: the default of the $action_service variable
    runbook_base: str         # external label ipp_runbook_base: the default of the $runbook_base variable


def load(path: Path = PROMETHEUS_YML) -> SiteSettings:
    """Read the settings from prometheus.yml (the same file the alert rules' links come from)."""
    config = yaml.safe_load(path.read_text())
    glob = config.get("global", {})
    labels = glob.get("external_labels", {})
    jobs = {job["job_name"]: job for job in config.get("scrape_configs", [])}
    ipp_job = jobs.get("ipp", {})
    self_target = jobs["prometheus"]["static_configs"][0]["targets"][0]
    return SiteSettings(scrape_interval=ipp_job.get("scrape_interval", glob.get("scrape_interval", "1m")),
                        prometheus_url=f"http://{self_target}",
                        action_service=labels["ipp_action_service"],
                        runbook_base=labels["ipp_runbook_base"])
