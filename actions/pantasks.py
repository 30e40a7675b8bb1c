"""Send commands to a pantasks server through pantasks_client (the exporter's transport and section parser)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.config import PantasksServer
from exporter.pantasks_client import ClientWorkdir, client_command
from exporter.parsers.pantasks import MARKER, decode, split_sections
from exporter.parsers.pantasks_commands import parse_controller_status, parse_labels, parse_status
from exporter.transport import Runner

OK_EXIT_CODES = (0, 2)  # 2 = EOF on a non-tty stdin, the normal end of a piped client run
# what the server or client prints when a command did not do its job (commands.c, controller_host.c, client_shell.c)
_FAILED = re.compile(r"Command not found|ambiguous command|not found|is not OFF|is not DOWN|USAGE|"
                     r"connection has died|controller is not|server is busy", re.IGNORECASE)
_END = "end"


@dataclass(frozen=True)
class CommandOutcome:
    """What one command printed and whether it did its job."""

    command: str
    ok: bool
    output: str


def client_stdin(commands: list[str]) -> bytes:
    """The client's stdin: each command introduced by an echoed marker line, and an end marker."""
    lines = []
    for index, command in enumerate(commands):
        if "\n" in command or ";" in command:
            raise ValueError("one pantasks command per line, no ';'")  # values are validated names: never true
        lines += [f"echo {MARKER} c{index}", command]
    lines.append(f"echo {MARKER} {_END}")
    return ("\n".join(lines) + "\n").encode()


# one private working directory for every client run of this process: the client appends its stdin to ./.pantasks,
# which must never be the server's directory (the exporter's ClientWorkdir links it to /dev/null)
_WORKDIR = ClientWorkdir()


def run_commands(runner: Runner, server: PantasksServer, commands: list[str], timeout: float) -> list[CommandOutcome]:
    """Run `commands` in one client session; each outcome says whether its section came back without an error."""
    argv, cwd, env = client_command(server, _WORKDIR)
    result = runner.run(argv, stdin=client_stdin(commands), cwd=cwd, env=env or None,
                        timeout=min(timeout, server.timeout), merge_stderr=True)
    text = decode(result.stdout + result.stderr)
    sections = split_sections(text)
    ended = _END in sections and result.exit_code in OK_EXIT_CODES
    outcomes = []
    for index, command in enumerate(commands):
        section = sections.get(f"c{index}")
        if section is None:
            tail = text.strip()[-300:] or f"(no output, client exit {result.exit_code})"
            outcomes.append(CommandOutcome(command, False, f"no reply from the server: {tail}"))
            continue
        # readline echoes each input line after the prompt: drop our own command
        output = "\n".join(line for line in section.lines if line.strip() != command).strip()
        ok = ended and not section.busy and not _FAILED.search(output)
        outcomes.append(CommandOutcome(command, ok, output + ("\n(server is busy)" if section.busy else "")))
    return outcomes


def server_labels(runner: Runner, server: PantasksServer, timeout: float) -> tuple[str, ...]:
    """The labels `show.labels` lists (raises TransportError when the client cannot run)."""
    outcome = run_commands(runner, server, ["show.labels"], timeout)[0]
    return parse_labels(outcome.output).labels if outcome.ok else ()


def controller_hosts(runner: Runner, server: PantasksServer, timeout: float) -> dict[str, str]:
    """host -> state from `controller status +host`."""
    outcome = run_commands(runner, server, ["controller status +host"], timeout)[0]
    report = parse_controller_status(outcome.output)
    return {h.host: h.state for h in report.hosts}


def task_states(runner: Runner, server: PantasksServer, timeout: float) -> dict[str, bool]:
    """task name -> active, from `status`."""
    outcome = run_commands(runner, server, ["status"], timeout)[0]
    return {task.name: task.active for task in parse_status(outcome.output).tasks}
