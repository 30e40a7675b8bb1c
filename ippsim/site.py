"""Set up a simulated IPP site in a MariaDB server: processing DBs, a nebulous DB, and accounts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from ippsim.mariadb import ConnParams

SCHEMA_VERSION = "ippsim-1"

# Tables the read-only accounts may SELECT: what the exporter's processing/nebulous collectors query.
PROCESSING_RO_TABLES = (
    "Label", "dbversion",
    "summitExp", "summitImfile", "pzDownloadExp", "pzDownloadImfile", "newExp", "newImfile", "rawExp", "rawImfile",
    "chipRun", "chipProcessedImfile", "camRun", "camProcessedExp", "fakeRun", "fakeProcessedImfile",
    "warpRun", "warpSkyfile", "stackRun", "stackSumSkyfile", "diffRun", "diffSkyfile",
    "magicDSRun", "magicDSFile", "distRun",
    "distComponent", "warpSkyCellMap", "chipMask", "magicRun", "magicNodeResult", "publishClient", "publishRun",
    "publishDone",
)
NEBULOUS_RO_TABLES = ("volume", "mountedvol")

# Read-write accounts get what the IPP tools do: row changes, no DDL.
_RW_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
# Accounts for socket (localhost) and loopback TCP clients; the server runs with skip-name-resolve.
_ACCOUNT_HOSTS = ("localhost", "127.0.0.1")


def _ident(name: str) -> str:
    """Back-quote a database/table/user name after checking it against a strict pattern."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not an allowed identifier: {name!r}")
    return f"`{name}`"


def schema_statements(kind: str) -> list[str]:
    """The CREATE statements of schema `kind` ('gpc1' processing or 'nebulous'), comments removed."""
    if kind not in ("gpc1", "nebulous"):
        raise ValueError(f"unknown schema kind {kind!r}")
    text = resources.files("ippsim.schema").joinpath(f"{kind}.sql").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";\n") if stmt.strip().rstrip(";")]


def table_names(kind: str) -> list[str]:
    """Table names of schema `kind`, in creation (foreign-key) order."""
    return [re.match(r"CREATE TABLE (\w+)", s).group(1) for s in schema_statements(kind) if s.startswith("CREATE TABLE")]


@dataclass(frozen=True)
class Site:
    """Connection parameters of every account of a simulated site, and its database names."""

    root: ConnParams
    ipp: ConnParams
    ipp_ro: ConnParams
    neb: ConnParams
    neb_ro: ConnParams
    processing_dbs: tuple[str, ...] = ("gpc1",)
    nebulous_db: str = "nebulous"


@dataclass(frozen=True)
class Accounts:
    """User names and passwords of the four site accounts (passwords chosen by the caller)."""

    ipp_password: str
    ipp_ro_password: str
    neb_password: str
    neb_ro_password: str
    ipp_user: str = "ipp"
    ipp_ro_user: str = "ipp_ro"
    neb_user: str = "neb"
    neb_ro_user: str = "neb_ro"


def create_database(root: ConnParams, dbname: str, kind: str) -> None:
    """(Re)create database `dbname` empty with schema `kind` and a dbversion row."""
    conn = root.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION foreign_key_checks = 0")
            cur.execute(f"DROP DATABASE IF EXISTS {_ident(dbname)}")
            cur.execute(f"CREATE DATABASE {_ident(dbname)} CHARACTER SET latin1")
            cur.execute(f"USE {_ident(dbname)}")
            for statement in schema_statements(kind):
                cur.execute(statement)
            if kind == "gpc1":
                cur.execute("INSERT INTO dbversion (schema_version) VALUES (%s)", (SCHEMA_VERSION,))
    finally:
        conn.close()


def empty_database(root: ConnParams, dbname: str, kind: str) -> None:
    """Delete every row of an existing site database (faster than re-creating it) and reset counters."""
    conn = root.connect(dbname)
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION foreign_key_checks = 0")
            for table in table_names(kind):
                cur.execute(f"TRUNCATE TABLE {_ident(table)}")
            if kind == "gpc1":
                cur.execute("INSERT INTO dbversion (schema_version) VALUES (%s)", (SCHEMA_VERSION,))
    finally:
        conn.close()


def _create_account(cur, user: str, password: str) -> None:
    for host in _ACCOUNT_HOSTS:
        cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
        cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))


def _grant(cur, privileges: str, target: str, user: str) -> None:
    for host in _ACCOUNT_HOSTS:
        cur.execute(f"GRANT {privileges} ON {target} TO %s@%s", (user, host))


def create_accounts(root: ConnParams, processing_dbs: tuple[str, ...], nebulous_db: str, accounts: Accounts) -> None:
    """Create the rw accounts (row changes on their DBs) and ro accounts (SELECT on the used tables only)."""
    conn = root.connect()
    try:
        with conn.cursor() as cur:
            _create_account(cur, accounts.ipp_user, accounts.ipp_password)
            _create_account(cur, accounts.ipp_ro_user, accounts.ipp_ro_password)
            _create_account(cur, accounts.neb_user, accounts.neb_password)
            _create_account(cur, accounts.neb_ro_user, accounts.neb_ro_password)
            for dbname in processing_dbs:
                _grant(cur, _RW_PRIVILEGES, f"{_ident(dbname)}.*", accounts.ipp_user)
                for table in PROCESSING_RO_TABLES:
                    _grant(cur, "SELECT", f"{_ident(dbname)}.{_ident(table)}", accounts.ipp_ro_user)
            _grant(cur, _RW_PRIVILEGES, f"{_ident(nebulous_db)}.*", accounts.neb_user)
            for table in NEBULOUS_RO_TABLES:
                _grant(cur, "SELECT", f"{_ident(nebulous_db)}.{_ident(table)}", accounts.neb_ro_user)
    finally:
        conn.close()


def site_params(root: ConnParams, accounts: Accounts, processing_dbs: tuple[str, ...] = ("gpc1",),
                nebulous_db: str = "nebulous") -> Site:
    """The Site record for accounts that already exist (no server changes)."""
    return Site(root=root, ipp=root.as_user(accounts.ipp_user, accounts.ipp_password),
                ipp_ro=root.as_user(accounts.ipp_ro_user, accounts.ipp_ro_password),
                neb=root.as_user(accounts.neb_user, accounts.neb_password),
                neb_ro=root.as_user(accounts.neb_ro_user, accounts.neb_ro_password),
                processing_dbs=tuple(processing_dbs), nebulous_db=nebulous_db)


def create_site(root: ConnParams, accounts: Accounts, *, processing_dbs: tuple[str, ...] = ("gpc1",),
                nebulous_db: str = "nebulous") -> Site:
    """Create empty processing + nebulous databases and the four accounts; return their parameters."""
    for dbname in processing_dbs:
        create_database(root, dbname, "gpc1")
    create_database(root, nebulous_db, "nebulous")
    create_accounts(root, tuple(processing_dbs), nebulous_db, accounts)
    return site_params(root, accounts, tuple(processing_dbs), nebulous_db)
