"""`ipp-sim demo`: bring up the simulated IPP site and the monitoring stack, move time on, stop cleanly."""

from __future__ import annotations

import importlib.util
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

import pymysql

from ippsim import demo_config as cfg
from ippsim import demo_events as ev
from ippsim import demo_procs as procs
from ippsim import demo_stack as stack
from ippsim import scenario as scen
from ippsim.czar_morning import czar_morning
from ippsim.demo_procs import Supervisor
from ippsim.mariadb import MariaDBServer
from ippsim.pantasks import sim
from ippsim.pantasks.sites import SERVER_TASKS, create_server
from ippsim.pantasks.wrapper import write_client
from ippsim.site import Accounts, create_site
from ippsim.sshd import SshdError, SshdServer, find_sshd
from ippsim.tools import write_bin_dir
from ippsim.tools.config import environment as tool_environment

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
    speed: float = 10.0  # simulated seconds per real second; alert delays and windows shrink by as much
    size: str = "demo"
    prometheus: bool = True
    ssh: bool = True
    actions: bool = True
    exporter_port: int = 8475
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    node_exporter_port: int = 9100
    actions_port: int = 8476
    restart_delay: float = 20.0  # seconds a killed part stays down (its alerts can fire) before the demo restarts it
    steps: int = 0  # 0 = until interrupted

    @property
    def sim_seconds(self) -> float:
        """Simulated seconds one step moves the site."""
        return self.step * self.speed


# Disk growth of one volume: ~250 GB a night, what a night's data spread over the cluster adds (ipp-facts §4).
FILL_KIB_PER_SECOND = 3 * 1024


# On a quiet night the only new faults are system errors (code 2), which every revert task retries.
QUIET_FAULT_WEIGHTS = ((2, 1),)
QUIET_SCENARIOS = ("quiet-night", "incident-night")  # incident-night is a quiet night until its story starts
def demo_rates(spec: scen.ScenarioSpec, sim_seconds: float, scenario: str = "quiet-night") -> scen.Rates:
    """How fast the demo site moves: a component per host and stage per step, disks grow with simulated time."""
    weights = QUIET_FAULT_WEIGHTS if scenario in QUIET_SCENARIOS else ()
    return scen.Rates(components_per_tick=len(spec.host_names), fault_rate=0.03, n_skycells=spec.n_skycells,
                      disk_fill_kib=int(FILL_KIB_PER_SECOND * sim_seconds), fault_weights=weights)


def summary(moved: dict) -> str:
    """One line about a step: components processed, failed jobs, summit flow, reverts."""
    components = sum(n for key, n in moved.items() if key.endswith("_components"))
    failed = sum(f for _good, f in moved.get("jobs", {}).values())
    text = (f"{components} components processed, {failed} jobs failed, {moved.get('downloaded', 0)} imfiles"
            f" downloaded, {moved.get('registered', 0)} registered, {moved.get('chip_runs_queued', 0)} chip runs queued")
    text += f", reverts changed {moved['reverted']} rows" if moved.get("reverted") else ""
    return "".join([text, *(f"\n  revert failed: {failure}" for failure in moved.get("revert_failures", []))])


def _tool_environment(root, accounts: Accounts) -> dict[str, str]:
    """IPPSIM_* variables that point the tool stand-ins the action service runs at the site's read-write users."""
    return tool_environment(root.as_user(accounts.ipp_user, accounts.ipp_password),
                            neb_params=root.as_user(accounts.neb_user, accounts.neb_password))


class _Stop(Exception):
    """SIGTERM arrived."""


def _on_sigterm(_signum, _frame) -> None:
    raise _Stop()


class Demo:
    """The running site: every part it started is stopped by close(), in reverse order."""

    PHASES = 7

    def __init__(self, opts: DemoOptions, out=sys.stdout) -> None:
        self.opts, self.out = opts, out
        self.run_dir = opts.run_dir.resolve()
        self.stoppers: list[tuple[str, object]] = []
        self.children: list[procs.Child] = []
        self.site: ev.Site | None = None
        self.db: MariaDBServer | None = None
        self.secrets: cfg.DemoSecrets | None = None
        self.supervisor = Supervisor(self.say, opts.restart_delay)
        self.started = time.monotonic()

    def say(self, text: str, end: str = "\n") -> None:
        self.out.write(text + end)
        self.out.flush()

    def _phase(self, n: int, what: str) -> float:
        self.say(f"[{n}/{self.PHASES}] {what} ...", end="")
        return time.monotonic()

    def _done(self, t0: float, extra: str = "") -> None:
        self.say(f" done ({time.monotonic() - t0:.1f}s){extra}")

    def _progress(self, done: int, total: int) -> None:
        if self.out.isatty():
            self.say(f"\r[2/{self.PHASES}] filling the databases ... {100 * done // max(total, 1):3d}%", end="")

    def _claim_run_dir(self) -> None:
        """Refuse a run dir another live demo uses; otherwise start from fresh state there."""
        pid_file = self.run_dir / "demo.pid"
        try:
            other = int(pid_file.read_text())
            os.kill(other, 0)
            if other != os.getpid():
                raise RuntimeError(f"a demo (pid {other}) is already running in {self.run_dir}; stop it or use --run-dir")
        except (OSError, ValueError):
            pass
        self.run_dir.mkdir(parents=True, exist_ok=True)
        cfg.clear_state(self.run_dir)
        pid_file.write_text(f"{os.getpid()}\n")

    def build(self) -> None:
        """Start MariaDB, fill it, create the pantasks servers and sshd, start the exporter and the rest."""
        self._claim_run_dir()
        t0 = self._phase(1, "starting MariaDB")
        self.db = MariaDBServer(self.run_dir / "mariadb")
        self.stoppers.append(("mariadb", self.db.stop))
        root = self.db.start()
        accounts = Accounts(*(secrets.token_hex(12) for _ in range(4)))
        create_site(root, accounts)
        self.secrets = cfg.write_secrets(self.run_dir, accounts)
        self._done(t0)
        spec = scen.ScenarioSpec.tiny(self.opts.seed) if self.opts.size == "tiny" else scen.ScenarioSpec.demo(self.opts.seed)
        # tonight is today's UTC date, so the exporter's current-night summit counts see it (builds stay seeded)
        spec = replace(spec, night=datetime.now(timezone.utc).strftime("%Y-%m-%d"))
        t0 = self._phase(2, "filling the databases")
        result = scen.build(root, spec, progress=self._progress)
        self._done(t0, f": {result.rows} rows")
        t0 = self._phase(3, "creating the pantasks servers")
        servers = self._create_servers(spec)
        self._done(t0, f": {', '.join(servers)}")
        self.site = ev.Site(root=root, dbname="gpc1", nebulous_db="nebulous", servers=servers,
                            rng=random.Random(self.opts.seed), hosts=tuple(spec.host_names),
                            rates=demo_rates(spec, self.opts.sim_seconds, self.opts.scenario)).open()
        self.stoppers.append(("database connections", self.site.close))  # closed before MariaDB stops
        for done in czar_morning(self.site):
            self.say(f"      the czar's morning: {done}")
        t0 = self._phase(4, "starting sshd")
        ssh_info = self._start_sshd()
        self._done(t0, "" if ssh_info else ": not available, every server is local")
        entries = cfg.server_entries(servers, self.run_dir / "bin" / "pantasks_client",
                                     ssh_info.host if ssh_info else None, SSH_SERVERS)
        t0 = self._phase(5, "starting the exporter")
        config = cfg.write_exporter_config(self.run_dir, root, accounts, self.secrets, entries, ssh_info)
        exporter = self.start_child(procs.start_exporter(config, self.opts.exporter_port, self._log("exporter")))
        if not procs.wait_http(self.url(self.opts.exporter_port, "/metrics"), 30.0, exporter):
            raise RuntimeError(f"the exporter did not come up:\n{exporter.log_tail()}")
        self._done(t0)
        t0 = self._phase(6, "starting the action service")
        self._done(t0, self._start_actions(root, accounts, entries, ssh_info))
        t0 = self._phase(7, "starting Prometheus, Alertmanager, node_exporter and a mail sink")
        self._done(t0, stack.start_monitoring(self))
        self._print_urls()  # before the story's first events, so demo.json exists once everything is up
        self._apply_story(0)

    def _log(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    @staticmethod
    def url(port: int, path: str = "/") -> str:
        return f"http://127.0.0.1:{port}{path}"

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
                sim.advance(directory, self.opts.sim_seconds)
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

    def _start_actions(self, root, accounts, entries, ssh_info) -> str:
        if not self.opts.actions:
            return ": skipped (--no-actions)"
        if importlib.util.find_spec("actions") is None:
            return ": not installed (pip install the project)"
        bin_dir = write_bin_dir(self.run_dir / "bin")
        am_port = self.opts.alertmanager_port if self.opts.prometheus else None
        config = cfg.write_actions_config(self.run_dir, root, accounts, self.secrets, entries, ssh_info,
                                          port=self.opts.actions_port, alertmanager_port=am_port, bin_dir=bin_dir)
        child = self.start_child(procs.start_actions(config, self.opts.actions_port, self._log("action-service"),
                                                env=_tool_environment(root, accounts)))
        if not procs.wait_http(self.url(self.opts.actions_port, "/healthz"), 30.0, child):
            # the rest of the stack is still worth running: alerts then only reach the e-mail receiver
            child.stop()
            self.children.remove(child)
            return f": FAILED, running without it (see {self._log('action-service')})"
        return ""

    def start_child(self, child: procs.Child | None) -> procs.Child | None:
        if child is not None:
            self.children.append(child)
            self.stoppers.append((child.name, child.stop))
        return child

    def _print_urls(self) -> None:
        lines = stack.url_lines(self)
        self._write_info(lines)
        self.say("\n".join(lines))

    def _write_info(self, lines: list[str]) -> None:
        """demo.json: pids of every part, the operator login and the printed URLs, for scripts and tests."""
        urls = dict((key.strip(), value.strip()) for key, _, value in (line.partition(" : ") for line in lines))
        tmp = self.run_dir / ".demo.json.tmp"
        tmp.write_text(json.dumps({
            "metrics": self.url(self.opts.exporter_port, "/metrics"), "pid": os.getpid(),
            "children": {c.name: c.pid for c in self.children},
            "operator": {"user": cfg.DEMO_OPERATOR, "password": self.secrets.operator_password} if self.secrets else None,
            "urls": urls}))
        os.replace(tmp, self.run_dir / "demo.json")  # readers never see half a file

    def _apply(self, event: str, params: dict, step: int) -> None:
        try:
            self.say(f"step {step}: {event}: {ev.apply(self.site, event, params)}")
        except (ValueError, KeyError) as exc:
            self.say(f"step {step}: {event} refused: {exc}")
        except (pymysql.MySQLError, OSError, AttributeError) as exc:
            self.say(f"step {step}: {event} failed, the database is unreachable: {exc}")

    def _apply_story(self, step: int) -> None:
        for at, event, params in ev.SCENARIOS[self.opts.scenario]:
            if at == step:
                self._apply(event, dict(params), step)

    def tick(self, step: int) -> dict:
        """One time step: the story's events, then reverts, the DB's tick and every pantasks server (ev.step)."""
        self._apply_story(step)
        if self.site.conn is None:
            try:
                self.site.open()
            except pymysql.MySQLError as exc:
                self.say(f"step {step}: the database is unreachable ({exc.args[-1] if exc.args else exc})")
                return {}
        try:
            moved = ev.step(self.site, self.opts.sim_seconds)
        except (pymysql.MySQLError, OSError) as exc:
            self.site.close()  # reopened on a later step, once MariaDB answers again
            self.say(f"step {step}: the database is unreachable ({exc})")
            return {}
        self.say(f"step {step}: {summary(moved)}")
        return moved

    def loop(self) -> None:
        """Advance every `step` seconds; apply injected events within half a second; restart killed parts."""
        step = 0
        next_tick = time.monotonic() + self.opts.step
        while self.opts.steps == 0 or step < self.opts.steps:
            for event, params in ev.take_events(self.run_dir):
                self._apply(event, params, step)
            if self.supervisor.check(self.children, self.db, self.site):
                self._write_info(stack.url_lines(self))  # new pids
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
