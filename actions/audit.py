"""The audit trail: every action (who, what, argv, result, rows changed, from which notification) and the
webhook's dedup keys, in SQLite (one service) or MySQL/MariaDB (replicas share it; the UNIQUE key decides)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from actions.config import AuditConfig
from exporter.db import Database, DatabaseError

STATUSES = ("queued", "running", "success", "failure", "refused", "dry_run")

_TABLES = {
    "actions": """CREATE TABLE IF NOT EXISTS ipp_actions (
        ref CHAR(32) NOT NULL PRIMARY KEY,
        created DOUBLE NOT NULL,
        updated DOUBLE NOT NULL,
        actor VARCHAR(64) NOT NULL,
        action VARCHAR(32) NOT NULL,
        target VARCHAR(200) NOT NULL,
        params TEXT NOT NULL,
        argv TEXT NOT NULL,
        status VARCHAR(16) NOT NULL,
        result TEXT,
        rows_changed INTEGER,
        source VARCHAR(255),
        owner VARCHAR(64),
        dedup_key CHAR(64) UNIQUE)""",
    "hosts": """CREATE TABLE IF NOT EXISTS ipp_actions_hosts (
        host VARCHAR(64) NOT NULL PRIMARY KEY,
        excluded INTEGER NOT NULL,
        silence_id VARCHAR(64),
        changed DOUBLE NOT NULL,
        actor VARCHAR(64) NOT NULL)""",
}
_INDEX = "CREATE INDEX ipp_actions_status ON ipp_actions (status, created)"
_COLUMNS = "ref, created, updated, actor, action, target, params, argv, status, result, rows_changed, source, dedup_key"


class AuditError(Exception):
    """The audit store could not be written or read."""


@dataclass(frozen=True)
class AuditRecord:
    """One row of the audit trail."""

    ref: str
    created: float
    updated: float
    actor: str
    action: str
    target: str
    params: dict
    argv: list
    status: str
    result: Any
    rows_changed: int | None
    source: str | None
    dedup_key: str | None


class _Sqlite:
    """One SQLite connection shared by the service's threads (a lock; WAL so readers do not block writers)."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=10, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock:
            try:
                return self._conn.execute(sql.replace("%s", "?"), tuple(params)).rowcount
            except sqlite3.Error as exc:
                raise AuditError(f"audit store: {exc}") from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return list(self._conn.execute(sql.replace("%s", "?"), tuple(params)).fetchall())
            except sqlite3.Error as exc:
                raise AuditError(f"audit store: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _Mysql:
    """The exporter's Database (timeouts, reconnect, typed errors) opened read-write."""

    dialect = "mysql"

    def __init__(self, db: Database) -> None:
        self._db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            return self._db.run(lambda session: session.execute(sql, params))
        except DatabaseError as exc:
            raise AuditError(f"audit store: {exc}") from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            return self._db.run(lambda session: session.query(sql, params))
        except DatabaseError as exc:
            raise AuditError(f"audit store: {exc}") from exc

    def close(self) -> None:
        self._db.close()


class AuditStore:
    """Append and update audit rows; `record_once` is the webhook's at-most-once gate (UNIQUE dedup_key)."""

    def __init__(self, config: AuditConfig) -> None:
        if config.mysql is not None:
            self._backend: _Sqlite | _Mysql = _Mysql(Database(config.mysql, read_only=False))
        else:
            self._backend = _Sqlite(config.sqlite_path or "ipp-actions-audit.db")
        self.owner = uuid.uuid4().hex[:12]  # this process, for claims
        self._create()

    def _create(self) -> None:
        for ddl in _TABLES.values():
            self._backend.execute(ddl)
        try:
            self._backend.execute(_INDEX)
        except AuditError:
            pass  # the index exists already (CREATE INDEX IF NOT EXISTS is not portable to MySQL 5.7)

    def record(self, actor: str, action: str, target: str, params: dict, argv: list, status: str,
               source: str | None = None, dedup_key: str | None = None) -> str | None:
        """Insert a row; return its ref, or None when `dedup_key` was already recorded (by any replica)."""
        ref, now = uuid.uuid4().hex, time.time()
        verb = "INSERT OR IGNORE" if self._backend.dialect == "sqlite" else "INSERT IGNORE"
        inserted = self._backend.execute(
            f"{verb} INTO ipp_actions ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (ref, now, now, actor, action, target, json.dumps(params, sort_keys=True), json.dumps(argv), status,
             None, None, source, dedup_key))
        return ref if inserted == 1 else None

    def seen(self, dedup_key: str) -> bool:
        """True when `dedup_key` is recorded already (the cheap first look; record() stays the real gate)."""
        return bool(self._backend.query("SELECT 1 FROM ipp_actions WHERE dedup_key = %s", (dedup_key,)))

    def claim(self, ref: str) -> bool:
        """Move a queued row to running for this process; False when another worker or replica got it first."""
        return self._backend.execute(
            "UPDATE ipp_actions SET status = 'running', owner = %s, updated = %s WHERE ref = %s AND status = 'queued'",
            (self.owner, time.time(), ref)) == 1

    def unclaim(self, ref: str) -> None:
        """Give a claimed row back to the queue (its target was busy); the sweeper runs it later."""
        self._backend.execute("UPDATE ipp_actions SET status = 'queued', owner = NULL, updated = %s"
                              " WHERE ref = %s AND status = 'running' AND owner = %s", (time.time(), ref, self.owner))

    def finish(self, ref: str, status: str, result: Any, rows_changed: int | None, argv: list | None = None) -> None:
        """Store an action's outcome."""
        # one fixed statement: COALESCE keeps the stored argv when no new one is given
        self._backend.execute(
            "UPDATE ipp_actions SET status = %s, result = %s, rows_changed = %s, updated = %s,"
            " argv = COALESCE(%s, argv) WHERE ref = %s",
            (status, json.dumps(result), rows_changed, time.time(),
             None if argv is None else json.dumps(argv), ref))

    def queued(self, older_than: float, limit: int = 100) -> list[AuditRecord]:
        """Queued rows older than `older_than` seconds (lost from a full queue or a restart), oldest first."""
        rows = self._backend.query(f"SELECT {_COLUMNS} FROM ipp_actions WHERE status = 'queued' AND created < %s"
                                   " ORDER BY created LIMIT %s", (time.time() - older_than, limit))
        return [_record(row) for row in rows]

    def recent(self, limit: int = 200, offset: int = 0) -> list[AuditRecord]:
        """The newest rows first."""
        rows = self._backend.query(f"SELECT {_COLUMNS} FROM ipp_actions ORDER BY created DESC LIMIT %s OFFSET %s",
                                   (limit, offset))
        return [_record(row) for row in rows]

    def get(self, ref: str) -> AuditRecord | None:
        """One row by ref."""
        rows = self._backend.query(f"SELECT {_COLUMNS} FROM ipp_actions WHERE ref = %s", (ref,))
        return _record(rows[0]) if rows else None

    def count_auto_since(self, since: float) -> int:
        """Actions started by the webhook (not refused) since `since`: the auto-action rate limit."""
        rows = self._backend.query("SELECT COUNT(*) FROM ipp_actions WHERE actor = 'alertmanager'"
                                   " AND status <> 'refused' AND created >= %s", (since,))
        return int(rows[0][0])

    def set_host(self, host: str, excluded: bool, silence_id: str | None, actor: str) -> None:
        """Remember that a host is out (with its silence) or back in."""
        if self._backend.execute("UPDATE ipp_actions_hosts SET excluded = %s, silence_id = %s, changed = %s, actor = %s"
                                 " WHERE host = %s", (int(excluded), silence_id, time.time(), actor, host)) == 0:
            self._backend.execute("INSERT INTO ipp_actions_hosts (host, excluded, silence_id, changed, actor)"
                                  " VALUES (%s, %s, %s, %s, %s)", (host, int(excluded), silence_id, time.time(), actor))

    def hosts(self) -> dict[str, tuple[bool, str | None]]:
        """host -> (excluded, silence id) for every host an action has touched."""
        rows = self._backend.query("SELECT host, excluded, silence_id FROM ipp_actions_hosts")
        return {host: (bool(excluded), silence) for host, excluded, silence in rows}

    def close(self) -> None:
        """Close the connection."""
        self._backend.close()


def _record(row: tuple) -> AuditRecord:
    ref, created, updated, actor, action, target, params, argv, status, result, rows, source, dedup = row
    return AuditRecord(ref, float(created), float(updated), actor, action, target, json.loads(params),
                       json.loads(argv), status, json.loads(result) if result else None,
                       None if rows is None else int(rows), source, dedup)
