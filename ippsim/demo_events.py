"""Demo stories, the events they and `ipp-sim inject` apply, and one time step of the running demo site.

Every database change goes through the shared simulation code: `ippsim.events` (faults, hosts, disks, summit
lag), `ippsim.scenario.advance` (time), and the revert tasks through the tool stand-ins (`ippsim.reverts`)."""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ippsim import events as dbev
from ippsim import reverts
from ippsim.mariadb import ConnParams
from ippsim.pantasks import commands, sim
from ippsim.pantasks import state as pstate
from ippsim.pantasks.sites import RUN_STAGE, SERVER_TASKS
from ippsim.reverts import REVERT_STAGES, REVERT_TASKS, tool_revert
from ippsim.scenario import Rates, advance
from ippsim.ticks import RECURRING_NOTE, mark_recurring
from ippsim.tools import pxtools

DB_EVENTS = ("fault-storm", "recurring-faults", "revert", "disk-fill", "df-placeholder", "unmount", "neb-host",
             "summit-behind", "burntool-behind", "df-restore", "fix-recurring")
# df-restore = nebdiskd can df the host again (undoes df-placeholder / host-failure's placeholder);
# fix-recurring = the persistent cause of recurring-faults is fixed (bad input replaced), the next revert sticks
# revert-on / revert-off = the czar's `<stage>.revert.on|off` in the server that runs the stage's revert task
REVERT_EVENTS = ("revert-on", "revert-off")
# host-failure = a host dies: every pantasks controller marks it DOWN, nebulous loses its disks, its jobs fault;
# stall-label / unstall-label (pantasks events) also stall / release the label's runs in the DB.
COMPOUND_EVENTS = ("host-failure",)
ALL_EVENTS = sim.EVENTS + DB_EVENTS + REVERT_EVENTS + COMPOUND_EVENTS

# Each story: (step number, event, params); step 0 happens right after start-up.
SCENARIOS: dict[str, list[tuple[int, str, dict]]] = {
    # a czar's site keeps stack.revert on (stack.pro defines it `active false`), so code-2 stack faults clear too
    "quiet-night": [(0, "revert-on", {"stage": "stack"})],
    "fault-storm": [(1, "fault-storm", {"stage": "chip", "count": 25, "fault": 2}),
                    (3, "fault-storm", {"stage": "warp", "count": 10, "fault": 4}),
                    (5, "fault-storm", {"stage": "diff", "count": 8, "fault": 5}),
                    (7, "fault-storm", {"count": 40, "fault": 2})],
    "disk-filling": [(0, "disk-fill", {"host": "ipp002", "fraction": 0.86}),
                     (2, "disk-fill", {"host": "ipp002", "fraction": 0.91}),
                     (4, "disk-fill", {"host": "ipp002", "fraction": 0.96}),
                     (6, "disk-fill", {"host": "ipp002", "fraction": 0.99})],
    "host-failure": [(2, "host-failure", {"host": "ipp003"})],
    "pantasks-trouble": [(1, "hung", {"server": "stdscience", "busy_wait": 3.0}),
                         (2, "down", {"server": "registration"}),
                         (3, "statsreset", {"server": "distribution"}),
                         (4, "scheduler-stop", {"server": "summitcopy"}),
                         (5, "host-off", {"server": "stdscience", "host": "ipp004"}),
                         (6, "stall-label", {"server": "stdscience", "label": "M31.nightlyscience"})],
    # An hour of quiet night (step 80 at --step 1 --speed 60: the stack's start-up plus 60 minutes), then: the chip revert task is off and a burst of
    # code-2 chip faults lands (IppProcessingFaultsRevertable -> the action service reverts them itself), and
    # host ipp003 dies (IppHostDownInEveryController -> its host-out page, which a person confirms).
    # docs/incidents.md tells the story; tests/incidents/test_incident_loop.py runs it.
    "incident-night": [(0, "revert-on", {"stage": "stack"}),
                       (80, "revert-off", {"stage": "chip"}),
                       (80, "fault-storm", {"stage": "chip", "count": 15, "fault": 2, "label": "M31.nightlyscience"}),
                       (80, "host-failure", {"host": "ipp003"})],
}

# the column that names a component within its run (None: one component per run)
_COMPONENT_COLUMN = {"chip": "class_id", "camera": None, "fake": "class_id", "warp": "skycell_id", "stack": None,
                     "diff": "skycell_id", "destreak": "component"}
_ONE_COMPONENT = {"camera": "exp", "stack": "stack"}  # what pending_components calls the single component
# stage -> (server, run task) whose jobs do that stage's DB work
STAGE_TASKS = {RUN_STAGE[task]: (server, task) for server, tasks in SERVER_TASKS.items()
               for task, *_rest in tasks if task in RUN_STAGE}
# stage -> (table, good rows, failed rows): each row is one ended job of the stage's run task
_JOB_ROWS = {**{stage: (dbev.STAGES[stage].component_table, "fault = 0", "fault <> 0")
                for stage in STAGE_TASKS if stage in dbev.STAGES},
             "summitcopy": ("pzDownloadImfile", "fault = 0", "fault <> 0"),
             "registration": ("rawImfile", "fault = 0", "fault <> 0"),
             "dist": ("distRun", "state = 'full'", "fault <> 0")}
# what stops in the DB while a server is not running (hung, down, scheduler or controller stopped)
_STOPS = {"stdscience": {"components_per_tick": 0}, "summitcopy": {"downloads_per_tick": 0},
          "registration": {"registrations_per_tick": 0, "burntool_per_tick": 0},
          "distribution": {"dist_finish_probability": 0.0}}


@dataclass
class Site:
    """What the event and time-step code needs of the running demo; open() once, close() on stop."""

    root: ConnParams
    dbname: str
    nebulous_db: str
    servers: dict[str, Path]
    rng: random.Random
    hosts: tuple[str, ...]
    rates: Rates = Rates()
    conn: object = None
    neb: object = None
    revert_clock: dict = field(default_factory=dict)  # seconds since each (server, revert task) last ran
    retry_wait: dict = field(default_factory=dict)  # stage -> seconds until its reopened items are picked up again

    def open(self) -> "Site":
        """Open the two connections every event and step use."""
        self.conn = self.root.connect(self.dbname)
        self.neb = self.root.connect(self.nebulous_db)
        return self

    def close(self) -> None:
        """Close the connections (safe to call twice)."""
        for conn in (self.conn, self.neb):
            if conn is not None and conn.open:
                conn.close()
        self.conn = self.neb = None


# ---- jobs: what the DB did is what the pantasks run tasks did

def job_counts(conn) -> dict[str, tuple[int, int]]:
    """(good, failed) rows per stage in the tables the run tasks write."""
    sql = " UNION ALL ".join(f"SELECT %s, COALESCE(SUM({good}), 0), COALESCE(SUM({bad}), 0) FROM `{table}`"
                             for table, good, bad in _JOB_ROWS.values())
    with conn.cursor() as cur:
        cur.execute(sql, list(_JOB_ROWS))
        return {stage: (int(good), int(bad)) for stage, good, bad in cur.fetchall()}


def record_jobs(site: Site, before: dict, after: dict) -> dict[str, tuple[int, int]]:
    """Count the rows written between two job_counts() as ended jobs of the run tasks; returns them."""
    done = {}
    for stage, (server, task) in STAGE_TASKS.items():
        good = max(0, after[stage][0] - before[stage][0])
        failed = max(0, after[stage][1] - before[stage][1])
        if (good or failed) and server in site.servers:
            sim.record_finished(site.servers[server], task, good=good, failed=failed)
            done[stage] = (good, failed)
    return done


def _recorded(site: Site, change) -> int:
    before = job_counts(site.conn)
    result = change()
    record_jobs(site, before, job_counts(site.conn))
    return result


def _running(site: Site, server: str) -> bool:
    directory = site.servers.get(server)
    if directory is None:
        return True
    state = pstate.load(directory)
    return (state.get("mode") == "ok" and state.get("scheduler") == "running"
            and state.get("controller_running", True))


# ---- reverts: the revert tasks of every running server (ippsim.reverts), on the site's clocks

def run_reverts(site: Site, seconds: float | None = None) -> tuple[int, list[str]]:
    """Every active revert task of every running server runs its tool once its period has passed.

    `seconds` is the simulated time since the last call (None: every active revert task runs now). Returns
    (rows changed, failures); a tool's database error is a failed job of its task, as in pantasks."""
    ran: list[str] = []
    result = reverts.run_due(site.conn, site.dbname, site.servers, lambda server: _running(site, server),
                             site.revert_clock, seconds, ran)
    stages = {task: stage for stage, task in REVERT_STAGES.items()}
    site.retry_wait.update({stages[task]: reverts.RETRY_DELAY for task in ran if task in stages})
    return result


def _faulted_items(conn, stage: str, code: int) -> set[tuple]:
    s, column = dbev.STAGES[stage], _COMPONENT_COLUMN[stage]
    key = f"p.`{column}`" if column else "NULL"
    with conn.cursor() as cur:
        cur.execute(f"SELECT p.`{s.run_id}`, {key} FROM `{s.component_table}` p WHERE p.fault = %s", (code,))
        return set(cur.fetchall())


# ---- one time step

# processing stages no simulated server has a *.run task for (destreak): nothing processes their components
IDLE_STAGES = tuple(stage for stage in dbev.PROCESSING_ORDER if stage not in STAGE_TASKS)


def step_rates(site: Site) -> Rates:
    """The site's rates, with the work of servers that are not running and of stages no server runs stopped."""
    stopped: dict = {"idle_stages": tuple(dict.fromkeys((*site.rates.idle_stages, *IDLE_STAGES))),
                     "retries_waiting": tuple(stage for stage, wait in site.retry_wait.items() if wait > 0)}
    for server, fields in _STOPS.items():
        if not _running(site, server):
            stopped.update(fields)
    return replace(site.rates, **stopped)


def wanted_jobs(site: Site, done: dict) -> dict[str, dict[str, int]]:
    """server -> stage -> busy jobs: pending components per stage (or this step's work), capped by hosts."""
    cap = len(site.hosts)
    work: dict[str, dict[str, int]] = {}
    for stage, (server, _task) in STAGE_TASKS.items():
        if stage in dbev.STAGES:
            wanted = len(dbev.pending_components(site.conn, stage, limit=cap))
        else:
            wanted = min(cap, sum(done.get(stage, (0, 0))))
        work.setdefault(server, {})[stage] = wanted
    return work


def step(site: Site, seconds: float) -> dict:
    """The DB moves on one tick, the run tasks count what it did, every server moves `seconds`, due reverts run.

    `seconds` is simulated time: the revert tasks' periods (1800 s, dist 60 s, registration 600 s) count in it.
    Reverts come last, so a scrape after the step sees the dip before the retried items are picked up again
    (on a real site the load task and the job take a minute or more after a revert)."""
    before = job_counts(site.conn)
    moved = advance(site.conn, site.rng, step=1, neb_conn=site.neb, rates=step_rates(site))
    done = record_jobs(site, before, job_counts(site.conn))
    site.retry_wait = {stage: wait - seconds for stage, wait in site.retry_wait.items() if wait > seconds}
    work = wanted_jobs(site, done)
    for name, directory in site.servers.items():
        sim.advance(directory, seconds, work=work.get(name))
    reverted, failures = run_reverts(site, seconds)
    return {"reverted": reverted, "revert_failures": failures, "jobs": done, **moved}


# ---- events

def _servers(site: Site, params: dict) -> list[Path]:
    name = params.get("server")
    if name is None:
        return list(site.servers.values())
    if name not in site.servers:
        raise ValueError(f"unknown server {name!r}; known: {', '.join(site.servers)}")
    return [site.servers[name]]


def _host(site: Site, params: dict) -> str:
    host = params.get("host")
    if host not in site.hosts:
        raise ValueError(f"needs --host, one of {', '.join(site.hosts)}")
    return host


def _pantasks(site: Site, event: str, params: dict) -> str:
    wanted = params if params.get("server") or event.startswith("host-") else {"server": "stdscience", **params}
    for directory in _servers(site, wanted):
        sim.apply_event(directory, event, host=params.get("host"), label=params.get("label"),
                        busy_wait=params.get("busy_wait"))
    text = f"{event} on {wanted.get('server') or 'every server'}"
    if event in ("stall-label", "unstall-label"):
        runs = dbev.stall_label(site.conn, params["label"], stalled=event == "stall-label")
        text += f"; {runs} runs of {params['label']} in the DB"
    return text


def _fault_storm(site: Site, params: dict) -> str:
    stage, code, count = params.get("stage"), int(params.get("fault", 2)), int(params.get("count", 20))
    if stage is None:
        n = _recorded(site, lambda: dbev.fault_storm(site.conn, site.rng, count=count, codes=(code,),
                                                     hosts=site.hosts))
        return f"{n} components across every stage faulted with {code}"
    if stage not in (*dbev.STAGES, "dist", "summitcopy"):
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join((*dbev.STAGES, 'dist', 'summitcopy'))}")
    n = _recorded(site, lambda: dbev.inject_faults(site.conn, site.rng, stage=stage, code=code, count=count,
                                                   label=params.get("label"), hosts=site.hosts))
    return f"{n} {stage} components faulted with {code}"


def _recurring(site: Site, params: dict) -> str:
    """Fault pending items with a persistent cause: every retry after a revert fails again with the same code."""
    stage, code, count = params.get("stage", "chip"), int(params.get("fault", 5)), int(params.get("count", 5))
    if stage not in _COMPONENT_COLUMN:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(_COMPONENT_COLUMN)}")
    before = _faulted_items(site.conn, stage, code)
    _recorded(site, lambda: dbev.inject_faults(site.conn, site.rng, stage=stage, code=code, count=count,
                                               label=params.get("label"), hosts=site.hosts))
    added = sorted(_faulted_items(site.conn, stage, code) - before)
    mark_recurring(site.conn, stage, [(run_id, component or _ONE_COMPONENT[stage]) for run_id, component in added],
                   code)
    return f"{len(added)} {stage} items fault with {code} on every retry"


def _revert(site: Site, params: dict) -> str:
    stage = params.get("stage", "chip")
    if stage not in REVERT_STAGES:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(REVERT_STAGES)}")
    spec = REVERT_TASKS[REVERT_STAGES[stage]]
    tool, mode = spec.tool, spec.mode
    labels = ["-label", params["label"]] if params.get("label") and spec.per_label else []
    argv = labels or (["-all"] if "-all" in pxtools.MODES[(tool, mode)].options else [])
    if params.get("fault") is not None:
        argv += ["-fault", str(params["fault"])]
    try:
        deleted, updated = tool_revert(site.conn, tool, mode, [*argv, "-dbname", site.dbname])
    except pxtools.UsageError as exc:
        raise ValueError(str(exc).strip()) from None
    return f"{tool} {mode} {' '.join(argv)}: deleted {deleted}, reset {updated}"


# the server whose revert task a stage's `<stage>.revert.on|off` switches, and the macro's stem
_REVERT_SWITCH = {"dist": ("distribution", "dist"), "registration": ("registration", "register"),
                  "destreak": ("distribution", "destreak")}


def _revert_switch(site: Site, params: dict, on: bool) -> str:
    stage = params.get("stage", "chip")
    if stage not in REVERT_STAGES and stage != "destreak":
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join([*REVERT_STAGES, 'destreak'])}")
    server, stem = _REVERT_SWITCH.get(stage, ("stdscience", stage))
    server = params.get("server", server)
    line = f"{stem}.revert.{'on' if on else 'off'}"
    with pstate.modify(_servers(site, {"server": server})[0]) as state:
        commands.run_command(state, line)
    return f"{line} in {server}"


def _volumes(site: Site, params: dict, change, what: str) -> str:
    host = _host(site, params)
    n = sum(change(name) for name in dbev.host_volumes(site.neb, host))
    return f"{n} volumes of {host} {what}"


def _host_failure(site: Site, params: dict) -> str:
    host = _host(site, params)
    for directory in site.servers.values():
        sim.apply_event(directory, "host-down", host=host)
    # only stages some server runs jobs for: no destreak job can fail on a site that runs no destreak task
    count = int(params.get("count", 5))
    faults = _recorded(site, lambda: sum(dbev.inject_faults(site.conn, site.rng, stage=stage, code=2, count=count,
                                                            hosts=(host,))
                                         for stage in dbev.PROCESSING_ORDER if stage not in IDLE_STAGES))
    for name in dbev.host_volumes(site.neb, host):
        dbev.nebdiskd_placeholder(site.neb, name)
    dbev.set_host_state(site.neb, host, "down")
    return f"{host} failed: DOWN in every controller, {faults} of its jobs faulted, volumes down with df placeholder"


def _disk_fill(site: Site, params: dict) -> str:
    fraction = float(params.get("fraction", 0.97))
    return _volumes(site, params, lambda name: dbev.fill_volume(site.neb, name, fraction), f"filled to {fraction:.0%}")


def _neb_host(site: Site, params: dict) -> str:
    host, state = _host(site, params), params.get("state", "repair")
    if state not in dbev.HOST_STATES:
        raise ValueError(f"unknown nebulous host state {state!r}; known: {', '.join(dbev.HOST_STATES)}")
    return f"{dbev.set_host_state(site.neb, host, state)} volumes of {host} set {state}"


# what nebdiskd writes once df answers again: the demo's volumes are 20-40 TB (ippsim.scenario), 60 % used
_RESTORED_TOTAL_KIB = 30 * 1_000_000_000_000 // 1024


def _df_restore(site: Site, params: dict) -> str:
    host = _host(site, params)
    with site.neb.cursor() as cur:
        n = cur.execute("UPDATE mountedvol SET total = %s, used = FLOOR(%s * 0.6) WHERE host = %s AND total <= 1",
                        (_RESTORED_TOTAL_KIB, _RESTORED_TOTAL_KIB, host))
    return f"{n} volumes of {host} show real df figures again"


def _fix_recurring(site: Site, params: dict) -> str:
    stage = params.get("stage", "chip")
    if stage not in _COMPONENT_COLUMN:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(_COMPONENT_COLUMN)}")
    s = dbev.STAGES[stage]
    with site.conn.cursor() as cur:
        n = cur.execute(f"UPDATE `{s.run_table}` SET note = NULL WHERE note LIKE %s", (RECURRING_NOTE + "%",))
    return f"{n} {stage} runs lost their persistent fault cause; the next revert sticks"


def _summit(site: Site, params: dict, change, what: str) -> str:
    n = change(site.conn, site.rng, count=int(params.get("count", 10)), n_ota=site.rates.n_ota)
    return f"{n} exposures {what}"


_HANDLERS = {
    "fault-storm": _fault_storm,
    "revert": _revert,
    "recurring-faults": _recurring,
    "revert-on": lambda site, p: _revert_switch(site, p, True),
    "revert-off": lambda site, p: _revert_switch(site, p, False),
    "disk-fill": _disk_fill,
    "df-placeholder": lambda site, p: _volumes(site, p, lambda name: dbev.nebdiskd_placeholder(site.neb, name),
                                               "show the df placeholder (total=1, used=1)"),
    "unmount": lambda site, p: _volumes(site, p, lambda name: dbev.unmount_volume(site.neb, name), "unmounted"),
    "neb-host": _neb_host,
    "summit-behind": lambda site, p: _summit(site, p, dbev.summit_falls_behind, "wait at the summit"),
    "burntool-behind": lambda site, p: _summit(site, p, dbev.burntool_falls_behind, "wait for burntool"),
    "host-failure": _host_failure,
    "df-restore": _df_restore,
    "fix-recurring": _fix_recurring,
}


def apply(site: Site, event: str, params: dict) -> str:
    """Apply one event; return a one-line description of what changed."""
    if event in sim.EVENTS:
        return _pantasks(site, event, params)
    if event in _HANDLERS:
        return _HANDLERS[event](site, params)
    raise ValueError(f"unknown event {event!r}; known: {', '.join(ALL_EVENTS)}")


# ---- the control directory: `ipp-sim inject` drops one JSON file per event; the demo applies and removes it

def control_dir(run_dir: Path) -> Path:
    """Where injected events wait for the demo."""
    return Path(run_dir) / "control"


def queue_event(run_dir: Path, event: str, params: dict) -> Path:
    """Write an event file atomically (temp + rename) for the running demo to pick up."""
    if event not in ALL_EVENTS:
        raise ValueError(f"unknown event {event!r}; known: {', '.join(ALL_EVENTS)}")
    directory = control_dir(run_dir)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}-{os.getpid()}.json"
    tmp = directory / f".{name}.tmp"
    tmp.write_text(json.dumps({"event": event, "params": params}))
    os.replace(tmp, directory / name)
    return directory / name


def take_events(run_dir: Path) -> list[tuple[str, dict]]:
    """Queued events in arrival order; each file is removed once read (a bad file is removed and skipped)."""
    directory = control_dir(run_dir)
    out = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            data = json.loads(path.read_text())
            out.append((str(data["event"]), dict(data.get("params") or {})))
        except (OSError, ValueError, KeyError, TypeError):
            pass
        path.unlink(missing_ok=True)
    return out
