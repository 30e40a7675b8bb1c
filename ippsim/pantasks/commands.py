"""Server side of the simulated pantasks: run one command line against a state dict, like pantasks_server."""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass

from ippsim.pantasks import render
from ippsim.pantasks.sites import REVERT_MACROS, SERVER_TASKS, new_task


@dataclass(frozen=True)
class Reply:
    """What the server sends back for one command: STATUS, then stderr text, then stdout text."""

    status: int
    stderr: str = ""
    stdout: str = ""
    changed: bool = False


def split_words(line: str) -> list[str]:
    """Split a command line into words (double quotes group words, as opihi's parser does)."""
    try:
        return shlex.split(line, posix=True)
    except ValueError:
        return line.split()


STATUS_HELP = ("USAGE: status [options]\n"
               "       (without options: show system status)\n"
               "       -jobs : list active jobs\n"
               "       -c | -control | -controller      : add status of jobs on controller\n"
               "       -v | -verbose | -details | -info : add details for tasks\n"
               "       -taskstats                       : show timing statistics for tasks\n"
               "       -taskstatsreset                  : reset timing statistics for tasks\n")


def _take_option(opts: list[str], *names: str) -> bool:
    """status_server.c get_argument/remove_argument: remove every given option; True when one was there."""
    found = False
    for name in names:
        while name in opts:
            opts.remove(name)
            found = True
    return found


def _status(state: dict, argv: list[str], now: float) -> Reply:
    """status_server.c: -taskstats and -taskstatsreset return early; the job queue only with -jobs."""
    opts = argv[1:]
    if any(o in ("-h", "-help", "--help") for o in opts):
        return Reply(0, stdout=STATUS_HELP)
    if _take_option(opts, "-taskstats"):
        return Reply(1, stdout=render.format_taskstats(state, now, opts[0] if len(opts) == 1 else None))
    if _take_option(opts, "-taskstatsreset"):
        pattern = re.compile(opts[0]) if len(opts) == 1 else None
        for task in state["tasks"]:
            if pattern is None or pattern.search(task["name"]):
                # Ntimeout is not cleared (TaskOps.c ResetTaskStats): Nrun can go negative afterwards
                task["njobs"] = task["nsuccess"] = task["nfailure"] = 0
                task["timing"] = render.reset_timing()
        return Reply(1, changed=True)
    _take_option(opts, "-c", "-control", "-controller", "-info", "-taskinfo", "-v", "-details", "-verbose")
    return Reply(1, stdout=render.format_status(state, now, jobs=_take_option(opts, "-jobs")))


def _labels(state: dict, argv: list[str]) -> Reply:
    name, labels = argv[0], state["labels"]
    if name == "show.labels":
        if len(argv) != 1:
            return Reply(1, stdout="USAGE: show.labels\n")
        return Reply(1, stdout=render.format_labels(labels))
    if len(argv) != 2:
        return Reply(0, stdout=f"USAGE: {name} (label)\n")
    label = argv[1]
    if name == "add.label":
        if label in labels:
            return Reply(1, stdout=f"{label} set\n")
        labels.append(label)
        return Reply(1, changed=True)
    if label in labels:
        labels.remove(label)
        return Reply(1, changed=True)
    return Reply(1)


def _set_active(state: dict, names: tuple[str, ...] | None, prefix: str | None, active: bool) -> Reply:
    hit = False
    for task in state["tasks"]:
        if (names and task["name"] in names) or (prefix and task["name"].startswith(prefix)):
            task["active"], hit = active, True
    return Reply(1, changed=hit)


def _controller(state: dict, argv: list[str], now: float) -> Reply:
    if len(argv) >= 2 and argv[1] == "status":
        opts = argv[2:]
        if opts and opts[0].lower() == "help":
            return Reply(0, stderr="USAGE: controller status [options]\n")
        show_jobs = "+host" not in opts and "-nojobs" not in opts
        show_hosts = "+jobs" not in opts and "-nohost" not in opts
        return Reply(1, stdout=render.format_controller_status(state, show_jobs, show_hosts, now))
    if len(argv) >= 2 and argv[1] == "host":
        return _controller_host(state, argv[2:])
    if len(argv) >= 2 and argv[1] == "exit":
        state["controller_running"] = False
        return Reply(1, changed=True)
    if len(argv) >= 2 and argv[1] == "run":
        state["controller_running"] = True
        return Reply(1, changed=True)
    return Reply(0, stderr="USAGE: controller (command) ...\n")


def _controller_host(state: dict, args: list[str]) -> Reply:
    if len(args) != 2:
        return Reply(0, stdout="USAGE: controller host (command) (hostname)\n",
                     stderr="  valid commands: add, on, retry, check, off, delete\n"
                            "  -threads Nthreads is optional for 'add'\n")
    verb, name = args[0].lower(), args[1]
    hosts = state.setdefault("hosts", [])
    host = next((h for h in hosts if h["name"] == name), None)
    state["controller_running"] = True  # StartController() runs pcontrol if needed
    if verb == "add":
        new_id = max((h["id"] for h in hosts), default=0x0F) + 1
        hosts.append({"name": name, "state": "DOWN", "id": new_id, "markoff": False})
        return Reply(1, stdout=f"HostID: {new_id}\n", changed=True)
    if verb in ("on", "delete"):
        if host is None or host["state"] != "OFF":
            return Reply(1, stdout=f"host {name} is not OFF\n")
        if verb == "on":
            host["markoff"], host["state"] = False, "DOWN"  # DownHost(): restarted from the DOWN stack
        else:
            hosts.remove(host)
        return Reply(1, changed=True)
    if host is None:
        if verb in ("retry", "check", "off"):
            return Reply(1, stdout=f"host {name} not found\n")
        return Reply(1, stdout="USAGE: host (command) (hostname)\n")
    if verb == "check":
        return Reply(1, stdout=f"host {name} is {host['state']}\n")
    if verb == "retry":
        if host["state"] != "DOWN":
            return Reply(1, stdout=f"host {name} is not DOWN\n")
        return Reply(1)
    if verb == "off":
        host["markoff"] = True
        if not any(j.get("host") == name for j in state["jobs"]):
            host["state"] = "OFF"  # a free host goes OFF at once; a busy one when its job ends
        return Reply(1, changed=True)
    return Reply(1, stdout="USAGE: host (command) (hostname)\n")


def _scheduler(state: dict, verb: str) -> Reply:
    if verb == "run":
        state["scheduler"] = "running"
    else:
        state["scheduler"] = "harvesting" if state["jobs"] else "stopped"
    return Reply(1, changed=True)


BUILTINS = ["status", "controller", "run", "stop", "input"]
MACROS = ["show.labels", "add.label", "del.label", "ns.show.dates", "setup", "show.databases"]


def command_names(state: dict) -> list[str]:
    """Every command this server knows: builtins, plus the macros of ippTasks/*.pro once `input` loaded them."""
    names = list(BUILTINS)
    if not state.get("macros", True):
        return names  # a server started without `server input input`: no macros, no tasks' on/off switches
    names += MACROS
    task_names = {t["name"] for t in state["tasks"]}
    for stage, tasks in REVERT_MACROS.items():
        if any(t in task_names for t in tasks):
            names += [f"{stage}.revert.on", f"{stage}.revert.off"]
    for prefix in sorted({t.split(".")[0] for t in task_names if "." in t}):
        names += [f"{prefix}.on", f"{prefix}.off"]
    return names


def _match(name: str, names: list[str]) -> tuple[str | None, str]:
    """MatchCommand: exact name, else a unique prefix; the error text otherwise."""
    if name in names:
        return name, ""
    found = [n for n in names if n.startswith(name)]
    if len(found) == 1:
        return found[0], ""
    if found:
        return None, f"ambiguous command: {name} ( {' '.join(found[:10])} )\n"
    return None, f"{name}: Command not found.\n"


def run_command(state: dict, line: str, now: float | None = None) -> Reply:
    """Execute one command (no ';') on the server state; the caller saves the state when `changed`."""
    now = time.time() if now is None else now
    argv = split_words(line)
    if not argv:
        return Reply(1)
    name, error = _match(argv[0], command_names(state))
    if name is None:
        return Reply(0, stderr=error)
    argv[0] = name
    if name == "status":
        return _status(state, argv, now)
    if name in ("show.labels", "add.label", "del.label"):
        return _labels(state, argv)
    if name == "controller":
        return _controller(state, argv, now)
    if name == "ns.show.dates":
        return Reply(1, stdout=render.format_ns_dates(state.get("ns_pages", [])))
    if name in ("run", "stop"):
        return _scheduler(state, name)
    if name == "show.databases":
        dbs = state.get("databases", [])
        return Reply(1, stdout="".join(f"{d}\n" for d in dbs) or "no databases defined\n")
    if name == "input":
        if not state.get("macros", True):  # `server input input`: the site's input file loads ippTasks/*.pro
            state["macros"] = True
            state["tasks"] = [new_task(*spec) for spec in SERVER_TASKS.get(state["name"], [])]
        return Reply(1, changed=True)
    if name == "setup":
        return Reply(1)
    stem, _, switch = name.rpartition(".")
    if stem.endswith(".revert"):
        return _set_active(state, REVERT_MACROS[stem[: -len(".revert")]], None, switch == "on")
    return _set_active(state, None, stem + ".", switch == "on")
