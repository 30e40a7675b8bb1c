"""Pantasks servers: `status`, `show.labels`, `controller status`, `ns.show.dates` through pantasks_client."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from exporter.cache import Fetched, SingleFlight
from exporter.collectors import Collected, SourceHealth
from exporter.config import Config, PantasksServer
from exporter.metrics import Families, MetricSpec
from exporter.parsers.pantasks import (DIFF_STATES, HOST_STATES, JOB_STATES, NIGHTLY_STATES, OBSERVING_STATES,
                                       STACK_STATES, ClientReport, client_script, parse_client_output)
from exporter.transport import LocalRunner, Runner, SshRunner

log = logging.getLogger(__name__)

S = ("server",)
T = ("server", "task")
N = ("server", "dbname", "state")

METRICS = (
    MetricSpec("ipp_pantasks_up", "gauge", "1 when pantasks_client reached the server and a status table came back.", S),
    MetricSpec("ipp_pantasks_busy", "gauge", "1 when the client answered 'server is busy...' for a command.", S),
    MetricSpec("ipp_pantasks_scheduler_running", "gauge", "1 when status says 'Scheduler is running'.", S),
    MetricSpec("ipp_pantasks_controller_running", "gauge", "1 when status says 'Controller is running'.", S),
    MetricSpec("ipp_pantasks_task_active", "gauge", "1 when the task is active (status flag 1 '+').", T),
    MetricSpec("ipp_pantasks_task_valid", "gauge", "1 when the task is inside its time ranges (status flag 2 '+').", T),
    MetricSpec("ipp_pantasks_task_running", "gauge", "Nrun as printed (Njobs-Ngood-Nfail-Ntime); negative values are a signal.", T),
    MetricSpec("ipp_pantasks_task_jobs_total", "counter", "Njobs: jobs started since the server started or its stats were reset.", T),
    MetricSpec("ipp_pantasks_task_succeeded_total", "counter", "Ngood: jobs that exited 0.", T),
    MetricSpec("ipp_pantasks_task_failed_total", "counter", "Nfail: jobs that exited non-zero or crashed.", T),
    MetricSpec("ipp_pantasks_task_timed_out_total", "counter", "Ntime: local jobs that timed out (a count, not a time).", T),
    MetricSpec("ipp_pantasks_queue_jobs", "gauge", "Jobs in the pantasks queue by state.", ("server", "state")),
    MetricSpec("ipp_pantasks_label_info", "gauge", "1 for each label the server processes (show.labels).", ("server", "label")),
    MetricSpec("ipp_pantasks_controller_host_state", "gauge", "1 for the controller host's current state (controller status).",
               ("server", "host", "state")),
    MetricSpec("ipp_pantasks_parse_errors_total", "counter", "Lines that looked like data but did not parse.", S),
    MetricSpec("ipp_nightly_science_state", "gauge", "1 for the state of the newest ns.show.dates page per database.", N),
    MetricSpec("ipp_nightly_science_date_timestamp_seconds", "gauge", "Midnight UTC of the newest ns.show.dates page's date.",
               ("server", "dbname")),
    # added beyond the contract: the current ns.show.dates format also carries these per page
    MetricSpec("ipp_nightly_science_stack_state", "gauge", "1 for nsStackState of the newest ns.show.dates page per database.", N),
    MetricSpec("ipp_nightly_science_diff_state", "gauge", "1 for nsDiffState of the newest ns.show.dates page per database.", N),
    MetricSpec("ipp_nightly_science_observing_state", "gauge",
               "1 for nsObservingState of the newest ns.show.dates page per database.", N),
    MetricSpec("ipp_pantasks_controller_active", "gauge", "1 when controller status answered with host/job stacks.", S),
)

CLIENT_STDIN = client_script()  # the commands, each introduced by an echoed marker (docs/pantasks.md)
OK_EXIT_CODES = (0, 2)  # 2 = EOF on a non-tty stdin, the normal end of a piped run


@dataclass(frozen=True)
class Snapshot:
    """One client run, parsed."""

    report: ClientReport
    exit_code: int

    @property
    def up(self) -> bool:
        status = self.report.status
        return status is not None and status.complete


class ServerNotAnswering(Exception):
    """The client ran but no status table came back (refused, busy, or dead connection)."""

    def __init__(self, server: str, snapshot: Snapshot, detail: str) -> None:
        self.snapshot = snapshot
        super().__init__(f"pantasks server {server}: {detail}")


class PantasksCollector:
    """Pantasks state per configured server, one client run per server per cache window.

    # HELP ipp_pantasks_up 1 when pantasks_client reached the server and a status table came back.
    # TYPE ipp_pantasks_up gauge
    ipp_pantasks_up{server="stdscience"} 1.0
    ipp_pantasks_task_running{server="stdscience",task="chip.imfile.run"} 3.0
    """

    name = "pantasks"

    def __init__(self, servers: tuple[PantasksServer, ...], runners: dict[str, Runner], executor: Executor,
                 ttl: float, max_stale: float) -> None:
        self._servers = tuple(sorted(servers, key=lambda s: s.name))
        self._runners = runners
        self._errors = {s.name: 0 for s in self._servers}
        self._errors_lock = threading.Lock()
        self._flights = {s.name: SingleFlight(partial(self._fetch, s), executor, ttl, max_stale) for s in self._servers}

    @property
    def flights(self) -> dict[str, SingleFlight]:
        """The per-server single-flight caches (tests and benchmarks read their fetch counts)."""
        return self._flights

    def _runner(self, server: PantasksServer) -> Runner:
        return self._runners[server.host or ""]

    def _fetch(self, server: PantasksServer) -> Snapshot:
        """Run the client once, parse its output, count parse errors; raise when no status table came back."""
        env = {"PTOLEMY": server.ptolemy_rc} if server.ptolemy_rc else None
        result = self._runner(server).run([server.client], stdin=CLIENT_STDIN, cwd=server.directory, env=env,
                                          timeout=server.timeout, merge_stderr=True)
        report = parse_client_output(result.stdout + result.stderr)
        with self._errors_lock:
            self._errors[server.name] += report.errors
        if report.errors:
            log.warning("pantasks server %s: %d unparsed data lines", server.name, report.errors)
        snapshot = Snapshot(report, result.exit_code)
        if not snapshot.up:
            tail = result.stdout[-300:].decode("utf-8", "replace").strip().replace("\n", " | ")
            reason = "server is busy" if report.busy else f"no status table (client exit {result.exit_code})"
            raise ServerNotAnswering(server.name, snapshot, f"{reason}; output ends: {tail!r}")
        if result.exit_code not in OK_EXIT_CODES:
            log.warning("pantasks server %s: client exit code %d", server.name, result.exit_code)
        return snapshot

    def collect(self, deadline: float) -> Collected:
        """Start every server's fetch at once, then wait for each until the deadline; build fresh families."""
        now = time.monotonic()
        for flight in self._flights.values():
            flight.get(now)  # starts the fetch (or finds it fresh/in flight) without waiting
        fams = Families(METRICS)
        sources = []
        for server in self._servers:
            fetched = self._flights[server.name].get(deadline)
            if fetched.error is not None and not fetched.ok:
                log.warning("pantasks server %s: %s", server.name, fetched.error)
            self._add_server(fams, server.name, fetched)
            sources.append(SourceHealth.of(f"pantasks/{server.name}", fetched))
        return Collected(fams.families(), sources)

    def _add_server(self, fams: Families, name: str, fetched: Fetched) -> None:
        snapshot: Snapshot | None = fetched.value
        failed = fetched.error.snapshot if isinstance(fetched.error, ServerNotAnswering) else None
        current = snapshot if fetched.ok else failed
        fams.add("ipp_pantasks_up", [name], 1 if fetched.ok and snapshot is not None and snapshot.up else 0)
        fams.add("ipp_pantasks_busy", [name], 1 if current is not None and current.report.busy else 0)
        with self._errors_lock:
            fams.add("ipp_pantasks_parse_errors_total", [name], self._errors[name])
        if snapshot is None:
            return
        add_report(fams, name, snapshot.report)

    owned_pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Close SSH connections and stop the client-run pool without waiting for hung runs."""
        for runner in self._runners.values():
            runner.close()
        if self.owned_pool is not None:
            self.owned_pool.shutdown(wait=False, cancel_futures=True)


def _states(fams: Families, metric: str, labels: list[str], states: tuple[str, ...], value: str | None) -> None:
    """Add one 0/1 series per known state; a value outside the set counts as 'other' when the set has it."""
    chosen = value if value in states else "other"
    for state in states:
        fams.add(metric, [*labels, state], 1 if state == chosen else 0)


def add_report(fams: Families, name: str, report: ClientReport) -> None:
    """Map one parsed client run onto the families (sorted label values, every known state present)."""
    status = report.status
    if status is not None:
        fams.add("ipp_pantasks_scheduler_running", [name], int(status.scheduler_running))
        fams.add("ipp_pantasks_controller_running", [name], int(status.controller_running))
        for task in sorted(status.tasks, key=lambda t: t.name):
            labels = [name, task.name]
            fams.add("ipp_pantasks_task_active", labels, int(task.active))
            fams.add("ipp_pantasks_task_valid", labels, int(task.valid))
            fams.add("ipp_pantasks_task_running", labels, task.running)
            fams.add("ipp_pantasks_task_jobs_total", labels, task.jobs)
            fams.add("ipp_pantasks_task_succeeded_total", labels, task.succeeded)
            fams.add("ipp_pantasks_task_failed_total", labels, task.failed)
            fams.add("ipp_pantasks_task_timed_out_total", labels, task.timed_out)
        counts = {state: 0 for state in JOB_STATES}
        for job in status.jobs:
            counts[job.state] += 1
        for state in JOB_STATES:
            fams.add("ipp_pantasks_queue_jobs", [name, state], counts[state])
    if report.labels is not None:
        for label in sorted(report.labels.labels):
            fams.add("ipp_pantasks_label_info", [name, label], 1)
    if report.controller is not None:
        fams.add("ipp_pantasks_controller_active", [name], int(report.controller.active))
        for host in sorted(report.controller.hosts, key=lambda h: h.host):
            _states(fams, "ipp_pantasks_controller_host_state", [name, host.host], HOST_STATES, host.state)
    if report.nightly is not None:
        for dbname, page in sorted(report.nightly.newest().items()):
            _states(fams, "ipp_nightly_science_state", [name, dbname], NIGHTLY_STATES, page.state)
            fams.add("ipp_nightly_science_date_timestamp_seconds", [name, dbname], page.timestamp)
            if page.stack_state is not None:
                _states(fams, "ipp_nightly_science_stack_state", [name, dbname], STACK_STATES, page.stack_state)
                _states(fams, "ipp_nightly_science_diff_state", [name, dbname], DIFF_STATES, page.diff_state)
                _states(fams, "ipp_nightly_science_observing_state", [name, dbname], OBSERVING_STATES,
                        page.observing_state)


def make_runners(config: Config) -> dict[str, Runner]:
    """One runner per distinct host ('' = local); SSH runners share one connection per host."""
    runners: dict[str, Runner] = {}
    for server in config.pantasks.servers:
        key = server.host or ""
        if key in runners:
            continue
        if not server.host:
            runners[key] = LocalRunner()
            continue
        runners[key] = SshRunner(server.host, config.ssh)
    return runners


def build(config: Config, executor: Executor) -> PantasksCollector | None:
    """Return the pantasks collector, or None when the config has no pantasks section."""
    if config.pantasks is None or not config.pantasks.servers:
        return None
    settings = config.exporter
    # pantasks.max_workers bounds how many client runs are in flight at once, apart from the DB fetches
    pool = ThreadPoolExecutor(max_workers=config.pantasks.max_workers, thread_name_prefix="pantasks")
    collector = PantasksCollector(config.pantasks.servers, make_runners(config), pool, settings.cache_ttl,
                                  settings.max_stale)
    collector.owned_pool = pool
    return collector
