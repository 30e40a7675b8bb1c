"""A private sshd on 127.0.0.1: own config, host key, client keys, authorized_keys and known_hosts."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ippsim.procs import ManagedServer, die_with_parent, free_loopback_port, stop_process_group

_PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start as root without its privilege-separation directory


class SshdError(RuntimeError):
    """sshd could not be set up or started."""


@dataclass(frozen=True)
class SshdInfo:
    """How a client reaches the running sshd."""

    host: str
    port: int
    user: str
    key_file: str
    known_hosts: str


def find_sshd() -> str | None:
    """Path of sshd, or None when openssh-server is not installed."""
    return shutil.which("sshd") or ("/usr/sbin/sshd" if os.access("/usr/sbin/sshd", os.X_OK) else None)


def keygen(path: Path, passphrase: str = "", *, program: str = "ssh-keygen") -> tuple[str, str]:
    """Create an ed25519 key pair at path unless it exists; return the public key's (type, base64 key)."""
    if not path.exists():
        argv = [program, "-q", "-t", "ed25519", "-N", passphrase, "-C", "ippsim", "-f", str(path)]
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
                                check=False)
        if result.returncode != 0:
            raise SshdError(f"ssh-keygen failed: {result.stderr.strip()}")
    kind, key = Path(f"{path}.pub").read_text().split()[:2]
    return kind, key


def known_hosts_line(port: int, kind: str, key: str) -> str:
    """One known_hosts entry for a host key of 127.0.0.1:port."""
    return f"[127.0.0.1]:{port} {kind} {key}\n"


class SshdServer(ManagedServer):
    """sshd under base_dir for the current user, key login only; use as a context manager or start()/stop()."""

    def __init__(self, base_dir: str | os.PathLike, *, sshd: str | None = None, keygen: str = "ssh-keygen",
                 startup_timeout: float = 15.0) -> None:
        self.sshd = sshd or find_sshd()
        if not self.sshd:
            raise SshdError("sshd not found (install the openssh-server package)")
        self.keygen = keygen
        self.base_dir = Path(base_dir).resolve()
        self.startup_timeout = startup_timeout
        self.user = getpass.getuser()
        self.host_key = self.base_dir / "ssh_host_ed25519_key"
        self.client_key = self.base_dir / "id_ed25519"
        self.known_hosts = self.base_dir / "known_hosts"
        self.authorized_keys = self.base_dir / "authorized_keys"
        self.config = self.base_dir / "sshd_config"
        self.log = self.base_dir / "sshd.log"
        self._user_keys: list[Path] = [self.client_key]
        self._process: subprocess.Popen | None = None
        self._info: SshdInfo | None = None

    @property
    def info(self) -> SshdInfo:
        """Connection details of the running server."""
        if self._info is None:
            raise SshdError("sshd is not running")
        return self._info

    @property
    def pid(self) -> int | None:
        """Process id of the running sshd (for tests that check it is gone)."""
        return self._process.pid if self._process else None

    def add_user_key(self, name: str, passphrase: str = "") -> str:
        """Create another login key base_dir/<name> (with a passphrase if given) and authorize it; return its path."""
        path = self.base_dir / name
        self.base_dir.mkdir(parents=True, exist_ok=True)
        keygen(path, passphrase, program=self.keygen)
        if path not in self._user_keys:
            self._user_keys.append(path)
        if self._info is not None:  # sshd reads authorized_keys at each login, so a running server takes it now
            self._write_authorized_keys()
        return str(path)

    def _write_authorized_keys(self) -> None:
        self.authorized_keys.write_text("".join(Path(f"{key}.pub").read_text() for key in self._user_keys))
        self.authorized_keys.chmod(0o600)

    def _prepare(self, port: int) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        kind, host_key = keygen(self.host_key, program=self.keygen)
        keygen(self.client_key, program=self.keygen)
        self._write_authorized_keys()
        self.known_hosts.write_text(known_hosts_line(port, kind, host_key))
        if os.geteuid() == 0 and not _PRIVSEP_DIR.is_dir():
            _PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.config.write_text(
            f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {self.host_key}\n"
            f"PidFile {self.base_dir / 'sshd.pid'}\nAuthorizedKeysFile {self.authorized_keys}\n"
            f"AllowUsers {self.user}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\nStrictModes no\n"
            "X11Forwarding no\nAllowTcpForwarding no\nPrintMotd no\nMaxStartups 50:30:100\nMaxSessions 50\n"
            "LogLevel ERROR\n"
        )

    def start(self, port: int | None = None) -> SshdInfo:
        """Start sshd on `port` (default: a free loopback port) and wait until it sends its SSH banner."""
        if self._process is not None and self._process.poll() is None:
            return self.info
        last = ""
        for _attempt in range(3):  # a port picked as free can be taken before sshd binds it
            chosen = port or free_loopback_port()
            self._prepare(chosen)
            argv = [self.sshd, "-D", "-e", "-f", str(self.config)]
            with open(self.log, "ab") as log:
                self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                                 start_new_session=True, preexec_fn=die_with_parent)
            try:
                self._wait(chosen)
                self._info = SshdInfo("127.0.0.1", chosen, self.user, str(self.client_key), str(self.known_hosts))
                return self._info
            except SshdError as exc:
                last = str(exc)
                self.stop()
        raise SshdError(last)

    def restart(self) -> SshdInfo:
        """Stop (dropping every connection) and start again on the same port with the same keys."""
        port = self.info.port
        self.stop()
        return self.start(port)

    def _wait(self, port: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise SshdError(f"sshd exited during start-up: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
                    if conn.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise SshdError(f"sshd not ready on port {port} after {self.startup_timeout:.0f}s")

    def connection_pids(self) -> list[int]:
        """PIDs of every process under the listener (per-connection monitors, their privsep children, sessions)."""
        if self._process is None:
            return []
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
        found, frontier = [], {self._process.pid}
        for _ in range(8):  # bounded depth: listener -> monitor -> user child -> session command
            frontier = {pid for pid, parent in parents.items() if parent in frontier}
            if not frontier:
                break
            found += sorted(frontier)
        return found

    def drop_connections(self) -> int:
        """Kill every open client connection on the server side; return how many processes were killed."""
        pids = self.connection_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def stop(self) -> None:
        """Stop sshd and every connection it forked (they run in sessions of their own). Safe to call twice."""
        self.drop_connections()
        process, self._process, self._info = self._process, None, None
        if process is not None:
            stop_process_group(process)
