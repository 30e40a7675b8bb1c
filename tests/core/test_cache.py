"""SingleFlight: one fetch shared by concurrent callers, TTL reuse, stale data only within max_stale."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from exporter.cache import SingleFlight


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def pool():
    with ThreadPoolExecutor(4) as executor:
        yield executor


def test_concurrent_callers_share_one_fetch(pool):
    gate, calls = threading.Event(), []

    def fetch():
        calls.append(1)
        gate.wait(5)
        return "v"

    cache = SingleFlight(fetch, pool, ttl=10, max_stale=60)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(time.monotonic() + 5))) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(5)
    assert len(calls) == 1 and cache.fetches == 1
    assert [r.value for r in results] == ["v"] * 8 and all(r.ok for r in results)


def test_ttl_reuse_then_refetch(pool):
    clock, n = Clock(), []
    cache = SingleFlight(lambda: n.append(1) or len(n), pool, ttl=10, max_stale=60, clock=clock)
    assert cache.get(time.monotonic() + 2).value == 1
    clock.now += 5
    cached = cache.get(time.monotonic() + 2)
    assert (cached.value, cached.age) == (1, 5)
    clock.now += 6
    assert cache.get(time.monotonic() + 2).value == 2


def test_failure_serves_stale_value_marked_by_age_then_nothing(pool):
    clock, fail = Clock(), []

    def fetch():
        if fail:
            raise ConnectionError("db gone")
        return {"faults": 3}

    cache = SingleFlight(fetch, pool, ttl=10, max_stale=60, clock=clock)
    assert cache.get(time.monotonic() + 2).ok
    fail.append(1)
    clock.now += 30
    stale = cache.get(time.monotonic() + 2)
    assert not stale.ok and stale.value == {"faults": 3} and stale.age == 30
    assert isinstance(stale.error, ConnectionError)
    clock.now += 31
    gone = cache.get(time.monotonic() + 2)
    assert not gone.ok and gone.value is None


def test_hung_fetch_returns_at_deadline_and_is_joined_not_repeated(pool):
    gate = threading.Event()
    cache = SingleFlight(lambda: gate.wait(10) and "late", pool, ttl=10, max_stale=0)
    start = time.monotonic()
    first = cache.get(start + 0.3)
    assert time.monotonic() - start < 1.5
    assert not first.ok and isinstance(first.error, TimeoutError)
    second = cache.get(time.monotonic() + 0.2)
    assert not second.ok and cache.fetches == 1
    gate.set()
    assert cache.get(time.monotonic() + 2).value == "late"


def test_empty_results_are_cached_like_any_other(pool):
    n = []
    cache = SingleFlight(lambda: n.append(1) or [], pool, ttl=10, max_stale=60)
    assert cache.get(time.monotonic() + 2).value == []
    assert cache.get(time.monotonic() + 2).value == [] and len(n) == 1
