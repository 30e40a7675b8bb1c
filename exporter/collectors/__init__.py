"""Source collectors and the one isolating wrapper that runs them for each scrape."""

from __future__ import annotations

import importlib
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import Callable, Hashable, Iterable, Protocol, Sequence

from prometheus_client.core import Metric

from exporter.cache import Fetched
from exporter.config import Config, ExporterSettings
from exporter.exposition import Exposition, LineMemo, Piece
from exporter.metrics import Families, MetricSpec

log = logging.getLogger(__name__)

# What a collector builds for one scrape: samples to render directly (preferred), or prometheus_client families.
Built = Families | list[Metric]

# Each name is a module exporter/collectors/<name>.py with METRICS and build(config, context).
COLLECTOR_NAMES = ("pantasks", "processing", "nebulous")


@dataclass(frozen=True)
class SourceHealth:
    """Freshness of one source (a pantasks server, a database) after a scrape."""

    source: str
    last_success: float | None
    data_age: float
    fetches: int | None = None
    connects: int | None = None

    @classmethod
    def of(cls, source: str, fetched: Fetched, connects: int | None = None) -> "SourceHealth":
        """Build the health record from a cache answer (and the source's connection count, when it has one)."""
        return cls(source, fetched.last_success, fetched.age if fetched.value is not None else 0.0, fetched.fetches,
                   connects)


class Collected:
    """One collector's output for one scrape: its families (built on first use), source health and a render key.

    Two outputs of one collector with the same non-None `key` hold the same families, so the exporter reuses the
    bytes it rendered for that key instead of building and rendering them again.
    """

    def __init__(self, families: Built | Callable[[], Built], sources: Sequence[SourceHealth] = (),
                 key: Hashable | None = None) -> None:
        self._built, self.sources, self.key = families, list(sources), key
        self._families: list[Metric] | None = None

    def built(self) -> Built:
        """What the collector built: a Families (rendered directly) or prometheus_client families (built now if lazy)."""
        if callable(self._built):
            self._built = self._built()
        return self._built

    @property
    def families(self) -> list[Metric]:
        """The metric families as prometheus_client objects (for readers of samples)."""
        if self._families is None:
            built = self.built()
            self._families = built.families() if isinstance(built, Families) else list(built)
        return self._families


def answers_key(answers: Iterable[Fetched]) -> tuple:
    """Render key of a collector whose families depend only on these cache answers."""
    return tuple(answer.key for answer in answers)


def content_key(answers: Iterable[Fetched], *extra: object) -> tuple:
    """Render key of a collector whose families depend only on these answers' data (and on `extra`).

    Keyed by the data itself rather than by the fetch: a new fetch that found exactly what the last one found
    (a quiet database) reuses the rendered bytes without building anything. Compared with ==, which stops at
    identity for a cached answer, and costs a C-level dict comparison for a new one.
    """
    return tuple((answer.ok, answer.waiting, answer.value) for answer in answers) + extra


class SourceCollector(Protocol):
    """What every source collector provides."""

    name: str

    def collect(self, deadline: float) -> Collected:
        """Fetch (or reuse cached data) and describe the families; return by `deadline` (the exporter's clock)."""

    # Optional, and preferred: `request() -> Callable[[float], Collected]` starts the fetches without waiting and
    # returns the call that waits until a deadline; the exporter then serves the scrape in the request's thread.


SELF_METRICS = (
    MetricSpec("ipp_scrape_collector_success", "gauge", "1 if the collector ran without error on this scrape.", ("collector",)),
    MetricSpec("ipp_scrape_collector_duration_seconds", "gauge", "Time the collector took on this scrape.", ("collector",)),
    MetricSpec("ipp_source_last_success_timestamp_seconds", "gauge",
               "Unix time of the last successful fetch from the source.", ("source",)),
    MetricSpec("ipp_source_data_age_seconds", "gauge",
               "Age of the data served for the source; above 0 when a cached or stale copy is served.", ("source",)),
    MetricSpec("ipp_source_fetches_total", "counter",
               "Fetches started for the source; concurrent scrapes within the cache TTL share one.", ("source",)),
    MetricSpec("ipp_source_connects_total", "counter",
               "Connections opened to reach the source (SSH or database); a connection shared by sources counts for each.",
               ("source",)),
)


def collector_module(name: str):
    """Import exporter.collectors.<name>."""
    return importlib.import_module(f"exporter.collectors.{name}")


def declared_metrics(names: Iterable[str] = COLLECTOR_NAMES) -> list[MetricSpec]:
    """Every metric the exporter can emit, from the collectors' declarations (no I/O)."""
    specs = [spec for name in names for spec in collector_module(name).METRICS]
    return specs + list(SELF_METRICS)


class FetchContext:
    """What build(config, context) gets: the exporter's pools, its one clock and the cache settings.

    Every pool is created here and shut down by close(), so no collector owns a pool of its own.
    """

    def __init__(self, settings: ExporterSettings, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, fetch_workers: int = 16) -> None:
        self.settings, self.clock, self.wall = settings, clock, wall
        self._pools: list[ThreadPoolExecutor] = []
        self.executor = self.pool("fetch", fetch_workers)

    def pool(self, name: str, workers: int) -> ThreadPoolExecutor:
        """A new thread pool that close() shuts down."""
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._pools.append(pool)
        return pool

    def close(self) -> None:
        """Stop every pool without waiting for hung fetches."""
        for pool in self._pools:
            pool.shutdown(wait=False, cancel_futures=True)


class _RenderCache:
    """The bytes last rendered for one collector and the key they belong to; one render per key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entry: tuple[Hashable, Piece] | None = None
        self._memo = LineMemo()

    def piece(self, collected: Collected) -> Piece:
        key = collected.key
        if key is None:
            return Piece.render(collected.built())
        entry = self._entry  # one atomic read: scrapes of unchanged data never take the lock
        if entry is not None and entry[0] == key:
            return entry[1]
        with self._lock:  # scrapes that see the same new data share one render
            entry = self._entry
            if entry is None or entry[0] != key:
                entry = self._entry = (key, Piece.render(collected.built(), memo=self._memo))
            return entry[1]


class Exporter:
    """Run the enabled collectors concurrently within a scrape budget; one failing collector never blanks the rest.

    Owns every pool (through its FetchContext) and the one clock that deadlines and data ages use.
    """

    def __init__(self, config: Config, enabled: Iterable[str] = COLLECTOR_NAMES, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, workers: int = 64,
                 collectors: Iterable[SourceCollector] | None = None) -> None:
        self.config = config
        self.context = FetchContext(config.exporter, clock, wall)
        self._clock = clock
        # collector calls are short (they wait on shared fetches), so many scrapes can run side by side
        self._pool = self.context.pool("collect", workers)
        self.collectors: list[SourceCollector] = list(collectors or [])
        for name in enabled if collectors is None else ():
            collector = collector_module(name).build(config, self.context)
            if collector is not None:
                self.collectors.append(collector)
        self.collectors.sort(key=lambda c: c.name)
        self._rendered = {c.name: _RenderCache() for c in self.collectors}

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

    def expose(self, budget: float) -> Exposition:
        """One scrape as exposition bytes: each collector's cached rendering plus this scrape's self-metrics."""
        results, own = self._run(budget, render=True)
        return Exposition([piece for _, piece in results if piece is not None] + [Piece.render(own)])

    def scrape(self, budget: float) -> list[Metric]:
        """One scrape as metric families (for callers that read samples rather than bytes)."""
        results, own = self._run(budget, render=False)
        return [family for collected, _ in results for family in collected.families] + own.families()

    def _run(self, budget: float, render: bool) -> tuple[list[tuple[Collected, Piece | None]], Families]:
        start = self._clock()
        deadline = start + budget
        # A collector with request() is asked first and waited on after: every fetch starts now, and a cached
        # scrape is served in this thread with no hand-off. Others (collect() only) run in the pool.
        pooled = {c.name: self._pool.submit(self._timed, c, deadline, render)
                  for c in self.collectors if not hasattr(c, "request")}
        requested = [(c, self._isolated(c.name, c.request)) for c in self.collectors if hasattr(c, "request")]
        outcomes = {}
        for collector, finish in requested:
            outcome = None if finish is None else self._isolated(
                collector.name, partial(self._finish, collector, finish, deadline, render))
            outcomes[collector.name] = (self._clock() - start, outcome)
        wait(pooled.values(), timeout=max(0.0, deadline - self._clock()) + 0.05)
        for name, future in pooled.items():
            outcomes[name] = self._result(name, future, start)
        own = Families(SELF_METRICS)
        results = []
        sources: list[SourceHealth] = []
        for name, (took, outcome) in sorted(outcomes.items()):
            own.add("ipp_scrape_collector_duration_seconds", [name], took)
            own.add("ipp_scrape_collector_success", [name], 1 if outcome else 0)
            if outcome:
                results.append(outcome)
                sources.extend(outcome[0].sources)
        for health in sorted(sources, key=lambda h: h.source):
            if health.last_success is not None:
                own.add("ipp_source_last_success_timestamp_seconds", [health.source], health.last_success)
            own.add("ipp_source_data_age_seconds", [health.source], health.data_age)
            if health.fetches is not None:
                own.add("ipp_source_fetches_total", [health.source], health.fetches)
            if health.connects is not None:
                own.add("ipp_source_connects_total", [health.source], health.connects)
        return results, own

    def _finish(self, collector: SourceCollector, finish, deadline: float, render: bool):
        collected = finish(deadline)
        return collected, self._rendered[collector.name].piece(collected) if render else None

    @staticmethod
    def _isolated(name: str, call):
        """Run one collector step; any error is logged and that collector counts as failed (None)."""
        try:
            return call()
        except Exception:  # the one deliberate catch-all: a collector's failure never blanks the others
            log.exception("collector %s failed", name)
            return None

    def _timed(self, collector: SourceCollector, deadline: float, render: bool):
        start = self._clock()
        collected = collector.collect(deadline)
        piece = self._rendered[collector.name].piece(collected) if render else None
        return self._clock() - start, (collected, piece)

    def _result(self, name: str, future: Future, start: float):
        if not future.done():
            log.warning("collector %s did not finish within the scrape budget", name)
            return self._clock() - start, None
        error = future.exception()
        if error is not None:
            log.error("collector %s failed: %s", name, error, exc_info=error)
            return self._clock() - start, None
        return future.result()

    def close(self) -> None:
        """Close the collectors' connections and stop every pool without waiting for hung fetches."""
        for collector in self.collectors:
            close = getattr(collector, "close", None)
            if close:
                close()
        self.context.close()
