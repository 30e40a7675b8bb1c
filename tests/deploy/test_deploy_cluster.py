"""deploy/prometheus-cluster.yml: passes promtool, a real Prometheus finds every file_sd host with its `host`
label and loads every rule group, and its timeouts agree with the exporter's budget."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from deploy_procs import ROOT, free_port_url, http_json, run, server, wait_until
from plugins.tools import need_tool

from exporter.config import DatabaseConfig, ExporterSettings, PantasksServer, config_from_data, parse_duration

CLUSTER = ROOT / "deploy" / "prometheus-cluster.yml"
NODE_TARGETS = ROOT / "deploy" / "file_sd" / "node.yml"
RULE_FILES = sorted((ROOT / "alerts").glob("*.rules.yml"))
EXPORTER_CONFIGS = [ROOT / "examples" / "ipp-exporter.yml", ROOT / "deploy" / "compose" / "ipp-exporter.yml"]


def installed_copy(tmp_path: Path) -> Path:
    """The cluster config laid out as on the monitoring host, under tmp_path instead of /etc/prometheus."""
    shutil.copytree(ROOT / "alerts", tmp_path / "ipp-alerts")
    (tmp_path / "file_sd" / "node").mkdir(parents=True)
    shutil.copy(NODE_TARGETS, tmp_path / "file_sd" / "node" / "ipp.yml")
    text = CLUSTER.read_text().replace("/etc/prometheus/", f"{tmp_path}/")
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    return path


def jobs() -> dict[str, dict]:
    """The cluster config's scrape jobs by name, with the global defaults filled in."""
    config = yaml.safe_load(CLUSTER.read_text())
    defaults = {k: config["global"][k] for k in ("scrape_interval", "scrape_timeout")}
    return {job["job_name"]: {**defaults, **job} for job in config["scrape_configs"]}


def seconds(value: str | float) -> float:
    """A Prometheus duration in seconds."""
    parsed = parse_duration(value)
    assert parsed is not None, value
    return parsed


def test_promtool_accepts_the_cluster_config_its_rules_and_file_sd(tmp_path):
    result = run([need_tool("promtool"), "check", "config", str(installed_copy(tmp_path))])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout


def test_promtool_reads_the_file_sd_files_so_a_broken_host_list_fails(tmp_path):
    config = installed_copy(tmp_path)
    (tmp_path / "file_sd" / "node" / "ipp.yml").write_text("- targets: ['ipp001:9100']\n  lables: {role: x}\n")
    result = run([need_tool("promtool"), "check", "config", str(config)])
    assert result.returncode != 0 and "checking SD file" in result.stdout + result.stderr


def test_a_real_prometheus_discovers_every_host_and_loads_every_rule_group(tmp_path):
    config = installed_copy(tmp_path)
    url, listen = free_port_url()
    argv = [need_tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address={listen}"]
    expected_hosts = {t.split(":")[0] for group in yaml.safe_load(NODE_TARGETS.read_text()) for t in group["targets"]}
    with server(argv, f"{url}/-/ready", tmp_path / "prometheus.log"):
        def node_targets():
            active = http_json(f"{url}/api/v1/targets?state=active")["data"]["activeTargets"]
            found = [t for t in active if t["labels"]["job"] == "node"]
            return found if len(found) == len(expected_hosts) else None

        found = wait_until(node_targets, 20, "the file_sd node targets")
        groups = http_json(f"{url}/api/v1/rules")["data"]["groups"]
        active = http_json(f"{url}/api/v1/targets?state=active")["data"]["activeTargets"]
    assert {t["labels"]["host"] for t in found} == expected_hosts
    assert {t["labels"]["role"] for t in found} == {"pantasks", "database", "processing", "monitoring"}
    assert len(groups) == sum(len(yaml.safe_load(p.read_text())["groups"]) for p in RULE_FILES)
    by_job = {t["labels"]["job"]: t for t in active}
    assert {"ipp", "ipp-actions", "node", "prometheus", "alertmanager"} <= set(by_job)
    assert (by_job["ipp"]["scrapeInterval"], by_job["ipp"]["scrapeTimeout"]) == ("30s", "25s")


def test_timeouts_fit_inside_their_intervals():
    for name, job in jobs().items():
        assert seconds(job["scrape_timeout"]) <= seconds(job["scrape_interval"]), name


def test_the_exporter_budget_matches_the_ipp_job_and_every_source_deadline_fits_in_it():
    ipp = jobs()["ipp"]
    timeout, interval = seconds(ipp["scrape_timeout"]), seconds(ipp["scrape_interval"])
    for path in EXPORTER_CONFIGS:
        data = yaml.safe_load(path.read_text())
        settings = data.get("exporter", {})
        assert seconds(settings["scrape_timeout"]) == timeout, f"{path.name}: exporter.scrape_timeout != the ipp job's"
        budget = timeout - seconds(settings.get("timeout_offset", ExporterSettings.timeout_offset))
        assert seconds(settings["cache_ttl"]) < interval, f"{path.name}: cache_ttl must be below the scrape interval"
        assert seconds(settings["max_stale"]) >= 2 * interval, f"{path.name}: one failed fetch must not blank a source"
        for server_config in data["pantasks"]["servers"]:
            own = seconds(server_config.get("timeout", PantasksServer.timeout))
            assert own < budget, f"{path.name}: pantasks {server_config['name']} timeout {own}s >= budget {budget}s"
        for database in data["processing"]["databases"] + [data["nebulous"]]:
            own = (seconds(database.get("connect_timeout", DatabaseConfig.connect_timeout))
                   + seconds(database.get("query_timeout", DatabaseConfig.query_timeout)))
            assert own < budget, f"{path.name}: database connect + query {own}s >= budget {budget}s"


def test_the_budget_check_reads_the_loader_defaults():
    # the fallbacks above must be the loader's own defaults, or the check tests a different exporter
    config = config_from_data({"processing": {"databases": [{"dbname": "gpc1", "host": "h", "user": "u"}]}})
    database = config.processing.databases[0]
    assert (database.connect_timeout, database.query_timeout) == (DatabaseConfig.connect_timeout, DatabaseConfig.query_timeout)
    assert config.exporter.timeout_offset == ExporterSettings.timeout_offset


HA_PROMETHEUS = ROOT / "deploy" / "ha" / "prometheus.yml"


def test_the_ha_pair_config_passes_promtool(tmp_path):
    installed_copy(tmp_path)
    path = tmp_path / "prometheus-ha.yml"
    path.write_text(HA_PROMETHEUS.read_text().replace("/etc/prometheus/", f"{tmp_path}/"))
    result = run([need_tool("promtool"), "check", "config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout


def test_the_ha_pair_scrapes_what_the_single_server_does_and_drops_replica_from_alerts():
    cluster, ha = yaml.safe_load(CLUSTER.read_text()), yaml.safe_load(HA_PROMETHEUS.read_text())
    assert ha["rule_files"] == cluster["rule_files"]
    assert {k: v for k, v in ha["global"].items() if k != "external_labels"} == \
        {k: v for k, v in cluster["global"].items() if k != "external_labels"}
    strip = ("static_configs",)  # the pair lists both monitoring hosts
    jobs_of = {name: [{k: v for k, v in job.items() if k not in strip} for job in config["scrape_configs"]]
               for name, config in (("cluster", cluster), ("ha", ha))}
    assert jobs_of["ha"] == jobs_of["cluster"]
    assert ha["global"]["external_labels"]["replica"] == "${PROM_REPLICA}"
    assert {"action": "labeldrop", "regex": "replica"} in ha["alerting"]["alert_relabel_configs"]
    assert len(ha["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]) == 2


REMOTE_WRITE = yaml.safe_load((ROOT / "deploy" / "victoria" / "remote-write.yml").read_text())


@pytest.mark.parametrize("option", sorted(REMOTE_WRITE))
def test_every_long_term_storage_option_passes_promtool(option, tmp_path):
    config = yaml.safe_load(installed_copy(tmp_path).read_text())
    config["remote_write"] = REMOTE_WRITE[option]
    path = tmp_path / f"prometheus-{option}.yml"
    path.write_text(yaml.safe_dump(config))
    result = run([need_tool("promtool"), "check", "config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_ha_pair_writes_to_the_single_node_store():
    assert yaml.safe_load(HA_PROMETHEUS.read_text())["remote_write"] == REMOTE_WRITE["single-node"]


def test_the_long_term_data_source_sits_beside_the_shipped_one():
    shipped = yaml.safe_load((ROOT / "grafana" / "provisioning" / "datasources" / "ipp.yml").read_text())["datasources"]
    (longterm,) = yaml.safe_load((ROOT / "deploy" / "victoria" / "grafana-datasource.yml").read_text())["datasources"]
    assert longterm["type"] == "prometheus" and not longterm["isDefault"]
    assert longterm["uid"] not in {d["uid"] for d in shipped} and longterm["name"] not in {d["name"] for d in shipped}
    assert longterm["url"].endswith(":8428")
