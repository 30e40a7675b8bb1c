"""query-exporter (PyPI, in its own venv) running the processing benchmark's statements, for comparison."""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def median_time(fn, repeat: int) -> float:
    """Median wall time of fn() over `repeat` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query_exporter_venv(base: Path) -> Path:
    """A venv with query-exporter and PyMySQL from PyPI (reused when it exists)."""
    venv = base / "query-exporter-venv"
    binary = venv / "bin" / "query-exporter"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "query-exporter", "pymysql"], check=True)
    return binary


def bench_query_exporter(binary: Path, root, workdir: Path, statements, repeat) -> float:
    """Median /metrics time of query-exporter running the same SQL on request (no interval)."""
    import yaml
    port = free_port()
    queries, metrics = {}, {}
    for n, (db, sql, params) in enumerate(statements):
        names = [f"p{i}" for i in range(len(params))] if not isinstance(params, dict) else list(params)
        text = sql.replace("%%", "%")
        if isinstance(params, dict):
            for key in params:
                text = text.replace(f"%({key})s", f":{key}")
        else:
            for name in names:
                text = text.replace("%s", f":{name}", 1)
        values = dict(zip(names, params, strict=True)) if not isinstance(params, dict) else dict(params)
        metric = f"bench_q{n}"
        metrics[metric] = {"type": "gauge"}
        # every statement is wrapped so its row count is the one exported value: same work, one sample
        queries[f"q{n}"] = {"databases": [db], "metrics": [metric],
                            "sql": f"SELECT COUNT(*) AS {metric} FROM ({text}) AS t",
                            **({"parameters": [{k: str(v) for k, v in values.items()}]} if values else {})}
    dsn = {db: f"mysql+pymysql://root@localhost/{db}?unix_socket={root.socket}" for db in ("gpc1", "nebulous")}
    config = {"databases": {db: {"dsn": d} for db, d in dsn.items()}, "metrics": metrics, "queries": queries}
    path = workdir / "query-exporter.yaml"
    path.write_text(yaml.safe_dump(config))
    proc_ = subprocess.Popen([str(binary), "--config", str(path), "--port", str(port), "--host", "127.0.0.1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url, timeout=30).read()
                break
            except OSError:
                time.sleep(0.2)
        return median_time(lambda: urllib.request.urlopen(url, timeout=60).read(), repeat)
    finally:
        proc_.terminate()
        proc_.wait(timeout=10)
