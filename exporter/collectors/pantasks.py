"""Pantasks servers via pantasks_client: `status -jobs`, `-taskstats`, `show.labels`, `controller status`, `ns.show.dates`."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Callable

from exporter.cache import Fetched, SingleFlight, Ticket
from exporter.collectors import Collected, FetchContext, SourceHealth, answers_key
from exporter.config import Config, PantasksServer
from exporter.metrics import Families, MetricSpec
from exporter.pantasks_client import REMOTE_WORKDIR, ClientWorkdir, client_command
from exporter.parsers.pantasks import (
    DIFF_STATES,
    HOST_STATES,
    JOB_STATES,
    NIGHTLY_STATES,
    OBSERVING_STATES,
    STACK_STATES,
    ClientReport,
    TaskStatsReport,
    client_script,
    parse_client_output,
)
from exporter.transport import LocalRunner, Runner, SshRunner

log = logging.getLogger(__name__)

PER_SERVER = ("server",)
PER_TASK = ("server", "task")
PER_NIGHT_STATE = ("server", "dbname", "state")

METRICS = (
    MetricSpec("ipp_pantasks_up", "gauge", "1 when pantasks_client reached the server and a status table came back.", PER_SERVER),
    MetricSpec("ipp_pantasks_busy", "gauge", "1 when the client answered 'server is busy...' for a command.", PER_SERVER),
    MetricSpec("ipp_pantasks_scheduler_running", "gauge", "1 when status says 'Scheduler is running'.", PER_SERVER),
    MetricSpec("ipp_pantasks_controller_running", "gauge", "1 when status says 'Controller is running'.", PER_SERVER),
    MetricSpec("ipp_pantasks_task_active", "gauge", "1 when the task is active (status flag 1 '+').", PER_TASK),
    MetricSpec("ipp_pantasks_task_valid", "gauge", "1 when the task is inside its time ranges (status flag 2 '+').", PER_TASK),
    MetricSpec("ipp_pantasks_task_running", "gauge", "Nrun as printed (Njobs-Ngood-Nfail-Ntime); negative values are a signal.", PER_TASK),
    MetricSpec("ipp_pantasks_task_jobs_total", "counter", "Njobs: jobs started since the server started or its stats were reset.", PER_TASK),
    MetricSpec("ipp_pantasks_task_succeeded_total", "counter", "Ngood: jobs that exited 0.", PER_TASK),
    MetricSpec("ipp_pantasks_task_failed_total", "counter", "Nfail: jobs that exited non-zero or crashed.", PER_TASK),
    MetricSpec("ipp_pantasks_task_timed_out_total", "counter", "Ntime: local jobs that timed out (a count, not a time).", PER_TASK),
    MetricSpec("ipp_pantasks_queue_jobs", "gauge", "Jobs in the pantasks queue by state.", ("server", "state")),
    MetricSpec("ipp_pantasks_label_info", "gauge", "1 for each label the server processes (show.labels).", ("server", "label")),
    MetricSpec("ipp_pantasks_controller_host_state", "gauge", "1 for the controller host's current state (controller status).",
               ("server", "host", "state")),
    MetricSpec("ipp_pantasks_parse_errors_total", "counter", "Lines that looked like data but did not parse.", PER_SERVER),
    MetricSpec("ipp_nightly_science_state", "gauge", "1 for the state of the newest ns.show.dates page per database.", PER_NIGHT_STATE),
    MetricSpec("ipp_nightly_science_date_timestamp_seconds", "gauge", "Midnight UTC of the newest ns.show.dates page's date.",
               ("server", "dbname")),
    # added beyond the contract: the current ns.show.dates format also carries these per page
    MetricSpec("ipp_nightly_science_stack_state", "gauge", "1 for nsStackState of the newest ns.show.dates page per database.", PER_NIGHT_STATE),
    MetricSpec("ipp_nightly_science_diff_state", "gauge", "1 for nsDiffState of the newest ns.show.dates page per database.", PER_NIGHT_STATE),
    MetricSpec("ipp_nightly_science_observing_state", "gauge",
               "1 for nsObservingState of the newest ns.show.dates page per database.", PER_NIGHT_STATE),
    MetricSpec("ipp_pantasks_controller_active", "gauge", "1 when controller status answered with host/job stacks.", PER_SERVER),
    # status -taskstats (TaskOps.c ListTaskStats), since the server started or `status -taskstatsreset`
    MetricSpec("ipp_pantasks_task_job_duration_seconds", "gauge",
               "Tmin/Tave/Tmax of status -taskstats per result (all, success, failure); absent before the first job.",
               ("server", "task", "result", "stat")),
    MetricSpec("ipp_pantasks_task_job_seconds_total", "counter",
               "Run time of finished jobs (Tave x Njobs of status -taskstats, kept monotonic); rate over "
               "rate(ipp_pantasks_task_succeeded_total) is the recent average duration.", ("server", "task", "result")),
    MetricSpec("ipp_pantasks_macro_defined", "gauge",
               "1 when the server knows the ippTasks macro; 0 when it answered 'Command not found' (macros not loaded).",
               ("server", "macro")),
    MetricSpec("ipp_pantasks_misaligned_sections_total", "counter",
               "Client-run sections dropped because an earlier busy answer put the replies out of step.", PER_SERVER),
)
MACROS = ("show.labels", "ns.show.dates")
# ClientReport field -> section: what a client run may lose to a busy answer and get back from the last good run
CARRIED_SECTIONS = {"taskstats": "taskstats", "labels": "show.labels", "controller": "controller.status",
                    "nightly": "ns.show.dates"}  # defined by ippTasks/pantasks.pro and nightly_science.pro
SUMMED_RESULTS = ("success", "failure")  # the all-jobs average divides by Njobs, which counts running jobs too

CLIENT_STDIN = client_script()  # the commands, each introduced by an echoed marker (docs/pantasks.md)
OK_EXIT_CODES = (0, 2)  # 2 = EOF on a non-tty stdin, the normal end of a piped run


@dataclass(frozen=True)
class Snapshot:
    """One client run, parsed."""

    report: ClientReport
    exit_code: int
    job_seconds: tuple[tuple[str, str, float], ...] = ()  # (task, result, monotonic sum of job run time)

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
                 ttl: float, max_stale: float, *, clock: Callable[[], float] = time.monotonic,
                 max_inflight: float | None = None, remote_workdir: str = REMOTE_WORKDIR) -> None:
        self._servers = tuple(sorted(servers, key=lambda s: s.name))
        self._runners = runners
        self._errors = {s.name: 0 for s in self._servers}
        self._misaligned = {s.name: 0 for s in self._servers}
        self._errors_lock = threading.Lock()
        self._job_seconds = JobSeconds()
        self._workdir = ClientWorkdir()
        self._remote_workdir = remote_workdir
        self._clock, self._max_stale = clock, max_stale
        self._kept: dict[str, dict[str, tuple[float, object]]] = {s.name: {} for s in self._servers}
        self._flights = {s.name: SingleFlight(partial(self._fetch, s), executor, ttl, max_stale, clock=clock,
                                              max_inflight=max_inflight) for s in self._servers}

    @property
    def flights(self) -> dict[str, SingleFlight]:
        """The per-server single-flight caches (tests and benchmarks read their fetch counts)."""
        return self._flights

    def _runner(self, server: PantasksServer) -> Runner:
        return self._runners[server.host or ""]

    def _fetch(self, server: PantasksServer) -> Snapshot:
        """Run the client once, parse its output, count parse errors; raise when no status table came back."""
        argv, cwd, env = client_command(server, self._workdir, self._remote_workdir)
        result = self._runner(server).run(argv, stdin=CLIENT_STDIN, cwd=cwd, env=env or None,
                                          timeout=server.timeout, merge_stderr=True)
        report = self._carry_forward(server.name, parse_client_output(result.stdout + result.stderr))
        with self._errors_lock:
            self._errors[server.name] += report.errors
            self._misaligned[server.name] += report.misaligned
        if report.errors:
            log.warning("pantasks server %s: %d unparsed data lines", server.name, report.errors)
        if report.misaligned:
            log.warning("pantasks server %s: %d sections out of step after a busy answer, dropped", server.name,
                        report.misaligned)
        sums = self._job_seconds.update(server.name, report.taskstats) if report.taskstats is not None else ()
        snapshot = Snapshot(report, result.exit_code, sums)
        if not snapshot.up:
            tail = result.stdout[-300:].decode("utf-8", "replace").strip().replace("\n", " | ")
            reason = "server is busy" if report.busy else f"no status table (client exit {result.exit_code})"
            raise ServerNotAnswering(server.name, snapshot, f"{reason}; output ends: {tail!r}")
        if result.exit_code not in OK_EXIT_CODES:
            log.warning("pantasks server %s: client exit code %d", server.name, result.exit_code)
        return snapshot

    def _carry_forward(self, name: str, report: ClientReport) -> ClientReport:
        """Fill a section lost this run (busy, out of step, cut off) with its last good copy up to max_stale old.

        A blocked server answers busy in only some scrapes; without this its labels, hosts and nightly pages would
        vanish for a scrape and come back, which resets every rule that joins on them. A section the server
        answered `Command not found.` is not filled: that is current information."""
        now, kept = self._clock(), self._kept[name]
        filled: dict[str, Any] = {}
        with self._errors_lock:
            for field, section in CARRIED_SECTIONS.items():
                current = getattr(report, field)
                if current is not None:
                    kept[field] = (now, current)
                elif section not in report.undefined and field in kept and now - kept[field][0] <= self._max_stale:
                    filled[field] = kept[field][1]
        return replace(report, **filled) if filled else report

    def collect(self, deadline: float) -> Collected:
        """Request every server's data and wait for it until the deadline."""
        return self.request()(deadline)

    def request(self) -> Callable[[float], Collected]:
        """Request every server's data at once without waiting; return the call that waits until a deadline."""
        # fresh data is taken when requested: waiting on a hung server must not let the others' copies expire
        tickets = {server.name: self._flights[server.name].start() for server in self._servers}
        return partial(self._answered, tickets)

    def _answered(self, tickets: dict[str, Ticket], deadline: float) -> Collected:
        answers = {name: ticket.result(deadline) for name, ticket in tickets.items()}
        for name, fetched in answers.items():
            if fetched.error is not None and not fetched.ok:
                log.warning("pantasks server %s: %s", name, fetched.error)
        connects = {s.name: getattr(self._runner(s), "connects", None) for s in self._servers}  # SSH runners only
        sources = [SourceHealth.of(f"pantasks/{name}", fetched, connects[name]) for name, fetched in answers.items()]
        return Collected(partial(self._families, answers), sources, key=answers_key(answers.values()))

    def _families(self, answers: dict[str, Fetched]) -> Families:
        fams = Families(METRICS)
        for name, fetched in answers.items():
            self._add_server(fams, name, fetched)
        return fams

    def _add_server(self, fams: Families, name: str, fetched: Fetched) -> None:
        snapshot: Snapshot | None = fetched.value
        failed = fetched.error.snapshot if isinstance(fetched.error, ServerNotAnswering) else None
        current = snapshot if fetched.ok else failed
        fams.add("ipp_pantasks_up", [name], 1 if fetched.ok and snapshot is not None and snapshot.up else 0)
        fams.add("ipp_pantasks_busy", [name], 1 if current is not None and current.report.busy else 0)
        with self._errors_lock:
            fams.add("ipp_pantasks_parse_errors_total", [name], self._errors[name])
            fams.add("ipp_pantasks_misaligned_sections_total", [name], self._misaligned[name])
        if snapshot is None:
            return
        add_report(fams, name, snapshot.report)
        for task, result, seconds in snapshot.job_seconds:
            fams.add("ipp_pantasks_task_job_seconds_total", [name, task, result], seconds)

    def close(self) -> None:
        """Close SSH connections and remove the local working directory."""
        for runner in self._runners.values():
            runner.close()
        self._workdir.close()


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
    if report.taskstats is not None:
        _add_timing(fams, name, report.taskstats)
    for macro in MACROS:
        if macro in report.undefined:
            fams.add("ipp_pantasks_macro_defined", [name, macro], 0)
        elif (report.labels if macro == "show.labels" else report.nightly) is not None:
            fams.add("ipp_pantasks_macro_defined", [name, macro], 1)
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


def _add_timing(fams: Families, name: str, stats: TaskStatsReport) -> None:
    """Min/average/max per task and result; a group without jobs has no figures (its 0.00 means nothing)."""
    for task in sorted(stats.tasks, key=lambda t: t.name):
        for result, times in task.by_result().items():
            if times.count <= 0:
                continue
            for stat, value in (("min", times.minimum), ("avg", times.average), ("max", times.maximum)):
                if value is not None:
                    fams.add("ipp_pantasks_task_job_duration_seconds", [name, task.name, result, stat], value)


class JobSeconds:
    """Total job run time per (server, task, result), rebuilt from Tave x N and kept monotonic.

    Tave is printed with two decimals, so Tave x N can dip by up to 0.005 x N between scrapes while jobs finish;
    a dip would look like a counter reset to rate(). The total only falls when N falls (a server restart or
    `status -taskstatsreset`), which is a real reset."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str, str], tuple[int, float]] = {}
        self._lock = threading.Lock()

    def update(self, server: str, stats: TaskStatsReport) -> tuple[tuple[str, str, float], ...]:
        """Fold one taskstats report in; return (task, result, total seconds) for every task with a known average."""
        out = []
        with self._lock:
            for task in stats.tasks:
                for result in SUMMED_RESULTS:
                    times = task.by_result()[result]
                    if times.average is None or times.count < 0:
                        continue
                    key = (server, task.name, result)
                    total = round(times.average * times.count, 2)
                    count, last = self._last.get(key, (-1, 0.0))
                    if times.count == count or (times.count > count >= 0 and total < last):
                        total = last  # same jobs, or a rounding dip: the total cannot have fallen
                    self._last[key] = (times.count, total)
                    out.append((task.name, result, total))
        return tuple(sorted(out))


def make_runners(config: Config) -> dict[str, Runner]:
    """One runner per distinct host ('' = local); SSH runners share one connection per host."""
    runners: dict[str, Runner] = {}
    for server in config.pantasks.servers if config.pantasks else ():
        key = server.host or ""
        if key in runners:
            continue
        if not server.host:
            runners[key] = LocalRunner()
            continue
        if config.ssh is None:  # config validation requires an ssh section for any server with a host
            raise ValueError(f"pantasks server {server.name}: host {server.host} needs the ssh section")
        runners[key] = SshRunner(server.host, config.ssh)
    return runners


def build(config: Config, context: FetchContext) -> PantasksCollector | None:
    """Return the pantasks collector, or None when the config has no pantasks section."""
    if config.pantasks is None or not config.pantasks.servers:
        return None
    settings = config.exporter
    # pantasks.max_workers bounds how many client runs are in flight at once, apart from the DB fetches
    pool = context.pool("pantasks", config.pantasks.max_workers)
    return PantasksCollector(config.pantasks.servers, make_runners(config), pool, settings.cache_ttl,
                             settings.max_stale, clock=context.clock, max_inflight=settings.max_fetch_age)
