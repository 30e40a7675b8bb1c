"""SSH phases end by the run's deadline against a real sshd that accepts TCP and then stops answering (SIGSTOP)."""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager

import pytest

from exporter.config import SshConfig
from exporter.transport import CommandTimedOut, ConnectFailed, SshRunner, TransportError

BOUND = 10.0  # how long the test waits for a run that should end after ~1 s (today's code never ends)


@contextmanager
def stopped(pids):
    """SIGSTOP the processes for the block, then SIGCONT them (always)."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def timed_run(runner: SshRunner, timeout: float) -> tuple[float, BaseException | None]:
    """Run `echo` in a thread; return how long it took and what it raised (BOUND when it never returned)."""
    outcome: list = []

    def target():
        start = time.monotonic()
        try:
            runner.run(["echo", "hi"], timeout=timeout)
            outcome.append((time.monotonic() - start, None))
        except TransportError as exc:
            outcome.append((time.monotonic() - start, exc))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(BOUND)
    return outcome[0] if outcome else (BOUND, None)


def runner_for(sshd, connect_timeout: float) -> SshRunner:
    return SshRunner(sshd.host, SshConfig(sshd.user, sshd.known_hosts, sshd.port, sshd.key_file,
                                          connect_timeout=connect_timeout))


class StopsAfterSessionOpen(SshRunner):
    """Stops the server's per-connection processes right after the session opens, so the exec request hangs."""

    def __init__(self, sshd, **kw) -> None:
        super().__init__(sshd.host, SshConfig(sshd.user, sshd.known_hosts, sshd.port, sshd.key_file, **kw))
        self.sshd = sshd
        self.stopped: list[int] = []

    def _session(self, deadline):
        channel = super()._session(deadline)
        self.stopped = self.sshd.connection_pids()
        for pid in self.stopped:
            os.kill(pid, signal.SIGSTOP)
        return channel


def test_exec_request_on_a_server_gone_silent_ends_at_the_deadline(sshd):
    runner = StopsAfterSessionOpen(sshd, connect_timeout=30)
    try:
        took, error = timed_run(runner, timeout=1.0)
        assert runner.stopped, "no sshd connection process was found to stop"
        assert took < 4.0, "exec_command waited past the deadline"
        assert isinstance(error, CommandTimedOut) and "exec not answered" in str(error), error
    finally:
        for pid in runner.stopped:
            os.kill(pid, signal.SIGCONT)
        runner.close()


def test_a_connection_whose_server_went_silent_costs_one_deadline_then_reconnects(sshd):
    runner = runner_for(sshd, connect_timeout=30)
    try:
        assert runner.run(["true"], timeout=10).exit_code == 0  # the shared connection is open
        with stopped(sshd.connection_pids()):  # the per-connection sshd processes stop answering
            took, error = timed_run(runner, timeout=1.0)
        assert took < 4.0, "the run did not end at its deadline"
        assert isinstance(error, TransportError), error
        sshd.drop_connections()
        assert runner.run(["echo", "back"], timeout=10).stdout == b"back\n"  # a new connection is made
        assert runner.connects == 2
    finally:
        runner.close()


def test_connect_to_a_listener_that_accepts_but_never_answers_ends_at_the_deadline(sshd):
    runner = runner_for(sshd, connect_timeout=30)  # the per-phase limit alone would allow 30 s per phase
    try:
        with stopped([sshd.server.pid]):  # the kernel still accepts TCP; nothing sends the SSH banner
            took, error = timed_run(runner, timeout=1.0)
        assert took < 4.0, "the connect did not end at the run's deadline"
        assert isinstance(error, ConnectFailed) and "deadline" in str(error), error
        assert runner.run(["echo", "up"], timeout=10).stdout == b"up\n"
    finally:
        runner.close()


@pytest.fixture(autouse=True)
def _no_leftover_connections(sshd):
    yield
    sshd.drop_connections()
