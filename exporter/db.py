"""One read-only PyMySQL connection per database: timeouts, statement guards, reconnect, typed errors."""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Mapping, Sequence

import pymysql
from pymysql.constants import ER

from exporter.config import DatabaseConfig

log = logging.getLogger(__name__)

# Server error codes that mean "the statement ran out of time" rather than "the server is broken".
_TIMEOUT_CODES = {
    ER.LOCK_WAIT_TIMEOUT,  # 1205: lock_wait_timeout / innodb_lock_wait_timeout
    1969,  # ER_STATEMENT_TIMEOUT: MariaDB max_statement_time
    3024,  # ER_QUERY_TIMEOUT: MySQL max_execution_time
}
# Client-side codes for a connection the server (or the network) has dropped.
_GONE_CODES = {2006, 2013, 2055, 1927, 4031}  # 1927 connection killed (MariaDB), 4031 idle disconnect (MySQL 8)
# Extra seconds on the socket read timeout so the server's own statement limit fires first with a clear error.
_READ_GRACE = 1.0


class DatabaseError(Exception):
    """The database could not be reached or a query failed."""


class QueryTimedOut(DatabaseError):
    """A query (or the connection handshake) exceeded its time limit."""


class ConnectionLost(DatabaseError):
    """The server or the network dropped a connection that was open (KILL, restart, wait_timeout)."""


Row = tuple[Any, ...]


class Database:
    """A lazily opened, reused, read-only connection to one database; one query at a time (guarded by a lock)."""

    def __init__(self, config: DatabaseConfig, connect: Callable[..., Any] = pymysql.connect,
                 read_only: bool = True) -> None:
        self.config = config
        self._connect_fn = connect
        self._read_only = read_only  # False only for the action service's audit store (idempotent writes)
        self._lock = threading.Lock()
        self._conn: Any = None
        self.connects = 0  # connections opened (exported as ipp_source_connects_total)

    @property
    def name(self) -> str:
        """The database (schema) name."""
        return self.config.dbname

    def run(self, work: Callable[["Session"], Any]) -> Any:
        """Call `work(session)` holding this database's only connection; reconnect once if the old one has died.

        `work` must only read (it may run twice): a reused connection found dead on its first statement is
        replaced and the work repeated, which costs nothing when the connection is fine (no ping per fetch).
        """
        with self._lock:
            reused = self._conn is not None
            if not reused:
                self._conn = self._open()
            try:
                return work(Session(self))
            except ConnectionLost as exc:
                if not reused:
                    raise
                log.info("database %s: connection lost (%s); reconnecting", self.name, exc)
                self._conn = self._open()
                return work(Session(self))

    def close(self) -> None:
        """Close the connection (a later run() opens a new one)."""
        with self._lock:
            self._drop()

    # -- connection handling (caller holds the lock) --

    def _open(self) -> Any:
        c = self.config
        where = dict(unix_socket=c.unix_socket) if c.unix_socket else dict(host=c.host, port=c.port)
        try:
            conn = self._connect_fn(
                # utf8mb4, not the tables' latin1: the server then converts every byte of a latin1 column to
                # valid UTF-8, whereas PyMySQL decodes "latin1" as cp1252, which has no character for bytes
                # 0x81/0x8D/0x8F/0x90/0x9D and failed the whole fetch on one such label (and was ~7 % slower)
                user=c.user, password=c.password, database=c.dbname, charset="utf8mb4", autocommit=True,
                connect_timeout=c.connect_timeout,
                # PyMySQL reads the server greeting with read_timeout: a peer that accepts and never
                # answers is bounded by it, not only by connect_timeout
                read_timeout=c.query_timeout + _READ_GRACE, write_timeout=c.query_timeout + _READ_GRACE,
                init_command="SET SESSION TRANSACTION READ ONLY" if self._read_only else None, **where)
        except pymysql.err.MySQLError as exc:
            raise _typed(exc, f"cannot connect to database {c.dbname}") from exc
        except OSError as exc:
            raise DatabaseError(f"cannot connect to database {c.dbname}: {exc}") from exc
        self.connects += 1
        try:
            with conn.cursor() as cur:
                # server-side guards: a statement (including its wait for a table or metadata lock) gives up
                # with an error before our socket read timeout fires
                cur.execute("SET SESSION max_statement_time = %s, lock_wait_timeout = %s",
                            (float(c.query_timeout), max(1, int(c.query_timeout))))
        except pymysql.err.MySQLError as exc:
            _quiet_close(conn)
            raise _typed(exc, f"cannot set session limits on {c.dbname}") from exc
        return conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            _quiet_close(conn)


class Session:
    """Query access for one run(): parameterised statements only; errors come out typed."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Row]:
        """Run one parameterised SELECT and return all rows; a broken connection is dropped for the next run()."""
        db = self._db
        try:
            with db._conn.cursor() as cur:
                cur.execute(sql, params if isinstance(params, Mapping) else tuple(params))
                return list(cur.fetchall())
        except pymysql.err.MySQLError as exc:
            lost = _code(exc) in _GONE_CODES or isinstance(exc, pymysql.err.InterfaceError)
            typed = ConnectionLost(f"query failed on {db.name}: {exc}") if lost else _typed(exc, f"query failed on {db.name}")
            if lost or isinstance(typed, QueryTimedOut):
                # the socket may hold half a result or a dead peer: never reuse it
                db._drop()
            raise typed from exc
        except OSError as exc:
            db._drop()
            raise ConnectionLost(f"query failed on {db.name}: {exc}") from exc

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> int:
        """Run one parameterised write (on a read_only=False Database) and return the affected row count."""
        db = self._db
        try:
            with db._conn.cursor() as cur:
                return cur.execute(sql, params if isinstance(params, Mapping) else tuple(params))
        except pymysql.err.MySQLError as exc:
            lost = _code(exc) in _GONE_CODES or isinstance(exc, pymysql.err.InterfaceError)
            if lost:
                db._drop()
                raise ConnectionLost(f"statement failed on {db.name}: {exc}") from exc
            raise _typed(exc, f"statement failed on {db.name}") from exc
        except OSError as exc:
            db._drop()
            raise ConnectionLost(f"statement failed on {db.name}: {exc}") from exc


def _code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _typed(exc: BaseException, what: str) -> DatabaseError:
    code = _code(exc)
    message = f"{what}: {exc}"
    original = getattr(exc, "original_exception", None)
    if code in _TIMEOUT_CODES or isinstance(original, TimeoutError) or "timed out" in str(exc):
        return QueryTimedOut(message)
    return DatabaseError(message)


def _quiet_close(conn: Any) -> None:
    try:
        conn.close()
    except (pymysql.err.Error, OSError):  # closing a dead connection may fail; nothing to do about it
        pass
