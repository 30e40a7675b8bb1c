"""SingleFlight: one fetch shared by concurrent callers, TTL reuse, stale data only within max_stale, in-flight cap.

Time is the cache's injected clock: the tests move it instead of sleeping.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from exporter.cache import FetchAbandoned, SingleFlight, StillFetching


class Clock:
    """A monotonic clock that only moves when a test moves it."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def pool():
    with ThreadPoolExecutor(4) as executor:
        yield executor


@pytest.fixture
def clock():
    return Clock()


def flight(fetch, pool, clock, **kw):
    return SingleFlight(fetch, pool, kw.pop("ttl", 10), kw.pop("max_stale", 60), clock=clock, **kw)


def test_concurrent_callers_share_one_fetch(pool, clock):
    gate, calls = threading.Event(), []

    def fetch():
        calls.append(1)
        gate.wait(5)
        return "v"

    cache = flight(fetch, pool, clock)
    tickets = [cache.start() for _ in range(8)]  # start() never waits, so all eight join the one fetch
    results = []
    threads = [threading.Thread(target=lambda t=t: results.append(t.result(clock.now + 5))) for t in tickets]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(5)
    assert len(calls) == 1 and cache.fetches == 1
    assert [r.value for r in results] == ["v"] * 8 and all(r.ok for r in results)
    assert len({r.key for r in results}) == 1


def test_ttl_reuse_then_refetch(pool, clock):
    n = []
    cache = flight(lambda: n.append(1) or len(n), pool, clock)
    first = cache.get(clock.now + 2)
    assert first.value == 1
    clock.now += 5
    cached = cache.get(clock.now + 2)
    assert (cached.value, cached.age, cached.key) == (1, 5, first.key)
    clock.now += 6
    again = cache.get(clock.now + 2)
    assert again.value == 2 and again.key != first.key


def test_failure_serves_stale_value_marked_by_age_then_nothing(pool, clock):
    fail = []

    def fetch():
        if fail:
            raise ConnectionError("db gone")
        return {"faults": 3}

    cache = flight(fetch, pool, clock)
    assert cache.get(clock.now + 2).ok
    fail.append(1)
    clock.now += 30
    stale = cache.get(clock.now + 2)
    assert not stale.ok and stale.value == {"faults": 3} and stale.age == 30
    assert isinstance(stale.error, ConnectionError)
    clock.now += 31
    gone = cache.get(clock.now + 2)
    assert not gone.ok and gone.value is None


def test_hung_fetch_answers_at_the_deadline_and_is_joined_not_repeated(pool, clock):
    gate = threading.Event()
    cache = flight(lambda: gate.wait(10) and "late", pool, clock, max_stale=0)
    first = cache.get(clock.now)  # the deadline is now: no waiting at all
    assert not first.ok and isinstance(first.error, StillFetching) and first.waiting
    second = cache.get(clock.now)
    assert not second.ok and cache.fetches == 1 and second.key == first.key
    gate.set()
    assert cache.get(clock.now + 2).value == "late"


def test_fresh_data_is_taken_when_requested_not_when_read(pool, clock):
    """A scrape that waits on another source must not see this one's copy expire meanwhile (issue 13)."""
    n = []
    cache = flight(lambda: n.append(1) or len(n), pool, clock, ttl=1)
    assert cache.get(clock.now + 2).value == 1
    ticket = cache.start()
    clock.now += 5  # the scrape spends its budget waiting elsewhere; the cached copy expires
    answer = ticket.result(clock.now)
    assert answer.ok and answer.value == 1 and cache.fetches == 1


def test_a_fetch_in_flight_past_the_cap_is_abandoned_and_a_new_one_starts(pool, clock):
    gates, calls = [threading.Event(), threading.Event()], []

    def fetch():
        number = len(calls)
        calls.append(number)
        gates[number].wait(10)
        return f"fetch {number}"

    cache = flight(fetch, pool, clock, max_inflight=30, max_stale=0)
    assert not cache.get(clock.now).ok and cache.fetches == 1
    clock.now += 31
    abandoned = cache.start()  # the hung fetch is given up; this request starts a new one
    assert cache.fetches == 2
    gates[0].set()  # the abandoned fetch ends late: its result must be ignored
    gates[1].set()
    answer = abandoned.result(clock.now + 5)
    assert answer.ok and answer.value == "fetch 1"


def test_a_waiting_scrape_learns_of_the_abandon(pool, clock):
    gate = threading.Event()
    cache = flight(lambda: gate.wait(10), pool, clock, max_inflight=30, max_stale=0)
    ticket = cache.start()
    clock.now += 31
    answer = ticket.result(clock.now + 5)
    gate.set()
    assert not answer.ok and isinstance(answer.error, FetchAbandoned) and not answer.waiting


def test_empty_results_are_cached_like_any_other(pool, clock):
    n = []
    cache = flight(lambda: n.append(1) or [], pool, clock)
    assert cache.get(clock.now + 2).value == []
    assert cache.get(clock.now + 2).value == [] and len(n) == 1


def test_real_clock_deadline_bounds_the_wait(pool):
    gate = threading.Event()
    cache = SingleFlight(lambda: gate.wait(10), pool, ttl=10, max_stale=0)
    start = time.monotonic()
    answer = cache.get(start + 0.3)
    gate.set()
    assert not answer.ok and 0.25 < time.monotonic() - start < 1.5
