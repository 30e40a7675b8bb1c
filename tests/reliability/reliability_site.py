"""A whole simulated site for the reliability tests: simulated pantasks servers (local and over a real sshd),
processing and nebulous databases on a real MariaDB, and pantasks servers whose client misbehaves on demand.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any, Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.parser import text_string_to_metric_families

from exporter.collectors import Exporter
from exporter.config import config_from_data
from exporter.http import make_app
from ippsim.pantasks.sites import create_server
from ippsim.pantasks.wrapper import write_client

# A pantasks_client stand-in that misbehaves as the file `fault` next to its ptolemy.rc says, else runs the
# simulated client: huge = 10 MiB of output (5 on each stream), hang = never ends, 137 = part of a status table
# and exit 137 (a client killed by SIGKILL under a shell).
FAULTY_CLIENT = """#!/bin/sh
fault=$(cat "$(dirname "${{PTOLEMY:-./ptolemy.rc}}")/fault" 2>/dev/null)
case "$fault" in
  huge) exec "{python}" -c 'import sys
chunk = (b"x" * 1023 + b"\\n") * 1024
for _ in range(5):
    sys.stdout.buffer.write(chunk); sys.stdout.flush(); sys.stderr.buffer.write(chunk); sys.stderr.flush()' ;;
  hang) exec sleep 3600 ;;
  137) printf '\\nWelcome to pantasks client shell\\n\\n Scheduler is running\\n Task Status\\n  AV Name' ; exit 137 ;;
  *) exec "{client}" "$@" ;;
esac
"""
FAULTS = ("huge", "hang", "137")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pantasks"
FAKE_CLIENT = FIXTURES / "bin" / "fake_pantasks_client"  # replays fixture files (tests/pantasks owns it)


@dataclass
class PantasksSite:
    """Simulated pantasks servers under one directory; `faulty` ones take a `fault` file."""

    root: Path
    client: Path = field(init=False)
    faulty_client: Path = field(init=False)

    def __post_init__(self) -> None:
        self.client = write_client(self.root / "bin")
        self.faulty_client = self.root / "bin" / "faulty_pantasks_client"
        self.faulty_client.write_text(FAULTY_CLIENT.format(python=sys.executable, client=self.client))
        self.faulty_client.chmod(0o755)

    def server(self, name: str, kind: str = "stdscience", *, host: str | None = None, faulty: bool = False,
               timeout: str = "2s", seed: int = 1) -> dict[str, Any]:
        """Create one simulated server directory; return its config entry."""
        directory = create_server(self.root / name, kind, labels=("M31.nightlyscience", "ThreePi.nightlyscience"),
                                  seed=seed)
        entry: dict[str, Any] = {"name": name, "directory": str(directory), "timeout": timeout,
                                 "client": str(self.faulty_client if faulty else self.client)}
        if host:
            entry["host"] = host
        return entry

    def set_fault(self, name: str, fault: str | None) -> None:
        """Make a faulty server's client misbehave (one of FAULTS) or behave again (None)."""
        path = self.root / name / "fault"
        if fault is None:
            path.unlink(missing_ok=True)
        else:
            assert fault in FAULTS, fault
            path.write_text(fault)


def db_entry(params, dbname: str, *, connect_timeout: str = "1s", query_timeout: str = "1s") -> dict[str, Any]:
    """Config entry for a database reached over the unix socket, password through a file next to nothing secret."""
    return {"dbname": dbname, "user": params.user, "unix_socket": params.socket, "password_env": _password_env(params),
            "connect_timeout": connect_timeout, "query_timeout": query_timeout}


def _password_env(params) -> str:
    name = f"RELIAB_PW_{params.user.upper()}"
    os.environ[name] = params.password  # the config refuses inline secrets; tests run in one process
    return name


def make_exporter(data: dict[str, Any], enabled=("pantasks", "processing", "nebulous")) -> Exporter:
    """An Exporter for a config dict (validated exactly like a config file)."""
    return Exporter(config_from_data(data), enabled=enabled)


Key = tuple[str, tuple[tuple[str, str], ...]]
# self-health figures that move on every scrape, and the one task flag that follows the time of day
MOVING = ("ipp_scrape_collector_duration_seconds", "ipp_source_data_age_seconds", "ipp_source_fetches_total",
          "ipp_source_last_success_timestamp_seconds", "ipp_pantasks_task_valid")


def sample_map(families) -> dict[Key, float]:
    """{(name, sorted labels): value} for every sample."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def of_source(samples: dict[Key, float], source: str) -> dict[Key, float]:
    """The samples that belong to one source: pantasks/<server>, processing/<dbname> or nebulous."""
    kind, _, name = source.partition("/")
    out = {}
    for key, value in samples.items():
        metric, labels = key
        if metric in MOVING:
            continue
        found = dict(labels)
        if kind == "pantasks" and (metric.startswith("ipp_pantasks_") or metric.startswith("ipp_nightly_")):
            if found.get("server") == name:
                out[key] = value
        elif kind == "processing" and found.get("dbname") == name and not metric.startswith("ipp_nebulous"):
            out[key] = value
        elif kind == "nebulous" and metric.startswith("ipp_nebulous_"):
            out[key] = value
    return out


def up(samples: dict[Key, float], source: str) -> float | None:
    """The `_up` value of one source."""
    kind, _, name = source.partition("/")
    if kind == "pantasks":
        return samples.get(("ipp_pantasks_up", (("server", name),)))
    if kind == "processing":
        return samples.get(("ipp_processing_db_up", (("dbname", name),)))
    return samples.get(("ipp_nebulous_db_up", ()))


@dataclass
class Timed:
    """One scrape: how long it took against its budget, and its samples."""

    took: float
    budget: float
    samples: dict[Key, float]


def timed_scrape(exporter: Exporter, budget: float) -> Timed:
    """Scrape once and time it."""
    start = time.monotonic()
    families = exporter.scrape(budget)
    return Timed(time.monotonic() - start, budget, sample_map(families))


def kill_group_from_pidfile(pidfile: Path) -> None:
    """SIGKILL the process (group) whose pid is in `pidfile` (the servers run in sessions of their own)."""
    pid = int(pidfile.read_text().split()[0])
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, signal.SIGKILL)


def swap_files(a: Path, b: Path) -> None:
    """Exchange two files' contents (e.g. an sshd host key and a spare one)."""
    tmp = a.with_name(a.name + ".swap")
    shutil.move(a, tmp)
    shutil.move(b, a)
    shutil.move(tmp, b)


def client_runs(server: dict) -> int:
    """How many times the fake client ran for a fake_server entry."""
    log = Path(server["directory"]) / "runs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def databases(site, **timeouts) -> dict:
    """The processing + nebulous config sections for a site's read-only accounts."""
    return {"processing": {"databases": [db_entry(site.ipp_ro, "gpc1", **timeouts)]},
            "nebulous": db_entry(site.neb_ro, "nebulous", **timeouts)}



class _Threaded(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@contextlib.contextmanager
def served(exporter: Exporter) -> Iterator[str]:
    """Serve the exporter's WSGI app on a free loopback port; yield its /metrics URL."""
    server = make_server("127.0.0.1", 0, make_app(exporter), server_class=_Threaded, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="reliab-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def http_get(url: str, timeout: float = 30.0) -> tuple[int, str]:
    """GET a URL; return the status and the body text."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode()


def root_rows(root, sql: str, params=(), database: str | None = None) -> tuple:
    """Run one statement as root (ConnParams) on its own short connection; return the rows."""
    conn = root.connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


class TableLock:
    """LOCK TABLES <table> WRITE held on its own root connection (readers wait for it) until release()."""

    def __init__(self, root, table: str) -> None:
        self.root, self.table, self._conn = root, table, None

    def take(self) -> None:
        """Take the lock."""
        self._conn = self.root.connect()
        with self._conn.cursor() as cur:
            cur.execute(f"LOCK TABLES {self.table} WRITE")  # a test constant, never data

    def release(self) -> None:
        """Release it and close the connection."""
        if self._conn is not None:
            with self._conn.cursor() as cur:
                cur.execute("UNLOCK TABLES")
            self._conn.close()
            self._conn = None


class CountingListener:
    """A loopback TCP listener that accepts and counts connections and never answers (a silent peer)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        """Stop listening and drop every accepted connection."""
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def text_samples(text: str):
    """{(name, sorted labels): value} of a text exposition."""
    return sample_map(text_string_to_metric_families(text))
