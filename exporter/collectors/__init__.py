"""Source collectors and the one isolating wrapper that runs them for each scrape."""

from __future__ import annotations

import importlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Iterable, Protocol

from prometheus_client.core import Metric

from exporter.cache import Fetched
from exporter.config import Config
from exporter.metrics import Families, MetricSpec

log = logging.getLogger(__name__)

# Each name is a module exporter/collectors/<name>.py with METRICS and build(config, executor).
COLLECTOR_NAMES = ("pantasks", "processing", "nebulous")


@dataclass(frozen=True)
class SourceHealth:
    """Freshness of one source (a pantasks server, a database) after a scrape."""

    source: str
    last_success: float | None
    data_age: float

    @classmethod
    def of(cls, source: str, fetched: Fetched) -> "SourceHealth":
        """Build the health record from a cache answer."""
        return cls(source, fetched.last_success, fetched.age if fetched.value is not None else 0.0)


@dataclass(frozen=True)
class Collected:
    """One collector's output for one scrape."""

    families: list[Metric]
    sources: list[SourceHealth] = field(default_factory=list)


class SourceCollector(Protocol):
    """What every source collector provides."""

    name: str

    def collect(self, deadline: float) -> Collected:
        """Fetch (or reuse cached data) and build fresh families; return by `deadline` (time.monotonic)."""


SELF_METRICS = (
    MetricSpec("ipp_scrape_collector_success", "gauge", "1 if the collector ran without error on this scrape.", ("collector",)),
    MetricSpec("ipp_scrape_collector_duration_seconds", "gauge", "Time the collector took on this scrape.", ("collector",)),
    MetricSpec("ipp_source_last_success_timestamp_seconds", "gauge",
               "Unix time of the last successful fetch from the source.", ("source",)),
    MetricSpec("ipp_source_data_age_seconds", "gauge",
               "Age of the data served for the source; above 0 when a cached or stale copy is served.", ("source",)),
)


def collector_module(name: str):
    """Import exporter.collectors.<name>."""
    return importlib.import_module(f"exporter.collectors.{name}")


def declared_metrics(names: Iterable[str] = COLLECTOR_NAMES) -> list[MetricSpec]:
    """Every metric the exporter can emit, from the collectors' declarations (no I/O)."""
    specs = [spec for name in names for spec in collector_module(name).METRICS]
    return specs + list(SELF_METRICS)


class Exporter:
    """Run the enabled collectors concurrently within a scrape budget; one failing collector never blanks the rest."""

    def __init__(self, config: Config, enabled: Iterable[str] = COLLECTOR_NAMES,
                 clock=time.monotonic, workers: int = 16, collectors: Iterable[SourceCollector] | None = None) -> None:
        self.config = config
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect")
        self._fetch_pool = ThreadPoolExecutor(max_workers=max(8, workers), thread_name_prefix="fetch")
        self.collectors: list[SourceCollector] = list(collectors or [])
        for name in enabled if collectors is None else ():
            collector = collector_module(name).build(config, self._fetch_pool)
            if collector is not None:
                self.collectors.append(collector)
        self.collectors.sort(key=lambda c: c.name)

    def describe(self) -> list[Metric]:
        """Empty families for every metric of the enabled collectors; never does I/O."""
        specs = [spec for c in self.collectors
                 for spec in (collector_module(c.name).METRICS if c.name in COLLECTOR_NAMES else getattr(c, "METRICS", ()))]
        return [spec.family() for spec in specs + list(SELF_METRICS)]

    def budget(self, header: str | None) -> float:
        """Seconds this scrape may take: Prometheus's scrape-timeout header minus the offset, else the configured value."""
        settings = self.config.exporter
        try:
            offered = float(header) if header else settings.scrape_timeout
        except ValueError:
            offered = settings.scrape_timeout
        if offered != offered or offered <= 0:  # NaN or nonsense: fall back
            offered = settings.scrape_timeout
        return max(0.1, min(offered, 3600.0) - settings.timeout_offset)

    def scrape(self, budget: float) -> list[Metric]:
        """Collect every enabled source within `budget` seconds."""
        start = self._clock()
        deadline = start + budget
        futures = {c.name: self._pool.submit(self._timed, c, deadline) for c in self.collectors}
        wait(futures.values(), timeout=max(0.0, deadline - self._clock()) + 0.05)
        own = Families(SELF_METRICS)
        out: list[Metric] = []
        sources: list[SourceHealth] = []
        for name, future in sorted(futures.items()):
            took, collected = self._result(name, future, start)
            own.add("ipp_scrape_collector_duration_seconds", [name], took)
            own.add("ipp_scrape_collector_success", [name], 1 if collected else 0)
            if collected:
                out.extend(collected.families)
                sources.extend(collected.sources)
        for health in sorted(sources, key=lambda h: h.source):
            if health.last_success is not None:
                own.add("ipp_source_last_success_timestamp_seconds", [health.source], health.last_success)
            own.add("ipp_source_data_age_seconds", [health.source], health.data_age)
        return out + own.families()

    def _timed(self, collector: SourceCollector, deadline: float) -> tuple[float, Collected]:
        start = self._clock()
        collected = collector.collect(deadline)
        return self._clock() - start, collected

    def _result(self, name: str, future, start: float) -> tuple[float, Collected | None]:
        if not future.done():
            log.warning("collector %s did not finish within the scrape budget", name)
            return self._clock() - start, None
        error = future.exception()
        if error is not None:
            log.error("collector %s failed: %s", name, error, exc_info=error)
            return self._clock() - start, None
        return future.result()

    def close(self) -> None:
        """Stop the worker pools without waiting for hung fetches."""
        for collector in self.collectors:
            close = getattr(collector, "close", None)
            if close:
                close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._fetch_pool.shutdown(wait=False, cancel_futures=True)
