"""Config files and secrets of the demo's exporter and action service (written under the run directory)."""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from ippsim.mariadb import ConnParams
from ippsim.site import Accounts

# parts of a run directory that one run leaves behind; a new run starts without them
STATE_ENTRIES = ("mariadb", "prometheus", "alertmanager", "mail", "logs", "servers", "sshd", "secrets", "bin",
                 "actions", "control", "demo.json", "exporter.yml", "actions.yml")
DEMO_OPERATOR = "czar"


@dataclass(frozen=True)
class DemoSecrets:
    """Files holding the demo's secrets, and the demo operator's password to print."""

    directory: Path
    operator_password: str

    def path(self, name: str) -> Path:
        return self.directory / name


def clear_state(run_dir: Path) -> None:
    """Remove what an earlier run left (data of MariaDB, Prometheus, Alertmanager, mails, logs)."""
    for name in STATE_ENTRIES:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _secret_file(path: Path, value: str) -> None:
    path.write_text(value + "\n")
    path.chmod(0o600)


def write_secrets(run_dir: Path, accounts: Accounts) -> DemoSecrets:
    """DB passwords, the webhook token and the users file (a werkzeug hash of a fresh operator password)."""
    from werkzeug.security import generate_password_hash  # Flask's dependency; only the demo needs it here

    directory = run_dir / "secrets"
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in (("gpc1-ro.password", accounts.ipp_ro_password), ("nebulous-ro.password", accounts.neb_ro_password),
                        ("gpc1-rw.password", accounts.ipp_password), ("nebulous-rw.password", accounts.neb_password),
                        ("webhook.token", secrets.token_urlsafe(24))):
        _secret_file(directory / name, value)
    password = secrets.token_urlsafe(9)
    _secret_file(directory / "users", f"{DEMO_OPERATOR}:{generate_password_hash(password)}")
    return DemoSecrets(directory, password)


def _db(root: ConnParams, user: str, password_file: Path, dbname: str) -> dict:
    # the unix socket stays the same when the demo restarts a killed MariaDB (its TCP port does not)
    return {"dbname": dbname, "unix_socket": root.socket, "user": user, "password_file": str(password_file)}


def server_entries(servers: dict[str, Path], client: Path, ssh_host: str | None, ssh_servers: tuple[str, ...]) -> list:
    """The pantasks server list shared by the exporter's and the action service's configs."""
    entries = []
    for name, directory in servers.items():
        entry = {"name": name, "directory": str(directory), "client": str(client), "timeout": "20s"}
        if ssh_host and name in ssh_servers:
            entry["host"] = ssh_host
        entries.append(entry)
    return entries


def ssh_section(ssh_info) -> dict:
    """The `ssh:` section for the loopback sshd."""
    return {"user": ssh_info.user, "port": ssh_info.port, "key_file": ssh_info.key_file,
            "known_hosts": ssh_info.known_hosts}


def write_exporter_config(run_dir: Path, root: ConnParams, accounts: Accounts, secret: DemoSecrets,
                          entries: list, ssh_info) -> Path:
    """exporter.yml: read-only DB users, every pantasks server, a short cache for a lively demo."""
    data = {
        "exporter": {"scrape_timeout": "10s", "cache_ttl": "2s"},
        "pantasks": {"servers": entries},
        "processing": {"databases": [_db(root, accounts.ipp_ro_user, secret.path("gpc1-ro.password"), "gpc1")]},
        "nebulous": _db(root, accounts.neb_ro_user, secret.path("nebulous-ro.password"), "nebulous"),
    }
    if ssh_info:
        data["ssh"] = ssh_section(ssh_info)
    path = run_dir / "exporter.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_actions_config(run_dir: Path, root: ConnParams, accounts: Accounts, secret: DemoSecrets, entries: list,
                         ssh_info, *, port: int, alertmanager_port: int | None, bin_dir: Path) -> Path:
    """actions.yml: read-write DB users, the tool stand-ins in bin_dir, a SQLite audit store, auto code-2 reverts."""
    (run_dir / "actions").mkdir(parents=True, exist_ok=True)
    actions = {
        "external_url": f"http://127.0.0.1:{port}",
        "dry_run": False,
        "webhook_token_file": str(secret.path("webhook.token")),
        "users_file": str(secret.path("users")),
        "audit": f"sqlite:///{run_dir / 'actions' / 'audit.db'}",
        "auto_actions": ["revert-code2"],
    }
    if alertmanager_port:
        actions["alertmanager_url"] = f"http://127.0.0.1:{alertmanager_port}"
    data = {
        "actions": actions,
        "tools": {"bin_dir": str(bin_dir)},
        "processing": {"databases": [_db(root, accounts.ipp_user, secret.path("gpc1-rw.password"), "gpc1")]},
        "nebulous": _db(root, accounts.neb_user, secret.path("nebulous-rw.password"), "nebulous"),
        "pantasks": {"servers": entries},
    }
    if ssh_info:
        data["ssh"] = ssh_section(ssh_info)
    path = run_dir / "actions.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
