"""MariaDB fixtures: one real server per test session, fresh empty site databases per test."""

from __future__ import annotations

import pytest

from ippsim.mariadb import ConnParams, MariaDBServer
from ippsim.site import Accounts, Site, create_accounts, create_database, site_params
from plugins.tools import need_tool

TEST_ACCOUNTS = Accounts(ipp_password="ipp-test-rw", ipp_ro_password="ipp-test-ro",
                         neb_password="neb-test-rw", neb_ro_password="neb-test-ro")
PROCESSING_DBS = ("gpc1",)
NEBULOUS_DB = "nebulous"


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory) -> ConnParams:
    """Root connection parameters of a MariaDB server that lives for the whole test session."""
    mariadbd = need_tool("mariadbd", "/usr/sbin/mariadbd")
    install_db = need_tool("mariadb-install-db", "mysql_install_db")
    server = MariaDBServer(tmp_path_factory.mktemp("mariadb"), mariadbd=mariadbd, install_db=install_db)
    try:
        params = server.start()
        # table grants need the tables to exist once; they survive the per-test DROP/CREATE DATABASE
        for dbname in PROCESSING_DBS:
            create_database(params, dbname, "gpc1")
        create_database(params, NEBULOUS_DB, "nebulous")
        create_accounts(params, PROCESSING_DBS, NEBULOUS_DB, TEST_ACCOUNTS)
        yield params
    finally:
        server.stop()


@pytest.fixture
def site_db(mariadb) -> Site:
    """Fresh, empty gpc1 + nebulous databases with root, ipp/ipp_ro and neb/neb_ro connection parameters."""
    for dbname in PROCESSING_DBS:
        create_database(mariadb, dbname, "gpc1")
    create_database(mariadb, NEBULOUS_DB, "nebulous")
    return site_params(mariadb, TEST_ACCOUNTS, PROCESSING_DBS, NEBULOUS_DB)
