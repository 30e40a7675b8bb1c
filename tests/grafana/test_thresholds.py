"""Dashboard thresholds and alert thresholds are one source of truth (grafana/thresholds.py).

An alert is found by its expression, not its name: the comparison of a series derived (through recording
rules) from the constant's metric, so renaming an alert or splitting a rules file does not break the check."""

from __future__ import annotations

import re

import pytest
from test_alerts import ALERT_RULES, RULES

from grafana import thresholds as th
from grafana.queries import load_dashboards, panels

NUMBER = r"([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)"
WINDOW = r"(?:\[[^\]]*\]\))?"  # `avg_over_time(<name>[30m]) > x` compares <name> too


def derived_series(metric: str) -> set[str]:
    """The metric and every recording rule computed (directly or not) from it."""
    names, grew = {metric}, True
    while grew:
        grew = False
        for rule in RULES:
            if "record" in rule and rule["record"] not in names and any(
                    re.search(rf"(?<![\w:]){re.escape(n)}(?![\w:])", rule["expr"]) for n in names):
                names.add(rule["record"])
                grew = True
    return names


def comparisons(expr: str, spec: th.RuleThreshold) -> set[float]:
    """Numbers `expr` compares a series derived from spec.metric with: <name>{sel}?[window])? <op> <number>."""
    values = set()
    for name in derived_series(spec.metric):
        if spec.name_pattern not in name:
            continue
        # a factor (`> 5 * x`) is not a threshold
        pattern = rf"(?<![\w:]){re.escape(name)}(\{{[^}}]*\}})?{WINDOW}\s*{re.escape(spec.op)}\s*{NUMBER}(?!\s*\*)"
        values |= {float(number) for selector, number in re.findall(pattern, expr) if spec.selector in selector}
    return values


def rule_values(spec: th.RuleThreshold) -> set[float]:
    """Every number an alert rule compares a series derived from spec.metric with (filters applied)."""
    return {value for rule in ALERT_RULES if not (spec.exclude and spec.exclude in rule["expr"])
            for value in comparisons(rule["expr"], spec)}


@pytest.mark.parametrize("name", sorted(th.ALL))
def test_dashboard_threshold_equals_the_alert_rules(name):
    spec = th.ALL[name]
    found = rule_values(spec)
    assert found, f"no alert compares a series derived from {spec.metric} with {spec.op}: update grafana/thresholds.py"
    assert found == {float(v) for v in spec.values}, \
        f"{name}: alert rules use {sorted(found)}, dashboards {list(spec.values)}; change both together"


def test_fault_storm_factor_equals_the_alert_rule():
    storm = [r["expr"] for r in ALERT_RULES if comparisons(r["expr"], th.FAULT_STORM_NEW)]
    assert storm, "no fault-storm alert found"
    factors = {float(f) for expr in storm for f in re.findall(rf">\s*{NUMBER}\s*\*", expr)}
    assert factors == {float(th.FAULT_STORM_FACTOR)}


def test_matcher_finds_thresholds_and_ignores_factors():
    spec = th.RuleThreshold("m", ">", (1,))
    assert comparisons('m{a="b"} > 0.9 and m > 5 * x', spec) == {0.9}
    assert comparisons("avg_over_time(m[30m]) > 0.5", spec) == {0.5}
    assert derived_series("ipp_nebulous_volume_used_bytes") >= {"host_volume:ipp_nebulous_volume_used:ratio"}
    assert spec.values == (1,)


@pytest.mark.parametrize("name", sorted(th.ALL))
def test_some_dashboard_panel_draws_each_threshold(name):
    drawn = set()
    for board in load_dashboards().values():
        for panel in panels(board):
            config = panel.get("fieldConfig", {})
            step_lists = [config.get("defaults", {}).get("thresholds", {}).get("steps", [])]
            step_lists += [prop["value"]["steps"] for item in config.get("overrides", [])
                           for prop in item["properties"] if prop["id"] == "thresholds"]
            drawn |= {step["value"] for steps in step_lists for step in steps if step.get("value") is not None}
    assert set(th.ALL[name].values) <= drawn
