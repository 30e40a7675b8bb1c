"""Single-flight TTL cache: concurrent scrapes share one in-flight fetch per source and may see marked stale data."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Fetched(Generic[T]):
    """What one get() returns: the value (fresh, cached or stale), whether the last fetch worked, and the data's age."""

    value: T | None
    ok: bool
    error: BaseException | None
    age: float
    last_success: float | None


class SingleFlight(Generic[T]):
    """Cache one source's fetch result for `ttl` seconds; serve the last good value up to `max_stale` seconds old.

    `clock` measures data age (injectable for tests); scrape deadlines are always time.monotonic().
    """

    def __init__(self, fetch: Callable[[], T], executor: Executor, ttl: float, max_stale: float,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self._fetch, self._executor, self._ttl, self._max_stale = fetch, executor, ttl, max_stale
        self._clock, self._wall = clock, wall
        self._cond = threading.Condition()
        self._inflight = False
        self._generation = 0
        self._value: T | None = None
        self._value_at: float | None = None
        self._last_success: float | None = None
        self._error: BaseException | None = None
        self._fetches = 0

    @property
    def fetches(self) -> int:
        """How many fetches have been started (for tests and benchmarks)."""
        return self._fetches

    def get(self, deadline: float) -> Fetched[T]:
        """Return cached data younger than the TTL, else join or start a fetch and wait until `deadline` (monotonic)."""
        with self._cond:
            if self._fresh():
                return self._answer(ok=True, error=None)
            if not self._inflight:
                self._start()
            generation = self._generation
            while self._inflight and self._generation == generation:
                remaining = deadline - time.monotonic()  # deadlines are always real monotonic time
                if remaining <= 0:
                    return self._answer(ok=False, error=TimeoutError("fetch still running at the scrape deadline"))
                self._cond.wait(remaining)
            if self._error is None:
                return self._answer(ok=True, error=None)
            return self._answer(ok=False, error=self._error)

    def _fresh(self) -> bool:
        return self._value_at is not None and self._error is None and self._clock() - self._value_at < self._ttl

    def _start(self) -> None:
        self._inflight = True
        self._fetches += 1
        self._executor.submit(self._fetch).add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        # a failed fetch is stored and reported by get(); the source collector decides what it means
        error = future.exception()
        value = None if error is not None else future.result()
        with self._cond:
            if error is None:
                self._value, self._value_at, self._last_success = value, self._clock(), self._wall()
            self._error = error
            self._inflight = False
            self._generation += 1
            self._cond.notify_all()

    def _answer(self, ok: bool, error: BaseException | None) -> Fetched[T]:
        if self._value_at is None:
            return Fetched(None, ok and error is None, error, 0.0, self._last_success)
        age = self._clock() - self._value_at
        if not ok and age > self._max_stale:
            return Fetched(None, False, error, 0.0, self._last_success)
        return Fetched(self._value, ok, error, age, self._last_success)
