"""`ipp-sim demo`: bring up the simulated IPP site and the monitoring stack, move time on, stop cleanly."""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import yaml

from ippsim import demo_events as ev
from ippsim import demo_procs as procs
from ippsim import scenario as scen
from ippsim.mariadb import MariaDBServer
from ippsim.pantasks import sim
from ippsim.pantasks.sites import SERVER_TASKS, create_server
from ippsim.pantasks.wrapper import write_client
from ippsim.site import Accounts, create_site
from ippsim.sshd import SshdError, SshdServer, find_sshd

REPO = Path(__file__).resolve().parent.parent
SERVER_HOSTS = {"stdscience": "ippc16", "summitcopy": "ippc17", "registration": "ippc18",
                "distribution": "ippc19", "cleanup": "ippc20"}
SSH_SERVERS = ("registration", "distribution")  # reached through the loopback sshd (paramiko path)


@dataclass(frozen=True)
class DemoOptions:
    """Everything `ipp-sim demo` can be told."""

    run_dir: Path
    scenario: str = "quiet-night"
    seed: int = 1
    step: float = 10.0
    size: str = "demo"
    prometheus: bool = True
    ssh: bool = True
    exporter_port: int = 8475
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    node_exporter_port: int = 9100
    steps: int = 0  # 0 = until interrupted


def demo_rates(spec: scen.ScenarioSpec) -> scen.Rates:
    """How fast the demo site moves: a component per host and stage per step, slow disk growth."""
    return scen.Rates(components_per_tick=len(spec.host_names), fault_rate=0.03, n_skycells=spec.n_skycells,
                      disk_fill_kib=5 * 1024 * 1024)


def summary(moved: dict) -> str:
    """One line about a step: components processed, failed jobs, summit flow, reverts."""
    components = sum(n for key, n in moved.items() if key.endswith("_components"))
    failed = sum(f for _good, f in moved.get("jobs", {}).values())
    text = (f"{components} components processed, {failed} jobs failed, {moved.get('downloaded', 0)} imfiles"
            f" downloaded, {moved.get('registered', 0)} registered, {moved.get('chip_runs_queued', 0)} chip runs queued")
    text += f", reverts changed {moved['reverted']} rows" if moved.get("reverted") else ""
    return "".join([text, *(f"\n  revert failed: {failure}" for failure in moved.get("revert_failures", []))])


class _Stop(Exception):
    """SIGTERM arrived."""


def _on_sigterm(_signum, _frame) -> None:
    raise _Stop()


class Demo:
    """The running site: every part it started is stopped by close(), in reverse order."""

    def __init__(self, opts: DemoOptions, out=sys.stdout) -> None:
        self.opts, self.out = opts, out
        self.run_dir = opts.run_dir.resolve()
        self.stoppers: list[tuple[str, object]] = []
        self.children: list[procs.Child] = []
        self.site: ev.Site | None = None
        self.started = time.monotonic()

    def say(self, text: str, end: str = "\n") -> None:
        self.out.write(text + end)
        self.out.flush()

    def _phase(self, n: int, total: int, what: str) -> None:
        self.say(f"[{n}/{total}] {what} ...", end="")

    def _done(self, t0: float, extra: str = "") -> None:
        self.say(f" done ({time.monotonic() - t0:.1f}s){extra}")

    def _progress(self, done: int, total: int) -> None:
        if self.out.isatty():
            self.say(f"\r[2/6] filling the databases ... {100 * done // max(total, 1):3d}%", end="")

    def build(self) -> None:
        """Start MariaDB, fill it, create the pantasks servers and sshd, start exporter/Prometheus/Alertmanager."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "demo.pid").write_text(f"{os.getpid()}\n")
        t0 = time.monotonic()
        self._phase(1, 6, "starting MariaDB")
        db = MariaDBServer(self.run_dir / "mariadb")
        self.stoppers.append(("mariadb", db.stop))
        root = db.start()
        accounts = Accounts(*(secrets.token_hex(12) for _ in range(4)))
        create_site(root, accounts)
        self._done(t0)
        t0 = time.monotonic()
        spec = scen.ScenarioSpec.tiny(self.opts.seed) if self.opts.size == "tiny" else scen.ScenarioSpec.demo(self.opts.seed)
        # tonight is today's UTC date, so the exporter's current-night summit counts see it (builds stay seeded)
        spec = replace(spec, night=datetime.now(timezone.utc).strftime("%Y-%m-%d"))
        self._phase(2, 6, "filling the databases")
        result = scen.build(root, spec, progress=self._progress)
        self._done(t0, f": {result.rows} rows")
        t0 = time.monotonic()
        self._phase(3, 6, "creating the pantasks servers")
        servers = self._create_servers(spec)
        self._done(t0, f": {', '.join(servers)}")
        self.site = ev.Site(root=root, dbname="gpc1", nebulous_db="nebulous", servers=servers,
                            rng=random.Random(self.opts.seed), hosts=tuple(spec.host_names),
                            rates=demo_rates(spec)).open()
        self.stoppers.append(("database connections", self.site.close))  # closed before MariaDB stops
        t0 = time.monotonic()
        self._phase(4, 6, "starting sshd")
        ssh_info = self._start_sshd()
        self._done(t0, "" if ssh_info else ": not available, every server is local")
        t0 = time.monotonic()
        self._phase(5, 6, "starting the exporter")
        config = self._write_config(root, accounts, servers, ssh_info)
        exporter = self._start(procs.start_exporter(config, self.opts.exporter_port, self.run_dir / "logs" / "exporter.log"))
        url = f"http://127.0.0.1:{self.opts.exporter_port}/metrics"
        if not procs.wait_http(url, 30.0, exporter):
            raise RuntimeError(f"the exporter did not come up:\n{exporter.log_tail()}")
        self._done(t0)
        t0 = time.monotonic()
        self._phase(6, 6, "starting Prometheus and Alertmanager")
        self._done(t0, self._start_prometheus())
        self._print_urls(url)  # before the story's first events, so demo.json exists once everything is up
        self._apply_story(0)

    def _create_servers(self, spec) -> dict[str, Path]:
        write_client(self.run_dir / "bin")
        labels = tuple(name for name, _prio in spec.labels)
        servers = {}
        for index, name in enumerate(SERVER_TASKS):
            directory = self.run_dir / "servers" / name
            create_server(directory, name, server_host=SERVER_HOSTS[name], hosts=tuple(spec.host_names),
                          labels=labels if name == "stdscience" else labels[:1], seed=self.opts.seed + index)
            servers[name] = directory
        for _ in range(3):  # a little history so the counters are not all zero
            for directory in servers.values():
                sim.advance(directory, self.opts.step)
        return servers

    def _start_sshd(self):
        if not self.opts.ssh or not find_sshd():
            return None
        server = SshdServer(self.run_dir / "sshd")
        self.stoppers.append(("sshd", server.stop))
        try:
            return server.start()
        except SshdError as exc:
            self.say(f" ({exc})", end="")
            return None

    def _write_config(self, root, accounts: Accounts, servers: dict[str, Path], ssh_info) -> Path:
        secrets = self.run_dir / "secrets"
        secrets.mkdir(exist_ok=True)
        for name, value in (("gpc1.password", accounts.ipp_ro_password), ("nebulous.password", accounts.neb_ro_password)):
            (secrets / name).write_text(value + "\n")
            (secrets / name).chmod(0o600)
        client = str(self.run_dir / "bin" / "pantasks_client")
        entries = []
        for name, directory in servers.items():
            entry = {"name": name, "directory": str(directory), "client": client, "timeout": "15s"}
            if ssh_info and name in SSH_SERVERS:
                entry["host"] = ssh_info.host
            entries.append(entry)
        db = {"host": "127.0.0.1", "port": root.port}
        data = {
            "exporter": {"scrape_timeout": "10s", "cache_ttl": "2s"},
            "pantasks": {"servers": entries},
            "processing": {"databases": [{"dbname": "gpc1", **db, "user": accounts.ipp_ro_user,
                                          "password_file": str(secrets / "gpc1.password")}]},
            "nebulous": {"dbname": "nebulous", **db, "user": accounts.neb_ro_user,
                         "password_file": str(secrets / "nebulous.password")},
        }
        if ssh_info:
            data["ssh"] = {"user": ssh_info.user, "port": ssh_info.port, "key_file": ssh_info.key_file,
                           "known_hosts": ssh_info.known_hosts}
        path = self.run_dir / "exporter.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def _start(self, child: procs.Child | None) -> procs.Child | None:
        if child is not None:
            self.children.append(child)
            self.stoppers.append((child.name, child.stop))
        return child

    def _start_prometheus(self) -> str:
        if not self.opts.prometheus:
            return ": skipped (--no-prometheus)"
        am = self._start(procs.start_alertmanager(REPO, self.run_dir, self.opts.alertmanager_port))
        am_port = self.opts.alertmanager_port if am else None
        node = self._start(procs.start_node_exporter(self.run_dir, self.opts.node_exporter_port))
        prom = self._start(procs.start_prometheus(REPO, self.run_dir, self.opts.exporter_port,
                                                  self.opts.prometheus_port, am_port,
                                                  self.opts.node_exporter_port if node else None))
        return "" if prom else ": Prometheus is not installed"

    def _print_urls(self, metrics_url: str) -> None:
        names = {c.name for c in self.children}
        lines = [f"exporter metrics : {metrics_url}"]
        if "prometheus" in names:
            lines.append(f"Prometheus       : http://127.0.0.1:{self.opts.prometheus_port}/alerts")
        if "alertmanager" in names:
            lines.append(f"Alertmanager     : http://127.0.0.1:{self.opts.alertmanager_port}/")
        lines += [f"pantasks servers : {self.run_dir / 'servers'} (cd there and run {self.run_dir / 'bin' / 'pantasks_client'})",
                  f"inject an event  : ipp-sim inject <event> --run-dir {self.run_dir}",
                  f"scenario         : {self.opts.scenario}, a step every {self.opts.step:g}s; Ctrl-C stops everything"]
        (self.run_dir / "demo.json").write_text(json.dumps({"metrics": metrics_url, "pid": os.getpid(),
                                                            "children": {c.name: c.pid for c in self.children}}))
        self.say("\n".join(lines))

    def _apply(self, event: str, params: dict, step: int) -> None:
        try:
            self.say(f"step {step}: {event}: {ev.apply(self.site, event, params)}")
        except (ValueError, KeyError) as exc:
            self.say(f"step {step}: {event} refused: {exc}")

    def _apply_story(self, step: int) -> None:
        for at, event, params in ev.SCENARIOS[self.opts.scenario]:
            if at == step:
                self._apply(event, dict(params), step)

    def tick(self, step: int) -> dict:
        """One time step: the story's events, then reverts, the DB's tick and every pantasks server (ev.step)."""
        self._apply_story(step)
        moved = ev.step(self.site, self.opts.step)
        self.say(f"step {step}: {summary(moved)}")
        return moved

    def loop(self) -> None:
        """Advance every `step` seconds; apply injected events within half a second of their arrival."""
        step = 0
        next_tick = time.monotonic() + self.opts.step
        while self.opts.steps == 0 or step < self.opts.steps:
            for event, params in ev.take_events(self.run_dir):
                self._apply(event, params, step)
            for child in self.children:
                if not child.alive():
                    raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
            if time.monotonic() >= next_tick:
                step += 1
                self.tick(step)
                next_tick += self.opts.step
            time.sleep(min(0.5, max(0.0, next_tick - time.monotonic())))

    def close(self) -> None:
        """Stop everything that was started, newest first; never raises."""
        while self.stoppers:
            name, stop = self.stoppers.pop()
            try:
                stop()
            except Exception as exc:  # keep stopping the rest
                self.say(f"stopping {name} failed: {exc}")
        (self.run_dir / "demo.pid").unlink(missing_ok=True)


def run_demo(opts: DemoOptions) -> int:
    """The whole demo; returns the exit code (0 after Ctrl-C or SIGTERM)."""
    if opts.scenario not in ev.SCENARIOS:
        print(f"unknown scenario {opts.scenario!r}; known: {', '.join(ev.SCENARIOS)}", file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    demo = Demo(opts)
    code = 0
    try:
        demo.build()
        demo.loop()
    except (KeyboardInterrupt, _Stop):
        demo.say("\nstopping ...")
    except Exception as exc:
        demo.say(f"\ndemo failed: {exc}")
        code = 1
    finally:
        # a second Ctrl-C or SIGTERM must not cut the clean-up short
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.close()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, old_int)
    demo.say("stopped; nothing left running")
    return code
