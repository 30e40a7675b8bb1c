"""What exists, for validation: labels (processing DBs, pantasks servers) and hosts (nebulous, pantasks); cached."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from actions.config import ActionsConfig
from actions.execute import Runners
from actions.pantasks import controller_hosts, server_labels
from actions.preview import db_labels
from actions.sql import NEBULOUS_HOSTS_SQL
from exporter.db import Database, DatabaseError
from exporter.transport import TransportError

log = logging.getLogger(__name__)


class InventoryUnavailable(Exception):
    """A source needed to check a value could not be read (the action is refused, not run unchecked)."""


class Inventory:
    """Cached views of what exists, refreshed after `ttl` seconds."""

    def __init__(self, config: ActionsConfig, databases: dict[str, Database], nebulous: Database | None,
                 runners: Runners) -> None:
        self.config, self.databases, self.nebulous, self.runners = config, databases, nebulous, runners
        self._cache: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: str, fetch: Callable[[], object]) -> object:
        with self._lock:
            hit = self._cache.get(key)
        if hit and time.monotonic() - hit[0] < self.config.actions.inventory_ttl:
            return hit[1]
        value = fetch()
        with self._lock:
            self._cache[key] = (time.monotonic(), value)
        return value

    def forget(self) -> None:
        """Drop the cache (after an action changed labels or hosts)."""
        with self._lock:
            self._cache.clear()

    def labels(self, dbname: str) -> set[str]:
        """Labels of the Label table and the run tables of `dbname`."""
        def fetch() -> set[str]:
            try:
                return db_labels(self.databases[dbname])
            except DatabaseError as exc:
                raise InventoryUnavailable(f"cannot read labels of {dbname}: {exc}") from None
        return self._cached(f"labels:{dbname}", fetch)  # type: ignore[return-value]

    def server_labels(self, server: str) -> tuple[str, ...]:
        """What `show.labels` lists in one pantasks server."""
        assert self.config.pantasks is not None  # validated against the configured servers first
        spec = next(s for s in self.config.pantasks.servers if s.name == server)

        def fetch() -> tuple[str, ...]:
            try:
                return server_labels(self.runners.get(spec.host), spec, spec.timeout)
            except TransportError as exc:
                raise InventoryUnavailable(f"cannot read the labels of {server}: {exc}") from None
        return self._cached(f"server-labels:{server}", fetch)  # type: ignore[return-value]

    def hosts(self) -> set[str]:
        """Hosts nebulous has volumes on, plus hosts any pantasks controller knows (unreachable sources skipped)."""
        def fetch() -> set[str]:
            found: set[str] = set()
            if self.nebulous is not None:
                try:
                    found |= {str(r[0]) for r in self.nebulous.run(lambda s: s.query(NEBULOUS_HOSTS_SQL)) if r[0]}
                except DatabaseError as exc:
                    log.warning("inventory: nebulous hosts unavailable: %s", exc)
            for spec in self.config.pantasks.servers if self.config.pantasks else ():
                try:
                    found |= set(controller_hosts(self.runners.get(spec.host), spec, spec.timeout))
                except TransportError as exc:
                    log.warning("inventory: controller hosts of %s unavailable: %s", spec.name, exc)
            return found
        return self._cached("hosts", fetch)  # type: ignore[return-value]
