"""Helpers for the deployment tests: the repository root, tool runs, HTTP JSON, and real servers on loopback."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from ippsim.procs import die_with_parent, free_loopback_port, stop_process_group

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def run(argv: list[str], timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run a tool with a time limit, capturing text output."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)


def load_render():
    """The deploy/render.py module (deploy/ is not a package)."""
    spec = importlib.util.spec_from_file_location("deploy_render", ROOT / "deploy" / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def http(url: str, payload: object | None = None, *, method: str | None = None, timeout: float = 5,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET (or send payload as JSON) and return (status, body); HTTP errors are returned, not raised."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_json(url: str, payload: object | None = None, **kwargs) -> object:
    """Like http(), decoding a 2xx JSON answer; anything else raises AssertionError."""
    status, body = http(url, payload, **kwargs)
    assert 200 <= status < 300, f"{url}: HTTP {status}: {body[:300]!r}"
    return json.loads(body) if body else None


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.25) -> T:
    """Poll `check` until it returns something truthy (returned) or `timeout` seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
            if result:
                return result
            last = result
        except (OSError, AssertionError, ValueError, KeyError) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def log_tail(path: Path, lines: int = 30) -> str:
    """The end of a server's log, for failure messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def server(argv: list[str], ready_url: str, log: Path, timeout: float = 30, env: dict | None = None) -> Iterator[subprocess.Popen]:
    """Start `argv` in its own process group (logging to `log`), wait until `ready_url` answers 200, stop it after."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=die_with_parent, env=env)
    try:
        deadline = time.monotonic() + timeout
        while http_status(ready_url) != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{argv[0]} did not become ready at {ready_url}:\n{log_tail(log)}")
            time.sleep(0.2)
        yield proc
    finally:
        stop_process_group(proc)


def http_status(url: str) -> int | None:
    """The HTTP status of GET url, or None when nothing answers."""
    try:
        return http(url, timeout=2)[0]
    except OSError:
        return None


def ports(count: int) -> list[int]:
    """`count` distinct free loopback ports."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = free_loopback_port()
        if port not in chosen:
            chosen.append(port)
    return chosen


def free_port_url() -> tuple[str, str]:
    """(base URL, listen address) of a free loopback port."""
    port = free_loopback_port()
    return f"http://127.0.0.1:{port}", f"127.0.0.1:{port}"


def default_args(relative: str, hosts: dict[str, str]) -> list[str]:
    """The ARGS of a committed deploy/<relative> Debian defaults file, its host:port pairs mapped to loopback ones."""
    text = (ROOT / "deploy" / relative).read_text()
    args_line = next(line for line in text.splitlines() if line.startswith("ARGS="))
    args = shlex.split(shlex.split(args_line)[0].removeprefix("ARGS="))  # the unit expands $ARGS by words
    for old, new in hosts.items():
        args = [arg.replace(old, new) for arg in args]
    unmapped = [arg for arg in args if re.search(r"ippmon|0\.0\.0\.0", arg)]
    assert not unmapped, f"deploy/{relative}: addresses the test does not map: {unmapped}"
    return args
