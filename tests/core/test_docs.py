"""docs/metrics.md is generated from the declared metrics and must not drift from the code."""

import re

from exporter import docs
from exporter.collectors import declared_metrics


def test_metric_reference_is_up_to_date():
    assert docs.DOC.read_text() == docs.render(), "docs/metrics.md is stale: run python -m exporter.docs"


def test_every_declared_metric_is_documented_once():
    exporter_part = docs.DOC.read_text().split(f"## {docs.ACTIONS_TITLE}")[0]
    names = re.findall(r"^\| `(ipp_[a-z0-9_]+)` \|", exporter_part, flags=re.M)
    declared = [spec.name for spec in declared_metrics()]
    assert sorted(names) == sorted(declared)
    assert len(set(names)) == len(names)


def test_declared_metrics_follow_the_naming_rules():
    for spec in declared_metrics():
        assert re.fullmatch(r"ipp_[a-z0-9_]+", spec.name), spec.name
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec.name
        assert not {"job", "instance", "type", "cluster"} & set(spec.labels), spec.name
        assert spec.help.endswith("."), spec.name


def test_the_action_service_metrics_of_the_contract_are_documented():
    actions_part = docs.DOC.read_text().split(f"## {docs.ACTIONS_TITLE}")[1]
    for name in ("ipp_webhook_notifications_total", "ipp_webhook_actions_total", "ipp_webhook_action_duration_seconds",
                 "ipp_actions_refused_values_total", "ipp_actions_host_excluded", "ipp_actions_queue_depth"):
        assert f"| `{name}` |" in actions_part, name
    assert "| `ipp_webhook_action_duration_seconds` | histogram | action |" in actions_part
