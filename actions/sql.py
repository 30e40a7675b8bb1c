"""The SQL behind previews and fault lists: the exporter's fault sources and the IPP tools' own revert filters, as
read-only parameterised SELECTs.

Fault lists and previews are built from exporter.faults_sql.SOURCES (one table of where IPP faults live, which the
exporter counts from): /faults lists a source's `outstanding` items; each Effect is one revert mode's change, the
source's `revert_filter` narrowed to the rows one verb takes. Revert SQL (ps-ipp/ipp-trunk-20250502, ippTools/share/
and ippTools/src/*tool.c): chiptool_revertprocessedimfile.sql / chiptool_revertupdatedimfile.sql,
camtool_revertprocessedexp.sql / camtool_revertupdatedexp.sql, faketool_revertprocessedimfile.sql (no state filter,
no -fault option), warptool -revertwarped, difftool -revertdiffskyfile, stacktool_revertsumskyfile_delete.sql (new
runs only), disttool_revertcomponent.sql / disttool_revertrun.sql, regtool_revertprocessedimfile.sql /
regtool_revertprocessedexp.sql (no join, no -label). Every value is bound (%(name)s); table and column text is fixed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.faults_sql import STAGES, FaultSource, sources_for

PAGE = 50  # rows shown per page of a preview or fault list


@dataclass(frozen=True)
class Effect:
    """One revert mode's change on one source: `verb` the rows of its revert filter that `narrow` selects."""

    source: FaultSource
    verb: str
    narrow: str = ""       # condition added to source.revert_filter: the rows this verb takes ('' = all of them)
    bare_state: str = ""   # regtool's revert SQL has no join: the faulted table alone (no -label), this state shown
    fault_arg: bool = True  # the mode takes -fault

    @property
    def tool(self) -> str:
        """The IPP tool that makes the change."""
        return self.source.revert.split()[0]

    @property
    def mode(self) -> str:
        """The tool's revert mode."""
        return self.source.revert.split()[1]

    @property
    def label_arg(self) -> bool:
        """True when the mode takes -label."""
        return not self.bare_state

    @property
    def condition(self) -> str:
        """The WHERE condition of the rows this effect changes."""
        return f"{self.source.revert_filter} AND {self.narrow}" if self.narrow else self.source.revert_filter


def _source(stage: str, kind: str) -> FaultSource:
    return next(s for s in sources_for(stage) if s.kind == kind)


# the faulted items behind ipp_processing_faults{stage}: what /faults lists
FAULT_SOURCES: dict[str, tuple[FaultSource, ...]] = {stage: sources_for(stage) for stage in STAGES}

DELETE, RESET = "deleted (pending again)", "fault set to 0"
NEW, UPDATE = "r.state = 'new'", "r.state = 'update'"  # the tools delete rows of new runs, reset those of update runs


def _new_and_update(stage: str, kind: str) -> tuple[Effect, ...]:
    return Effect(_source(stage, kind), DELETE, NEW), Effect(_source(stage, kind), RESET, UPDATE)


REVERT_EFFECTS: dict[str, tuple[Effect, ...]] = {
    "chip": _new_and_update("chip", "imfile"),
    "camera": _new_and_update("camera", "exp"),
    "fake": (Effect(_source("fake", "imfile"), DELETE, fault_arg=False),),
    "warp": _new_and_update("warp", "skyfile"),
    "diff": _new_and_update("diff", "skyfile"),
    "stack": (Effect(_source("stack", "sumskyfile"), DELETE),),
    "dist": (Effect(_source("dist", "component"), DELETE), Effect(_source("dist", "run"), RESET)),
    "registration": (Effect(_source("registration", "imfile"), DELETE, bare_state="f.data_state"),
                     Effect(_source("registration", "exp"), DELETE, bare_state="f.state")),
}

# chiptool -updaterun -set_state drop -label L -state new: chipRun JOIN rawExp, label LIKE (chiptool.c updaterunMode)
DROP_MATCHES_SQL = ("SELECT r.label, COUNT(*) FROM chipRun r JOIN rawExp e ON e.exp_id = r.exp_id"
                    " WHERE r.label LIKE %(pattern)s AND r.state = 'new' GROUP BY r.label ORDER BY r.label")

# every label the processing DB knows: the Label table and the run tables' labels (KEY(label) on each)
LABELS_SQL = " UNION ".join(["SELECT label FROM Label"] + [
    f"SELECT DISTINCT label FROM {table}" for table in
    ("chipRun", "camRun", "fakeRun", "warpRun", "stackRun", "diffRun", "distRun", "newExp")])
NEBULOUS_HOSTS_SQL = "SELECT DISTINCT host FROM volume"
HOST_VOLUMES_SQL = "SELECT name, allocate, available FROM volume WHERE host = %s ORDER BY name"


def _terms(source: FaultSource, label: bool, fault: bool) -> str:
    terms = ""
    if label and source.has_label:
        terms += f" AND {source.label} = %(label)s"
    if fault:
        terms += " AND f.fault = %(fault)s"
    return terms


def effect_sql(effect: Effect) -> tuple[str, str]:
    """(COUNT query, page query) of the rows `effect` would change; params label, fault, limit, offset."""
    where = f"{effect.condition}{_terms(effect.source, effect.label_arg, effect.fault_arg)}"
    if effect.bare_state:
        return _pair(effect.source, where, f"{effect.source.table} f", "NULL", effect.bare_state)
    return _pair(effect.source, where)


def fault_list_sql(source: FaultSource, label: bool, fault: bool) -> tuple[str, str]:
    """(COUNT query, page query) of the outstanding faulted items of `source` (no window: every such fault)."""
    return _pair(source, f"{source.outstanding}{_terms(source, label, fault)}")


def _unhinted(drive: str) -> str:
    return re.sub(r" FORCE INDEX \(\w+\)", "", drive)


def _pair(s: FaultSource, where: str, tables: str = "", label: str = "", state: str = "") -> tuple[str, str]:
    # driven from the run table's KEY(state) (STRAIGHT_JOIN, the exporter's hints) whenever the condition filters
    # the run state, so the optimizer never starts from KEY(fault), which holds every old fault; otherwise free
    pinned = not tables and re.search(r"\b[rf]\.state\b", where) is not None
    select = "SELECT STRAIGHT_JOIN" if pinned else "SELECT"
    tables = tables or (s.drive if pinned else _unhinted(s.drive))
    count = f"{select} COUNT(*) FROM {tables} WHERE {where}"  # the display joins are LEFT: they never change it
    page = (f"{select} {s.item}, {label or s.label}, {state or s.state}, f.fault, {s.host}, {s.path}"
            f" FROM {tables}{s.joins} WHERE {where} ORDER BY {s.order} LIMIT %(limit)s OFFSET %(offset)s")
    return count, page
