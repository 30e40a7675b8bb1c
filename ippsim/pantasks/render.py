"""Byte-faithful text of the pantasks server commands (printf formats of Ohana/src/opihi/pantasks)."""

from __future__ import annotations

import math
import re
import struct
import time

TIMING_GROUPS = ("all", "success", "failure")  # ListTaskStats column groups, counted by Njobs/Nsuccess/Nfailure
_GROUP_COUNTER = {"all": "njobs", "success": "nsuccess", "failure": "nfailure"}


def _float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


def column_width(value: int, minimum: int = 5) -> int:
    """TaskOps.c getnchars: ceil(log10) in float, at least `minimum`; an exact power of ten comes out one short."""
    if value <= 0:
        return minimum  # log10(0) = -inf; the C cast gives INT_MIN, which the minimum replaces
    loglength = _float32(math.log10(value))
    digits = int(loglength) + 1 if int(loglength) < loglength else int(loglength)
    return max(digits, minimum)


def seconds_of_day(now: float) -> int:
    """UTC seconds since midnight (CheckTimeRanges compares UTC time of day)."""
    return int(now) % 86400


def task_valid(task: dict, now: float) -> bool:
    """Status flag 2: inside one of the task's UTC trange windows (no windows = always)."""
    if task.get("valid") is not None:
        return bool(task["valid"])
    windows = task.get("trange") or []
    if not windows:
        return True
    sod = seconds_of_day(now)
    return any(start <= sod < stop for start, stop in windows)


def nrun(task: dict) -> int:
    """Nrun as ListTasks computes it: Njobs - Nsuccess - Nfailure - Ntimeout."""
    return task["njobs"] - task["nsuccess"] - task["nfailure"] - task["ntimeout"]


def _command(task: dict) -> str:
    return task.get("command") or "(dynamic)"


def format_task_table(tasks: list[dict], now: float) -> str:
    """ListTasks(FALSE): empty line, ' Task Status', header, rows (or ' no defined tasks')."""
    out = ["\n"]
    if not tasks:
        return "\n no defined tasks\n"
    name_len = max(len(t["name"]) for t in tasks)
    # the coding slip: only the last task's command decides the command column width
    cmd_len = max(name_len, len(_command(tasks[-1])))
    w_run = column_width(max(0, max(nrun(t) for t in tasks)))
    w_jobs = column_width(max(t["njobs"] for t in tasks))
    w_done = column_width(max(t["nsuccess"] for t in tasks))
    w_fail = column_width(max(t["nfailure"] for t in tasks))
    w_time = column_width(max(t["ntimeout"] for t in tasks))
    out.append(" Task Status\n")
    out.append(f"  AV {'Name':<{name_len}}  {'Nrun':>{w_run}}  {'Njobs':>{w_jobs}}  {'Ngood':>{w_done}} "
               f"{'Nfail':>{w_fail}} {'Ntime':>{w_time}} {'Command':<{cmd_len}}\n")
    for t in tasks:
        flags = ("+" if t["active"] else "-") + ("+" if task_valid(t, now) else "-")
        out.append(f"  {flags} {t['name']:<{name_len}}  {nrun(t):>{w_run}d}  {t['njobs']:>{w_jobs}d}  "
                   f"{t['nsuccess']:>{w_done}d} {t['nfailure']:>{w_fail}d} {t['ntimeout']:>{w_time}d} "
                   f"{_command(t):<{cmd_len}}\n")
    return "".join(out)


def format_job_queue(jobs: list[dict]) -> str:
    """ListJobs(): the total job count is repeated on every row (not a row index)."""
    if not jobs:
        return "\n no defined jobs\n"
    rows = [f" {len(jobs):4d}  {j['id']:8d}: {j['task']:<25s} {j['state']:>10s} {j['argv0']:>20s}\n" for j in jobs]
    return "\n Jobs in Pantasks Queue\n" + "".join(rows)


def scheduler_lines(state: dict) -> str:
    """status_server.c status_scheduler(): an empty line, the scheduler line and the controller line."""
    scheduler = state.get("scheduler", "running")
    line = {"running": " Scheduler is running\n", "harvesting": " Scheduler is stopped, harvesting jobs\n"}.get(
        scheduler, " Scheduler is stopped\n")
    controller = " Controller is running\n" if state.get("controller_running", True) else " Controller is stopped\n"
    return "\n" + line + controller


def format_status(state: dict, now: float | None = None, jobs: bool = False) -> str:
    """status_server.c: scheduler lines, task table, the job queue only for `-jobs`, then one more newline."""
    now = time.time() if now is None else now
    queue = format_job_queue(state["jobs"]) if jobs else ""
    return scheduler_lines(state) + format_task_table(state["tasks"], now) + queue + "\n"


def new_timing() -> dict[str, list[float]]:
    """TaskOps.c CreateTask: per group [min, ave, max]; min -1 means no job yet (printed NONE)."""
    return {group: [-1.0, 0.0, 0.0] for group in TIMING_GROUPS}


def reset_timing() -> dict[str, list[float]]:
    """TaskOps.c ResetTaskStats sets min, ave and max to 0 (not -1): after a reset the minimum stays 0.00."""
    return {group: [0.0, 0.0, 0.0] for group in TIMING_GROUPS}


def record_time(task: dict, group: str, dtime: float) -> None:
    """TaskOps.c UpdateTaskTimerStats, called after the group's counter was updated.

    The running average divides by the counter, so for `all` (Njobs, which counts jobs still running) it is
    biased, and with Njobs = 0 after a reset it becomes inf/nan, as the C code's does."""
    timing = task.setdefault("timing", new_timing())[group]
    count = task[_GROUP_COUNTER[group]]
    total = timing[1] * (count - 1) + dtime
    timing[1] = total / count if count else (math.inf if total > 0 else math.nan)
    timing[0] = dtime if timing[0] < 0 else min(timing[0], dtime)
    timing[2] = max(timing[2], dtime)


def _stat_group(count: int, values: list[float]) -> str:
    minimum, average, maximum = values
    if minimum < 0:
        return f" | {count:5d} {'NONE':>6s} {average:6.2f} {maximum:6.2f}"
    return f" | {count:5d} {minimum:6.2f} {average:6.2f} {maximum:6.2f}"


def format_taskstats(state: dict, now: float | None = None, pattern: str | None = None) -> str:
    """`status -taskstats [regex]`: scheduler lines, then TaskOps.c ListTaskStats (no newline after it)."""
    now = time.time() if now is None else now
    tasks = state["tasks"]
    if not tasks:
        return scheduler_lines(state) + "\n no defined tasks\n"
    width = max(len(t["name"]) for t in tasks)
    out = [scheduler_lines(state), "\n Task Statistics\n",
           f"     {'':<{width}} |           alljobs          |           success          |           failure          |\n",
           f"  AV {'Name':<{width}} | Njobs   Tmin   Tave   Tmax | Njobs   Tmin   Tave   Tmax | Njobs   Tmin   Tave   Tmax |\n"]
    for task in tasks:
        if pattern is not None and not re.search(pattern, task["name"]):
            continue
        flags = ("  +" if task["active"] else "  -") + ("+ " if task_valid(task, now) else "- ")
        timing = task.get("timing") or new_timing()
        groups = "".join(_stat_group(task[_GROUP_COUNTER[g]], timing[g]) for g in TIMING_GROUPS)
        out.append(f"{flags}{task['name']:<{width}}{groups} |\n")
    return "".join(out)


def format_labels(labels: list[str]) -> str:
    """The show.labels macro: 'no labels defined' or one label per line."""
    if not labels:
        return "no labels defined\n"
    return "".join(f"{label}\n" for label in labels)


def format_id(number: int) -> str:
    """pcontrol PrintID: a 64-bit id as four hex 16-bit words."""
    words = [(number >> shift) & 0xFFFF for shift in (48, 32, 16, 0)]
    return ".".join(f"{w:x}" for w in words)


def format_controller_status(state: dict, show_jobs: bool = True, show_hosts: bool = True,
                             now: float | None = None) -> str:
    """pcontrol `status`: the ALLJOBS job stack then the ALLHOSTS host stack (or 'controller is not active')."""
    if not state.get("controller_running", True):
        return "controller is not active\n"
    now = time.time() if now is None else now
    out = []
    if show_jobs:
        remote = [j for j in state["jobs"] if j.get("host")]
        out.append(f"job stack ALLJOBS:  {len(remote)} objects\n")
        for i, job in enumerate(remote):
            state_name = "BUSY" if job["state"] == "BUSY" else job["state"]
            args = "".join(f"{a} " for a in [job["argv0"], *job.get("args", [])])
            out.append(f"{i:3d} {job['host']:>9s} {state_name:>7s}  {max(0.0, now - job['start']):8.2f} "
                       f"{format_id(job['id'])} {0:2d} {args}\n")
    if show_hosts:
        hosts = state.get("hosts", [])
        out.append(f"host stack ALLHOSTS:  {len(hosts)} objects\n")
        for i, host in enumerate(hosts):
            out.append(f"{i}  {host['name']}  {host['state']:>5s}  {format_id(host['id'])}\n")
    return "".join(out)


def format_ns_dates(pages: list[dict]) -> str:
    """The current nightly_science.pro ns.show.dates: KEY DATE STATE SSTATE DSTATE OSTATE DBNAME CAMERA."""
    return "".join(f"{p['key']} {p['date']} {p['state']} {p['sstate']} {p['dstate']} {p['ostate']} "
                   f"{p['dbname']} {p['camera']}\n" for p in pages)
