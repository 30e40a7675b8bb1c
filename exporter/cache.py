"""Single-flight TTL cache: concurrent scrapes share one in-flight fetch per source and may see marked stale data."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class FetchAbandoned(TimeoutError):
    """A fetch stayed in flight longer than the cap; its source is reported down and a new fetch may start."""


class StillFetching(TimeoutError):
    """The scrape deadline came while the source's fetch was still running."""


@dataclass(frozen=True)
class Fetched(Generic[T]):
    """What a request returns: the value (fresh, cached or stale), whether the last fetch worked, and the data's age.

    `generation` counts the fetches that had ended when the answer was given; `waiting` is True when the answer
    was given at the deadline with a fetch still running. Two answers with the same `key` carry the same data.
    """

    value: T | None
    ok: bool
    error: BaseException | None
    age: float
    last_success: float | None
    generation: int = 0
    waiting: bool = False
    fetches: int | None = None

    @property
    def key(self) -> tuple[int, bool, bool, bool]:
        """Identifies the data behind this answer (not its age): equal keys render to equal metrics."""
        return (self.generation, self.ok, self.waiting, self.value is None)


class Ticket(Generic[T]):
    """A request made to a SingleFlight: already answered (fresh data) or waiting for one fetch to end."""

    def __init__(self, flight: "SingleFlight[T]", answer: Fetched[T] | None, generation: int) -> None:
        self._flight, self._answer, self._generation = flight, answer, generation

    def result(self, deadline: float) -> Fetched[T]:
        """Return the answer: the fresh data seen at request time, or the fetch's outcome, or a timeout at `deadline`."""
        if self._answer is None:
            self._answer = self._flight._wait(self._generation, deadline)
        return self._answer


class SingleFlight(Generic[T]):
    """Cache one source's fetch result for `ttl` seconds; serve the last good value up to `max_stale` seconds old.

    `clock` (monotonic seconds) measures data age, deadlines and fetch age; `wall` gives the Unix time of the last
    success. A fetch in flight longer than `max_inflight` seconds is abandoned: its late result is ignored.
    """

    def __init__(self, fetch: Callable[[], T], executor: Executor, ttl: float, max_stale: float,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 max_inflight: float | None = None) -> None:
        self._fetch, self._executor, self._ttl, self._max_stale = fetch, executor, ttl, max_stale
        self._clock, self._wall, self._max_inflight = clock, wall, max_inflight
        self._cond = threading.Condition()
        self._inflight: int | None = None  # id of the fetch in flight
        self._inflight_since = 0.0
        self._generation = 0  # fetches that have ended (or been abandoned)
        self._value: T | None = None
        self._value_at: float | None = None
        self._last_success: float | None = None
        self._error: BaseException | None = None
        self._fetches = 0

    @property
    def fetches(self) -> int:
        """How many fetches have been started (exported as ipp_source_fetches_total)."""
        return self._fetches

    def start(self) -> Ticket[T]:
        """Request the data without waiting: fresh data answers at once, else a fetch is started or joined."""
        with self._cond:
            self._abandon_if_too_old()
            if self._fresh():
                return Ticket(self, self._answer(ok=True, error=None), self._generation)
            generation = self._generation  # read first: a fetch that ends at once bumps it inside _begin()
            if self._inflight is None:
                self._begin()
            return Ticket(self, None, generation)

    def get(self, deadline: float) -> Fetched[T]:
        """Return cached data younger than the TTL, else join or start a fetch and wait until `deadline`."""
        return self.start().result(deadline)

    def _wait(self, generation: int, deadline: float) -> Fetched[T]:
        with self._cond:
            while self._generation == generation:
                self._abandon_if_too_old()
                if self._generation != generation:
                    break
                now = self._clock()
                remaining = deadline - now
                if remaining <= 0:
                    return self._answer(ok=False, error=StillFetching("fetch still running at the scrape deadline"),
                                        waiting=True)
                if self._max_inflight is not None:
                    remaining = min(remaining, self._inflight_since + self._max_inflight - now)
                self._cond.wait(max(remaining, 0.001))
            if self._error is None:
                return self._answer(ok=True, error=None)
            return self._answer(ok=False, error=self._error)

    def _fresh(self) -> bool:
        return self._value_at is not None and self._error is None and self._clock() - self._value_at < self._ttl

    def _begin(self) -> None:
        self._fetches += 1
        fetch_id = self._inflight = self._fetches
        self._inflight_since = self._clock()
        self._executor.submit(self._fetch).add_done_callback(lambda future: self._done(fetch_id, future))

    def _abandon_if_too_old(self) -> None:
        if self._inflight is None or self._max_inflight is None:
            return
        age = self._clock() - self._inflight_since
        if age >= self._max_inflight:
            self._end(FetchAbandoned(f"fetch in flight for {age:.1f}s (cap {self._max_inflight:g}s); abandoned"))

    def _end(self, error: BaseException | None, value: T | None = None) -> None:
        if error is None:
            self._value, self._value_at, self._last_success = value, self._clock(), self._wall()
        self._error = error
        self._inflight = None
        self._generation += 1
        self._cond.notify_all()

    def _done(self, fetch_id: int, future: Future) -> None:
        # a failed fetch is stored and reported by the tickets; the source collector decides what it means
        error = future.exception()
        value = None if error is not None else future.result()
        with self._cond:
            if self._inflight == fetch_id:  # an abandoned fetch's late result is dropped
                self._end(error, value)

    def _answer(self, ok: bool, error: BaseException | None, waiting: bool = False) -> Fetched[T]:
        if self._value_at is None:
            return Fetched(None, ok and error is None, error, 0.0, self._last_success, self._generation, waiting,
                           self._fetches)
        age = self._clock() - self._value_at
        if not ok and age > self._max_stale:
            return Fetched(None, False, error, 0.0, self._last_success, self._generation, waiting, self._fetches)
        return Fetched(self._value, ok, error, age, self._last_success, self._generation, waiting, self._fetches)
