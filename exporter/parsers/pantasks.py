"""Parse one pantasks_client run: the script of marked commands, the sections it prints, each section's report.

The per-command parsers and records live in exporter.parsers.pantasks_commands and are importable from here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.parsers.pantasks_commands import (
    DIFF_STATES,
    HOST_STATES,
    JOB_STATES,
    NIGHTLY_STATES,
    OBSERVING_STATES,
    OLD_FORMAT_DBNAME,
    STACK_STATES,
    TIMING_RESULTS,
    ControllerHost,
    ControllerReport,
    JobTimes,
    LabelReport,
    NightlyReport,
    NightPage,
    QueuedJob,
    StatusReport,
    TaskStatsReport,
    TaskStatus,
    TaskTiming,
    clean_line,
    command_not_found,
    parse_controller_status,
    parse_labels,
    parse_ns_show_dates,
    parse_status,
    parse_taskstats,
)

__all__ = [
    "MARKER", "SECTION_COMMANDS", "END", "JOB_STATES", "HOST_STATES", "NIGHTLY_STATES", "STACK_STATES", "DIFF_STATES",
    "OBSERVING_STATES", "OLD_FORMAT_DBNAME", "TIMING_RESULTS", "TaskStatus", "QueuedJob", "StatusReport",
    "JobTimes", "TaskTiming", "TaskStatsReport", "ControllerHost", "ControllerReport", "NightPage", "NightlyReport",
    "LabelReport", "Section", "ClientReport", "client_script", "decode", "split_sections", "parse_status",
    "parse_taskstats", "parse_labels", "parse_controller_status", "parse_ns_show_dates", "parse_client_output",
]

MARKER = "IPPEXPORTER_SECTION"
# section name -> the command the client sends to the server, in the order they are sent.
# status_server.c lists the job queue only for `-jobs`, and `-taskstats` returns before the task table,
# so the timing statistics need a command of their own.
SECTION_COMMANDS = {
    "status": "status -jobs",
    "taskstats": "status -taskstats",
    "show.labels": "show.labels",
    "controller.status": "controller status",
    "ns.show.dates": "ns.show.dates",
}
END = "end"

_MARKER_IN_LINE = re.compile(rf"(echo )?{MARKER} (\S+)\s*$")
_BUSY = re.compile(r"server is busy\.\.\.\d*")
# multicommand.c prints a late reply's `STATUS %d` message (no newline) as text once replies are out of step
_STATUS_MESSAGE = re.compile(r"^STATUS -?\d+")
# the connection broke: pantasks_client.c.in's SIGPIPE handler and multicommand.c's EPIPE branch
_DIED = re.compile(r"^(?:server connection has died|got signal : \d+)$")
_PROMPT = "pantasks: "


def client_script() -> bytes:
    """Return the stdin for one client run: an echoed marker before each command, and a final end marker."""
    lines = []
    for name, command in SECTION_COMMANDS.items():
        lines += [f"echo {MARKER} {name}", command]
    lines.append(f"echo {MARKER} {END}")
    return ("\n".join(lines) + "\n").encode()


def decode(data: bytes | str) -> str:
    """Decode client output; bytes that are not UTF-8 become U+FFFD instead of failing."""
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Section:
    """The text one command produced, and whether the client answered `server is busy...` for it."""

    name: str
    lines: tuple[str, ...]
    busy: bool


@dataclass(frozen=True)
class ClientReport:
    """Everything one client run said, parsed; None for a section that did not come back or was not usable.

    `misaligned` counts sections dropped because their text may be another command's late reply;
    `undefined` names the sections whose command the server does not know (`<cmd>: Command not found.`)."""

    status: StatusReport | None
    labels: LabelReport | None
    controller: ControllerReport | None
    nightly: NightlyReport | None
    busy: bool
    ended: bool
    errors: int = 0
    missing: tuple[str, ...] = ()
    taskstats: TaskStatsReport | None = None
    misaligned: int = 0
    undefined: tuple[str, ...] = ()


def _is_echo(text: str) -> bool:
    """True for readline echoing one of our own command lines back."""
    return text.strip() in SECTION_COMMANDS.values()


def _fragments(raw: str) -> list[str]:
    """One output line cut at the prompts: a prompt has no newline, so it glues text (e.g. a STATUS message) to input."""
    pieces = [piece for piece in raw.rstrip("\r\n").split(_PROMPT) if piece]
    return pieces or [""]


def split_sections(text: str) -> dict[str, Section]:
    """Cut the merged client output at the marker lines; text before the first marker (the banner) is dropped."""
    sections: dict[str, Section] = {}
    current: str | None = None
    lines: list[str] = []
    busy = False

    def close() -> None:
        if current is not None and current not in sections:
            sections[current] = Section(current, tuple(lines), busy)

    for raw in text.splitlines():
        for fragment in _fragments(raw):
            line = clean_line(fragment)
            marker = _MARKER_IN_LINE.search(line)
            if marker:
                before = line[:marker.start()]
                if current is not None and before.strip():
                    lines.append(before)  # what the previous command printed without a newline
                if marker.group(1):
                    continue  # readline echoing our `echo` line
                close()
                current, lines, busy = marker.group(2), [], False
                continue
            if current is None or _is_echo(line):
                continue
            if _BUSY.search(line):
                busy = True
                continue
            lines.append(line)
    close()
    return sections


def parse_client_output(data: bytes | str) -> ClientReport:
    """Split one run's merged output into sections and parse each; never raises on bad text.

    After a busy answer the client reads one message per 0.2 s flush (multicommand.c), so every later reply
    of the run can be out of step. A section after a busy one is used only when its text has the shape that
    only its own command prints; anything else, and any section showing a stray `STATUS n` message, is
    counted as misaligned and dropped, never attributed to the wrong command."""
    sections = split_sections(decode(data))
    earlier_busy = False
    parsed: dict[str, object] = {}
    misaligned = 0
    undefined = []
    for name, command in SECTION_COMMANDS.items():
        section = sections.get(name)
        parsed[name] = None
        if section is None or section.busy:
            earlier_busy = earlier_busy or (section is not None and section.busy)
            continue
        lines = section.lines
        if any(_DIED.match(line.strip()) for line in lines):
            continue  # the connection broke during this command: no reply came
        if command_not_found(lines, command):
            undefined.append(name)  # the message names the command, so it is attributable even out of step
            continue
        report, own_shape = _parse_section(name, lines)
        if any(_STATUS_MESSAGE.match(line.strip()) for line in lines) or (earlier_busy and not own_shape):
            misaligned += 1
            continue
        parsed[name] = report
    errors = sum(getattr(p, "errors", 0) for p in parsed.values() if p is not None)
    missing = tuple(n for n in SECTION_COMMANDS if n not in sections)
    return ClientReport(parsed["status"], parsed["show.labels"], parsed["controller.status"],  # type: ignore[arg-type]
                        parsed["ns.show.dates"], any(s.busy for s in sections.values()),  # type: ignore[arg-type]
                        END in sections, errors, missing, parsed["taskstats"], misaligned,  # type: ignore[arg-type]
                        tuple(undefined))


def _parse_section(name: str, lines: tuple[str, ...]) -> tuple[object, bool]:
    """Parse one section; also say whether its text has a shape only its own command prints."""
    if name == "status":
        status = parse_status(lines)
        return status, status.complete
    if name == "taskstats":
        stats = parse_taskstats(lines)
        return stats, stats.complete
    if name == "show.labels":
        return parse_labels(lines), False  # free text: nothing proves it is the labels' reply
    if name == "controller.status":
        controller = parse_controller_status(lines)
        inactive = any(line.strip() == "controller is not active" for line in lines)
        return controller, controller.active or inactive
    nightly = parse_ns_show_dates(lines)
    return nightly, bool(nightly.pages) and nightly.errors == 0
