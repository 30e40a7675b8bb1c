"""The pantasks revert tasks of the simulated site: which tool each runs, how often, and running the due ones.

Periods and command lines from ippTasks/{chip,camera,fake,warp,stack,diff,dist,register,summitcopy}.pro of
ps-ipp/ipp-trunk-20250502 (ipp-facts §2.2 and §9); the tools are the stand-ins of ippsim.tools.pxtools."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pymysql

from ippsim.pantasks import sim
from ippsim.pantasks import state as pstate
from ippsim.tools import pxtools


# What each revert task runs (ippTasks/{chip,camera,fake,warp,stack,diff,dist,register}.pro, ipp-facts §2.2/§9): the
# tool and mode, its fixed arguments, its `periods -exec` in seconds, and whether it adds `-label` per server label
# (add_poll_labels; such tasks also `break` when the server has no label). register.imfile.revert adds the poll
# arguments (-limit $POLL_LIMIT) instead, register.exp.revert nothing.
@dataclass(frozen=True)
class RevertTask:
    """One pantasks revert task as ippTasks/*.pro defines it."""

    tool: str
    mode: str
    args: tuple[str, ...]
    period: float
    per_label: bool = True


POLL_LIMIT = 64  # $POLL_LIMIT of the simulated servers (pantasks.pro add_poll_args)
REVERT_TASKS = {
    "chip.revert": RevertTask("chiptool", "-revertprocessedimfile", (), 1800.0),
    "camera.revert": RevertTask("camtool", "-revertprocessedexp", (), 1800.0),
    "fake.revert": RevertTask("faketool", "-revertprocessedimfile", (), 1800.0),
    "warp.revert.warped": RevertTask("warptool", "-revertwarped", ("-fault", "2"), 1800.0),
    "warp.revert.overlap": RevertTask("warptool", "-revertoverlap", (), 1800.0),
    "stack.revert": RevertTask("stacktool", "-revertsumskyfile", ("-fault", "2"), 1800.0),
    "diff.revert": RevertTask("difftool", "-revertdiffskyfile", (), 1800.0),
    "dist.revert": RevertTask("disttool", "-revertcomponent", (), 60.0),
    "register.imfile.revert": RevertTask("regtool", "-revertprocessedimfile", ("-limit", str(POLL_LIMIT)), 600.0,
                                         per_label=False),
    "register.exp.revert": RevertTask("regtool", "-revertprocessedexp", ("-fault", "2"), 600.0, per_label=False),
    # summitcopy.pro's pztool.clearfault: the common download faults are cleared, so the copy retries them
    "pztool.clearfault": RevertTask("pztool", "-clearcommonfaults", (), 300.0, per_label=False),
}
RETRY_DELAY = 180.0  # seconds from a revert to the retried item's end: load poll ($LOADEXEC) plus the job's run
REVERT_STAGES = {"chip": "chip.revert", "camera": "camera.revert", "fake": "fake.revert", "warp": "warp.revert.warped",
                 "stack": "stack.revert", "diff": "diff.revert", "dist": "dist.revert",
                 "registration": "register.imfile.revert"}


def tool_revert(conn, tool: str, mode: str, argv: list[str]) -> tuple[int, int]:
    """Run `<tool> <mode> argv...` as the stand-in does; returns (rows deleted, rows updated)."""
    values = pxtools.parse(tool, mode, pxtools.MODES[(tool, mode)].options, list(argv))
    return pxtools.revert(conn, tool, mode, values)


def revert_argv(task: str, labels: list[str], dbname: str) -> list[str]:
    """The arguments `task` passes to its tool: its fixed ones, -label per server label (if it adds them), -dbname."""
    spec = REVERT_TASKS[task]
    label_args = (arg for label in labels for arg in ("-label", label)) if spec.per_label else ()
    return [*spec.args, *label_args, "-dbname", dbname]


def _due(clock: dict, server: str, task: str, seconds: float | None) -> bool:
    """Advance the task's clock by `seconds` (None = run now); True when its `periods -exec` has passed."""
    if seconds is None:
        clock[(server, task)] = 0.0
        return True
    elapsed = clock.get((server, task), 0.0) + seconds
    period = REVERT_TASKS[task].period
    clock[(server, task)] = elapsed - period if elapsed >= period else elapsed
    return elapsed >= period


def run_due(conn, dbname: str, servers: dict[str, Path], running: Callable[[str], bool], clock: dict,
            seconds: float | None = None, ran: list[str] | None = None) -> tuple[int, list[str]]:
    """Every active revert task of every running server runs its tool once its period has passed on `clock`.

    `seconds`: simulated time since the last call (None: every active revert task runs now); the tasks that ran
    are appended to `ran`. Returns (rows changed, failures); a tool's database error is a failed job of its task,
    as in pantasks."""
    changed, failures = 0, []
    for server, directory in servers.items():
        if not running(server):
            continue  # a hung, dead or stopped server runs no task and its clock does not move
        state = pstate.load(directory)
        for task in (t["name"] for t in state["tasks"] if t["active"] and t["name"] in REVERT_TASKS):
            spec = REVERT_TASKS[task]
            if spec.per_label and not state["labels"]:
                continue  # `if ($LABEL:n == 0) break`
            if not _due(clock, server, task, seconds):
                continue
            try:
                deleted, updated = tool_revert(conn, spec.tool, spec.mode, revert_argv(task, state["labels"], dbname))
            except pymysql.MySQLError as exc:
                sim.record_finished(directory, task, good=0, failed=1)
                failures.append(f"{task}: {exc}")
                continue
            sim.record_finished(directory, task, good=1, failed=0)
            changed += deleted + updated
            if ran is not None:
                ran.append(task)
    return changed, failures
