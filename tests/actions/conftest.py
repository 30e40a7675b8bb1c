"""Fixtures for the action service: a simulated site (real MariaDB, simulated pantasks servers, tool stand-ins)
and a service configured against it."""

from __future__ import annotations

import random
import shlex
import stat
import sys
from pathlib import Path

import pytest
from plugins.mariadb import TEST_ACCOUNTS
from werkzeug.security import generate_password_hash

from actions.app import create_app
from actions.config import config_from_data
from ippsim import events as ev
from ippsim.pantasks import state as pantasks_state
from ippsim.pantasks.sites import create_server
from ippsim.pantasks.wrapper import write_client
from ippsim.scenario import ScenarioSpec, build
from ippsim.site import SCHEMA_VERSION, create_database, site_params, table_names
from ippsim.tools import TOOL_NAMES
from ippsim.tools.config import environment

TOKEN = "test-webhook-token"
OPERATOR, PASSWORD = "czar", "correct horse battery staple"
SERVERS = ("stdscience", "distribution")
SPEC = ScenarioSpec.tiny(seed=5)
HOSTS = tuple(SPEC.host_names)  # ipp001..ipp004: nebulous volumes and pantasks controller hosts
LABELS = tuple(label for label, _priority in SPEC.labels)
IPP_TOOLS = ("chiptool", "camtool", "faketool", "warptool", "difftool", "stacktool", "disttool", "regtool", "neb-host")
PROJECT = Path(__file__).resolve().parents[2]


def write_tools(bin_dir: Path, env: dict[str, str], delay: float = 0.0) -> Path:
    """Executables named like the IPP tools that run the ippsim stand-ins with the site's DB settings baked in
    (a real site's tools read their ipprc the same way: nothing secret passes through the action service).
    Each call is appended to bin_dir/calls.log; `delay` seconds of sleep first make a slow tool."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))
    log = shlex.quote(str(bin_dir / "calls.log"))
    for name in IPP_TOOLS:
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{exports}export PYTHONPATH={shlex.quote(str(PROJECT))}\n"
                        f"echo \"{name} $*\" >> {log}\n" + (f"sleep {delay}\n" if delay else "")
                        + f"exec {shlex.quote(sys.executable)} -m ippsim.tools {shlex.quote(name)} \"$@\"\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def has_stand_in(tool: str) -> bool:
    """True when ippsim.tools provides `tool` (SIMRULES adds faketool, disttool, regtool)."""
    return tool in TOOL_NAMES


_CREATED: set[str] = set()  # servers on which this module created the site databases once


def _wipe(root, dbname: str, kind: str) -> None:
    """Delete every row (no DDL: much cheaper than DROP/CREATE of ~150 tables on a busy machine)."""
    with root.connect(dbname) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION foreign_key_checks = 0")
        for table in table_names(kind):
            cur.execute(f"DELETE FROM `{table}`")  # names from the schema file
        if kind == "gpc1":
            cur.execute("INSERT INTO dbversion (schema_version) VALUES (%s)", (SCHEMA_VERSION,))


@pytest.fixture
def site(mariadb):
    """The tiny scenario, with code-3 faults injected in every stage (so each revert has rows to change)."""
    if mariadb.socket not in _CREATED:
        create_database(mariadb, "gpc1", "gpc1")
        create_database(mariadb, "nebulous", "nebulous")
        _CREATED.add(mariadb.socket)
    else:
        _wipe(mariadb, "gpc1", "gpc1")
        _wipe(mariadb, "nebulous", "nebulous")
    site = site_params(mariadb, TEST_ACCOUNTS, ("gpc1",), "nebulous")
    build(site.root, SPEC)
    with site.root.connect("gpc1") as conn:
        for stage in ("chip", "camera", "fake", "warp", "stack", "diff", "dist"):
            ev.inject_faults(conn, random.Random(7), stage=stage, code=3, count=4)
    return site


@pytest.fixture
def servers(tmp_path):
    """Simulated pantasks servers (stdscience, distribution) with the site's hosts and labels; returns their dirs."""
    bin_dir = tmp_path / "pantasks-bin"
    client = write_client(bin_dir)
    dirs = {name: create_server(tmp_path / name, name, hosts=HOSTS, labels=LABELS[:2]) for name in SERVERS}
    return {"client": str(client), "dirs": dirs}


def server_state(servers, name: str) -> dict:
    """The simulated server's state (labels, hosts, tasks)."""
    return pantasks_state.load(servers["dirs"][name])


def _secret(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text + "\n")
    path.chmod(0o600)
    return str(path)


@pytest.fixture
def config_data(tmp_path, site, servers):
    """Factory: the service's config as YAML data, pointing at the simulated site (override any section)."""
    tool_env = environment(site.ipp, neb_params=site.neb)
    tools = write_tools(tmp_path / "ipp-bin", tool_env)
    write_tools(tmp_path / "slow-bin", tool_env, delay=3.0)
    users = _secret(tmp_path, "users", f"{OPERATOR}:{generate_password_hash(PASSWORD)}")
    token = _secret(tmp_path, "token", TOKEN)
    ipp_password = _secret(tmp_path, "ipp.password", site.ipp.password)
    neb_password = _secret(tmp_path, "neb.password", site.neb.password)

    def make(**sections) -> dict:
        data = {
            "actions": {"external_url": "http://127.0.0.1:8476", "webhook_token_file": token, "users_file": users,
                        "audit": f"sqlite:///{tmp_path / 'audit.db'}", "inventory_ttl": "0s",
                        "secret_key_file": _secret(tmp_path, "secret", "test-secret-key")},
            "tools": {"bin_dir": str(tools), "timeout": "60s"},
            "processing": {"databases": [{"dbname": "gpc1", "host": site.ipp.host, "port": site.ipp.port,
                                          "user": site.ipp.user, "password_file": ipp_password}]},
            "nebulous": {"dbname": "nebulous", "host": site.neb.host, "port": site.neb.port, "user": site.neb.user,
                         "password_file": neb_password},
            "pantasks": {"servers": [{"name": name, "directory": str(d), "client": servers["client"]}
                                     for name, d in servers["dirs"].items()]},
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return data
    return make


@pytest.fixture
def make_app(config_data):
    """Factory: a Flask app (and its Service) for the config data; closed after the test."""
    apps = []

    def make(**sections):
        config = config_from_data(config_data(**sections))
        app = create_app(config)
        app.config["WTF_CSRF_SSL_STRICT"] = False
        apps.append(app)
        return app
    yield make
    for app in apps:
        app.extensions["ipp_actions"].close()


@pytest.fixture
def app(make_app):
    """The service against the simulated site, local tools."""
    return make_app()


@pytest.fixture
def client(app):
    """A test client (CSRF on, as in production)."""
    return app.test_client()


def csrf_token(client, path: str = "/login") -> str:
    """The CSRF token a page carries."""
    import re
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client) -> None:
    """Log the operator in through the form."""
    response = client.post("/login", data={"username": OPERATOR, "password": PASSWORD,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302, response.get_data(as_text=True)


def rows(site, sql: str, params=()) -> list[tuple]:
    """Rows of a query on gpc1 as root."""
    with site.root.connect("gpc1") as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def http_json(url: str, payload: object | None = None, method: str | None = None, headers: dict | None = None):
    """GET (or POST payload as JSON) and decode the JSON answer."""
    import json
    import urllib.request
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body.decode()


def wait_for(check, timeout: float = 20.0, interval: float = 0.1):
    """Call check() until it returns something true or `timeout` passes; return the last value."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.fixture
def make_alertmanager(tmp_path):
    """Factory: a real Alertmanager (Debian's prometheus-alertmanager) on a free port, optionally routing every
    alert to `webhook_url` with the test bearer token; returns its base URL. Stopped after the test."""
    import subprocess

    from plugins.tools import need_tool

    from ippsim.procs import free_loopback_port, stop_process_group
    binary = need_tool("prometheus-alertmanager", "alertmanager")
    procs = []

    def make(webhook_url: str | None = None) -> str:
        index = len(procs)
        token = _secret(tmp_path, f"am-token-{index}", TOKEN)
        receiver = ("- name: svc\n  webhook_configs:\n  - url: " + webhook_url + "\n    send_resolved: true\n"
                    "    http_config:\n      authorization:\n        type: Bearer\n"
                    f"        credentials_file: {token}\n") if webhook_url else "- name: svc\n"
        config = tmp_path / f"alertmanager-{index}.yml"
        config.write_text("route:\n  receiver: svc\n  group_by: [alertname, dbname, stage, label, fault, host]\n"
                          "  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n" + receiver)
        port = free_loopback_port()
        proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.path={tmp_path / f'am-{index}'}",
                                 "--cluster.listen-address=", f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"

        def ready():
            try:
                return http_json(base + "/api/v2/status")
            except OSError:
                assert proc.poll() is None, "alertmanager exited"
                return None
        assert wait_for(ready), "alertmanager did not start"
        return base
    yield make
    for proc in procs:
        stop_process_group(proc)


@pytest.fixture
def serve_app():
    """Factory: serve a Flask app with waitress on a free loopback port in this process; returns its base URL."""
    import threading

    import waitress

    from ippsim.procs import free_loopback_port
    servers = []

    def serve(app) -> str:
        port = free_loopback_port()
        server = waitress.create_server(app, host="127.0.0.1", port=port, threads=8)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"
    yield serve
    for server, thread in servers:
        server.close()
        thread.join(timeout=1)  # a daemon thread; waitress may finish its last select() after close()
