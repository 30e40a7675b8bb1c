"""Task lists of a realistic set of IPP pantasks servers (names and commands from ippTasks/*.pro)."""

from __future__ import annotations

import os
from pathlib import Path

from ippsim.pantasks import render
from ippsim.pantasks import state as st

# (task, argv[0] once it has run, kind, remote?) -- kind decides how time stepping moves its counters:
# load/advance = DB polls (local), run = processing scripts (controller hosts), revert = revert pollers.
_STDSCIENCE = [
    ("ns.initday.load", "nightly_science.pl", "daily", False),
    ("ns.stacks.load", "nightly_science.pl", "load", False),
    ("ns.stacks.run", "nightly_science.pl", "run", False),
    ("ns.diffs.load", "nightly_science.pl", "load", False),
    ("ns.diffs.run", "nightly_science.pl", "run", False),
    ("chip.imfile.load", "chiptool", "load", False),
    ("chip.imfile.run", "chip_imfile.pl", "run", True),
    ("chip.advanceexp", "chiptool", "advance", False),
    ("chip.revert", "chiptool", "revert", False),
    ("camera.exp.load", "camtool", "load", False),
    ("camera.exp.run", "camera_exp.pl", "run", True),
    ("camera.revert", "camtool", "revert", False),
    ("fake.imfile.load", "faketool", "load", False),
    ("fake.imfile.run", "fake_imfile.pl", "run", True),
    ("fake.revert", "faketool", "revert", False),
    ("warp.exp.load", "warptool", "load", False),
    ("warp.exp.run", "warp_exp.pl", "run", True),
    ("warp.skycell.load", "warptool", "load", False),
    ("warp.skycell.run", "warp_skycell.pl", "run", True),
    ("warp.advancerun", "warptool", "advance", False),
    ("warp.revert.overlap", "warptool", "revert", False),
    ("warp.revert.warped", "warptool", "revert", False),
    ("stack.sum.load", "stacktool", "load", False),
    ("stack.sum.run", "stack_skycell.pl", "run", True),
    ("stack.revert", "stacktool", "revert", False),
    ("diff.skycell.load", "difftool", "load", False),
    ("diff.skycell.run", "diff_skycell.pl", "run", True),
    ("diff.advancerun", "difftool", "advance", False),
    ("diff.revert", "difftool", "revert", False),
]
_SUMMITCOPY = [
    ("pztool.datastore", "pztool", "load", False),
    ("pzgetexp", "pzgetexp", "load", False),
    ("pztool.pendingexp", "pztool", "load", False),
    ("pzgetimfile", "pzgetimfile", "load", False),
    ("pztool.pendingimfile", "pztool", "load", False),
    ("summit_copy", "summit_copy.pl", "run", True),
    ("pztool.clearfault", "pztool", "load", False),
    ("summit.toadvance", "pztool", "load", False),
    ("summit.advance", "pztool", "advance", False),
]
_REGISTRATION = [
    ("register.imfile.load", "regtool", "load", False),
    ("register.imfile.run", "register_imfile.pl", "run", True),
    ("register.imfile.revert", "regtool", "revert", False),
    ("register.exp.revert", "regtool", "revert", False),
    ("register.exp.load", "regtool", "load", False),
    ("register.exp.run", "register_exp.pl", "run", True),
    ("register.burntool.load", "regtool", "load", False),
    ("register.burntool.run", "ipp_apply_burntool_single.pl", "run", True),
]
_DISTRIBUTION = [
    ("dist.process.load", "disttool", "load", False),
    ("dist.process.run", "dist_component.pl", "run", True),
    ("dist.advance.load", "disttool", "load", False),
    ("dist.advance.run", "dist_advancerun.pl", "run", True),
    ("dist.revert", "disttool", "revert", False),
    ("destreak.revert.load", "magicdstool", "revert", False),
    ("destreak.revert.run", "magic_destreak_revert.pl", "revert", True),
    ("destreak.completed.revert", "magicdstool", "revert", False),
]
_CLEANUP = [  # names follow the stage.cleanup pattern of science.cleanup.pro [not all verified]
    ("chip.cleanup.load", "chiptool", "load", False),
    ("chip.cleanup.run", "chip_cleanup.pl", "run", True),
    ("warp.cleanup.load", "warptool", "load", False),
    ("warp.cleanup.run", "warp_cleanup.pl", "run", True),
    ("diff.cleanup.load", "difftool", "load", False),
    ("diff.cleanup.run", "diff_cleanup.pl", "run", True),
]
SERVER_TASKS = {"stdscience": _STDSCIENCE, "summitcopy": _SUMMITCOPY, "registration": _REGISTRATION,
                "distribution": _DISTRIBUTION, "cleanup": _CLEANUP}

# `<stage>.revert.on|off` macros and the tasks they switch (ipp-facts §2.2)
REVERT_MACROS = {
    "chip": ("chip.revert",), "camera": ("camera.revert",), "fake": ("fake.revert",),
    "warp": ("warp.revert.warped", "warp.revert.overlap"), "stack": ("stack.revert",), "diff": ("diff.revert",),
    "register": ("register.imfile.revert", "register.exp.revert"), "dist": ("dist.revert",),
    "destreak": ("destreak.revert.load", "destreak.revert.run", "destreak.completed.revert"),
}
# Revert tasks a running site has switched off (every other revert task is defined without `active false` and
# its <stage>.on macro switches it on): stack.pro defines stack.revert `active false` and stack.on leaves it off,
# register.on switches the registration reverts off, destreak.pro defines its revert tasks `active false`.
REVERTS_OFF_AT_START = frozenset({"stack.revert", "register.imfile.revert", "register.exp.revert",
                                  "destreak.revert.load", "destreak.revert.run", "destreak.completed.revert"})
# Stage prefix of each run task, for mapping DB progress onto task counters.
RUN_STAGE = {"chip.imfile.run": "chip", "camera.exp.run": "camera", "fake.imfile.run": "fake",
             "warp.skycell.run": "warp", "stack.sum.run": "stack", "diff.skycell.run": "diff",
             "summit_copy": "summitcopy", "register.imfile.run": "registration", "dist.process.run": "dist"}
DEFAULT_HOSTS = tuple(f"ipp{n:03d}" for n in range(11, 19))


def new_task(name: str, command: str, kind: str, remote: bool) -> dict:
    """A task as the server defines it at start-up: never run yet, so its command shows as (dynamic)."""
    return {
        "name": name, "command": None, "argv0": command, "kind": kind, "remote": remote,
        "active": kind != "revert" or name not in REVERTS_OFF_AT_START,
        "trange": [[0, 3600]] if kind == "daily" else [], "valid": None,
        "njobs": 0, "nsuccess": 0, "nfailure": 0, "ntimeout": 0, "timing": render.new_timing(),
    }


def new_state(name: str, *, hosts: tuple[str, ...] = DEFAULT_HOSTS, labels: tuple[str, ...] = (),
              seed: int = 0, macros: bool = True) -> dict:
    """The initial state of server `name` (one of SERVER_TASKS); macros=False: `server input input` never ran."""
    if name not in SERVER_TASKS:
        raise ValueError(f"unknown pantasks server {name!r}; known: {', '.join(SERVER_TASKS)}")
    return {
        "version": st.STATE_VERSION, "name": name, "mode": "ok", "busy_wait": st.DEFAULT_BUSY_WAIT,
        "password": "sim", "scheduler": "running", "controller_running": True,
        "macros": macros, "tasks": [new_task(*spec) for spec in SERVER_TASKS[name]] if macros else [],
        "labels": list(labels), "jobs": [], "next_job_id": 1,
        "hosts": [{"name": h, "state": "IDLE", "id": 0x10 + i, "markoff": False} for i, h in enumerate(hosts)],
        "ns_pages": [], "stalled_labels": [], "seed": seed, "steps": 0,
    }


def create_server(directory: str | os.PathLike, name: str, *, server_host: str = "localhost",
                  hosts: tuple[str, ...] = DEFAULT_HOSTS, labels: tuple[str, ...] = (), seed: int = 0,
                  macros: bool = True) -> Path:
    """Create a server directory (like ~ipp/stdscience) with its ptolemy.rc and state file."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    st.write_rc(path, server_host)
    st.save(path, new_state(name, hosts=hosts, labels=labels, seed=seed, macros=macros))
    return path
