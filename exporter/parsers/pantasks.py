"""Parse one pantasks_client run: the script of marked commands, the sections it prints, each section's report.

The per-command parsers and records live in exporter.parsers.pantasks_commands and are importable from here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.parsers.pantasks_commands import (DIFF_STATES, HOST_STATES, JOB_STATES, NIGHTLY_STATES,
                                                OBSERVING_STATES, OLD_FORMAT_DBNAME, STACK_STATES, ControllerHost,
                                                ControllerReport, LabelReport, NightlyReport, NightPage, QueuedJob,
                                                StatusReport, TaskStatus, clean_line, parse_controller_status,
                                                parse_labels, parse_ns_show_dates, parse_status)

__all__ = [
    "MARKER", "SECTION_COMMANDS", "END", "JOB_STATES", "HOST_STATES", "NIGHTLY_STATES", "STACK_STATES", "DIFF_STATES",
    "OBSERVING_STATES", "OLD_FORMAT_DBNAME", "TaskStatus", "QueuedJob", "StatusReport", "ControllerHost",
    "ControllerReport", "NightPage", "NightlyReport", "LabelReport", "Section", "ClientReport", "client_script",
    "decode", "split_sections", "parse_status", "parse_labels", "parse_controller_status", "parse_ns_show_dates",
    "parse_client_output",
]

MARKER = "IPPEXPORTER_SECTION"
# section name -> the command the client sends to the server, in the order they are sent
SECTION_COMMANDS = {
    "status": "status",
    "show.labels": "show.labels",
    "controller.status": "controller status",
    "ns.show.dates": "ns.show.dates",
}
END = "end"

_MARKER_LINE = re.compile(rf"^{MARKER} (\S+)\s*$")
_BUSY = re.compile(r"server is busy\.\.\.\d*")


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
    """Everything one client run said, parsed; None for a section that did not come back or was not usable."""

    status: StatusReport | None
    labels: LabelReport | None
    controller: ControllerReport | None
    nightly: NightlyReport | None
    busy: bool
    ended: bool
    errors: int = 0
    missing: tuple[str, ...] = ()


def _is_echo(line: str) -> bool:
    """True for readline echoing one of our own input lines back."""
    text = line.strip()
    if text.startswith(f"echo {MARKER}"):
        return True
    return text in SECTION_COMMANDS.values()


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
        line = clean_line(raw)
        match = _MARKER_LINE.match(line)
        if match:
            close()
            current, lines, busy = match.group(1), [], False
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
    """Split one run's merged output into sections and parse each; never raises on bad text."""
    sections = split_sections(decode(data))
    busy = any(s.busy for s in sections.values())
    earlier_busy = False
    parsed: dict[str, object] = {}
    for name in SECTION_COMMANDS:
        section = sections.get(name)
        if section is None or section.busy:
            earlier_busy = earlier_busy or (section is not None and section.busy)
            parsed[name] = None
            continue
        parsed[name] = _parse_section(name, section.lines, earlier_busy)
    status, labels, controller, nightly = (parsed[n] for n in SECTION_COMMANDS)
    errors = sum(getattr(p, "errors", 0) for p in parsed.values() if p is not None)
    missing = tuple(n for n in SECTION_COMMANDS if n not in sections)
    return ClientReport(status, labels, controller, nightly, busy, END in sections, errors, missing)


def _parse_section(name: str, lines: tuple[str, ...], after_busy: bool):
    # after a busy answer the late reply may spill into this section: use it only if it has its own shape
    if name == "status":
        report = parse_status(lines)
        return report if report.complete or not after_busy else None
    if name == "show.labels":
        return None if after_busy else parse_labels(lines)
    if name == "controller.status":
        report = parse_controller_status(lines)
        inactive = any(line.strip() == "controller is not active" for line in lines)
        return report if report.active or not after_busy or inactive else None
    report = parse_ns_show_dates(lines)
    return report if report.pages or not after_busy or not any(s.strip() for s in lines) else None
