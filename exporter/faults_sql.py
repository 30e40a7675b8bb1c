"""Fault sources of a processing database and the counting SQL built from them, no I/O.

Each source is one faulted table (alias `f`), the run table that says whether the fault still needs action
(alias `r`), the filter of the IPP tool's own revert SQL and how one faulted item is shown. The exporter counts
with `counted` (`faults_sql()`); the action service (actions/sql.py) lists `outstanding` items for /faults and
builds its revert previews from `revert_filter`. Table and column names come only from the fixed SOURCES below;
every value (labels, codes, limits) is a bound parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class FaultSource:
    """One place where an IPP fault is stored, what still counts as outstanding there, and how an item is shown."""

    stage: str          # the `stage` label value
    kind: str           # short name of this source within its stage
    drive: str          # FROM … JOIN … with the index hints that keep it driven by the active rows: the run
                        # table's KEY(state), then the faulted table's PRIMARY KEY prefix — never KEY(fault),
                        # which the optimizer picks when few faults exist and which holds every old fault
    outstanding: str    # WHERE condition (with `f.fault <> 0`): the fault still needs action
    revert_filter: str  # WHERE condition of the revert SQL (what a revert touches)
    label: str          # label expression ("''" where the stage has no label column)
    host: str           # host expression, NULL where the table keeps no host
    item: str           # expression showing one faulted item (ids and names, for fault lists and previews)
    revert: str         # the tool mode that clears it
    source: str         # the IPP file that defines the rule
    path: str = "NULL"  # path or log base of the item
    order: str = "1"    # key columns to page by (cheaper to sort than the display text)
    joins: str = ""     # LEFT JOINs the item text needs (never in the counting statement; LEFT, so a missing
                        # exposure row never hides an item the exporter counts: CONCAT_WS skips the NULL name)
    state: str = "r.state"  # the run state shown next to an item
    window: str = ""    # extra condition of the exporter's count only (binds %(summit_floor)s)

    @property
    def counted(self) -> str:
        """The exporter's counting condition: outstanding, within the window where there is one."""
        return f"{self.window} AND {self.outstanding}" if self.window else self.outstanding

    @property
    def table(self) -> str:
        """The faulted table's name."""
        match = re.search(r"(\w+) f\b", self.drive)
        if match is None:  # every branch aliases its faulted table `f`; a new branch without it is a bug
            raise ValueError(f"no faulted table aliased f in {self.drive!r}")
        return match.group(1)

    @property
    def has_label(self) -> bool:
        """True when the stage has a label column (the tools' -label applies)."""
        return self.label != "''"


_UPDATE_RULE = "r.state IN ('new', 'update') AND f.fault <> 0 AND (r.state = 'new' OR f.data_state = 'update')"
_NEW_RULE = "r.state = 'new' AND f.fault <> 0"
_FILESET_RULE = "f.fault <> 0 AND d.summit_id IS NULL"
_TO_EXPOSURE = " LEFT JOIN rawExp e ON e.exp_id = h.exp_id"

SOURCES: tuple[FaultSource, ...] = (
    FaultSource("summitcopy", "download",
                "pzDownloadExp r FORCE INDEX (state) JOIN pzDownloadImfile f FORCE INDEX (PRIMARY) ON f.summit_id = r.summit_id",
                "r.state = 'run' AND f.fault <> 0", "r.state = 'run' AND f.fault <> 0", "''", "f.hostname",
                "CONCAT('summit_id ', f.summit_id, ' ', f.exp_name, ' ', f.class_id)", "pztool -clearcommonfaults",
                "pztool_revert_downloadimfile_faults.sql", path="f.uri", order="f.summit_id, f.class, f.class_id"),
    # summitExp has no state and no dateobs index: the newest exposures by primary key (summit_id grows with
    # time), never KEY(fault), which holds every fileset fault ever recorded. A fileset fault holds an exposure
    # back only until it is handed to download (pztool.c -pendingexp: no pzDownloadExp row AND fault = 0)
    # (an anti-join by primary key per faulted row: NOT EXISTS became a scan of all pzDownloadExp at 10 M rows).
    # Only the exporter's count is windowed to the newest exposures; /faults lists every such fault.
    FaultSource("summitcopy", "fileset",
                "summitExp f FORCE INDEX (PRIMARY)"
                " LEFT JOIN pzDownloadExp d FORCE INDEX (PRIMARY) ON d.summit_id = f.summit_id",
                _FILESET_RULE, _FILESET_RULE, "''", "NULL", "CONCAT('summit_id ', f.summit_id, ' ', f.exp_name)",
                "pztool -clearcommonfaults", "pztool_revert_fileset_faults.sql", path="f.uri", order="f.summit_id DESC",
                state="'fileset'", window="f.summit_id > %(summit_floor)s"),
    # registration: a faulted rawImfile or rawExp keeps its exposure in newExp.state = 'run'
    # (regtool_pendingexp.sql needs SUM(fault) = 0; regtool -addprocessedexp sets 'stop' only when fault = 0)
    FaultSource("registration", "imfile",
                "newExp r FORCE INDEX (state) JOIN rawImfile f FORCE INDEX (PRIMARY) ON f.exp_id = r.exp_id",
                "r.state = 'run' AND f.fault <> 0", "f.fault <> 0", "r.label", "f.hostname",
                "CONCAT('exp_id ', f.exp_id, ' ', f.class_id)", "regtool -revertprocessedimfile",
                "regtool_revertprocessedimfile.sql", path="f.uri", order="f.exp_id, f.class_id"),
    FaultSource("registration", "exp", "newExp r FORCE INDEX (state) JOIN rawExp f FORCE INDEX (PRIMARY) ON f.exp_id = r.exp_id",
                "r.state = 'run' AND f.fault <> 0", "f.fault <> 0", "r.label", "f.hostname",
                "CONCAT('exp_id ', f.exp_id, ' ', f.exp_name)", "regtool -revertprocessedexp",
                "regtool_revertprocessedexp.sql", path="f.workdir", order="f.exp_id"),
    FaultSource("chip", "imfile",
                "chipRun r FORCE INDEX (state) JOIN chipProcessedImfile f FORCE INDEX (PRIMARY) ON f.chip_id = r.chip_id",
                _UPDATE_RULE, _UPDATE_RULE, "r.label", "f.hostname",
                "CONCAT_WS(' ', 'chip_id', r.chip_id, e.exp_name, f.class_id)", "chiptool -revertprocessedimfile",
                "chiptool_revertprocessedimfile.sql", path="f.path_base", order="f.chip_id, f.class_id",
                joins=" LEFT JOIN rawExp e ON e.exp_id = f.exp_id"),
    FaultSource("camera", "exp", "camRun r FORCE INDEX (state) JOIN camProcessedExp f FORCE INDEX (PRIMARY) ON f.cam_id = r.cam_id",
                "r.state IN ('new', 'update') AND f.fault <> 0", "r.state IN ('new', 'update') AND f.fault <> 0",
                "r.label", "f.hostname", "CONCAT_WS(' ', 'cam_id', r.cam_id, e.exp_name)", "camtool -revertprocessedexp",
                "camtool_revertprocessedexp.sql", path="f.path_base", order="f.cam_id",
                joins=" LEFT JOIN chipRun h ON h.chip_id = r.chip_id" + _TO_EXPOSURE),
    # faketool_revertprocessedimfile.sql has no run-state filter: a revert also deletes faulted rows of finished runs
    FaultSource("fake", "imfile",
                "fakeRun r FORCE INDEX (state) JOIN fakeProcessedImfile f FORCE INDEX (PRIMARY) ON f.fake_id = r.fake_id",
                _UPDATE_RULE, "f.fault <> 0", "r.label", "f.hostname",
                "CONCAT_WS(' ', 'fake_id', r.fake_id, e.exp_name, f.class_id)", "faketool -revertprocessedimfile",
                "faketool_revertprocessedimfile.sql", path="f.path_base", order="f.fake_id, f.class_id",
                joins=" LEFT JOIN camRun c ON c.cam_id = r.cam_id LEFT JOIN chipRun h ON h.chip_id = c.chip_id" + _TO_EXPOSURE),
    FaultSource("warp", "skyfile", "warpRun r FORCE INDEX (state) JOIN warpSkyfile f FORCE INDEX (PRIMARY) ON f.warp_id = r.warp_id",
                _UPDATE_RULE, _UPDATE_RULE, "r.label", "f.hostname",
                "CONCAT_WS(' ', 'warp_id', r.warp_id, e.exp_name, f.skycell_id)", "warptool -revertwarped",
                "warptool_revertwarped.sql", path="f.path_base", order="f.warp_id, f.skycell_id",
                joins=" LEFT JOIN fakeRun k ON k.fake_id = r.fake_id LEFT JOIN camRun c ON c.cam_id = k.cam_id"
                      " LEFT JOIN chipRun h ON h.chip_id = c.chip_id" + _TO_EXPOSURE),
    FaultSource("warp_overlap", "skycellmap",
                "warpRun r FORCE INDEX (state) JOIN warpSkyCellMap f FORCE INDEX (PRIMARY) ON f.warp_id = r.warp_id",
                _NEW_RULE, _NEW_RULE, "r.label", "NULL",
                "CONCAT('warp_id ', f.warp_id, ' ', f.skycell_id, ' ', f.class_id)", "warptool -revertoverlap",
                "warptool_revertoverlap.sql", order="f.warp_id, f.skycell_id, f.class_id"),
    FaultSource("stack", "sumskyfile",
                "stackRun r FORCE INDEX (state) JOIN stackSumSkyfile f FORCE INDEX (PRIMARY) ON f.stack_id = r.stack_id",
                "r.state IN ('new', 'update') AND f.fault <> 0", _NEW_RULE, "r.label", "f.hostname",
                "CONCAT('stack_id ', r.stack_id, ' ', COALESCE(r.skycell_id, ''))", "stacktool -revertsumskyfile",
                "stacktool_revertsumskyfile_delete.sql", path="f.path_base", order="f.stack_id"),
    FaultSource("diff", "skyfile", "diffRun r FORCE INDEX (state) JOIN diffSkyfile f FORCE INDEX (PRIMARY) ON f.diff_id = r.diff_id",
                _UPDATE_RULE, _UPDATE_RULE, "r.label", "f.hostname", "CONCAT('diff_id ', r.diff_id, ' ', f.skycell_id)",
                "difftool -revertdiffskyfile", "difftool_revertdiffskyfile.sql", path="f.path_base",
                order="f.diff_id, f.skycell_id"),
    FaultSource("magic", "node", "magicRun r FORCE INDEX (state) JOIN magicNodeResult f FORCE INDEX (PRIMARY) ON f.magic_id = r.magic_id",
                _NEW_RULE, _NEW_RULE, "r.label", "NULL", "CONCAT('magic_id ', f.magic_id, ' node ', f.node)",
                "magictool -revertnode", "magictool_revertnode.sql", path="f.path_base", order="f.magic_id, f.node"),
    FaultSource("destreak", "file",
                "magicDSRun r FORCE INDEX (state) JOIN magicDSFile f FORCE INDEX (PRIMARY) ON f.magic_ds_id = r.magic_ds_id",
                _UPDATE_RULE, _UPDATE_RULE, "r.label", "NULL", "CONCAT('magic_ds_id ', f.magic_ds_id, ' ', f.component)",
                "magicdstool -revertdestreakedfile", "magicdstool_revertdestreakedfile.sql", path="f.backup_path_base",
                order="f.magic_ds_id, f.component"),
    FaultSource("dist", "component", "distRun r FORCE INDEX (state) JOIN distComponent f FORCE INDEX (PRIMARY) ON f.dist_id = r.dist_id",
                _NEW_RULE, _NEW_RULE, "r.label", "NULL", "CONCAT('dist_id ', r.dist_id, ' component ', f.component)",
                "disttool -revertcomponent", "disttool_revertcomponent.sql", path="f.outdir",
                order="f.dist_id, f.component"),
    # a run-level dist fault is one row however many components the run has; only `disttool -revertrun` clears it
    FaultSource("dist", "run", "distRun f FORCE INDEX (state)",
                "f.state IN ('new', 'goto_cleaned') AND f.fault <> 0",
                "f.state IN ('new', 'goto_cleaned') AND f.fault <> 0", "f.label", "NULL",
                "CONCAT('dist_id ', f.dist_id, ' run (', f.stage, ' ', f.stage_id, ')')", "disttool -revertrun",
                "disttool_revertrun.sql", path="f.outdir", order="f.dist_id", state="f.state"),
    FaultSource("publish", "done",
                "publishRun r FORCE INDEX (state) JOIN publishDone f FORCE INDEX (PRIMARY) ON f.pub_id = r.pub_id"
                " JOIN publishClient c ON c.client_id = r.client_id",
                "r.state = 'new' AND f.fault <> 0 AND c.active = 1",
                "r.state = 'new' AND f.fault <> 0 AND c.active = 1", "r.label", "f.hostname",
                "CONCAT('pub_id ', f.pub_id)", "pubtool -revert", "pubtool_revert.sql", path="f.path_base",
                order="f.pub_id"),
)

STAGES = tuple(dict.fromkeys(s.stage for s in SOURCES))


def _grouped(source: FaultSource, columns: str, where: str) -> str:
    return (f"SELECT STRAIGHT_JOIN '{source.stage}', {columns}, COUNT(*)\n  FROM {source.drive}\n WHERE {where}\n"
            " GROUP BY 2, 3, 4")


def faults_sql(sources: tuple[FaultSource, ...] = SOURCES) -> str:
    """One statement: outstanding faults as series, not rows: (stage, label, fault, NULL, n) per series, then
    (stage, NULL, NULL, host, n) per host. Each source is read twice (once per grouping); measured, that is
    cheaper than materialising one (label, fault, host) union and grouping it twice, and the client never sees
    one row per (label, fault, host)."""
    series = [_grouped(s, f"{s.label}, f.fault, NULL", s.counted) for s in sources]
    hosts = [_grouped(s, f"NULL, NULL, {s.host}", f"{s.counted} AND {s.host} IS NOT NULL")
             for s in sources if s.host != "NULL"]
    return "\nUNION ALL\n".join(series + hosts)


def sources_for(stage: str) -> tuple[FaultSource, ...]:
    """The fault sources of one stage (KeyError-like ValueError for an unknown stage)."""
    found = tuple(s for s in SOURCES if s.stage == stage)
    if not found:
        raise ValueError(f"unknown stage {stage!r}")
    return found
