"""Load and validate the action service's YAML config; every problem is listed with its path (exporter style)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from exporter.config import (
    MISSING,
    SECTION_READERS,
    ConfigError,
    DatabaseConfig,
    NebulousConfig,
    PantasksConfig,
    ProcessingConfig,
    Section,
    SshConfig,
)
from exporter.config import load_config as read_yaml_config

AUTO_ACTIONS = ("revert-code2",)  # what a firing alert may run without a person
_USER = re.compile(r"^[A-Za-z0-9_.@\-]{1,64}$")
_HEADER = re.compile(r"^[A-Za-z][A-Za-z0-9\-]{0,63}$")


@dataclass(frozen=True)
class AuditConfig:
    """Where the audit trail (and the webhook's dedup keys) live: a SQLite file, or a MySQL/MariaDB database."""

    sqlite_path: str | None = None
    mysql: DatabaseConfig | None = None


@dataclass(frozen=True)
class ActionsSettings:
    """The `actions` section: URLs, secrets, operators, policy and limits."""

    external_url: str = "http://127.0.0.1:8476"
    dry_run: bool = False
    webhook_token: str = field(default="", repr=False)
    users: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (name, werkzeug password hash)
    trusted_user_header: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    audit: AuditConfig = AuditConfig(sqlite_path="ipp-actions-audit.db")
    alertmanager_url: str | None = None
    alertmanager_timeout: float = 5.0
    auto_actions: tuple[str, ...] = AUTO_ACTIONS
    auto_max_per_hour: int = 6
    max_actions_per_minute: int = 30
    action_timeout: float = 300.0
    silence_duration: float = 7 * 86400.0
    queue_size: int = 1000
    runbooks_dir: str | None = None
    inventory_ttl: float = 30.0


@dataclass(frozen=True)
class ToolsConfig:
    """Where the IPP tools run: locally (host None) or over SSH; bin_dir None = found on PATH."""

    host: str | None = None
    bin_dir: str | None = None
    timeout: float = 300.0

    def path(self, tool: str) -> str:
        """The argv[0] for `tool` (a fixed name from the action catalogue)."""
        return f"{self.bin_dir.rstrip('/')}/{tool}" if self.bin_dir else tool


@dataclass(frozen=True)
class ActionsConfig:
    """The whole action-service config; a missing section disables what needs it."""

    actions: ActionsSettings = ActionsSettings()
    tools: ToolsConfig = ToolsConfig()
    pantasks: PantasksConfig | None = None
    ssh: SshConfig | None = None
    processing: ProcessingConfig | None = None
    nebulous: NebulousConfig | None = None


def _bool(s: Section, key: str, default: bool) -> bool:
    value = s.raw(key)
    if value is MISSING:
        return default
    if not isinstance(value, bool):
        s.problems.append(f"{s.where(key)}: expected true or false")
        return default
    return value


def _url(s: Section, key: str, default: str | None = None) -> str | None:
    value = s.string(key, default)
    if value and urlsplit(value).scheme not in ("http", "https"):
        s.problems.append(f"{s.where(key)}: expected an http:// or https:// URL")
    return value.rstrip("/") if value else value


def _read_users(s: Section) -> tuple[tuple[str, str], ...]:
    path = s.string("users_file")
    if not path:
        return ()
    try:
        text = Path(path).read_text()
    except OSError as exc:
        s.problems.append(f"{s.where('users_file')}: cannot read {path}: {exc.strerror}")
        return ()
    users = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, digest = line.strip().partition(":")
        if not sep or not _USER.match(name) or not digest:
            s.problems.append(f"{s.where('users_file')}: {path} line {number}: expected name:<werkzeug password hash>")
            continue
        users.append((name, digest))
    return tuple(users)


def _audit(s: Section) -> AuditConfig:
    value = s.string("audit", "sqlite:///ipp-actions-audit.db")
    password = s.secret("audit_password", "")
    parts = urlsplit(value or "")
    if parts.scheme == "sqlite":
        path = value[len("sqlite:///"):] if value.startswith("sqlite:///") else ""
        if not path:
            s.problems.append(f"{s.where('audit')}: expected sqlite:///relative/path or sqlite:////absolute/path")
        return AuditConfig(sqlite_path=path or None)
    if parts.scheme == "mysql":
        query = parse_qs(parts.query)
        socket = query.get("unix_socket", [""])[0] or None
        dbname = parts.path.lstrip("/")
        if not parts.username or not dbname or not (parts.hostname or socket):
            s.problems.append(f"{s.where('audit')}: expected mysql://USER@HOST:PORT/DB (password in audit_password_file)")
            return AuditConfig()
        try:
            port = parts.port or 3306
        except ValueError:
            s.problems.append(f"{s.where('audit')}: bad port")
            port = 3306
        return AuditConfig(mysql=DatabaseConfig(dbname=dbname, user=parts.username, host=parts.hostname, port=port,
                                                unix_socket=socket, password=password))
    s.problems.append(f"{s.where('audit')}: expected a sqlite:/// or mysql:// URL")
    return AuditConfig()


def _auto_actions(s: Section) -> tuple[str, ...]:
    value = s.raw("auto_actions")
    if value is MISSING:
        return AUTO_ACTIONS
    if not isinstance(value, list) or any(not isinstance(v, str) or v not in AUTO_ACTIONS for v in value):
        s.problems.append(f"{s.where('auto_actions')}: expected a list of {', '.join(AUTO_ACTIONS)} (or [])")
        return ()
    return tuple(value)


def _settings(data: Any, problems: list[str]) -> ActionsSettings:
    s = _Section(data, "actions", problems)
    d = ActionsSettings()
    header = s.string("trusted_user_header")
    if header and not _HEADER.match(header):
        problems.append(f"actions.trusted_user_header: {header!r} is not an HTTP header name")
    out = ActionsSettings(
        external_url=_url(s, "external_url", d.external_url) or d.external_url,
        dry_run=_bool(s, "dry_run", d.dry_run),
        webhook_token=s.secret("webhook_token", ""),
        users=_read_users(s),
        trusted_user_header=header,
        secret_key=s.secret("secret_key"),
        audit=_audit(s),
        alertmanager_url=_url(s, "alertmanager_url"),
        alertmanager_timeout=s.duration("alertmanager_timeout", d.alertmanager_timeout),
        auto_actions=_auto_actions(s),
        auto_max_per_hour=s.integer("auto_max_per_hour", d.auto_max_per_hour, 0, 10000),
        max_actions_per_minute=s.integer("max_actions_per_minute", d.max_actions_per_minute, 1, 100000),
        action_timeout=s.duration("action_timeout", d.action_timeout),
        silence_duration=s.duration("silence_duration", d.silence_duration),
        queue_size=s.integer("queue_size", d.queue_size, 1, 1_000_000),
        runbooks_dir=s.string("runbooks_dir"),
        inventory_ttl=s.duration("inventory_ttl", d.inventory_ttl, allow_zero=True),
    )
    given = set(s.data)  # a given but unreadable file is already a problem; say "required" only when absent
    if not out.webhook_token and not given & {"webhook_token_file", "webhook_token_env"}:
        problems.append("actions.webhook_token_file: required (Alertmanager's bearer token; the webhook refuses all without it)")
    if not out.users and not out.trusted_user_header and "users_file" not in given:
        problems.append("actions.users_file: required unless trusted_user_header is set (nobody could log in)")
    s.finish()
    return out


def _tools(data: Any, problems: list[str]) -> ToolsConfig:
    s = _Section(data, "tools", problems)
    out = ToolsConfig(host=s.string("host", name=True), bin_dir=s.string("bin_dir"),
                      timeout=s.duration("timeout", ToolsConfig.timeout))
    if out.bin_dir and not out.bin_dir.startswith("/"):
        problems.append("tools.bin_dir: expected an absolute path")
    s.finish()
    return out


_Section = Section
_OWN = {"actions": _settings, "tools": _tools}
_SHARED = ("pantasks", "ssh", "processing", "nebulous")


def config_from_data(data: Any, source: str = "config") -> ActionsConfig:
    """Validate parsed YAML; raise ConfigError listing every problem."""
    problems: list[str] = []
    top = _Section({} if data is None else data, "", problems)
    parts: dict[str, Any] = {}
    for key, reader in [*_OWN.items(), *((k, SECTION_READERS[k]) for k in _SHARED)]:
        value = top.raw(key, required=key == "actions")
        if value is not MISSING:
            parts[key] = reader(value, problems)
    top.finish()
    ssh, tools, pantasks = parts.get("ssh"), parts.get("tools"), parts.get("pantasks")
    needs_ssh = [f"pantasks.servers[{i}].host" for i, v in enumerate(pantasks.servers if pantasks else ()) if v.host]
    if tools and tools.host:
        needs_ssh.append("tools.host")
    if ssh is None:
        problems += [f"{path}: needs an ssh section (user, known_hosts)" for path in needs_ssh]
    if problems:
        raise ConfigError(source, problems)
    return ActionsConfig(**parts)


def load_config(path: str | os.PathLike) -> ActionsConfig:
    """Read and validate a YAML config file (the exporter's reader with this service's sections)."""
    return cast(ActionsConfig, read_yaml_config(path, config_from_data))
