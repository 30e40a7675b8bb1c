"""Demo stories (scenarios) and the events they and `ipp-sim inject` apply to the running site."""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from ippsim import demo_db
from ippsim.mariadb import ConnParams
from ippsim.pantasks import sim
from ippsim.pantasks import state as pstate

DB_EVENTS = ("fault-storm", "revert", "disk-fill", "neb-host")
# host-failure = a host dies: every pantasks controller marks it DOWN and nebulous loses its disks
COMPOUND_EVENTS = ("host-failure",)
ALL_EVENTS = sim.EVENTS + DB_EVENTS + COMPOUND_EVENTS

# Each story: (step number, event, params); step 0 happens right after start-up.
SCENARIOS: dict[str, list[tuple[int, str, dict]]] = {
    "quiet-night": [],
    "fault-storm": [(1, "fault-storm", {"stage": "chip", "count": 25, "fault": 2}),
                    (3, "fault-storm", {"stage": "warp", "count": 10, "fault": 4}),
                    (5, "fault-storm", {"stage": "diff", "count": 8, "fault": 5})],
    "disk-filling": [(0, "disk-fill", {"host": "ipp002", "fraction": 0.02, "every": True})],
    "host-failure": [(2, "host-failure", {"host": "ipp003"})],
    "pantasks-trouble": [(1, "hung", {"server": "stdscience", "busy_wait": 3.0}),
                         (2, "down", {"server": "registration"}),
                         (3, "statsreset", {"server": "distribution"}),
                         (4, "scheduler-stop", {"server": "summitcopy"}),
                         (5, "host-off", {"server": "stdscience", "host": "ipp004"}),
                         (6, "stall-label", {"server": "stdscience", "label": "M31.nightlyscience"})],
}


@dataclass
class Site:
    """What the event code needs of the running demo."""

    root: ConnParams
    dbname: str
    nebulous_db: str
    servers: dict[str, Path]
    rng: random.Random
    recurring: list[tuple[str, dict]] = field(default_factory=list)


def _servers(site: Site, params: dict) -> list[Path]:
    name = params.get("server")
    if name is None:
        return list(site.servers.values())
    if name not in site.servers:
        raise ValueError(f"unknown server {name!r}; known: {', '.join(site.servers)}")
    return [site.servers[name]]


def apply(site: Site, event: str, params: dict) -> str:
    """Apply one event; return a one-line description of what changed."""
    if params.get("every"):
        site.recurring.append((event, {k: v for k, v in params.items() if k != "every"}))
        return f"{event} will repeat every step"
    if event in sim.EVENTS:
        wanted = params if params.get("server") or event.startswith("host-") else {"server": "stdscience", **params}
        for directory in _servers(site, wanted):
            sim.apply_event(directory, event, host=params.get("host"), label=params.get("label"),
                            busy_wait=params.get("busy_wait"))
        return f"{event} on {wanted.get('server') or 'every server'}"
    if event == "fault-storm":
        stage = params.get("stage", "chip")
        changed = demo_db.fault_storm(site.root, site.dbname, stage, int(params.get("count", 20)),
                                      int(params.get("fault", 2)), site.rng)
        run_task = {"chip": "chip.imfile.run", "camera": "camera.exp.run", "warp": "warp.skycell.run",
                    "diff": "diff.skycell.run"}[stage]
        if "stdscience" in site.servers:
            sim.record_finished(site.servers["stdscience"], run_task, good=0, failed=changed)
        return f"{changed} {stage} components faulted"
    if event == "revert":
        return f"{demo_db.revert(site.root, site.dbname, params.get('stage', 'chip'))} components reverted"
    if event == "disk-fill":
        rows = demo_db.grow_disks(site.root, site.nebulous_db, float(params.get("fraction", 0.05)), params.get("host"))
        return f"{rows} volumes filled further"
    if event == "neb-host":
        rows = demo_db.set_neb_host(site.root, site.nebulous_db, params["host"], params.get("state", "repair"))
        return f"{rows} volumes of {params['host']} set {params.get('state', 'repair')}"
    if event == "host-failure":
        host = params["host"]
        for directory in site.servers.values():
            sim.apply_event(directory, "host-down", host=host)
        demo_db.set_neb_host(site.root, site.nebulous_db, host, "down", df_ok=False)
        return f"{host} failed: DOWN in every controller, nebulous volumes down with df placeholder"
    raise ValueError(f"unknown event {event!r}; known: {', '.join(ALL_EVENTS)}")


def run_reverts(site: Site) -> int:
    """Revert tasks that are active in stdscience run their SQL (the real ones poll every 1800 s)."""
    directory = site.servers.get("stdscience")
    if directory is None:
        return 0
    active = {t["name"] for t in pstate.load(directory)["tasks"] if t["active"]}
    return sum(demo_db.revert(site.root, site.dbname, stage)
               for stage, task in demo_db.REVERT_TASK.items() if task in active)


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
