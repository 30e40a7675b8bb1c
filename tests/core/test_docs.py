"""docs/metrics.md is generated from the declared metrics and must not drift from the code."""

import re

from exporter import docs
from exporter.collectors import declared_metrics


def test_metric_reference_is_up_to_date():
    assert docs.DOC.read_text() == docs.render(), "docs/metrics.md is stale: run python -m exporter.docs"


def test_every_declared_metric_is_documented_once():
    names = re.findall(r"^\| `(ipp_[a-z0-9_]+)` \|", docs.DOC.read_text(), flags=re.M)
    declared = [spec.name for spec in declared_metrics()]
    assert sorted(names) == sorted(declared)
    assert len(set(names)) == len(names)


def test_declared_metrics_follow_the_naming_rules():
    for spec in declared_metrics():
        assert re.fullmatch(r"ipp_[a-z0-9_]+", spec.name), spec.name
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec.name
        assert not {"job", "instance", "type", "cluster"} & set(spec.labels), spec.name
        assert spec.help.endswith("."), spec.name
