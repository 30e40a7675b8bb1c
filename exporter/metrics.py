"""Declared metric surface: one MetricSpec per exported metric, shared by collectors and the generated docs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Literal, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

LabelValues = tuple[str, ...]
Sample = tuple[LabelValues, float]


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


class Families:
    """One scrape's samples for a set of specs, kept as plain (label values, value) tuples.

    Plain tuples because a real site has tens of thousands of samples per fetch: prometheus_client's Sample
    objects cost more to build than the exposition text does (exporter.exposition renders these directly).
    """

    def __init__(self, specs: Sequence[MetricSpec]) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._samples: dict[str, list[Sample]] = {spec.name: [] for spec in specs}

    def add(self, name: str, labels: Sequence[str], value: float) -> None:
        """Add one sample to the family `name` (label values in the spec's label order)."""
        spec = self._specs[name]
        if len(labels) != len(spec.labels):
            raise ValueError(f"{name}: {len(labels)} label values for labels {spec.labels}")
        self._samples[name].append((tuple(labels), value))

    def extend(self, name: str, samples: Iterable[Sample]) -> None:
        """Add many (label values tuple, value) samples to the family `name` (the hot path of big collectors)."""
        width = len(self._specs[name].labels)
        batch = list(samples)
        if any(len(labels) != width for labels, _value in batch):
            raise ValueError(f"{name}: a sample without exactly the labels {self._specs[name].labels}")
        self._samples[name].extend(batch)

    def items(self) -> Iterator[tuple[MetricSpec, list[Sample]]]:
        """Each spec with its samples, in declaration order."""
        for name, spec in self._specs.items():
            yield spec, self._samples[name]

    def families(self) -> list[Metric]:
        """The samples as prometheus_client metric families, in declaration order (for readers of samples)."""
        out: list[Metric] = []
        for spec, samples in self.items():
            family = spec.family()
            for labels, value in samples:
                family.add_metric(list(labels), value)
            out.append(family)
        return out
