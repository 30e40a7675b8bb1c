"""The shipped example config and docker-compose file stay consistent with the code and the tree."""

from pathlib import Path

import yaml

from exporter.config import config_from_data

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_validates_apart_from_absent_secret_files():
    from exporter.config import ConfigError

    data = yaml.safe_load((ROOT / "examples/ipp-exporter.yml").read_text())
    try:
        config_from_data(data)
    except ConfigError as exc:  # the secret files exist only on a real site
        assert exc.problems and all("_file: cannot read" in p for p in exc.problems), exc.problems
    else:
        raise AssertionError("the secret files should not exist on a test machine")


def test_compose_mounts_existing_files():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert {"exporter", "prometheus", "alertmanager", "node-exporter"} <= set(compose["services"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and "secrets" not in source:
                assert (ROOT / source).exists(), source
