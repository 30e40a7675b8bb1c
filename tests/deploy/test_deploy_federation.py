"""Past one machine, on loopback: two sites, each a real exporter on its own processing database (gpc1, gpc2) and
a site Prometheus (deploy/prometheus-cluster.yml with its own `site` label, loading the shipped rules), federated
into one view by a global Prometheus (deploy/federation/prometheus-global.yml) that remote_writes into Debian's
VictoriaMetrics (flags of deploy/victoria/victoria-metrics.default); a dashboard query is answered from it."""

from __future__ import annotations

import json
import random
import re
import shutil
import sys
import urllib.parse
from pathlib import Path

import pytest
import yaml
from deploy_procs import ROOT, http_json, ports, server, wait_until
from ha_nodes import victoria_metrics
from plugins.mariadb import TEST_ACCOUNTS
from plugins.tools import need_tool

from ippsim import events
from ippsim.scenario import ScenarioSpec, build
from ippsim.site import create_accounts, create_database, site_params

SITES = {"site-a": ("gpc1", "nebulous"), "site-b": ("gpc2", "neb_site_b")}
EXTRA_DBS = ("gpc2", "neb_site_b")
FAULTS_PANEL = ROOT / "grafana" / "dashboards" / "ipp-faults.json"


@pytest.fixture(scope="module")
def two_sites(mariadb):
    """gpc1 and gpc2 filled with different simulated sites (each with code-2 faults); ipp_ro may read both."""
    for seed, (dbname, nebulous) in enumerate(SITES.values(), start=1):
        create_database(mariadb, dbname, "gpc1")
        create_database(mariadb, nebulous, "nebulous")
        build(mariadb, ScenarioSpec.tiny(seed=seed), dbname=dbname, nebulous_db=nebulous)
        with mariadb.connect(dbname) as conn:
            events.inject_faults(conn, random.Random(seed), stage="chip", code=2, count=3 * seed)
    create_accounts(mariadb, ("gpc1", "gpc2"), "nebulous", TEST_ACCOUNTS)
    yield site_params(mariadb, TEST_ACCOUNTS, ("gpc1", "gpc2"))
    with mariadb.connect() as conn, conn.cursor() as cur:
        for dbname in EXTRA_DBS:
            cur.execute(f"DROP DATABASE IF EXISTS `{dbname}`")
    create_accounts(mariadb, ("gpc1",), "nebulous", TEST_ACCOUNTS)  # as the session fixture left them


def exporter_config(tmp: Path, site, dbname: str) -> Path:
    """An exporter reading one processing database as ipp_ro, with a budget fitting a 1s scrape."""
    password = tmp / f"{dbname}.password"
    password.write_text(site.ipp_ro.password + "\n")
    config = {"exporter": {"scrape_timeout": "1s", "timeout_offset": "200ms", "cache_ttl": "500ms", "max_stale": "1m"},
              "processing": {"databases": [{"dbname": dbname, "host": site.ipp_ro.host, "port": site.ipp_ro.port,
                                            "user": site.ipp_ro.user, "password_file": str(password)}]}}
    path = tmp / f"exporter-{dbname}.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def site_prometheus_config(tmp: Path, site_name: str, exporter: str) -> Path:
    """deploy/prometheus-cluster.yml for one site: its own `site` label, the shipped rules, the ipp job on `exporter`."""
    config = yaml.safe_load((ROOT / "deploy" / "prometheus-cluster.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["global"]["external_labels"]["site"] = site_name
    config["rule_files"] = [str(tmp / "ipp-alerts" / "*.rules.yml")]
    config.pop("alerting")  # the sites' alerting is tested in test_deploy_ha.py
    ipp = next(job for job in config["scrape_configs"] if job["job_name"] == "ipp")
    ipp.update(scrape_interval="1s", scrape_timeout="1s", static_configs=[{"targets": [exporter]}])
    config["scrape_configs"] = [ipp]
    path = tmp / f"prometheus-{site_name}.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def global_prometheus_config(tmp: Path, sites: list[str], victoria: str) -> Path:
    """deploy/federation/prometheus-global.yml federating `sites` and writing to `victoria`."""
    config = yaml.safe_load((ROOT / "deploy" / "federation" / "prometheus-global.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [target], "labels": {"federated_from": name}}
                             for name, target in zip(SITES, sites, strict=True)]
    (remote,) = config["remote_write"]
    remote["url"] = f"http://{victoria}/api/v1/write"
    remote["queue_config"]["batch_send_deadline"] = "1s"
    path = tmp / "prometheus-global.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def federation(two_sites, tmp_path_factory):
    """VictoriaMetrics, two exporters, two site Prometheus servers and the global one; yields their base URLs."""
    tmp = tmp_path_factory.mktemp("federation")
    shutil.copytree(ROOT / "alerts", tmp / "ipp-alerts")
    prometheus = need_tool("prometheus")
    global_port, *site_ports = ports(1 + 2 * len(SITES))
    with victoria_metrics(tmp) as victoria:
        with _sites(tmp, two_sites, prometheus, site_ports) as site_urls:
            targets = [u.removeprefix("http://") for u in site_urls.values()]
            config = global_prometheus_config(tmp, targets, victoria.removeprefix("http://"))
            url = f"http://127.0.0.1:{global_port}"
            with server([prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'global'}",
                         f"--web.listen-address=127.0.0.1:{global_port}"], f"{url}/-/ready", tmp / "global.log"):
                yield {"sites": site_urls, "global": url, "victoria": victoria}


class _sites:
    """`with` one exporter and one site Prometheus per site; yields {site: Prometheus base URL}."""

    def __init__(self, tmp: Path, site, prometheus: str, site_ports: list[int]) -> None:
        self.contexts, self.urls = [], {}
        for (name, (dbname, _)), exporter_port, prom_port in zip(SITES.items(), site_ports[::2], site_ports[1::2], strict=True):
            exporter = f"127.0.0.1:{exporter_port}"
            self.contexts.append(server([sys.executable, "-m", "exporter", "--config.file", str(exporter_config(tmp, site, dbname)),
                                         "--web.listen-address", exporter], f"http://{exporter}/-/ready", tmp / f"exporter-{dbname}.log"))
            config = site_prometheus_config(tmp, name, exporter)
            self.urls[name] = f"http://127.0.0.1:{prom_port}"
            self.contexts.append(server([prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp / name}",
                                         f"--web.listen-address=127.0.0.1:{prom_port}"], f"{self.urls[name]}/-/ready",
                                        tmp / f"prometheus-{name}.log"))

    def __enter__(self) -> dict[str, str]:
        self.entered = []
        try:
            for context in self.contexts:
                context.__enter__()
                self.entered.append(context)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self.urls

    def __exit__(self, *exc_info) -> None:
        for context in reversed(self.entered):
            context.__exit__(None, None, None)


def query(base: str, expr: str) -> dict[tuple, float]:
    """An instant query's result as {sorted label pairs: value}."""
    data = http_json(f"{base}/api/v1/query?query={urllib.parse.quote(expr)}")["data"]["result"]
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in data}


def faults_by_site(base: str) -> dict[tuple, float]:
    """sum of outstanding faults by site and dbname."""
    return query(base, "sum by (site, dbname) (ipp_processing_faults)")


def test_each_site_sees_only_its_own_database(federation):
    for name, url in federation["sites"].items():
        got = wait_until(lambda url=url: query(url, "ipp_processing_db_up == 1"), 20, f"{name}'s exporter data")
        assert {dict(labels)["dbname"] for labels in got} == {SITES[name][0]}


def test_the_global_view_has_both_databases_labelled_by_site_with_the_sites_values(federation):
    own = {}
    for name, url in federation["sites"].items():
        own.update({(("dbname", dict(k)["dbname"]), ("site", name)): v for k, v in
                    wait_until(lambda url=url: query(url, "sum by (dbname) (ipp_processing_faults)"), 20, name).items()})
    assert len(own) == 2 and all(value > 0 for value in own.values()), own
    merged = wait_until(lambda: len(faults_by_site(federation["global"])) == 2 and faults_by_site(federation["global"]),
                        20, "both sites in the global view")
    assert merged == own
    # recording rules evaluated at the sites arrive too, each under its site
    def recording_sites():
        got = query(federation["global"], 'count by (site) ({__name__=~"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+"})')
        return {dict(k)["site"] for k in got}

    assert wait_until(lambda: recording_sites() == set(SITES) and recording_sites(), 20, "the sites' recording rules") == set(SITES)


def dashboard_query() -> str:
    """The first panel query of the faults dashboard, with its variables set to All (`.*`)."""
    dashboard = json.loads(FAULTS_PANEL.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", []) if "ipp_processing_faults" in t.get("expr", "")]
    assert exprs, f"{FAULTS_PANEL.name} has no ipp_processing_faults panel"
    return re.sub(r"\$\{?\w+\}?", ".*", exprs[0])


def test_victoria_metrics_answers_a_dashboard_query_with_the_global_views_values(federation):
    expr = dashboard_query()
    expected = wait_until(lambda: len({dict(k)["dbname"] for k in query(federation["global"], expr)}) == 2
                          and query(federation["global"], expr), 20, "the dashboard query on the global view")
    got = wait_until(lambda: query(federation["victoria"], expr) == expected and query(federation["victoria"], expr),
                     30, f"VictoriaMetrics to answer {expr} like the global view")
    assert got == expected and sum(got.values()) > 0
