"""docker-compose.yml for a site: valid against the compose spec, every file, secret and volume it names exists,
and the configs it mounts pass the real checkers (promtool, amtool, the exporter's own loader)."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from deploy_procs import ROOT, load_render, run
from plugins.tools import need_tool
from werkzeug.security import generate_password_hash

from exporter.config import ConfigError, load_config

COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES = COMPOSE["services"]
SECRETS_EXAMPLE = ROOT / "deploy" / "secrets.example"
# host paths node_exporter reads (the only absolute bind mounts allowed)
HOST_PATHS = {"/"}
PROJECT_SERVICES = {"exporter", "actions"}


def check_jsonschema() -> str:
    """The check-jsonschema command of this venv (a test dependency)."""
    return need_tool("check-jsonschema", str(Path(sys.executable).with_name("check-jsonschema")))


def bind_mounts(service: dict) -> list[tuple[str, str]]:
    """(source, target) of each short-syntax bind mount of a service; named volumes excluded."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith(("./", "/")):
            mounts.append((source, target))
    return mounts


def test_compose_file_validates_against_the_bundled_compose_spec():
    result = run([check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_schema_check_catches_a_misspelt_key(tmp_path):
    broken = dict(COMPOSE, services={**SERVICES, "exporter": {**SERVICES["exporter"], "healthchek": {}}})
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = run([check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(path)])
    assert result.returncode != 0 and "healthchek" in result.stdout


def test_the_site_services_are_all_there():
    assert {"exporter", "actions", "prometheus", "alertmanager", "grafana", "node-exporter"} <= set(SERVICES)


def test_every_relative_bind_mount_exists_and_absolute_ones_are_host_paths():
    for name, service in SERVICES.items():
        for source, target in bind_mounts(service):
            if source.startswith("/"):
                assert source in HOST_PATHS, f"{name}: unexpected host path {source}"
            else:
                assert (ROOT / source).exists(), f"{name}: {source} (mounted at {target}) does not exist"


def test_grafana_is_provisioned_from_the_shipped_dashboards_and_data_source():
    mounts = dict(bind_mounts(SERVICES["grafana"]))
    assert mounts["./grafana/provisioning/dashboards"] == "/etc/grafana/provisioning/dashboards"
    providers = [p for f in (ROOT / "grafana" / "provisioning" / "dashboards").glob("*.yml")
                 for p in yaml.safe_load(f.read_text())["providers"]]
    assert providers, "no dashboard provider is shipped"
    assert {p["options"]["path"] for p in providers} == {mounts["./grafana/dashboards"]}, \
        "the dashboard provider must read the folder the dashboards are mounted at"
    assert list((ROOT / "grafana" / "dashboards").glob("*.json")), "no dashboards to provision"
    datasources = yaml.safe_load((ROOT / "deploy" / "compose" / "grafana-datasources.yml").read_text())["datasources"]
    assert mounts["./deploy/compose/grafana-datasources.yml"].startswith("/etc/grafana/provisioning/datasources/")
    assert [d["url"] for d in datasources if d["type"] == "prometheus"] == ["http://prometheus:9090"]


def datasource_uids(node: object) -> set[str]:
    """Every `datasource.uid` a dashboard JSON refers to."""
    if isinstance(node, dict):
        found = {node["datasource"]["uid"]} if isinstance(node.get("datasource"), dict) and "uid" in node["datasource"] else set()
        return found.union(*(datasource_uids(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(datasource_uids(v) for v in node))
    return set()


def test_the_dashboards_use_the_provisioned_data_source_or_a_prometheus_variable():
    provisioned = {d["uid"] for d in yaml.safe_load((ROOT / "deploy" / "compose" / "grafana-datasources.yml").read_text())["datasources"]}
    dashboards = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
    assert dashboards
    for path in dashboards:
        dashboard = json.loads(path.read_text())
        variables = {v["name"] for v in dashboard.get("templating", {}).get("list", [])
                     if v["type"] == "datasource" and v.get("query") == "prometheus"}
        for uid in datasource_uids(dashboard.get("panels", [])):
            name = uid.strip("${}")
            assert uid in provisioned or (uid.startswith("$") and name in variables), f"{path.name}: data source {uid!r}"


def test_every_named_volume_is_declared_and_used():
    declared = set(COMPOSE.get("volumes") or {})
    used = {v.split(":")[0] for s in SERVICES.values() for v in s.get("volumes", []) if not v.startswith(("./", "/"))}
    assert used == declared


def test_every_secret_is_declared_git_ignored_and_has_an_example():
    declared = COMPOSE["secrets"]
    used = {name for s in SERVICES.values() for name in s.get("secrets", [])}
    assert used == set(declared)
    for name, spec in declared.items():
        path = spec["file"]
        assert path.startswith("./secrets/"), f"{name}: secrets live under ./secrets/"
        assert (SECRETS_EXAMPLE / Path(path).name).is_file(), f"{name}: no deploy/secrets.example/{Path(path).name}"
        result = run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert result.returncode == 0, f"{path} is not git-ignored"


def test_every_service_has_a_healthcheck_restart_and_no_host_network():
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
        assert service.get("restart") == "unless-stopped", name
        assert service.get("network_mode") != "host", f"{name}: ports suffice"
        for mapping in service.get("ports", []):
            assert mapping.startswith("127.0.0.1:"), f"{name}: publish on loopback only (a proxy goes in front)"


def test_project_services_run_from_the_built_image_not_a_pip_install():
    for name in PROJECT_SERVICES:
        service = SERVICES[name]
        assert service["build"]["dockerfile"] == "Dockerfile" and service["image"].startswith("ipp-monitoring:")
        assert "pip" not in " ".join(map(str, service.get("command", []) + service.get("entrypoint", [])))
    assert SERVICES["actions"]["entrypoint"] == ["ipp-actions"]


def test_the_action_service_serves_the_shipped_runbooks_from_a_mount():
    config = yaml.safe_load((ROOT / "deploy" / "compose" / "ipp-actions.yml").read_text())
    mounts = {target: source for source, target in bind_mounts(SERVICES["actions"])}
    source = ROOT / mounts[config["actions"]["runbooks_dir"]]
    alerts = {rule["alert"] for path in (ROOT / "alerts").glob("*.rules.yml")
              for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"] if "alert" in rule}
    assert alerts and {f"{name}.md" for name in alerts} <= {p.name for p in source.glob("*.md")}


def test_no_service_waits_for_another_to_be_healthy():
    # the monitoring must come up around a broken part, to alert on it
    for name, service in SERVICES.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert spec["condition"] == "service_started", f"{name} waits for {dependency} to be healthy"


def test_healthchecks_ask_the_endpoints_the_services_serve():
    assert "8475/-/healthy" in " ".join(SERVICES["exporter"]["healthcheck"]["test"])
    assert "8476/healthz" in " ".join(SERVICES["actions"]["healthcheck"]["test"])


def secret_dir_config(config: Path, tmp_path: Path) -> Path:
    """A copy of `config` whose /run/secrets/<name> paths point at copies of the example secret files."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, spec in COMPOSE["secrets"].items():
        shutil.copy(SECRETS_EXAMPLE / Path(spec["file"]).name, secrets / name)
    copy = tmp_path / config.name
    copy.write_text(config.read_text().replace("/run/secrets/", f"{secrets}/"))
    return copy


def test_the_exporter_config_in_compose_validates_with_its_secrets_in_place(tmp_path):
    mounts = {target: source for source, target in bind_mounts(SERVICES["exporter"])}
    config_path = ROOT / mounts["/etc/ipp-exporter/config.yml"]
    referenced = set(re.findall(r"/run/secrets/(\w+)", config_path.read_text()))
    assert referenced <= set(SERVICES["exporter"]["secrets"]), "the config reads a secret the service does not get"
    config = load_config(str(secret_dir_config(config_path, tmp_path)))
    assert [db.dbname for db in config.processing.databases] == ["gpc1"]
    with pytest.raises(ConfigError, match="cannot read"):  # and without them it is refused, not half-loaded
        load_config(str(config_path))


def test_the_action_service_config_in_compose_passes_check_config(tmp_path):
    mounts = {target: source for source, target in bind_mounts(SERVICES["actions"])}
    config_path = ROOT / mounts["/etc/ipp-actions/config.yml"]
    referenced = set(re.findall(r"/run/secrets/(\w+)", config_path.read_text()))
    assert referenced <= set(SERVICES["actions"]["secrets"]), "the config reads a secret the service does not get"
    binary = need_tool("ipp-actions", str(Path(sys.executable).with_name("ipp-actions")))
    config = secret_dir_config(config_path, tmp_path)
    users = tmp_path / "secrets" / "actions_users"  # what a site does: one czar in the users file
    users.write_text(users.read_text() + f"czar:{generate_password_hash('a real password')}\n")
    result = run([binary, "--config.file", str(config), "--check-config"])
    assert result.returncode == 0, result.stdout + result.stderr
    # and a broken one is refused with its path, so the check is real
    users.write_text("czar-without-a-hash\n")
    refused = run([binary, "--config.file", str(config), "--check-config"])
    assert refused.returncode == 2 and "actions.users_file" in refused.stderr, refused.stdout + refused.stderr


def prometheus_copy(tmp_path: Path) -> Path:
    """deploy/compose/prometheus.yml with its rule_files pointed at a copy of alerts/."""
    shutil.copytree(ROOT / "alerts", tmp_path / "alerts")
    text = (ROOT / "deploy" / "compose" / "prometheus.yml").read_text()
    path = tmp_path / "prometheus.yml"
    path.write_text(text.replace("/etc/prometheus/alerts/", f"{tmp_path}/alerts/"))
    return path


def test_compose_prometheus_config_passes_promtool_with_every_rules_file(tmp_path):
    mounts = dict(bind_mounts(SERVICES["prometheus"]))
    assert mounts["./deploy/compose/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert mounts["./alerts"] == "/etc/prometheus/alerts"
    result = run([need_tool("promtool"), "check", "config", str(prometheus_copy(tmp_path))])
    rule_files = len(list((ROOT / "alerts").glob("*.rules.yml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {rule_files} rule files found" in result.stdout


def test_compose_prometheus_keeps_the_shipped_intervals_labels_and_jobs():
    shipped = yaml.safe_load((ROOT / "prometheus.yml").read_text())
    compose = yaml.safe_load((ROOT / "deploy" / "compose" / "prometheus.yml").read_text())
    timing = ("scrape_interval", "scrape_timeout", "evaluation_interval")
    assert {k: compose["global"][k] for k in timing} == {k: shipped["global"][k] for k in timing}
    assert set(compose["global"]["external_labels"]) == set(shipped["global"]["external_labels"])
    jobs = {job["job_name"]: job for job in compose["scrape_configs"]}
    assert {job["job_name"] for job in shipped["scrape_configs"]} | {"ipp-actions"} <= set(jobs)
    shipped_ipp = next(job for job in shipped["scrape_configs"] if job["job_name"] == "ipp")
    assert (jobs["ipp"]["scrape_interval"], jobs["ipp"]["scrape_timeout"]) == \
        (shipped_ipp["scrape_interval"], shipped_ipp["scrape_timeout"])
    exporter = yaml.safe_load((ROOT / "deploy" / "compose" / "ipp-exporter.yml").read_text())
    assert exporter["exporter"]["scrape_timeout"] == jobs["ipp"]["scrape_timeout"]


def test_compose_targets_are_compose_service_names():
    compose = yaml.safe_load((ROOT / "deploy" / "compose" / "prometheus.yml").read_text())
    hosts = {target.split(":")[0] for job in compose["scrape_configs"] for sc in job["static_configs"]
             for target in sc["targets"]}
    hosts |= {t.split(":")[0] for am in compose["alerting"]["alertmanagers"] for sc in am["static_configs"]
              for t in sc["targets"]}
    assert hosts - {"localhost"} <= set(SERVICES), hosts


def test_generated_copies_are_current():
    assert load_render().main(["--check"]) == 0, "run `python deploy/render.py`"


def test_compose_alertmanager_config_is_the_shipped_routing_with_compose_addresses():
    result = run([need_tool("amtool"), "check-config", str(ROOT / "deploy" / "compose" / "alertmanager.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((ROOT / "deploy" / "compose" / "alertmanager.yml").read_text())
    webhooks = [w for r in config["receivers"] for w in r.get("webhook_configs", [])]
    assert webhooks and all(w["url"].startswith("http://actions:8476/") for w in webhooks)
    assert all(w["http_config"]["authorization"]["credentials_file"] == "/run/secrets/webhook_token" for w in webhooks)


def test_relocate_keeps_routing_and_changes_only_webhook_address_token_and_timing():
    render = load_render()
    shipped = render.load_shipped()
    moved = render.relocate(shipped, webhook_base="http://127.0.0.1:1234", token_file="/t",
                            timing={"group_wait": "1s"})
    assert moved["inhibit_rules"] == shipped["inhibit_rules"]
    assert [r["name"] for r in moved["receivers"]] == [r["name"] for r in shipped["receivers"]]
    assert moved["route"]["group_wait"] == "1s" and shipped["route"]["group_wait"] != "1s"
    urls = [w["url"] for r in moved["receivers"] for w in r.get("webhook_configs", [])]
    assert urls and all(u.startswith("http://127.0.0.1:1234/") for u in urls)
