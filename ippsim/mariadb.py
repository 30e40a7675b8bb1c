"""Throwaway MariaDB server in a private directory: own datadir, unix socket and loopback port."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pymysql

from ippsim.procs import ManagedServer, die_with_parent, free_loopback_port, stop_process_group

# sun_path is 108 bytes on Linux; leave room for the terminating NUL.
_MAX_SOCKET_PATH = 100


class MariaDBError(RuntimeError):
    """The throwaway server could not be installed, started or stopped."""


@dataclass(frozen=True)
class ConnParams:
    """How to reach one server as one user: unix socket, or host/port over loopback TCP."""

    socket: str
    host: str
    port: int
    user: str = "root"
    password: str = ""

    def as_user(self, user: str, password: str) -> "ConnParams":
        """The same server reached as another account."""
        return replace(self, user=user, password=password)

    def connect(self, database: str | None = None, *, tcp: bool = False, **kwargs) -> pymysql.connections.Connection:
        """Open a PyMySQL connection (socket by default, TCP with tcp=True)."""
        options = dict(user=self.user, password=self.password, database=database, charset="latin1",
                       connect_timeout=10, autocommit=True)
        options.update(kwargs)
        if tcp:
            return pymysql.connect(host=self.host, port=self.port, **options)
        return pymysql.connect(unix_socket=self.socket, **options)


def find_binaries() -> tuple[str, str] | None:
    """Paths of (mariadbd, mariadb-install-db), or None when MariaDB is not installed."""
    server = shutil.which("mariadbd") or ("/usr/sbin/mariadbd" if os.access("/usr/sbin/mariadbd", os.X_OK) else None)
    installer = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    return (server, installer) if server and installer else None


class MariaDBServer(ManagedServer):
    """A private MariaDB server under base_dir; use as a context manager or start()/stop()."""

    def __init__(self, base_dir: str | os.PathLike, *, mariadbd: str | None = None, install_db: str | None = None,
                 buffer_pool: str = "128M", startup_timeout: float = 60.0, stop_timeout: float = 30.0) -> None:
        found = find_binaries()
        self.mariadbd = mariadbd or (found[0] if found else None)
        self.install_db = install_db or (found[1] if found else None)
        if not self.mariadbd or not self.install_db:
            raise MariaDBError("mariadbd / mariadb-install-db not found (install the mariadb-server package)")
        self.base_dir = Path(base_dir).resolve()
        self.datadir = self.base_dir / "data"
        self.socket_path = self.base_dir / "mysqld.sock"
        self.error_log = self.base_dir / "error.log"
        self.buffer_pool = buffer_pool
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._process: subprocess.Popen | None = None
        self._params: ConnParams | None = None
        if len(str(self.socket_path)) > _MAX_SOCKET_PATH:
            raise MariaDBError(f"socket path too long for a unix socket: {self.socket_path}")

    @property
    def params(self) -> ConnParams:
        """Root connection parameters of the running server."""
        if self._params is None:
            raise MariaDBError("server is not running")
        return self._params

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> ConnParams:
        """Install a fresh datadir if needed, start the server and wait until it accepts connections."""
        if self.running:
            return self.params
        self.base_dir.mkdir(parents=True, exist_ok=True)
        (self.base_dir / "tmp").mkdir(exist_ok=True)
        if not (self.datadir / "mysql").is_dir():
            self._install()
        last_error = ""
        for _attempt in range(3):  # a port picked as free can be taken before mariadbd binds it
            port = free_loopback_port()
            self._spawn(port)
            atexit.register(self.stop)
            try:
                self._wait_ready(port)
                return self.params
            except MariaDBError as exc:
                last_error = str(exc)
                self.stop()
                if "Address already in use" not in self._log_tail():
                    break
        raise MariaDBError(last_error)

    def stop(self) -> None:
        """Stop the server: SIGTERM, wait, then SIGKILL. Safe to call twice."""
        process, self._process, self._params = self._process, None, None
        atexit.unregister(self.stop)
        if process is not None:
            stop_process_group(process, self.stop_timeout)

    def _install(self) -> None:
        # a private tmpdir: concurrent installs sharing /tmp once failed removing each other's #sql-temptable files
        argv = [self.install_db, "--no-defaults", f"--datadir={self.datadir}", "--user=root",
                "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
                f"--tmpdir={self.base_dir / 'tmp'}"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise MariaDBError(f"mariadb-install-db failed ({result.returncode}): {result.stderr[-2000:]}")

    def _spawn(self, port: int) -> None:
        argv = [
            self.mariadbd, "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.socket_path}",
            f"--port={port}", "--bind-address=127.0.0.1", "--user=root",
            f"--pid-file={self.base_dir / 'mysqld.pid'}", f"--log-error={self.error_log}",
            f"--tmpdir={self.base_dir / 'tmp'}", "--skip-name-resolve", "--skip-log-bin",
            "--performance-schema=OFF", "--local-infile=1", "--max-connections=200",
            f"--innodb-buffer-pool-size={self.buffer_pool}", "--innodb-log-file-size=64M",
            "--innodb-flush-log-at-trx-commit=2", "--innodb-doublewrite=0", "--innodb-flush-method=O_DIRECT_NO_FSYNC",
            "--character-set-server=latin1", "--collation-server=latin1_swedish_ci",
        ]
        self.error_log.unlink(missing_ok=True)
        # own process group, so stop() can signal it like the site's other servers (a terminal's Ctrl-C skips it)
        self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, preexec_fn=die_with_parent,
                                         start_new_session=True)
        self._params = ConnParams(socket=str(self.socket_path), host="127.0.0.1", port=port)

    def _wait_ready(self, port: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        params = ConnParams(socket=str(self.socket_path), host="127.0.0.1", port=port)
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise MariaDBError(f"mariadbd exited during start-up:\n{self._log_tail()}")
            if self.socket_path.exists():
                try:
                    params.connect(connect_timeout=2).close()
                    return
                except pymysql.err.OperationalError:
                    pass
            time.sleep(0.05)
        raise MariaDBError(f"mariadbd not ready after {self.startup_timeout:.0f}s:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.error_log.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no error log)"
