"""Parse what the pantasks commands print: `status -jobs`, `status -taskstats`, `show.labels`, `controller status`,
`ns.show.dates`.

Formats are those of the IPP source (see docs/pantasks.md): Ohana/src/opihi/pantasks/{status_server,TaskOps,JobOps}.c,
pcontrol/status.c, ippTasks/pantasks.pro and ippTasks/nightly_science.pro (old form: nightly_stacks.pro).
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass

JOB_STATES = ("NONE", "BUSY", "EXIT", "HUNG", "CRASH", "PENDING")
HOST_STATES = ("IDLE", "BUSY", "RESP", "DONE", "DOWN", "OFF")
# nsState of the nsData book: NEW from ns.initday.load/ns.add.date; the rest from the old
# automate_stacks.pl flow (nightly_stacks.pro), whose metadata default is UNDEFINEDERROR
NIGHTLY_STATES = ("NEW", "REGISTERED", "NEEDSBURNING", "QUEUEBURNING", "BURNING", "QUEUECHIPS", "TOWARP",
                  "FORCETOWARP", "QUEUESTACKS", "STACKING", "UNDEFINEDERROR", "other")
# nsStackState / nsDiffState / nsObservingState as set by ippScripts/scripts/nightly_science.pl
STACK_STATES = ("TOWARP", "FORCETOWARP", "QUEUESTACKING", "STACKING", "STACKING_POSSIBLE_ERROR",
                "CONFIRM_STACKING", "other")
DIFF_STATES = ("TOWARP", "FORCETOWARP", "QUEUEDIFFS", "DIFFING", "STACKING_POSSIBLE_ERROR", "other")
OBSERVING_STATES = ("UNKNOWN", "OBSERVING", "END_OF_NIGHT", "other")
OLD_FORMAT_DBNAME = "unknown"

_PROMPT = re.compile(r"^(?:pantasks: ?)+")
_INT = re.compile(r"^-?\d+$")
_UINT = re.compile(r"^\d+$")
_HOST_ID = re.compile(r"^[0-9a-fA-F]+(?:\.[0-9a-fA-F]+){3}$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_STACK_HEADER = re.compile(r"^(job|host) stack \S+:\s+\d+ objects\s*$")
_FLAGS = {"++": (True, True), "+-": (True, False), "-+": (False, True), "--": (False, False)}
# lib.shell/CommandOps.c MatchCommand: what a server without the command (macros never loaded) answers
_NOT_FOUND = re.compile(r"^(\S+): Command not found\.$")
TIMING_RESULTS = ("all", "success", "failure")  # the three column groups of ListTaskStats


def clean_line(line: str) -> str:
    """One output line without its line ending and any `pantasks:` prompts readline left in front."""
    return _PROMPT.sub("", line.rstrip("\r\n"))


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """One task row of `status` (AV Name Nrun Njobs Ngood Nfail Ntime Command)."""

    name: str
    active: bool
    valid: bool
    running: int
    jobs: int
    succeeded: int
    failed: int
    timed_out: int
    command: str


@dataclass(frozen=True, slots=True)
class JobTimes:
    """One column group of `status -taskstats`: jobs counted and their min/average/max run time in seconds.

    None where the server printed NONE (no job yet) or a non-finite value (its average divides by Njobs, which a
    `-taskstatsreset` can leave at 0 while older jobs still finish)."""

    count: int
    minimum: float | None
    average: float | None
    maximum: float | None


@dataclass(frozen=True, slots=True)
class TaskTiming:
    """One task row of `status -taskstats` (TaskOps.c ListTaskStats): all jobs, successes, failures."""

    name: str
    all: JobTimes
    success: JobTimes
    failure: JobTimes

    def by_result(self) -> dict[str, JobTimes]:
        """The three groups keyed by TIMING_RESULTS."""
        return {"all": self.all, "success": self.success, "failure": self.failure}


@dataclass(frozen=True)
class TaskStatsReport:
    """What `status -taskstats` said; `complete` when the scheduler line and the statistics table came back."""

    tasks: tuple[TaskTiming, ...] = ()
    complete: bool = False
    errors: int = 0


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """One row of the `Jobs in Pantasks Queue` section."""

    job_id: int
    task: str
    state: str


@dataclass(frozen=True)
class StatusReport:
    """What `status` said; `complete` is True when the scheduler line and a task table came back."""

    scheduler_running: bool = False
    controller_running: bool = False
    tasks: tuple[TaskStatus, ...] = ()
    jobs: tuple[QueuedJob, ...] = ()
    complete: bool = False
    errors: int = 0


@dataclass(frozen=True, slots=True)
class ControllerHost:
    """One host row of `controller status`."""

    host: str
    state: str


@dataclass(frozen=True)
class ControllerReport:
    """What `controller status` said: host rows, or that the controller is not active / not communicating."""

    active: bool = False
    communicating: bool = False
    hosts: tuple[ControllerHost, ...] = ()
    errors: int = 0


@dataclass(frozen=True, slots=True)
class NightPage:
    """One `ns.show.dates` row; the old two-column form leaves the stack/diff/observing states empty."""

    date: str
    state: str
    dbname: str
    stack_state: str | None = None
    diff_state: str | None = None
    observing_state: str | None = None
    camera: str | None = None

    @property
    def timestamp(self) -> float:
        """Midnight UTC of the page's date."""
        year, month, day = (int(x) for x in self.date.split("-"))
        return float(calendar.timegm((year, month, day, 0, 0, 0)))


@dataclass(frozen=True)
class NightlyReport:
    """All `ns.show.dates` rows, in printed order."""

    pages: tuple[NightPage, ...] = ()
    errors: int = 0

    def newest(self) -> dict[str, NightPage]:
        """Return the page with the latest date per dbname (a later row wins a tie)."""
        out: dict[str, NightPage] = {}
        for page in self.pages:
            if page.dbname not in out or page.date >= out[page.dbname].date:
                out[page.dbname] = page
        return out


@dataclass(frozen=True)
class LabelReport:
    """The labels `show.labels` listed."""

    labels: tuple[str, ...] = ()
    errors: int = 0


def parse_status(lines: list[str] | tuple[str, ...] | str) -> StatusReport:
    """Parse `status` output; rows that look like task or job rows but do not parse are counted, not raised."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    scheduler = controller = None
    tasks: dict[str, TaskStatus] = {}
    jobs: list[QueuedJob] = []
    table = False
    mode = None  # "tasks" after ' Task Status', "jobs" after ' Jobs in Pantasks Queue'
    errors = 0
    for raw in lines:
        line = clean_line(raw).rstrip()
        text = line.strip()
        if not text:
            mode = None if mode == "tasks" else mode
            continue
        if text.startswith("Scheduler is "):
            scheduler = text == "Scheduler is running"
            continue
        if text.startswith("Controller is "):
            controller = text == "Controller is running"
            continue
        if text == "Task Status":
            table, mode = True, "tasks"
            continue
        if text == "no defined tasks":
            table, mode = True, None
            continue
        if text == "Jobs in Pantasks Queue":
            mode = "jobs"
            continue
        if text == "no defined jobs":
            mode = None
            continue
        if mode == "tasks":
            tokens = text.split()
            if tokens[0] == "AV" and tokens[1:2] == ["Name"]:
                continue
            errors += _add_unique(tasks, _task(tokens))
        elif mode == "jobs":
            job = _job(text.split())
            if job is None:
                errors += 1
                continue
            jobs.append(job)
    complete = scheduler is not None and table
    return StatusReport(bool(scheduler), bool(controller), tuple(tasks.values()), tuple(jobs), complete, errors)


def _add_unique(rows: dict, row: TaskStatus | TaskTiming | None) -> int:
    """Keep a parsed task row under its name; return 1 (an error) for an unparsed row or a repeated name."""
    if row is None or row.name in rows:
        return 1
    rows[row.name] = row
    return 0


def _task(tokens: list[str]) -> TaskStatus | None:
    # exactly 8 tokens: the format's separators are literal spaces, so overflowing columns never fuse
    if len(tokens) != 8 or tokens[0] not in _FLAGS or not _INT.match(tokens[2]):
        return None
    if not all(_UINT.match(t) for t in tokens[3:7]):
        return None
    active, valid = _FLAGS[tokens[0]]
    running, jobs, good, failed, timed_out = (int(t) for t in tokens[2:7])
    return TaskStatus(tokens[1], active, valid, running, jobs, good, failed, timed_out, tokens[7])


def _job(tokens: list[str]) -> QueuedJob | None:
    # " %4d  %8d: %-25s %10s %20s": total, JobID:, task, state, argv[0]
    if len(tokens) != 5 or not _UINT.match(tokens[0]) or not tokens[1].endswith(":"):
        return None
    if not _UINT.match(tokens[1][:-1]) or tokens[3] not in JOB_STATES:
        return None
    return QueuedJob(int(tokens[1][:-1]), tokens[2], tokens[3])


def parse_labels(lines: list[str] | tuple[str, ...] | str) -> LabelReport:
    """Parse `show.labels`: one label per line, or `no labels defined`."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    labels: dict[str, None] = {}
    errors = 0
    for raw in lines:
        text = clean_line(raw).strip()
        if not text or text == "no labels defined":
            continue
        if len(text.split()) != 1 or "\ufffd" in text:
            errors += 1
            continue
        labels.setdefault(text)
    return LabelReport(tuple(labels), errors)


def parse_controller_status(lines: list[str] | tuple[str, ...] | str) -> ControllerReport:
    """Parse `controller status`: the host section's rows (job rows are skipped)."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    active = communicating = False
    hosts: dict[str, ControllerHost] = {}
    mode = None
    errors = 0
    for raw in lines:
        text = clean_line(raw).strip()
        if not text:
            continue
        if text == "controller is not active":
            return ControllerReport(False, False, (), errors)
        if text == "controller is not communicating":
            active, communicating = True, False
            continue
        header = _STACK_HEADER.match(text)
        if header:
            active = communicating = True
            mode = header.group(1)
            continue
        if mode != "host":
            continue
        tokens = text.split()
        if len(tokens) == 4 and _UINT.match(tokens[0]) and tokens[2] in HOST_STATES and _HOST_ID.match(tokens[3]):
            if tokens[1] in hosts:
                errors += 1
            else:
                hosts[tokens[1]] = ControllerHost(tokens[1], tokens[2])
        elif tokens[0].isdigit():  # looks like a host row but is not one
            errors += 1
    return ControllerReport(active, communicating, tuple(hosts.values()), errors)


def _valid_date(text: str) -> bool:
    match = _DATE.match(text)
    if not match:
        return False
    year, month, day = (int(x) for x in match.groups())
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


def parse_ns_show_dates(lines: list[str] | tuple[str, ...] | str) -> NightlyReport:
    """Parse `ns.show.dates` rows: `KEY DATE STATE SSTATE DSTATE OSTATE DBNAME CAMERA`, or the old `DATE STATE`."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    pages: list[NightPage] = []
    errors = 0
    for raw in lines:
        tokens = clean_line(raw).split()
        if not tokens:
            continue
        if len(tokens) == 8 and _valid_date(tokens[1]) and tokens[0].startswith(tokens[1] + "-"):
            key, date, state, stack, diff, observing, dbname, camera = tokens
            pages.append(NightPage(date, state, dbname, stack, diff, observing, camera))
        elif len(tokens) == 2 and _valid_date(tokens[0]):
            pages.append(NightPage(tokens[0], tokens[1], OLD_FORMAT_DBNAME))
        elif re.match(r"^\d{4}-", tokens[0]):  # dated, so meant as a row, but not one
            errors += 1
    return NightlyReport(tuple(pages), errors)


def command_not_found(lines: list[str] | tuple[str, ...] | str, command: str) -> bool:
    """True when the server answered `<command>: Command not found.` (e.g. its ippTasks macros were never loaded)."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    word = command.split()[0]
    for raw in lines:
        match = _NOT_FOUND.match(clean_line(raw).strip())
        if match and match.group(1) == word:
            return True
    return False


def _seconds(token: str) -> float | None:
    """A %6.2f time, or None for NONE and for the inf/nan a division by Njobs = 0 prints."""
    if token == "NONE":
        return None
    value = float(token)  # ValueError for anything else: the caller counts the row as an error
    return value if math.isfinite(value) else None


def _job_times(group: str) -> JobTimes | None:
    tokens = group.split()
    if len(tokens) != 4 or not _INT.match(tokens[0]):
        return None
    try:
        minimum, average, maximum = (_seconds(t) for t in tokens[1:])
    except ValueError:
        return None
    return JobTimes(int(tokens[0]), minimum, average, maximum)


def _timing_row(parts: list[str]) -> TaskTiming | None:
    # "  AV %-Ns | %5d %6s %6.2f %6.2f | ... | ... |": flags and name, three groups, then the closing bar
    head = parts[0].split()
    if len(parts) != 5 or parts[4].strip() or len(head) != 2 or head[0] not in _FLAGS:
        return None
    groups = [_job_times(part) for part in parts[1:4]]
    if any(group is None for group in groups):
        return None
    return TaskTiming(head[1], *groups)  # type: ignore[arg-type]


def parse_taskstats(lines: list[str] | tuple[str, ...] | str) -> TaskStatsReport:
    """Parse `status -taskstats` (status_server.c: scheduler lines, then TaskOps.c ListTaskStats)."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    scheduler = table = False
    tasks: dict[str, TaskTiming] = {}
    errors = 0
    for raw in lines:
        text = clean_line(raw).strip()
        if not text or text.startswith("Controller is "):
            continue
        if text.startswith("Scheduler is "):
            scheduler = True
            continue
        if text in ("Task Statistics", "no defined tasks"):
            table = True
            continue
        if not table:
            continue
        parts = text.split("|")
        if len(parts) > 1 and parts[1].split()[:1] in (["alljobs"], ["Njobs"]):  # the two header lines
            continue
        errors += _add_unique(tasks, _timing_row(parts))
    return TaskStatsReport(tuple(tasks.values()), scheduler and table, errors)
