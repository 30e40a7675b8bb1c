"""A private sshd on 127.0.0.1: own config, host key, client key, authorized_keys and known_hosts."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _keygen(path: Path) -> None:
    if path.exists():
        return
    argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ippsim", "-f", str(path)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise SshdError(f"ssh-keygen failed: {result.stderr.strip()}")


class SshdServer:
    """sshd under base_dir for the current user, key login only; use as a context manager or start()/stop()."""

    def __init__(self, base_dir: str | os.PathLike, *, sshd: str | None = None, startup_timeout: float = 15.0) -> None:
        self.sshd = sshd or find_sshd()
        if not self.sshd:
            raise SshdError("sshd not found (install the openssh-server package)")
        self.base_dir = Path(base_dir).resolve()
        self.startup_timeout = startup_timeout
        self.user = getpass.getuser()
        self.host_key = self.base_dir / "ssh_host_ed25519_key"
        self.client_key = self.base_dir / "id_ed25519"
        self.known_hosts = self.base_dir / "known_hosts"
        self.authorized_keys = self.base_dir / "authorized_keys"
        self.config = self.base_dir / "sshd_config"
        self.log = self.base_dir / "sshd.log"
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

    def _prepare(self, port: int) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        _keygen(self.host_key)
        _keygen(self.client_key)
        self.authorized_keys.write_text(Path(f"{self.client_key}.pub").read_text())
        self.authorized_keys.chmod(0o600)
        host_pub = Path(f"{self.host_key}.pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
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

    def start(self) -> SshdInfo:
        """Start sshd on a free loopback port and wait until it sends its SSH banner."""
        if self._process is not None and self._process.poll() is None:
            return self.info
        last = ""
        for _attempt in range(3):  # the chosen port can be taken before sshd binds it
            port = _free_port()
            self._prepare(port)
            argv = [self.sshd, "-D", "-e", "-f", str(self.config)]
            with open(self.log, "ab") as log:
                self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                                 start_new_session=True)
            try:
                self._wait(port)
                self._info = SshdInfo("127.0.0.1", port, self.user, str(self.client_key), str(self.known_hosts))
                return self._info
            except SshdError as exc:
                last = str(exc)
                self.stop()
        raise SshdError(last)

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

    def stop(self) -> None:
        """Stop sshd and its session children (its own process group). Safe to call twice."""
        process, self._process, self._info = self._process, None, None
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, 15)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(timeout=10)

    def __enter__(self) -> SshdInfo:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info) -> None:
        self.stop()
