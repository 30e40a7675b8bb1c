"""Reading what collectors expose, for tests: exposition text, samples, one value, concurrent scrapes."""

from __future__ import annotations

import contextlib
import threading
import time

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, tuple[tuple[str, str], ...]]


class _Static:
    def __init__(self, families) -> None:
        self._families = families

    def collect(self):
        return self._families


def exposition(families) -> str:
    """Text exposition of a list of metric families."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Static(families))
    return generate_latest(registry).decode()


class ShiftedClock:
    """time.monotonic() plus an offset a test moves forward: TTL and staleness pass without sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def scrape(collector, budget: float = 5.0, clock=time.monotonic):
    """One collect() with a deadline `budget` seconds away on `clock` (the collector's clock)."""
    return collector.collect(clock() + budget)


def served_text(collected) -> str:
    """What the exporter serves for one Collected (its direct renderer), checked equal to generate_latest's text."""
    from exporter.exposition import LineMemo, Piece
    text = Piece.render(collected.built(), memo=LineMemo()).text.decode()
    assert text == exposition(collected.families), "the direct renderer and generate_latest disagree"
    return text


def scrape_text(collector, budget: float = 5.0, clock=time.monotonic) -> str:
    """Exposition text (as served) of one collect() with a deadline `budget` seconds away on `clock`."""
    return served_text(scrape(collector, budget, clock))


def _keyed(all_samples, name: str | None) -> dict[Key, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in all_samples if name is None or s.name == name}


def samples(collected, name: str | None = None) -> dict[Key, float]:
    """{(metric, ((label, value), ...)): value} for every sample of a Collected (or of one metric)."""
    return _keyed((s for family in collected.families for s in family.samples), name)


def value(collected, name: str, **labels) -> float | None:
    """The value of one sample of a Collected, or None when it is absent."""
    return samples(collected, name).get((name, tuple(sorted(labels.items()))))


def text_samples(text: str, name: str | None = None) -> dict[Key, float]:
    """Like samples(), for a text exposition."""
    return _keyed((s for family in text_string_to_metric_families(text) for s in family.samples), name)


def text_value(text: str, name: str, **labels) -> float | None:
    """Like value(), for a text exposition."""
    return text_samples(text, name).get((name, tuple(sorted(labels.items()))))


def concurrently(call, count: int = 8, timeout: float = 20.0) -> list:
    """Run call() in `count` threads at once; return the results of those that finished within `timeout` in all."""
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(call())) for _ in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    return results


@contextlib.contextmanager
def counting_exporter(collector):
    """An Exporter (cache_ttl 0: every scrape fetches) over one collector, and a list that grows by one each time
    the collector builds its families."""
    from exporter.collectors import Exporter
    from exporter.config import Config, ExporterSettings
    builds: list[int] = []
    build = collector._families
    collector._families = lambda *answers: builds.append(1) or build(*answers)
    exporter = Exporter(Config(exporter=ExporterSettings(cache_ttl=0)), collectors=[collector])
    try:
        yield exporter, builds
    finally:
        exporter.close()
