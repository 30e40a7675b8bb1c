"""Declared metric surface: one MetricSpec per exported metric, shared by collectors and the generated docs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


@dataclass(frozen=True)
class MetricSpec:
    """A metric's name, type, help text and label names."""

    name: str
    kind: Literal["gauge", "counter"]
    help: str
    labels: tuple[str, ...] = ()

    def family(self) -> GaugeMetricFamily | CounterMetricFamily:
        """Return a fresh, empty metric family for one scrape."""
        if self.kind == "counter":
            # prometheus_client strips a trailing _total and adds it back on the sample
            return CounterMetricFamily(self.name, self.help, labels=self.labels)
        return GaugeMetricFamily(self.name, self.help, labels=self.labels)


class Families(dict):
    """Fresh families for a set of specs, keyed by metric name."""

    def __init__(self, specs: tuple[MetricSpec, ...]) -> None:
        super().__init__((s.name, s.family()) for s in specs)

    def add(self, name: str, labels: list[str] | tuple[str, ...], value: float) -> None:
        """Add one sample to the family `name`."""
        self[name].add_metric(list(labels), value)

    def families(self) -> list[Metric]:
        """Return the families in declaration order."""
        return list(self.values())
