"""Helpers for the processing-DB tests: a row writer for the real gpc1 schema, configs, a silent server."""

from __future__ import annotations

import re
import socket
from datetime import datetime, timezone

from exporter.config import DatabaseConfig

NOW = datetime(2025, 5, 2, 12, 0, tzinfo=timezone.utc)  # mid-night (UTC) of the test site's observing night
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class Rows:
    """Insert rows into one test database as the read-write account (foreign keys off: only the needed rows)."""

    def __init__(self, conn) -> None:
        self.conn = conn
        with conn.cursor() as cur:
            cur.execute("SET SESSION foreign_key_checks = 0")

    def insert(self, table: str, **cols) -> None:
        """INSERT one row; table and column names are test constants checked against a strict pattern."""
        names = [table, *cols]
        assert all(_IDENT.match(n) for n in names), names
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"
        with self.conn.cursor() as cur:
            cur.execute(sql, tuple(cols.values()))

    def execute(self, sql: str, params=()) -> None:
        """Run one parameterised statement."""
        with self.conn.cursor() as cur:
            cur.execute(sql, params)

    # -- shapes used by several tests --

    def chip(self, chip_id: int, state: str, label: str | None, faults=(), data_state: str = "full") -> None:
        """A chipRun with one chipProcessedImfile per (fault, host) pair."""
        self.insert("chipRun", chip_id=chip_id, exp_id=chip_id, state=state, label=label)
        for n, (fault, host) in enumerate(faults):
            self.insert("chipProcessedImfile", chip_id=chip_id, exp_id=chip_id, class_id=f"XY{n:02d}",
                        data_state=data_state, fault=fault, hostname=host)

    def summit(self, summit_id: int, exp_name: str, dateobs: datetime, *, exp_type: str = "OBJECT", imfiles: int = 2,
               fault: int = 0, download: str | None = "stop", burntool=(14, 14), download_faults=(),
               raw_fault: int = 0) -> None:
        """One summit exposure followed as far as the arguments say (download, registration, burntool)."""
        self.insert("summitExp", summit_id=summit_id, exp_name=exp_name, camera="GPC1", telescope="PS1",
                    dateobs=dateobs, exp_type=exp_type, imfiles=imfiles, fault=fault)
        for k in range(imfiles):
            self.insert("summitImfile", **{"summit_id": summit_id, "exp_name": exp_name, "class": "chip",
                                           "class_id": f"ota{k:02d}"})
        if download is None:
            return
        self.insert("pzDownloadExp", summit_id=summit_id, exp_name=exp_name, state=download)
        for k, code in enumerate(download_faults):
            self.insert("pzDownloadImfile", **{"summit_id": summit_id, "exp_name": exp_name, "class": "chip",
                                               "class_id": f"ota{k:02d}", "fault": code, "hostname": "ippc01"})
        if download != "stop":  # registration starts only once the download is complete
            return
        exp_id = summit_id + 1000
        self.insert("newExp", exp_id=exp_id, summit_id=summit_id, tmp_exp_name=exp_name, state="stop", label="L")
        self.insert("rawExp", exp_id=exp_id, exp_name=exp_name, dateobs=dateobs, fault=raw_fault)
        for k, state in enumerate(burntool):
            self.insert("rawImfile", exp_id=exp_id, exp_name=exp_name, class_id=f"XY{k:02d}", tmp_class_id=f"ota{k:02d}",
                        dateobs=dateobs, burntool_state=state, fault=0)


def ro_config(site_db, dbname: str = "gpc1", **overrides) -> DatabaseConfig:
    """DatabaseConfig for the read-only processing account over the unix socket."""
    params = dict(dbname=dbname, user=site_db.ipp_ro.user, password=site_db.ipp_ro.password,
                  unix_socket=site_db.ipp_ro.socket, connect_timeout=2.0, query_timeout=2.0)
    params.update(overrides)
    return DatabaseConfig(**params)


class SilentServer:
    """A loopback TCP listener that accepts connections and never sends a byte (a hung database server)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)  # the kernel completes the handshakes; nobody ever answers
        self.port = self._sock.getsockname()[1]

    def close(self) -> None:
        """Stop listening (pending connections are reset)."""
        self._sock.close()

    def __enter__(self) -> "SilentServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def status_counter(root_conn, name: str) -> int:
    """A global server status counter (e.g. Com_select), read as root."""
    with root_conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE %s", (name,))
        return int(cur.fetchone()[1])


def generated_site(site_db, rows: Rows):
    """Build a generated site with every kind of fault and stale history, plus a registering exposure with a
    faulted imfile and exposure (outstanding); returns its ScenarioSpec."""
    import random
    from dataclasses import replace

    from ippsim import events, scenario
    spec = replace(scenario.ScenarioSpec.tiny(seed=11), labels=scenario.DEFAULT_LABELS, night=NOW.strftime("%Y-%m-%d"),
                   history_exposures=40, active_runs=len(scenario.ACTIVE_STAGES) * 6 * 2, active_faults=300,
                   stale_intake_faults=0.25)
    scenario.build(site_db.root, spec)
    rng = random.Random(3)
    with site_db.root.connect("gpc1") as conn:
        events.overlap_faults(conn, rng, code=4, count=3)
        events.dist_component_faults(conn, rng, code=5, count=4)
        events.inject_faults(conn, rng, stage="dist", code=2, count=2)
    rows.insert("newExp", exp_id=900001, summit_id=900001, state="run", label="ps_ud_QUB")
    rows.insert("rawImfile", exp_id=900001, class_id="XY01", tmp_class_id="XY01", fault=3, hostname="ipp001")
    rows.insert("rawExp", exp_id=900001, fault=2, hostname="ipp001")
    return spec
