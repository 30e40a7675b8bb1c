"""Load and validate the exporter's YAML config into frozen dataclasses; every problem is listed with its path."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    """The config file is unreadable or invalid; `problems` holds one `path: message` line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source, self.problems = source, problems
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{source}: {len(problems)} {noun}\n" + "\n".join(f"  {p}" for p in problems))


@dataclass(frozen=True)
class PantasksServer:
    """One pantasks server to query with pantasks_client (locally, or over SSH when `host` is set)."""

    name: str
    directory: str
    client: str = "pantasks_client"
    host: str | None = None
    timeout: float = 20.0
    ptolemy_rc: str | None = None


@dataclass(frozen=True)
class PantasksConfig:
    """The pantasks section: the servers and how many are queried at once."""

    servers: tuple[PantasksServer, ...]
    max_workers: int = 8


@dataclass(frozen=True)
class SshConfig:
    """SSH settings shared by every server that has a `host`."""

    user: str
    known_hosts: str
    port: int = 22
    key_file: str | None = None
    key_passphrase: str | None = field(default=None, repr=False)
    connect_timeout: float = 5.0


@dataclass(frozen=True)
class DatabaseConfig:
    """One MySQL/MariaDB database: `dbname` is both the label value and the schema name."""

    dbname: str
    user: str
    host: str | None = None
    port: int = 3306
    unix_socket: str | None = None
    password: str = field(default="", repr=False)
    connect_timeout: float = 5.0
    query_timeout: float = 10.0


@dataclass(frozen=True)
class ProcessingConfig:
    """The processing-DB section: databases and the UTC time at which a new observing night starts."""

    databases: tuple[DatabaseConfig, ...]
    night_boundary: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class NebulousConfig:
    """The nebulous section: one database."""

    database: DatabaseConfig


@dataclass(frozen=True)
class ExporterSettings:
    """Scrape budget and caching shared by all sources."""

    scrape_timeout: float = 10.0
    timeout_offset: float = 0.5
    cache_ttl: float = 15.0
    max_stale: float = 300.0
    # a fetch still running after this long is abandoned (its source shows down) and the next scrape starts another
    max_fetch_age: float = 60.0


@dataclass(frozen=True)
class Config:
    """The whole config; a missing section (None) disables that source."""

    exporter: ExporterSettings = ExporterSettings()
    pantasks: PantasksConfig | None = None
    ssh: SshConfig | None = None
    processing: ProcessingConfig | None = None
    nebulous: NebulousConfig | None = None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_MISSING = object()


def parse_duration(value: Any) -> float | None:
    """Return seconds for `10s`, `1m30s`, `500ms` or a plain number; None when it is not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    pos, total = 0, 0.0
    for match in _DURATION.finditer(value):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    return total if pos == len(value) else None


class _Section:
    """Typed reads from one YAML mapping, recording problems instead of raising."""

    def __init__(self, data: Any, path: str, problems: list[str]) -> None:
        self.path, self.problems = path, problems
        self.used: set[str] = set()
        if not isinstance(data, dict):
            problems.append(f"{path or '(top level)'}: expected a mapping")
            data = {}
        self.data = data

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str, required: bool = False) -> Any:
        self.used.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                self.problems.append(f"{self.where(key)}: required")
            return _MISSING
        return self.data[key]

    def string(self, key: str, default: Any = None, required: bool = False, name: bool = False) -> Any:
        value = self.raw(key, required)
        if value is _MISSING:
            return default
        if not isinstance(value, str) or not value:
            self.problems.append(f"{self.where(key)}: expected a non-empty string")
            return default
        if name and not _NAME.match(value):
            self.problems.append(f"{self.where(key)}: {value!r} may only hold letters, digits, '_', '.', '-'")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.raw(key)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problems.append(f"{self.where(key)}: expected an integer from {low} to {high}")
            return default
        return value

    def duration(self, key: str, default: float, allow_zero: bool = False) -> float:
        value = self.raw(key)
        if value is _MISSING:
            return default
        seconds = parse_duration(value)
        if seconds is None or seconds < 0 or (seconds == 0 and not allow_zero):
            self.problems.append(f"{self.where(key)}: expected a positive duration such as 10s, 1m30s or 500ms")
            return default
        return seconds

    def secret(self, stem: str, default: Any = None) -> Any:
        """Read `<stem>_file` or `<stem>_env`; an inline `<stem>` is refused."""
        if stem in self.data:
            self.used.add(stem)
            self.problems.append(f"{self.where(stem)}: secrets may not be inline; use {stem}_file or {stem}_env")
        path, env = self.string(f"{stem}_file"), self.string(f"{stem}_env")
        if path and env:
            self.problems.append(f"{self.where(stem)}: give {stem}_file or {stem}_env, not both")
        if path:
            try:
                return Path(path).read_text().rstrip("\r\n")
            except OSError as exc:
                self.problems.append(f"{self.where(stem + '_file')}: cannot read {path}: {exc.strerror}")
        if env:
            if env not in os.environ:
                self.problems.append(f"{self.where(stem + '_env')}: environment variable {env} is not set")
            return os.environ.get(env, default)
        return default

    def items(self, key: str, required: bool = False) -> list[tuple[str, Any]]:
        value = self.raw(key, required)
        if value is _MISSING:
            return []
        if not isinstance(value, list):
            self.problems.append(f"{self.where(key)}: expected a list")
            return []
        if required and not value:
            self.problems.append(f"{self.where(key)}: must not be empty")
        return [(f"{self.where(key)}[{i}]", item) for i, item in enumerate(value)]

    def finish(self) -> None:
        for key in sorted(set(self.data) - self.used, key=str):
            hint = difflib.get_close_matches(str(key), sorted(self.used), n=1)
            suggestion = f' (did you mean "{hint[0]}"?)' if hint else ""
            self.problems.append(f"{self.where(str(key))}: unknown key{suggestion}")


def _exporter(data: Any, problems: list[str]) -> ExporterSettings:
    s = _Section(data, "exporter", problems)
    d = ExporterSettings()
    out = ExporterSettings(
        scrape_timeout=s.duration("scrape_timeout", d.scrape_timeout),
        timeout_offset=s.duration("timeout_offset", d.timeout_offset, allow_zero=True),
        cache_ttl=s.duration("cache_ttl", d.cache_ttl, allow_zero=True),
        max_stale=s.duration("max_stale", d.max_stale, allow_zero=True),
        max_fetch_age=s.duration("max_fetch_age", d.max_fetch_age),
    )
    s.finish()
    return out


def _pantasks(data: Any, problems: list[str]) -> PantasksConfig:
    s = _Section(data, "pantasks", problems)
    servers, seen = [], set()
    for path, item in s.items("servers", required=True):
        e = _Section(item, path, problems)
        server = PantasksServer(
            name=e.string("name", required=True, name=True) or "",
            directory=e.string("directory", required=True) or "",
            client=e.string("client", PantasksServer.client),
            host=e.string("host"),
            timeout=e.duration("timeout", PantasksServer.timeout),
            ptolemy_rc=e.string("ptolemy_rc"),
        )
        e.finish()
        if server.name and server.name in seen:
            problems.append(f"{path}.name: duplicate server name {server.name!r}")
        seen.add(server.name)
        servers.append(server)
    out = PantasksConfig(tuple(servers), max_workers=s.integer("max_workers", 8, 1, 256))
    s.finish()
    return out


def _ssh(data: Any, problems: list[str]) -> SshConfig:
    s = _Section(data, "ssh", problems)
    out = SshConfig(
        user=s.string("user", "", required=True),
        known_hosts=s.string("known_hosts", "", required=True),
        port=s.integer("port", 22, 1, 65535),
        key_file=s.string("key_file"),
        key_passphrase=s.secret("key_passphrase"),
        connect_timeout=s.duration("connect_timeout", SshConfig.connect_timeout),
    )
    s.finish()
    return out


def _database(s: _Section, default_name: str | None = None) -> DatabaseConfig:
    """Read the connection keys shared by processing databases and the nebulous section."""
    out = DatabaseConfig(
        dbname=s.string("dbname", default_name, required=default_name is None, name=True) or "",
        user=s.string("user", "", required=True),
        host=s.string("host"),
        port=s.integer("port", 3306, 1, 65535),
        unix_socket=s.string("unix_socket"),
        password=s.secret("password", ""),
        connect_timeout=s.duration("connect_timeout", DatabaseConfig.connect_timeout),
        query_timeout=s.duration("query_timeout", DatabaseConfig.query_timeout),
    )
    if not out.host and not out.unix_socket:
        s.problems.append(f"{s.where('host')}: give host or unix_socket")
    return out


def _night_boundary(s: _Section) -> tuple[int, int]:
    value = s.string("night_boundary", "00:00")
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value or "")
    if not match:
        s.problems.append(f"{s.where('night_boundary')}: expected a UTC time HH:MM")
        return (0, 0)
    return int(match.group(1)), int(match.group(2))


def _processing(data: Any, problems: list[str]) -> ProcessingConfig:
    s = _Section(data, "processing", problems)
    databases, seen = [], set()
    for path, item in s.items("databases", required=True):
        e = _Section(item, path, problems)
        db = _database(e)
        e.finish()
        if db.dbname and db.dbname in seen:
            problems.append(f"{path}.dbname: duplicate database {db.dbname!r}")
        seen.add(db.dbname)
        databases.append(db)
    out = ProcessingConfig(tuple(databases), night_boundary=_night_boundary(s))
    s.finish()
    return out


def _nebulous(data: Any, problems: list[str]) -> NebulousConfig:
    s = _Section(data, "nebulous", problems)
    out = NebulousConfig(_database(s, default_name="nebulous"))
    s.finish()
    return out


_SECTIONS = {"exporter": _exporter, "pantasks": _pantasks, "ssh": _ssh, "processing": _processing, "nebulous": _nebulous}


def config_from_data(data: Any, source: str = "config") -> Config:
    """Validate parsed YAML; raise ConfigError listing every problem."""
    problems: list[str] = []
    top = _Section({} if data is None else data, "", problems)
    parts: dict[str, Any] = {}
    for key, reader in _SECTIONS.items():
        value = top.raw(key)
        if value is not _MISSING:
            parts[key] = reader(value, problems)
    top.finish()
    pantasks, ssh = parts.get("pantasks"), parts.get("ssh")
    if pantasks and ssh is None:
        for i, server in enumerate(pantasks.servers):
            if server.host:
                problems.append(f"pantasks.servers[{i}].host: needs an ssh section (user, known_hosts)")
    if problems:
        raise ConfigError(source, problems)
    return Config(**parts)


def load_config(path: str | os.PathLike, build: Any = None) -> Config:
    """Read and validate a YAML config file (`build(data, source)` instead of config_from_data: the action service)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read file: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        raise ConfigError(str(path), [f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    return (build or config_from_data)(data, str(path))


# Shared with the action service (actions/config.py), which reads these sections the same way, plus its own.
Section = _Section
SECTION_READERS = _SECTIONS
MISSING = _MISSING
