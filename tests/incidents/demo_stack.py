"""A running `ipp-sim demo` (the README's first command) driven from a test: inject, query, wait, stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from ippsim.procs import free_loopback_port


class DemoStack:
    """`ipp-sim demo` as a subprocess on free loopback ports; every wait is bounded."""

    def __init__(self, run_dir: Path, *, scenario: str = "quiet-night", speed: float = 60, step: float = 1.0,
                 size: str = "tiny", restart_delay: float = 20.0) -> None:
        self.run_dir = run_dir
        self.ports = {name: free_loopback_port() for name in
                      ("exporter", "prometheus", "alertmanager", "node-exporter", "actions")}
        self.argv = [sys.executable, "-m", "ippsim.cli", "demo", "--size", size, "--step", str(step),
                     "--speed", str(speed), "--scenario", scenario, "--run-dir", str(run_dir),
                     "--restart-delay", str(restart_delay),
                     *(arg for name, port in self.ports.items() for arg in (f"--{name}-port", str(port)))]
        self.log_path = run_dir.parent / f"{run_dir.name}.out"
        self.process: subprocess.Popen | None = None
        self.info: dict = {}

    def start(self, timeout: float = 120.0) -> "DemoStack":
        """Start the demo and wait until demo.json says every part is up."""
        self.run_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the demo exited early:\n{self.output()[-3000:]}")
            if (self.run_dir / "demo.json").exists():
                self.info = json.loads((self.run_dir / "demo.json").read_text())
                return self
            time.sleep(0.3)
        raise RuntimeError(f"the demo did not come up in {timeout:.0f}s:\n{self.output()[-3000:]}")

    def stop(self) -> int | None:
        """SIGINT (Ctrl-C), then SIGKILL the group if it does not end; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        os.kill(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def url(self, part: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[part]}{path}"

    def get_json(self, part: str, path: str, params: dict | None = None, timeout: float = 10.0):
        """GET a JSON API of one part; None when it does not answer."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(self.url(part, path) + query, timeout=timeout) as response:
                return json.load(response)
        except (OSError, ValueError):
            return None

    def inject(self, event: str, **params) -> None:
        """`ipp-sim inject EVENT --key value ...` exactly as the demo prints it."""
        argv = [sys.executable, "-m", "ippsim.cli", "inject", event, "--run-dir", str(self.run_dir)]
        for key, value in params.items():
            argv += [f"--{key.replace('_', '-')}", str(value)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"inject {event} failed: {result.stderr}")

    def prometheus_alerts(self) -> list[dict]:
        """Alerts Prometheus holds now (pending and firing)."""
        data = self.get_json("prometheus", "/api/v1/alerts")
        return (data or {}).get("data", {}).get("alerts", [])

    def alertmanager_alerts(self) -> list[dict]:
        """Active alerts in Alertmanager, each with the receivers it was routed to."""
        return self.get_json("alertmanager", "/api/v2/alerts", {"active": "true", "silenced": "false"}) or []

    def query(self, expr: str) -> list[dict]:
        data = self.get_json("prometheus", "/api/v1/query", {"query": expr})
        return (data or {}).get("data", {}).get("result", [])


def wait_until(check, timeout: float, interval: float = 1.0):
    """Call `check` until it returns something truthy (returned) or `timeout` passes (None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)
