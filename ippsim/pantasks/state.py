"""Simulated pantasks server state: a JSON file per server directory, locked and replaced atomically."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

STATE_FILE = "pantasks-sim.json"
RC_FILE = "ptolemy.rc"
STATE_VERSION = 1
MODES = ("ok", "hung", "down")
HOST_STATES = ("IDLE", "BUSY", "RESP", "DONE", "DOWN", "OFF")
JOB_STATES = ("NONE", "BUSY", "EXIT", "HUNG", "CRASH", "PENDING")
DEFAULT_BUSY_WAIT = 3.0  # the real client's MSG_TIMEOUT


class StateError(RuntimeError):
    """The state file is missing or not a simulated pantasks server state."""


def state_path(directory: str | os.PathLike) -> Path:
    """Path of the JSON state file of the server living in `directory`."""
    return Path(directory) / STATE_FILE


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _check(data: Any, path: Path) -> dict:
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION or not isinstance(data.get("tasks"), list):
        raise StateError(f"{path}: not a simulated pantasks state (version {STATE_VERSION})")
    return data


def _read(path: Path) -> dict:
    try:
        return _check(json.loads(path.read_text()), path)
    except FileNotFoundError:
        raise StateError(f"{path}: no such state file") from None
    except (OSError, ValueError) as exc:
        raise StateError(f"{path}: unreadable state: {exc}") from None


def _write(path: Path, data: dict) -> None:
    """Write via a temporary file in the same directory and rename (readers never see half a file)."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(path: Path, exclusive: bool) -> Iterator[None]:
    with open(_lock_path(path), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load(directory: str | os.PathLike) -> dict:
    """Read the state of the server in `directory` under a shared lock."""
    path = state_path(directory)
    if not path.parent.is_dir():
        raise StateError(f"{path.parent}: no such server directory")
    with _locked(path, exclusive=False):
        return _read(path)


def save(directory: str | os.PathLike, data: dict) -> None:
    """Replace the state of the server in `directory` (creating it) under an exclusive lock."""
    path = state_path(directory)
    with _locked(path, exclusive=True):
        _write(path, _check(data, path))


@contextlib.contextmanager
def modify(directory: str | os.PathLike) -> Iterator[dict]:
    """Read-modify-write under one exclusive lock; written only when the block succeeds and changed something."""
    path = state_path(directory)
    with _locked(path, exclusive=True):
        data = _read(path)
        before = json.dumps(data, sort_keys=True)
        yield data
        if json.dumps(data, sort_keys=True) != before:
            _write(path, _check(data, path))


def read_rc(path: str | os.PathLike) -> dict[str, str]:
    """Parse a ptolemy.rc: `KEY value` lines, last one wins, `input FILE` includes (a relative FILE is opened from
    the working directory, as libohana config.c does), `$VAR` from the environment."""
    values: dict[str, str] = {}
    _read_rc(Path(path), values, depth=0)
    return values


def _read_rc(path: Path, values: dict[str, str], depth: int) -> None:
    if depth > 8:  # a file including itself must not loop forever
        return
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, value = line.partition(" ")
        value = os.path.expandvars(value.strip())
        if key == "input":
            include = Path(value)  # config.c LoadRawConfigFile: fopen(infile), relative to the working directory
            if include.is_file():
                _read_rc(include, values, depth + 1)
            continue
        values[key] = value


def write_rc(directory: str | os.PathLike, server_host: str, port: int = 2000, password: str = "sim") -> Path:
    """Write the server directory's ptolemy.rc as the IPP servers have them."""
    path = Path(directory) / RC_FILE
    path.write_text(
        "# simulated pantasks server (ippsim); read by the simulated pantasks_client\n"
        f"PANTASKS_SERVER        {server_host}\n"
        f"PANTASKS_SERVER_PORT   {port}\n"
        f"PASSWORD               {password}\n"
        "PANTASKS_SERVER_STDOUT pantasks.stdout.log\n"
        "PANTASKS_SERVER_STDERR pantasks.stderr.log\n"
        "CONTROLLER             pcontrol\n"
    )
    return path
