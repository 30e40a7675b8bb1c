"""Fault sources of a processing database and the SQL built from them (counting, per-item lists), no I/O.

Each source is one faulted table, the run table that says whether the fault still needs action, and the filter
of the IPP tool's own revert SQL. The exporter counts with `outstanding`; the action service lists the items
a revert would touch with `revert_filter` (`fault_items_sql`). Table and column names come only from the fixed
SOURCES below; every value (labels, codes, limits) is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaultSource:
    """One place where an IPP fault is stored, and what still counts as outstanding there."""

    stage: str          # the `stage` label value
    kind: str           # short name of this source within its stage
    drive: str          # FROM … JOIN … with the index hints that keep it driven by the active rows: the run
                        # table's KEY(state), then the faulted table's PRIMARY KEY prefix — never KEY(fault),
                        # which the optimizer picks when few faults exist and which holds every old fault
    outstanding: str    # WHERE condition (with `f.fault <> 0`): the fault still needs action
    revert_filter: str  # WHERE condition of the revert SQL (what a revert touches)
    label: str          # label expression ('' where the stage has no label column)
    host: str           # host expression, NULL where the table keeps no host
    item: str           # expression naming one faulted item (ids only; for previews and fault lists)
    revert: str         # the tool mode that clears it
    source: str         # the IPP file that defines the rule


def _state_in(states: str) -> str:
    return f"r.state IN ({states})"


_UPDATE_RULE = "r.state IN ('new', 'update') AND f.fault <> 0 AND (r.state = 'new' OR f.data_state = 'update')"
_NEW_RULE = "r.state = 'new' AND f.fault <> 0"
_FILESET_RULE = "f.summit_id > %(summit_floor)s AND f.fault <> 0 AND d.summit_id IS NULL"

SOURCES: tuple[FaultSource, ...] = (
    FaultSource("summitcopy", "download",
                "pzDownloadExp r FORCE INDEX (state) JOIN pzDownloadImfile f FORCE INDEX (PRIMARY) ON f.summit_id = r.summit_id",
                "r.state = 'run' AND f.fault <> 0", "r.state = 'run' AND f.fault <> 0", "''", "f.hostname",
                "CONCAT_WS(':', f.summit_id, f.class_id)", "pztool -clearcommonfaults",
                "pztool_revert_downloadimfile_faults.sql"),
    # summitExp has no state and no dateobs index: the newest exposures by primary key (summit_id grows with
    # time), never KEY(fault), which holds every fileset fault ever recorded. A fileset fault holds an exposure
    # back only until it is handed to download (pztool.c -pendingexp: no pzDownloadExp row AND fault = 0)
    # (an anti-join by primary key per faulted row: NOT EXISTS became a scan of all pzDownloadExp at 10 M rows)
    FaultSource("summitcopy", "fileset",
                "summitExp f FORCE INDEX (PRIMARY)"
                " LEFT JOIN pzDownloadExp d FORCE INDEX (PRIMARY) ON d.summit_id = f.summit_id",
                _FILESET_RULE, _FILESET_RULE,
                "''", "NULL", "CAST(f.summit_id AS CHAR)", "pztool -clearcommonfaults",
                "pztool_revert_fileset_faults.sql"),
    # registration: a faulted rawImfile or rawExp keeps its exposure in newExp.state = 'run'
    # (regtool_pendingexp.sql needs SUM(fault) = 0; regtool -addprocessedexp sets 'stop' only when fault = 0)
    FaultSource("registration", "imfile",
                "newExp r FORCE INDEX (state) JOIN rawImfile f FORCE INDEX (PRIMARY) ON f.exp_id = r.exp_id",
                "r.state = 'run' AND f.fault <> 0", "f.fault <> 0", "r.label", "f.hostname",
                "CONCAT_WS(':', f.exp_id, f.class_id)", "regtool -revertprocessedimfile",
                "regtool_revertprocessedimfile.sql"),
    FaultSource("registration", "exp", "newExp r FORCE INDEX (state) JOIN rawExp f FORCE INDEX (PRIMARY) ON f.exp_id = r.exp_id",
                "r.state = 'run' AND f.fault <> 0", "f.fault <> 0", "r.label", "f.hostname",
                "CAST(f.exp_id AS CHAR)", "regtool -revertprocessedexp", "regtool_revertprocessedexp.sql"),
    FaultSource("chip", "imfile",
                "chipRun r FORCE INDEX (state) JOIN chipProcessedImfile f FORCE INDEX (PRIMARY) ON f.chip_id = r.chip_id",
                _UPDATE_RULE, _UPDATE_RULE, "r.label", "f.hostname", "CONCAT_WS(':', f.chip_id, f.class_id)",
                "chiptool -revertprocessedimfile", "chiptool_revertprocessedimfile.sql"),
    FaultSource("camera", "exp", "camRun r FORCE INDEX (state) JOIN camProcessedExp f FORCE INDEX (PRIMARY) ON f.cam_id = r.cam_id",
                "r.state IN ('new', 'update') AND f.fault <> 0", "r.state IN ('new', 'update') AND f.fault <> 0",
                "r.label", "f.hostname", "CAST(f.cam_id AS CHAR)", "camtool -revertprocessedexp",
                "camtool_revertprocessedexp.sql"),
    # faketool_revertprocessedimfile.sql has no run-state filter: a revert also deletes faulted rows of finished runs
    FaultSource("fake", "imfile",
                "fakeRun r FORCE INDEX (state) JOIN fakeProcessedImfile f FORCE INDEX (PRIMARY) ON f.fake_id = r.fake_id",
                _UPDATE_RULE, "f.fault <> 0", "r.label", "f.hostname", "CONCAT_WS(':', f.fake_id, f.class_id)",
                "faketool -revertprocessedimfile", "faketool_revertprocessedimfile.sql"),
    FaultSource("warp", "skyfile", "warpRun r FORCE INDEX (state) JOIN warpSkyfile f FORCE INDEX (PRIMARY) ON f.warp_id = r.warp_id",
                _UPDATE_RULE, _UPDATE_RULE, "r.label", "f.hostname", "CONCAT_WS(':', f.warp_id, f.skycell_id)",
                "warptool -revertwarped", "warptool_revertwarped.sql"),
    FaultSource("warp_overlap", "skycellmap",
                "warpRun r FORCE INDEX (state) JOIN warpSkyCellMap f FORCE INDEX (PRIMARY) ON f.warp_id = r.warp_id",
                _NEW_RULE, _NEW_RULE, "r.label", "NULL", "CONCAT_WS(':', f.warp_id, f.skycell_id, f.class_id)",
                "warptool -revertoverlap", "warptool_revertoverlap.sql"),
    FaultSource("stack", "sumskyfile",
                "stackRun r FORCE INDEX (state) JOIN stackSumSkyfile f FORCE INDEX (PRIMARY) ON f.stack_id = r.stack_id",
                "r.state IN ('new', 'update') AND f.fault <> 0", _NEW_RULE, "r.label", "f.hostname",
                "CAST(f.stack_id AS CHAR)", "stacktool -revertsumskyfile", "stacktool_revertsumskyfile_delete.sql"),
    FaultSource("diff", "skyfile", "diffRun r FORCE INDEX (state) JOIN diffSkyfile f FORCE INDEX (PRIMARY) ON f.diff_id = r.diff_id",
                _UPDATE_RULE, _UPDATE_RULE, "r.label", "f.hostname", "CONCAT_WS(':', f.diff_id, f.skycell_id)",
                "difftool -revertdiffskyfile", "difftool_revertdiffskyfile.sql"),
    FaultSource("magic", "node", "magicRun r FORCE INDEX (state) JOIN magicNodeResult f FORCE INDEX (PRIMARY) ON f.magic_id = r.magic_id",
                _NEW_RULE, _NEW_RULE, "r.label", "NULL", "CONCAT_WS(':', f.magic_id, f.node)",
                "magictool -revertnode", "magictool_revertnode.sql"),
    FaultSource("destreak", "file",
                "magicDSRun r FORCE INDEX (state) JOIN magicDSFile f FORCE INDEX (PRIMARY) ON f.magic_ds_id = r.magic_ds_id",
                _UPDATE_RULE, _UPDATE_RULE, "r.label", "NULL", "CONCAT_WS(':', f.magic_ds_id, f.component)",
                "magicdstool -revertdestreakedfile", "magicdstool_revertdestreakedfile.sql"),
    FaultSource("dist", "component", "distRun r FORCE INDEX (state) JOIN distComponent f FORCE INDEX (PRIMARY) ON f.dist_id = r.dist_id",
                _NEW_RULE, _NEW_RULE, "r.label", "NULL", "CONCAT_WS(':', f.dist_id, f.component)",
                "disttool -revertcomponent", "disttool_revertcomponent.sql"),
    # a run-level dist fault is one row however many components the run has; only `disttool -revertrun` clears it
    FaultSource("dist", "run", "distRun f FORCE INDEX (state)",
                "f.state IN ('new', 'goto_cleaned') AND f.fault <> 0",
                "f.state IN ('new', 'goto_cleaned') AND f.fault <> 0", "f.label", "NULL", "CAST(f.dist_id AS CHAR)",
                "disttool -revertrun", "disttool_revertrun.sql"),
    FaultSource("publish", "done",
                "publishRun r FORCE INDEX (state) JOIN publishDone f FORCE INDEX (PRIMARY) ON f.pub_id = r.pub_id"
                " JOIN publishClient c ON c.client_id = r.client_id",
                "r.state = 'new' AND f.fault <> 0 AND c.active = 1",
                "r.state = 'new' AND f.fault <> 0 AND c.active = 1", "r.label", "f.hostname",
                "CAST(f.pub_id AS CHAR)", "pubtool -revert", "pubtool_revert.sql"),
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
    series = [_grouped(s, f"{s.label}, f.fault, NULL", s.outstanding) for s in sources]
    hosts = [_grouped(s, f"NULL, NULL, {s.host}", f"{s.outstanding} AND {s.host} IS NOT NULL")
             for s in sources if s.host != "NULL"]
    return "\nUNION ALL\n".join(series + hosts)


def sources_for(stage: str) -> tuple[FaultSource, ...]:
    """The fault sources of one stage (KeyError-like ValueError for an unknown stage)."""
    found = tuple(s for s in SOURCES if s.stage == stage)
    if not found:
        raise ValueError(f"unknown stage {stage!r}")
    return found


def fault_items_sql(stage: str, labels: int, *, fault: bool = True, revert: bool = True) -> str:
    """SELECT of the faulted items of `stage`: (kind, revert command, label, fault, host, item) rows.

    Placeholders, in order: `labels` label values (exact match, OR'd, as the tools' -label), then the fault
    code when `fault` is true, then a LIMIT. revert=True uses the revert SQL's filter (what a revert would
    touch: for fake that includes finished runs), revert=False the exporter's counting rule. The summit
    fileset branch also binds %(summit_floor)s, so it is left out here (pztool takes no -label)."""
    parts = []
    for source in sources_for(stage):
        if "%(summit_floor)s" in source.outstanding:
            continue
        where = [source.revert_filter if revert else source.outstanding]
        if labels:
            where.append(f"{source.label} IN ({', '.join(['%s'] * labels)})")
        if fault:
            where.append("f.fault = %s")
        drive = source.drive
        if "state" not in where[0]:  # no run-state filter (fake, registration): let KEY(label)/KEY(fault) serve
            drive = drive.replace(" FORCE INDEX (state)", "").replace(" FORCE INDEX (PRIMARY)", "")
        parts.append(f"SELECT '{source.kind}', '{source.revert}', {source.label}, f.fault, {source.host},"
                     f" {source.item}\n  FROM {drive}\n WHERE " + " AND ".join(where))
    return "\nUNION ALL\n".join(f"({p})" for p in parts) + "\nORDER BY 1, 6\nLIMIT %s"


def fault_items_params(stage: str, labels: list[str], fault: int | None, limit: int) -> list:
    """The parameter list matching fault_items_sql(stage, len(labels), fault=fault is not None)."""
    per_branch = list(labels) + ([fault] if fault is not None else [])
    branches = [s for s in sources_for(stage) if "%(summit_floor)s" not in s.outstanding]
    return per_branch * len(branches) + [limit]
