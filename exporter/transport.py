"""Run a command locally (subprocess) or over SSH (paramiko) with a hard deadline and typed errors."""

from __future__ import annotations

import logging
import math
import os
import re
import select
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence

import paramiko

from exporter.config import SshConfig

log = logging.getLogger(__name__)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHUNK = 1 << 16


class TransportError(Exception):
    """Base class: the command could not be run to completion."""


class CommandFailed(TransportError):
    """The command could not be started, or its connection broke while it ran."""

    def __init__(self, where: str, argv: Sequence[str], detail: str) -> None:
        self.where, self.argv, self.detail = where, tuple(argv), detail
        super().__init__(f"{where}: {shlex.join(argv)}: {detail}")


class CommandTimedOut(CommandFailed):
    """The command did not finish within its timeout and was killed."""


class ConnectFailed(TransportError):
    """The SSH connection or authentication to a host failed."""

    def __init__(self, host: str, detail: str) -> None:
        self.host = host
        super().__init__(f"ssh {host}: {detail}")


class HostKeyRejected(ConnectFailed):
    """The host's key is not in the configured known_hosts file, or does not match it."""


@dataclass(frozen=True)
class Result:
    """Output and exit code of one finished command (a non-zero exit code is not an error here)."""

    stdout: bytes
    stderr: bytes
    exit_code: int
    duration: float = field(default=0.0, compare=False)


class Runner(Protocol):
    """Runs one command to completion or raises a TransportError."""

    def run(self, argv: Sequence[str], *, stdin: bytes = b"", cwd: str | None = None,
            env: Mapping[str, str] | None = None, timeout: float, merge_stderr: bool = False) -> Result:
        """Run argv with stdin, in cwd, with extra env; kill it and raise CommandTimedOut after `timeout` s."""

    def close(self) -> None:
        """Release connections."""


def _check_env(env: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(env or {})
    for name in env:
        if not _ENV_NAME.match(name):
            raise ValueError(f"invalid environment variable name {name!r}")
    return env


class LocalRunner:
    """Run commands as local subprocesses in their own session, so a timeout kills the whole process group."""

    where = "localhost"

    def run(self, argv: Sequence[str], *, stdin: bytes = b"", cwd: str | None = None,
            env: Mapping[str, str] | None = None, timeout: float, merge_stderr: bool = False) -> Result:
        """Run argv locally; stdout and stderr are drained concurrently by communicate()."""
        extra = _check_env(env)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                list(argv), cwd=cwd, env={**os.environ, **extra} if extra else None,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                start_new_session=True)
        except OSError as exc:
            raise CommandFailed(self.where, argv, f"cannot start: {exc.strerror or exc}") from None
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            raise CommandTimedOut(self.where, argv, f"no answer within {timeout:g}s; killed") from None
        except BaseException:
            self._kill(proc)
            raise
        return Result(out or b"", err or b"", proc.returncode, time.monotonic() - start)

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            # a grandchild that left the group could hold the pipes open: do not wait for EOF forever
            proc.communicate(timeout=1.0)
        except subprocess.TimeoutExpired:
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe:
                    pipe.close()
            proc.wait(timeout=1.0)

    def close(self) -> None:
        """Nothing to release."""


def remote_command(argv: Sequence[str], cwd: str | None = None, env: Mapping[str, str] | None = None,
                   merge_stderr: bool = False, time_limit: float | None = None) -> str:
    """Build the remote shell string from fixed pieces; every argument and config value is shell-quoted.

    With `time_limit`, coreutils `timeout` ends the remote command too: closing the SSH channel at our deadline
    does not signal the remote process, and a hung pantasks_client would otherwise linger on the host.
    """
    extra = _check_env(env)
    words = ["exec"]
    if time_limit is not None:
        words += ["timeout", "-k", "2", f"{math.ceil(time_limit)}"]
    if extra:
        words += ["env", *(f"{k}={v}" for k, v in sorted(extra.items()))]
    command = shlex.join([*words, *argv])
    if cwd:
        command = f"cd {shlex.quote(cwd)} && {command}"
    return command + (" 2>&1" if merge_stderr else "")


class _RejectUnknown(paramiko.RejectPolicy):
    """Paramiko's RejectPolicy, raising our typed error that names the host and the known_hosts file."""

    def __init__(self, known_hosts: str, port: int) -> None:
        self._known_hosts, self._port = known_hosts, port

    def missing_host_key(self, client, hostname, key):
        raise HostKeyRejected(hostname, f"host {hostname} (port {self._port}) is not in {self._known_hosts}; "
                                        "add its key there to trust it")


class _Watchdog:
    """Call `abort` if a blocking call outlives `deadline`: paramiko's exec request waits for its reply forever."""

    def __init__(self, deadline: float, abort) -> None:
        self.fired = False
        self._abort = abort
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        self._abort()

    def __enter__(self) -> "_Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


class SshRunner:
    """Run commands on one host over one reused SSH connection (reopened when it has died).

    Every phase (connect, key exchange, auth, session, exec, read) ends by the run's deadline: a half-open
    connection (a peer that accepted TCP and then went silent) costs one timeout, never a hung fetch.
    """

    def __init__(self, host: str, ssh: SshConfig) -> None:
        self.host, self.ssh = host, ssh
        self.where = f"{ssh.user}@{host}:{ssh.port}"
        self._lock = threading.Lock()
        self._client: paramiko.SSHClient | None = None
        self.connects = 0  # connections opened (exported as ipp_source_connects_total)

    def _connect(self, deadline: float) -> paramiko.SSHClient:
        t, host = self.ssh, self.host
        phase = max(0.05, min(t.connect_timeout, deadline - time.monotonic()))  # each of TCP, banner, kex, auth
        client = paramiko.SSHClient()
        try:
            # only the configured file: never ~/.ssh/known_hosts, never auto-add
            client.load_host_keys(t.known_hosts)
        except OSError as exc:
            raise ConnectFailed(host, f"cannot read known_hosts {t.known_hosts}: {exc.strerror or exc}") from None
        client.set_missing_host_key_policy(_RejectUnknown(t.known_hosts, t.port))
        # the phases' timeouts add up: the watchdog closes the socket when the run's deadline comes first
        try:
            with _Watchdog(deadline, client.close) as dog:
                client.connect(host, port=t.port, username=t.user, key_filename=t.key_file,
                               passphrase=t.key_passphrase, timeout=phase, banner_timeout=phase, auth_timeout=phase,
                               channel_timeout=phase, allow_agent=False, look_for_keys=False)
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyRejected(host, f"host key for {host} does not match {t.known_hosts}: {exc}") from None
        except HostKeyRejected:
            client.close()
            raise
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            if dog.fired:
                raise ConnectFailed(host, "no SSH answer (connect, key exchange or auth) by the deadline") from None
            if isinstance(exc, paramiko.SSHException):
                raise ConnectFailed(host, f"{type(exc).__name__}: {exc}") from None
            raise ConnectFailed(host, f"cannot connect to port {t.port}: {exc}") from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(30)  # notice silently dropped connections between scrapes
        self.connects += 1
        return client

    def _session(self, deadline: float) -> paramiko.Channel:
        """Open a channel on the shared connection by the deadline; reconnect once if the old connection has died."""
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise ConnectFailed(self.host, "another run was still connecting at the deadline")
        try:
            for attempt in (1, 2):
                client = self._client
                transport = client.get_transport() if client else None
                if transport is None or not transport.is_active():
                    if client is not None:
                        log.info("ssh %s: connection lost; reconnecting", self.host)
                        client.close()
                    self._client = client = self._connect(deadline)
                    transport = client.get_transport()
                if client is None or transport is None:
                    raise ConnectFailed(self.host, "connection closed while it was being set up")
                try:
                    return transport.open_session(timeout=max(0.05, min(self.ssh.connect_timeout,
                                                                         deadline - time.monotonic())))
                except (paramiko.SSHException, OSError, EOFError) as exc:
                    client.close()
                    self._client = None
                    if attempt == 2 or time.monotonic() >= deadline:
                        raise ConnectFailed(self.host, f"cannot open a session: {exc}") from None
        finally:
            self._lock.release()
        raise AssertionError("unreachable")

    def _forget(self, channel: paramiko.Channel) -> None:
        with self._lock:
            if self._client is not None and self._client.get_transport() is channel.get_transport():
                self._client.close()
                self._client = None

    def run(self, argv: Sequence[str], *, stdin: bytes = b"", cwd: str | None = None,
            env: Mapping[str, str] | None = None, timeout: float, merge_stderr: bool = False) -> Result:
        """Run argv on the host; drain both streams while feeding stdin, and close the channel at the deadline."""
        start = time.monotonic()
        deadline = start + timeout
        command = remote_command(argv, cwd, env, merge_stderr, time_limit=timeout + 1)
        channel = self._session(deadline)
        try:
            # a silent peer never answers the exec request: close the connection at the deadline to end the wait
            with _Watchdog(deadline, channel.get_transport().close) as dog:
                try:
                    channel.exec_command(command)
                except (paramiko.SSHException, OSError, EOFError):
                    if dog.fired:
                        raise CommandTimedOut(self.where, argv, f"exec not answered within {timeout:g}s; "
                                                                "connection closed") from None
                    raise
            out, err = self._pump(channel, stdin, deadline)
            if out is None:
                raise CommandTimedOut(self.where, argv, f"no answer within {timeout:g}s; channel closed")
            return Result(out, err, channel.recv_exit_status(), time.monotonic() - start)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self._forget(channel)
            raise CommandFailed(self.where, argv, f"connection lost: {exc}") from None
        finally:
            channel.close()

    @staticmethod
    def _pump(channel: paramiko.Channel, stdin: bytes, deadline: float) -> tuple[bytes | None, bytes]:
        """Feed stdin and read stdout/stderr until EOF and exit status, or return (None, b'') at the deadline."""
        out, err = bytearray(), bytearray()
        pending = memoryview(stdin)
        if not pending:
            channel.shutdown_write()
        fd = channel.fileno()  # readable when either stream has data (paramiko ORs both buffers into it)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, b""
            busy = False
            if pending and channel.send_ready():
                sent = channel.send(bytes(pending[:_CHUNK]))
                pending = pending[sent:]
                if not pending:
                    channel.shutdown_write()
                busy = True
            while channel.recv_ready():
                out += channel.recv(_CHUNK)
                busy = True
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(_CHUNK)
                busy = True
            if channel.closed or (channel.eof_received and channel.exit_status_ready()):
                if not channel.recv_ready() and not channel.recv_stderr_ready():
                    return bytes(out), bytes(err)
                continue
            if not busy:
                # bounded wait: wakes on data, and at least every 50 ms to re-check EOF, exit status and the deadline
                select.select([fd], [], [], min(0.05, remaining))

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
