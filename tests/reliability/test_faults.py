"""Faults injected into real parts while the exporter is scraped: MariaDB killed, a table locked, a connection
killed mid-query, max_connections reached, sshd killed, a changed host key, clients that print 10 MB, never end
or exit 137.

Each test checks, for every scrape: it answered within its budget (plus a small allowance for a noisy machine),
and the sources the fault does not touch kept exactly their values; after the fault ends, the touched sources
are back, with their values, within one cache TTL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pymysql
import pytest
from plugins.tools import IN_CI, need_tool
from reliability_report import figure
from reliability_site import (
    PantasksSite,
    TableLock,
    db_entry,
    kill_group_from_pidfile,
    make_exporter,
    of_source,
    root_rows,
    swap_files,
    timed_scrape,
    up,
)

from ippsim.mariadb import MariaDBServer
from ippsim.scenario import ScenarioSpec, build
from ippsim.site import Accounts, create_site
from ippsim.sshd import SshdServer, keygen

BUDGET = 1.5        # seconds a scrape may take
TTL = 2.0           # cache TTL: recovery must come within it once the fault ends
SLACK = 0.5         # allowance over the budget for a shared, noisy 2-core machine
FAULT_TIME = TTL + 1.5  # scrape through the fault this long: past the TTL, so cached values cannot hide it
PANTASKS = ("pantasks/good", "pantasks/flaky", "pantasks/remote")
DATABASES = ("processing/gpc1", "nebulous")
ALL = PANTASKS + DATABASES
_overruns: list[float] = []
_recoveries: dict[str, float] = {}


@dataclass
class FaultSite:
    """The real parts of one test module and the config that points the exporter at them."""

    db: MariaDBServer
    root: object
    sshd: SshdServer
    ssh_port: int
    pantasks: PantasksSite
    config: dict
    spare_key: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A private MariaDB (it gets killed), a private sshd (killed, re-keyed) and three pantasks servers."""
    mariadbd = need_tool("mariadbd", "/usr/sbin/mariadbd")
    install_db = need_tool("mariadb-install-db", "mysql_install_db")
    sshd_path = need_tool("sshd", "/usr/sbin/sshd")
    keygen_path = need_tool("ssh-keygen")
    if os.geteuid() != 0 and not Path("/run/sshd").is_dir():
        (pytest.fail if IN_CI else pytest.skip)("sshd needs /run/sshd (install -d -m 755 /run/sshd as root)")
    base = tmp_path_factory.mktemp("faults")
    os.chmod(base, 0o700)
    db = MariaDBServer(base / "db", mariadbd=mariadbd, install_db=install_db)
    sshd = SshdServer(base / "sshd", sshd=sshd_path, keygen=keygen_path)
    try:
        root = db.start()
        accounts = Accounts("rw-pass", "ro-pass", "neb-rw-pass", "neb-ro-pass")
        dbs = create_site(root, accounts)
        build(root, ScenarioSpec.tiny())
        info = sshd.start()
        known_hosts = base / "known_hosts"  # our own copy: sshd rewrites its file whenever it starts
        shutil.copy(info.known_hosts, known_hosts)
        spare = base / "spare_host_key"
        keygen(spare, program=keygen_path)
        pantasks = PantasksSite(base / "pantasks")
        servers = [pantasks.server("good"), pantasks.server("flaky", faulty=True, seed=2),
                   pantasks.server("remote", "summitcopy", host="127.0.0.1", seed=3)]
        config = {
            "exporter": {"scrape_timeout": f"{BUDGET}s", "timeout_offset": 0, "cache_ttl": f"{TTL}s", "max_stale": "5m"},
            "pantasks": {"servers": servers},
            "ssh": {"user": info.user, "port": info.port, "key_file": info.key_file, "known_hosts": str(known_hosts),
                    "connect_timeout": "1s"},
            "processing": {"databases": [db_entry(dbs.ipp_ro, "gpc1")]},
            "nebulous": db_entry(dbs.neb_ro, "nebulous"),
        }
        yield FaultSite(db, root, sshd, info.port, pantasks, config, spare)
    finally:
        sshd.stop()
        db.stop()
    if _overruns:
        figure("fault injection", f"{len(_overruns)} scrapes under faults, worst {max(_overruns):+.2f}s against a "
                                  f"{BUDGET}s budget; recovery after the fault ended (TTL {TTL}s): "
                                  + ", ".join(f"{k} {v:.1f}s" for k, v in sorted(_recoveries.items())))


@pytest.fixture
def exporter(site):
    """A fresh exporter (empty caches) on the site; closed after the test."""
    made = make_exporter(site.config)
    yield made
    made.close()


def settle(exporter, sources=ALL, limit: float = 30.0):
    """Scrape until every source is up; return those samples (the reference values)."""
    deadline = time.monotonic() + limit
    while True:
        scraped = timed_scrape(exporter, BUDGET)
        if all(up(scraped.samples, s) == 1 for s in sources):
            return scraped.samples
        assert time.monotonic() < deadline, {s: up(scraped.samples, s) for s in sources}
        time.sleep(0.2)


def ride_out(name: str, exporter, affected: tuple[str, ...], inject: Callable[[], None],
             heal: Callable[[], None]) -> None:
    """Inject a fault, scrape through it, heal it, and check budget, isolation and recovery."""
    unaffected = tuple(s for s in ALL if s not in affected)
    reference = settle(exporter)
    inject()
    seen_down = False
    until = time.monotonic() + FAULT_TIME
    while time.monotonic() < until:
        scraped = timed_scrape(exporter, BUDGET)
        _overruns.append(scraped.took - BUDGET)
        assert scraped.took <= BUDGET + SLACK, f"{name}: scrape took {scraped.took:.2f}s (budget {BUDGET}s)"
        for source in unaffected:
            assert up(scraped.samples, source) == 1, f"{name}: {source} went down"
            assert of_source(scraped.samples, source) == of_source(reference, source), f"{name}: {source} changed"
        seen_down = seen_down or any(up(scraped.samples, s) == 0 for s in affected)
        time.sleep(0.2)
    assert seen_down, f"{name}: the fault never showed"
    heal()
    healed = time.monotonic()
    while True:
        scraped = timed_scrape(exporter, BUDGET)
        assert scraped.took <= BUDGET + SLACK, f"{name}: scrape took {scraped.took:.2f}s while recovering"
        if all(up(scraped.samples, s) == 1 and of_source(scraped.samples, s) == of_source(reference, s)
               for s in affected):
            break
        assert time.monotonic() - healed <= TTL + BUDGET, f"{name}: no recovery within one TTL"
        time.sleep(0.1)
    _recoveries[name] = time.monotonic() - healed


def root_query(site, sql: str, params=()):
    """Run one statement as root on the module's MariaDB."""
    return root_rows(site.root, sql, params)


def exporter_connections(site) -> list[int]:
    """Connection ids of the exporter's read-only accounts."""
    rows = root_query(site, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER IN ('ipp_ro', 'neb_ro')")
    return [row[0] for row in rows]


def test_mariadb_killed_and_restarted(site, exporter):
    def kill():
        kill_group_from_pidfile(site.db.base_dir / "mysqld.pid")
        site.db.stop()  # reaps the dead server

    def restart():
        site.root = site.db.start()  # same datadir and socket; InnoDB recovers

    ride_out("mariadb killed", exporter, DATABASES, kill, restart)


def test_table_locked(site, exporter):
    lock = TableLock(site.root, "gpc1.chipRun")
    ride_out("table locked", exporter, ("processing/gpc1",), lock.take, lock.release)


def test_connection_killed_mid_query(site, exporter):
    lock = TableLock(site.root, "gpc1.chipRun")
    killed: list[int] = []

    def lock_then_kill():
        lock.take()
        deadline = time.monotonic() + TTL + 5
        while not killed and time.monotonic() < deadline:
            exporter.scrape(0.2)  # once the cached copy expires, this starts a fetch that blocks on the lock
            for (conn_id,) in root_query(site, "SELECT ID FROM information_schema.PROCESSLIST "
                                               "WHERE USER = 'ipp_ro' AND COMMAND = 'Query'"):
                root_query(site, "KILL %s", (conn_id,))
                killed.append(conn_id)
            time.sleep(0.02)
        assert killed, "the exporter's query was never seen running"

    ride_out("connection killed mid-query", exporter, ("processing/gpc1",), lock_then_kill, lock.release)


def test_max_connections_reached(site, exporter):
    fillers: list = []
    (limit,), = root_query(site, "SELECT @@GLOBAL.max_connections")

    def fill():
        root_query(site, "SET GLOBAL max_connections = 10")  # MariaDB's minimum
        for conn_id in exporter_connections(site):
            root_query(site, "KILL %s", (conn_id,))  # the exporter must open new connections, and cannot
        for _ in range(20):
            try:
                fillers.append(pymysql.connect(unix_socket=site.root.socket, user="ipp", password="rw-pass",
                                               connect_timeout=5))
            except pymysql.err.OperationalError as exc:
                assert exc.args[0] == 1040, exc  # Too many connections
                return
        pytest.fail("max_connections was never reached")

    def release():
        for conn in fillers:
            conn.close()
        root_query(site, "SET GLOBAL max_connections = %s", (limit,))

    ride_out("max_connections reached", exporter, DATABASES, fill, release)


def test_sshd_killed(site, exporter):
    def kill():
        # the whole sshd: per-connection processes outlive a killed listener, so they are killed too
        connections = site.sshd.connection_pids()
        kill_group_from_pidfile(site.sshd.base_dir / "sshd.pid")
        for pid in connections:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        site.sshd.stop()  # reaps the listener

    ride_out("sshd killed", exporter, ("pantasks/remote",), kill, lambda: site.sshd.start(site.ssh_port))


def test_host_key_changed(site, exporter):
    host_key = site.sshd.host_key

    def rekey():
        site.sshd.stop()
        swap_files(host_key, site.spare_key)
        swap_files(Path(f"{host_key}.pub"), Path(f"{site.spare_key}.pub"))
        site.sshd.start(site.ssh_port)

    def restore():
        site.sshd.stop()
        swap_files(host_key, site.spare_key)
        swap_files(Path(f"{host_key}.pub"), Path(f"{site.spare_key}.pub"))
        site.sshd.start(site.ssh_port)

    ride_out("host key changed", exporter, ("pantasks/remote",), rekey, restore)


@pytest.mark.parametrize("fault, what", [("huge", "client printing 10 MB"), ("hang", "client never ending"),
                                         ("137", "client exiting 137")])
def test_misbehaving_client(site, exporter, fault, what):
    ride_out(what, exporter, ("pantasks/flaky",), lambda: site.pantasks.set_fault("flaky", fault),
             lambda: site.pantasks.set_fault("flaky", None))
