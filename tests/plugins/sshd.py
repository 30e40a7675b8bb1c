"""A real OpenSSH server on 127.0.0.1 for the test session, with throwaway host and user keys."""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from plugins.tools import need_tool

SSHD_CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers {user}
MaxSessions 64
MaxStartups 64
LogLevel ERROR
"""


def free_port() -> int:
    """Return a loopback TCP port that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _keygen(keygen: str, path: Path, passphrase: str = "") -> list[str]:
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", passphrase, "-C", "ipp-test", "-f", str(path)],
                   check=True, timeout=30, stdin=subprocess.DEVNULL)
    return path.with_suffix(".pub").read_text().split(None, 2)[:2]


@dataclass
class SshServer:
    """A running sshd: where it listens, who may log in, and the key files a client needs."""

    directory: Path
    sshd: str
    port: int
    user: str
    key_file: str             # user key, no passphrase
    protected_key_file: str   # user key with passphrase `passphrase`
    passphrase: str
    known_hosts: str          # holds this server's real host key
    wrong_known_hosts: str    # holds another key for the same host:port (a changed host key)
    empty_known_hosts: str    # knows no host
    process: subprocess.Popen | None = None

    host = "127.0.0.1"

    def start(self) -> None:
        """Start sshd in the foreground (-D) and wait until it accepts connections."""
        log = open(self.directory / "sshd.log", "ab")
        self.process = subprocess.Popen([self.sshd, "-D", "-e", "-f", str(self.directory / "sshd_config")],
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited {self.process.returncode}: {(self.directory / 'sshd.log').read_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start listening within 15 s")

    def stop(self) -> None:
        """Stop the listener and every connection it forked."""
        if self.process is None:
            return
        self.drop_connections()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Stop and start again on the same port and keys."""
        self.stop()
        self.start()

    def connection_pids(self) -> list[int]:
        """PIDs of every process under the listener (per-connection monitors, their privsep children, sessions)."""
        if self.process is None:
            return []
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
        found, frontier = [], {self.process.pid}
        for _ in range(8):  # bounded depth: listener -> monitor -> user child -> session command
            frontier = {pid for pid, parent in parents.items() if parent in frontier}
            if not frontier:
                break
            found += sorted(frontier)
        return found

    def drop_connections(self) -> int:
        """Kill every open client connection on the server side; return how many were killed."""
        pids = self.connection_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory) -> SshServer:
    """A real sshd on 127.0.0.1 for the whole session; the login user is the one running the tests."""
    sshd_path = need_tool("sshd", "/usr/sbin/sshd")
    keygen = need_tool("ssh-keygen")
    user = getpass.getuser()
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    elif not Path("/run/sshd").is_dir():
        pytest.skip("sshd needs /run/sshd (create it once as root: install -d -m 755 /run/sshd)")
    directory = tmp_path_factory.mktemp("sshd")
    os.chmod(directory, 0o700)
    host_type, host_key = _keygen(keygen, directory / "ssh_host_ed25519_key")
    _, other_key = _keygen(keygen, directory / "other_host_key")
    _keygen(keygen, directory / "id_ed25519")
    _keygen(keygen, directory / "id_protected", passphrase="test-passphrase")
    (directory / "authorized_keys").write_text((directory / "id_ed25519.pub").read_text()
                                               + (directory / "id_protected.pub").read_text())
    port = free_port()
    (directory / "sshd_config").write_text(SSHD_CONFIG.format(port=port, dir=directory, user=user))
    entry = f"[127.0.0.1]:{port}"
    (directory / "known_hosts").write_text(f"{entry} {host_type} {host_key}\n")
    (directory / "wrong_known_hosts").write_text(f"{entry} {host_type} {other_key}\n")
    (directory / "empty_known_hosts").write_text("")
    server = SshServer(directory, sshd_path, port, user, str(directory / "id_ed25519"),
                       str(directory / "id_protected"), "test-passphrase", str(directory / "known_hosts"),
                       str(directory / "wrong_known_hosts"), str(directory / "empty_known_hosts"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
