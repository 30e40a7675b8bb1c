"""Shared by the local servers of the simulated site: free loopback ports, no orphans, group shutdown, `with`."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess

_PR_SET_PDEATHSIG = 1


def free_loopback_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (the caller retries on a clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this (child) process when the process that started it dies (no orphans)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: atexit/finally still stop the server
        pass


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def stop_process_group(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process group `process` leads (start_new_session=True), wait `timeout`, then SIGKILL it."""
    if process.poll() is not None:
        return
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait(timeout=10)


class ManagedServer:
    """`with` support for a local server class that defines start() and stop(): yields what start() returns."""

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()  # a half-started server (process up, not ready) must not outlive the failure
            raise

    def __exit__(self, *exc_info) -> None:
        self.stop()
