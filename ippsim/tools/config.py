"""Database connection settings of the tool stand-ins, read from IPPSIM_* environment variables."""

from __future__ import annotations

import os

import pymysql

# IPPSIM_DB_SOCKET (unix socket; wins over host/port), IPPSIM_DB_HOST (default 127.0.0.1), IPPSIM_DB_PORT (3306),
# IPPSIM_DB_USER (ipp), IPPSIM_DB_PASSWORD (''), IPPSIM_DB_NAME (processing DB when -dbname is absent; gpc1),
# IPPSIM_NEB_DB (nebulous), IPPSIM_NEB_USER / IPPSIM_NEB_PASSWORD (default: the IPPSIM_DB_ ones).


def _connect(database: str, user: str, password: str) -> pymysql.connections.Connection:
    options = dict(user=user, password=password, database=database, charset="latin1", connect_timeout=10,
                   autocommit=True)
    socket = os.environ.get("IPPSIM_DB_SOCKET")
    if socket:
        return pymysql.connect(unix_socket=socket, **options)
    return pymysql.connect(host=os.environ.get("IPPSIM_DB_HOST", "127.0.0.1"),
                           port=int(os.environ.get("IPPSIM_DB_PORT", "3306")), **options)


def connect_processing(dbname: str | None = None) -> pymysql.connections.Connection:
    """Connection to the processing database `dbname` (the tools' -dbname) or IPPSIM_DB_NAME."""
    return _connect(dbname or os.environ.get("IPPSIM_DB_NAME", "gpc1"), os.environ.get("IPPSIM_DB_USER", "ipp"),
                    os.environ.get("IPPSIM_DB_PASSWORD", ""))


def connect_nebulous() -> pymysql.connections.Connection:
    """Connection to the nebulous database."""
    return _connect(os.environ.get("IPPSIM_NEB_DB", "nebulous"),
                    os.environ.get("IPPSIM_NEB_USER", os.environ.get("IPPSIM_DB_USER", "neb")),
                    os.environ.get("IPPSIM_NEB_PASSWORD", os.environ.get("IPPSIM_DB_PASSWORD", "")))


def environment(params, *, dbname: str = "gpc1", neb_params=None, nebulous_db: str = "nebulous") -> dict:
    """IPPSIM_* variables that point the stand-ins at `params` (a ippsim.mariadb.ConnParams)."""
    env = {"IPPSIM_DB_SOCKET": params.socket, "IPPSIM_DB_HOST": params.host, "IPPSIM_DB_PORT": str(params.port),
           "IPPSIM_DB_USER": params.user, "IPPSIM_DB_PASSWORD": params.password, "IPPSIM_DB_NAME": dbname,
           "IPPSIM_NEB_DB": nebulous_db}
    neb = neb_params or params
    env.update({"IPPSIM_NEB_USER": neb.user, "IPPSIM_NEB_PASSWORD": neb.password})
    return env
