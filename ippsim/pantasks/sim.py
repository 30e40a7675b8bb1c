"""Time stepping and fault events of the simulated pantasks servers (all changes go through state.modify)."""

from __future__ import annotations

import os
import random
import time
from datetime import datetime, timezone

from ippsim.pantasks import render
from ippsim.pantasks import state as st
from ippsim.pantasks.sites import RUN_STAGE

LOAD_PERIOD = 5.0      # $LOADEXEC
REVERT_PERIOD = 1800.0
FAIL_RATE = {"run": 0.04, "load": 0.003, "advance": 0.003, "revert": 0.0, "daily": 0.0}
TIMEOUT_RATE = 0.002   # only local tasks can time out
JOB_SECONDS = (20.0, 90.0)
POLL_SECONDS = (0.2, 2.5)  # run time of a DB poll job (chiptool -pendingimfile ...)
EVENTS = ("hung", "down", "up", "restart", "statsreset", "scheduler-stop", "scheduler-run", "controller-stop",
          "controller-run", "host-down", "host-off", "host-up", "stall-label", "unstall-label", "macro-lock",
          "die-mid-run")


def _rng(state: dict) -> random.Random:
    return random.Random(f"{state.get('seed', 0)}:{state['name']}:{state.get('steps', 0)}")


def _free_hosts(state: dict) -> list[dict]:
    busy = {j.get("host") for j in state["jobs"]}
    return [h for h in state["hosts"] if h["state"] == "IDLE" and h["name"] not in busy]


def _ended(task: dict, group: str, dtime: float) -> None:
    """Count one ended job (CheckJobs.c): its result counter and timing, then the all-jobs timing."""
    task["nsuccess" if group == "success" else "nfailure"] += 1
    render.record_time(task, group, dtime)
    render.record_time(task, "all", dtime)


def _finish(state: dict, task: dict, job: dict, rng: random.Random) -> None:
    failed = rng.random() < FAIL_RATE.get(task["kind"], 0.0)
    _ended(task, "failure" if failed else "success", job["seconds"])
    _release_host(state, job)


def _release_host(state: dict, job: dict) -> None:
    host = next((h for h in state["hosts"] if h["name"] == job.get("host")), None)
    if host is not None and host["state"] in ("BUSY", "IDLE"):
        host["state"] = "OFF" if host.get("markoff") else "IDLE"


def _complete_jobs(state: dict, now: float, rng: random.Random) -> None:
    tasks = {t["name"]: t for t in state["tasks"]}
    stalled = set(state.get("stalled_labels", []))
    keep = []
    for job in state["jobs"]:
        task = tasks.get(job["task"])
        # jobs started for DB work (work=) end when the DB says so, through record_finished
        done = (job["state"] == "BUSY" and now >= job["start"] + job["seconds"] and job.get("label") not in stalled
                and not job.get("db"))
        if task is None or not done:
            keep.append(job)
        else:
            _finish(state, task, job, rng)
    state["jobs"] = keep


def _start_job(state: dict, task: dict, now: float, rng: random.Random, host: str | None, label: str | None,
               db: bool = False) -> None:
    job_id = state["next_job_id"]
    state["next_job_id"] += 1
    task["njobs"] += 1
    task["command"] = task["argv0"]
    args = ["--threads", "4", "--dbname", "gpc1"] + (["--label", label] if label else [])
    state["jobs"].append({"id": job_id, "task": task["name"], "state": "BUSY", "argv0": task["argv0"], "args": args,
                          "host": host, "label": label, "start": now, "seconds": rng.uniform(*JOB_SECONDS),
                          "db": db})
    for h in state["hosts"]:
        if h["name"] == host:
            h["state"] = "BUSY"


def _instant_jobs(task: dict, count: int, rng: random.Random) -> None:
    """DB polls finish within a step: count them started and ended at once."""
    for _ in range(count):
        task["njobs"] += 1
        task["command"] = task["argv0"]
        roll = rng.random()
        if roll < TIMEOUT_RATE:
            task["ntimeout"] += 1  # the timeout path of CheckJobs.c updates no timing statistics
        else:
            failed = roll < TIMEOUT_RATE + FAIL_RATE.get(task["kind"], 0.0)
            _ended(task, "failure" if failed else "success", round(rng.uniform(*POLL_SECONDS), 3))


def _poll_count(period: float, step: float, rng: random.Random) -> int:
    whole, part = divmod(step / period, 1.0)
    return int(whole) + (1 if rng.random() < part else 0)


def _run_task(state: dict, task: dict, step: float, now: float, rng: random.Random, work: dict | None) -> None:
    labels = state["labels"]
    if not labels:
        return  # every task.exec starts with `if ($LABEL:n == 0) break`: nothing runs, command stays (dynamic)
    kind = task["kind"]
    if kind in ("load", "advance"):
        _instant_jobs(task, _poll_count(LOAD_PERIOD, step, rng), rng)
    elif kind == "revert" and work is None:  # with work= the DB side runs the tool and counts the job
        _instant_jobs(task, _poll_count(REVERT_PERIOD, step, rng), rng)
    elif kind == "daily":
        today = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d")
        if state.get("initday") != today:
            state["initday"] = today
            _instant_jobs(task, 1, rng)
            _ns_new_day(state, today)
    elif kind == "run":
        stage = RUN_STAGE.get(task["name"])
        wanted = None if work is None or stage not in work else int(work[stage])
        free: list[dict | None] = list(_free_hosts(state)) if task["remote"] else [None, None]
        if not state.get("controller_running", True) and task["remote"]:
            return
        busy_here = sum(1 for j in state["jobs"] if j["task"] == task["name"])
        count = min(len(free), max(0, (wanted if wanted is not None else rng.randint(0, 3)) - busy_here))
        for slot in range(count):
            slot_host = free[slot]
            host = slot_host["name"] if slot_host else None
            _start_job(state, task, now, rng, host, rng.choice(labels), db=wanted is not None)


def _ns_new_day(state: dict, today: str) -> None:
    for dbname in state.get("databases") or ["gpc1"]:
        key = f"{today}-{dbname}"
        if not any(p["key"] == key for p in state["ns_pages"]):
            state["ns_pages"].append({"key": key, "date": today, "state": "NEW", "sstate": "TOWARP",
                                      "dstate": "TOWARP", "ostate": "UNKNOWN", "dbname": dbname,
                                      "camera": dbname.upper()})
    state["ns_pages"] = state["ns_pages"][-6:]


def _ns_progress(state: dict, now: float) -> None:
    """Move tonight's nightly-science page along: observing until 17:30 UTC, then stacks and diffs."""
    sod = render.seconds_of_day(now)
    for page in state.get("ns_pages", []):
        if page["date"] != datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d"):
            continue
        page["ostate"] = "END_OF_NIGHT" if sod >= 17 * 3600 + 1800 else "OBSERVING"
        if page["ostate"] == "END_OF_NIGHT" and page["sstate"] == "TOWARP":
            page["sstate"], page["dstate"] = "QUEUESTACKING", "QUEUEDIFFS"


def _step(state: dict, step: float, now: float, work: dict | None) -> None:
    if state.get("mode") != "ok":
        return  # a hung or dead server makes no progress
    rng = _rng(state)
    state["steps"] = state.get("steps", 0) + 1
    for host in state["hosts"]:
        if host["state"] == "DOWN" and not host.get("broken"):
            host["state"] = "IDLE"  # pcontrol restarts a DOWN host on its next check
    _complete_jobs(state, now, rng)
    if state.get("scheduler") == "running":
        for task in state["tasks"]:
            if task["active"] and render.task_valid(task, now):
                _run_task(state, task, step, now, rng, work)
    elif state.get("scheduler") == "harvesting" and not state["jobs"]:
        state["scheduler"] = "stopped"
    _ns_progress(state, now)


def advance(directory: str | os.PathLike, step: float, *, now: float | None = None, work: dict | None = None) -> None:
    """Move one server `step` seconds on; `work` maps stage -> wanted busy jobs (from the DB's backlog)."""
    with st.modify(directory) as state:
        _step(state, step, time.time() if now is None else now, work)


def _host_event(state: dict, event: str, host_name: str) -> None:
    for host in state["hosts"]:
        if host["name"] != host_name:
            continue
        if event == "host-down":
            host["state"], host["broken"] = "DOWN", True
            for job in [j for j in state["jobs"] if j.get("host") == host_name]:
                state["jobs"].remove(job)  # the job died with its host: pantasks counts a crash as a failure
                task = next(t for t in state["tasks"] if t["name"] == job["task"])
                _ended(task, "failure", job["seconds"])  # JOB_CRASH: a failure with its run time
        elif event == "host-off":
            host["markoff"] = True
            if not any(j.get("host") == host_name for j in state["jobs"]):
                host["state"] = "OFF"
        else:
            host.update(state="IDLE", broken=False, markoff=False)


def apply_event(directory: str | os.PathLike, event: str, *, host: str | None = None, label: str | None = None,
                busy_wait: float | None = None, seconds: float | None = None, commands: int | None = None) -> None:
    """Apply one named event (see EVENTS) to the server in `directory`.

    macro-lock: a task macro holds the command lock for `seconds` from each client's first command, so replies come
    late and out of step; die-mid-run: the server dies after answering `commands` commands of the next client run."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; known: {', '.join(EVENTS)}")
    with st.modify(directory) as state:
        if busy_wait is not None:
            state["busy_wait"] = busy_wait
        if event in ("hung", "down", "up"):
            state["mode"] = "ok" if event == "up" else event
            if event == "up":
                state.pop("lock_seconds", None)
                state.pop("die_after", None)
        elif event == "macro-lock":
            state["lock_seconds"] = 2 * state.get("busy_wait", st.DEFAULT_BUSY_WAIT) if seconds is None else seconds
        elif event == "die-mid-run":
            state["die_after"] = 1 if commands is None else commands
        elif event == "restart":
            state.update(mode="ok", scheduler="running", controller_running=True, jobs=[])
            state.pop("lock_seconds", None)
            state.pop("die_after", None)
            for task in state["tasks"]:
                task.update(njobs=0, nsuccess=0, nfailure=0, ntimeout=0, command=None, timing=render.new_timing())
            for h in state["hosts"]:
                h["state"] = "OFF" if h.get("markoff") else ("DOWN" if h.get("broken") else "IDLE")
        elif event == "statsreset":
            if not any(t["ntimeout"] for t in state["tasks"]):
                loaders = [t for t in state["tasks"] if t["kind"] == "load"] or state["tasks"]
                loaders[0]["ntimeout"] += 2  # ensure a timed-out count exists so the reset shows negative Nrun
            for task in state["tasks"]:
                task["njobs"] = task["nsuccess"] = task["nfailure"] = 0
                task["timing"] = render.reset_timing()
        elif event in ("scheduler-stop", "scheduler-run"):
            state["scheduler"] = "running" if event == "scheduler-run" else (
                "harvesting" if state["jobs"] else "stopped")
        elif event in ("controller-stop", "controller-run"):
            state["controller_running"] = event == "controller-run"
        elif event.startswith("host-"):
            if not host:
                raise ValueError(f"{event} needs a host")
            _host_event(state, event, host)
        else:
            if not label:
                raise ValueError(f"{event} needs a label")
            stalled = [x for x in state.get("stalled_labels", []) if x != label]
            state["stalled_labels"] = stalled + ([label] if event == "stall-label" else [])


def record_finished(directory: str | os.PathLike, task_name: str, *, good: int, failed: int) -> None:
    """Count jobs of `task_name` that ran and ended (e.g. the components the DB now shows done or faulted).

    Busy jobs started for DB work (advance(work=...)) are the ones that ended first; the rest started and
    ended within the step."""
    with st.modify(directory) as state:
        stalled = set(state.get("stalled_labels", []))
        for task in state["tasks"]:
            if task["name"] == task_name and (good or failed):
                ended = [j for j in state["jobs"] if j["task"] == task_name and j.get("db")
                         and j.get("label") not in stalled][:good + failed]
                for job in ended:
                    state["jobs"].remove(job)
                    _release_host(state, job)
                task["njobs"] += good + failed - len(ended)
                # jobs that ended first are the failures when any (a fault is quick), the rest succeeded
                seconds = [job["seconds"] for job in ended]
                seconds += [sum(JOB_SECONDS) / 2] * (good + failed - len(ended))
                for index, dtime in enumerate(seconds):
                    _ended(task, "failure" if index < failed else "success", round(dtime, 3))
                task["command"] = task["argv0"]
