"""The named actions: validated parameters → a Plan of fixed steps (argv lists and pantasks commands, never a shell).

Exact commands (ps-ipp/ipp-trunk-20250502): revert modes from ippTools/src/*tool.c (see actions/sql.py),
`<stage>.revert.on|off` from ippTasks/*.pro, `controller host off|on` from Ohana pantasks controller_host.c,
`neb-host <host> repair|up` from Nebulous-Server/bin/neb-host, `add.label`/`del.label` from ippTasks/pantasks.pro,
`chiptool -updaterun -set_state drop -label L -state new` from the czar procedures (chiptool.c updaterunMode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol

from actions import validate as v
from actions.config import ActionsConfig
from actions.sql import REVERT_EFFECTS

ACTIONS = ("revert", "revert-toggle", "host-out", "host-in", "label-add", "label-remove", "label-drop")
FIELDS = {
    "revert": ("dbname", "stage", "label", "fault"),
    "revert-toggle": ("server", "stage", "to"),
    "host-out": ("host",), "host-in": ("host",),
    "label-add": ("server", "label"), "label-remove": ("server", "label"),
    "label-drop": ("dbname", "label"),
}
# the pantasks macro stem of each stage's revert switch (register.pro names registration "register")
TOGGLE_STEMS = {"chip": "chip", "camera": "camera", "fake": "fake", "warp": "warp", "stack": "stack", "diff": "diff",
                "dist": "dist", "registration": "register", "destreak": "destreak"}


class Inventory(Protocol):
    """What exists: values are checked against it before use."""

    def labels(self, dbname: str) -> set[str]: ...
    def hosts(self) -> set[str]: ...
    def server_labels(self, server: str) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Step:
    """One thing an action does: run a tool, send a pantasks command, or create/expire a silence."""

    kind: str  # tool | pantasks | silence | unsilence
    where: str  # tool host (or 'local'), pantasks server name, or 'alertmanager'
    argv: tuple[str, ...]

    def text(self) -> str:
        """How the step reads on a page (pantasks commands as typed at the pantasks: prompt)."""
        if self.kind == "pantasks":
            return f"pantasks[{self.where}]: {' '.join(self.argv)}"
        if self.kind in ("silence", "unsilence"):
            return f"alertmanager: {' '.join(self.argv)}"
        return " ".join(self.argv)


@dataclass(frozen=True)
class Plan:
    """A validated action: its parameters, lock target, steps, and notes for the preview."""

    action: str
    params: tuple[tuple[str, str], ...]
    target: str
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def param_dict(self) -> dict[str, str]:
        """The parameters as a dict (form fields and URLs)."""
        return dict(self.params)


def _dbname(config: ActionsConfig, raw: Mapping[str, str]) -> str:
    names = [d.dbname for d in config.processing.databases] if config.processing else []
    return v.choice("dbname", v.name("dbname", raw.get("dbname")), names)


def _server(config: ActionsConfig, raw: Mapping[str, str]) -> str:
    names = [s.name for s in config.pantasks.servers] if config.pantasks else []
    return v.choice("server", v.name("server", raw.get("server")), names)


def _tool(config: ActionsConfig, tool: str, *args: str) -> Step:
    return Step("tool", config.tools.host or "local", (config.tools.path(tool), *args))


def _revert(config: ActionsConfig, inv: Inventory, raw: Mapping[str, str]) -> Plan:
    dbname = _dbname(config, raw)
    stage = v.choice("stage", raw.get("stage"), v.REVERT_STAGES)
    fault = v.fault("fault", raw.get("fault"))
    effects = REVERT_EFFECTS[stage]
    takes_label = any(e.label_arg for e in effects)
    label = ""
    if takes_label or raw.get("label"):
        label = v.member("label", v.name("label", raw.get("label")), inv.labels(dbname), f"label in {dbname}")
    steps, seen = [], set()
    for effect in effects:
        if (effect.tool, effect.mode) in seen:
            continue
        seen.add((effect.tool, effect.mode))
        args = [effect.mode] + (["-label", label] if effect.label_arg else [])
        args += (["-fault", str(fault)] if effect.fault_arg else []) + ["-dbname", dbname]
        steps.append(_tool(config, effect.tool, *args))
    notes = []
    if not takes_label:
        notes.append("regtool's revert modes take no -label: this reverts every label's registration faults "
                     f"with code {fault}.")
    if not all(e.fault_arg for e in effects):
        notes.append("faketool -revertprocessedimfile has no -fault option: every fault of the label is reverted.")
    params = (("dbname", dbname), ("stage", stage), ("label", label), ("fault", str(fault)))
    return Plan("revert", params, f"label:{dbname}/{label or '*'}", tuple(steps), tuple(notes))


def _revert_toggle(config: ActionsConfig, inv: Inventory, raw: Mapping[str, str]) -> Plan:
    server = _server(config, raw)
    stage = v.choice("stage", raw.get("stage"), tuple(TOGGLE_STEMS))
    switch = v.choice("to", raw.get("to"), v.SWITCH)
    stem = TOGGLE_STEMS[stage]
    if stage == "destreak":  # czar procedures: the destreak server itself stops while its reverts run
        commands = ["destreak.off", "destreak.revert.on"] if switch == "on" else ["destreak.revert.off", "destreak.on"]
    else:
        commands = [f"{stem}.revert.{switch}"]
    steps = tuple(Step("pantasks", server, tuple(c.split())) for c in commands)
    return Plan("revert-toggle", (("server", server), ("stage", stage), ("to", switch)), f"server:{server}", steps)


def _host(config: ActionsConfig, inv: Inventory, raw: Mapping[str, str], out: bool) -> Plan:
    host = v.member("host", v.name("host", raw.get("host")), inv.hosts(), "host (nebulous or pantasks)")
    servers = [s.name for s in config.pantasks.servers] if config.pantasks else []
    steps = [Step("pantasks", s, ("controller", "host", "off" if out else "on", host)) for s in servers]
    if config.nebulous is not None:
        steps.append(_tool(config, "neb-host", host, "repair" if out else "up"))
    if config.actions.alertmanager_url:
        steps.append(Step("silence", "alertmanager", (f"host={host}",)) if out
                     else Step("unsilence", "alertmanager", (f"host={host}",)))
    return Plan("host-out" if out else "host-in", (("host", host),), f"host:{host}", tuple(steps))


def _label_change(config: ActionsConfig, inv: Inventory, raw: Mapping[str, str], add: bool) -> Plan:
    server = _server(config, raw)
    label = v.name("label", raw.get("label"))
    if add:
        known = set().union(*(inv.labels(d.dbname) for d in config.processing.databases)) if config.processing else set()
        v.member("label", label, known, "label in any processing database")
    else:
        v.member("label", label, inv.server_labels(server), f"label of pantasks server {server}")
    step = Step("pantasks", server, ("add.label" if add else "del.label", label))
    return Plan("label-add" if add else "label-remove", (("server", server), ("label", label)),
                f"label:{server}/{label}", (step,))


def _label_drop(config: ActionsConfig, inv: Inventory, raw: Mapping[str, str]) -> Plan:
    dbname = _dbname(config, raw)
    label = v.member("label", v.name("label", raw.get("label")), inv.labels(dbname), f"label in {dbname}")
    step = _tool(config, "chiptool", "-updaterun", "-set_state", "drop", "-label", v.like_escape(label),
                 "-state", "new", "-dbname", dbname)
    note = ("chiptool -updaterun compares -label with LIKE: '_' and '%' are escaped so only this label matches; "
            "the preview lists every label the pattern matches.")
    return Plan("label-drop", (("dbname", dbname), ("label", label)), f"label:{dbname}/{label}", (step,), (note,))


def build_plan(action: str, config: ActionsConfig, inventory: Inventory, raw: Mapping[str, str]) -> Plan:
    """Validate `raw` for `action` (syntax first, then existence) and return its plan; raise Refused."""
    action = v.choice("action", action, ACTIONS)
    for key in FIELDS[action]:
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > v.MAX_RAW):
            raise v.Refused(key, f"{v.describe(value)} is too long or not text")
    if action == "revert":
        return _revert(config, inventory, raw)
    if action == "revert-toggle":
        return _revert_toggle(config, inventory, raw)
    if action in ("host-out", "host-in"):
        return _host(config, inventory, raw, action == "host-out")
    if action in ("label-add", "label-remove"):
        return _label_change(config, inventory, raw, action == "label-add")
    return _label_drop(config, inventory, raw)
