"""A real OpenSSH server on 127.0.0.1 for the test session (ippsim's SshdServer), with throwaway keys."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from ippsim.sshd import SshdServer, keygen, known_hosts_line
from plugins.tools import IN_CI, need_tool

PASSPHRASE = "test-passphrase"


@dataclass(frozen=True)
class SshServer:
    """The session's sshd: where it listens, who may log in, and the key and known_hosts files a client needs."""

    server: SshdServer
    port: int
    user: str
    key_file: str             # user key, no passphrase
    protected_key_file: str   # user key with passphrase `passphrase`
    passphrase: str
    known_hosts: str          # holds this server's real host key
    wrong_known_hosts: str    # holds another key for the same host:port (a changed host key)
    empty_known_hosts: str    # knows no host

    host = "127.0.0.1"

    def restart(self) -> None:
        """Stop and start again on the same port and keys."""
        self.server.restart()

    def connection_pids(self) -> list[int]:
        """PIDs of every process under the listener."""
        return self.server.connection_pids()

    def drop_connections(self) -> int:
        """Kill every open client connection on the server side; return how many processes were killed."""
        return self.server.drop_connections()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory) -> SshServer:
    """A real sshd on 127.0.0.1 for the whole session; the login user is the one running the tests."""
    sshd_path = need_tool("sshd", "/usr/sbin/sshd")
    keygen_path = need_tool("ssh-keygen")
    if os.geteuid() != 0 and not Path("/run/sshd").is_dir():  # as root, SshdServer creates it
        (pytest.fail if IN_CI else pytest.skip)("sshd needs /run/sshd (create it once as root: install -d -m 755 /run/sshd)")
    directory = tmp_path_factory.mktemp("sshd")
    os.chmod(directory, 0o700)
    server = SshdServer(directory, sshd=sshd_path, keygen=keygen_path)
    try:
        protected = server.add_user_key("id_protected", passphrase=PASSPHRASE)
        info = server.start()
        kind, other_key = keygen(directory / "other_host_key", program=keygen_path)
        wrong = directory / "wrong_known_hosts"
        wrong.write_text(known_hosts_line(info.port, kind, other_key))
        empty = directory / "empty_known_hosts"
        empty.write_text("")
        yield SshServer(server, info.port, info.user, info.key_file, protected, PASSPHRASE, info.known_hosts,
                        str(wrong), str(empty))
    finally:
        server.stop()
