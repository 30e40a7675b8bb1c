"""Stand-ins for the IPP pxtools revert/update modes: same argument syntax, same rows changed, parameterised SQL.

The SQL mirrors ippTools/share/*_revert*.sql and the C modes in ippTools/src/{chip,cam,fake,warp,diff,stack,dist,reg}
tool.c (options from the matching *Config.c) of ps-ipp/ipp-trunk-20250502. The real tools paste values into SQL
text; these bind every value as a parameter.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from ippsim.tools.config import connect_processing

DO_NOT_REVERT_FAULT = 26  # PXTOOL_DO_NOT_REVERT_FAULT, ippTools/src/pxtools.h
EXIT_UNKNOWN, EXIT_CONFIG = 1, 3  # PS_EXIT_UNKNOWN_ERROR, PS_EXIT_CONFIG_ERROR (pxerrorGetExitStatus)
VALID_STATES = {"new", "reg", "full", "drop", "wait", "keep", "ignore", "update", "goto_cleaned", "cleaned",
                "error_cleaned", "goto_purged", "purged", "error_purged", "goto_scrubbed", "scrubbed",
                "error_scrubbed"}  # pxIsValidState, ippTools/src/pxtools.c


class UsageError(Exception):
    """Bad command line: printed like pxGetOptions does, exit code 3."""


@dataclass(frozen=True)
class Option:
    """One command-line option: the SQL column it filters on (None = not a filter) and its kind."""

    column: str | None
    kind: str = "str"  # str | int | multi (repeatable, OR'd) | like | flag
    op: str = "="


@dataclass(frozen=True)
class Mode:
    """A revert mode: its delete/update SQL heads (ending in a WHERE clause), its options and what it logs."""

    delete_sql: str | None
    update_sql: str | None
    options: dict
    table: str
    skip_26_without_fault: bool = False
    requires_search: bool = True  # "search parameters are required" unless a filter or -all is given
    log: tuple[str, ...] = ("Deleted {deleted} {table}", "Updated {updated} {table}")


_COMMON = {"-dbname": Option(None)}
_ALL = {"-all": Option(None, "flag")}

MODES: dict[tuple[str, str], Mode] = {
    ("chiptool", "-revertprocessedimfile"): Mode(
        "DELETE chipProcessedImfile FROM chipProcessedImfile JOIN chipRun ON chipRun.chip_id = chipProcessedImfile.chip_id"
        " JOIN rawExp ON rawExp.exp_id = chipProcessedImfile.exp_id"
        " WHERE chipRun.state = 'new' AND chipProcessedImfile.fault != 0",
        "UPDATE chipProcessedImfile JOIN chipRun USING (chip_id, exp_id) JOIN rawExp USING (exp_id)"
        " SET chipProcessedImfile.fault = 0 WHERE chipRun.state = 'update'"
        " AND chipProcessedImfile.data_state = 'update' AND chipProcessedImfile.fault != 0",
        {"-chip_id": Option("chipRun.chip_id", "int"), "-class_id": Option("chipProcessedImfile.class_id"),
         "-label": Option("chipRun.label", "multi"), "-reduction": Option("chipRun.reduction"),
         "-fault": Option("chipProcessedImfile.fault", "int"), **_ALL},
        "chipProcessedImfiles", True),
    ("camtool", "-revertprocessedexp"): Mode(
        "DELETE camProcessedExp FROM camProcessedExp JOIN camRun ON camRun.cam_id = camProcessedExp.cam_id"
        " JOIN chipRun ON chipRun.chip_id = camRun.chip_id JOIN rawExp ON rawExp.exp_id = chipRun.exp_id"
        " WHERE camProcessedExp.fault != 0 AND camRun.state = 'new'",
        "UPDATE camProcessedExp JOIN camRun USING (cam_id) JOIN chipRun USING (chip_id) JOIN rawExp USING (exp_id)"
        " SET camProcessedExp.fault = 0 WHERE camRun.state = 'update' AND camProcessedExp.fault != 0",
        {"-cam_id": Option("camRun.cam_id", "int"), "-label": Option("camRun.label", "multi"),
         "-reduction": Option("camRun.reduction"), "-fault": Option("camProcessedExp.fault", "int"), **_ALL},
        "camProcessedExps"),
    ("warptool", "-revertwarped"): Mode(
        "DELETE warpSkyfile FROM warpSkyfile JOIN warpRun ON warpRun.warp_id = warpSkyfile.warp_id"
        " JOIN fakeRun ON fakeRun.fake_id = warpRun.fake_id JOIN camRun ON camRun.cam_id = fakeRun.cam_id"
        " JOIN chipRun ON chipRun.chip_id = camRun.chip_id JOIN rawExp ON rawExp.exp_id = chipRun.exp_id"
        " WHERE warpRun.state = 'new' AND warpSkyfile.fault != 0",
        "UPDATE warpSkyfile JOIN warpRun USING (warp_id) JOIN fakeRun USING (fake_id) JOIN camRun USING (cam_id)"
        " JOIN chipRun USING (chip_id) JOIN rawExp USING (exp_id) SET warpSkyfile.fault = 0"
        " WHERE warpRun.state = 'update' AND warpSkyfile.data_state = 'update' AND warpSkyfile.fault != 0",
        {"-warp_id": Option("warpSkyfile.warp_id", "int"), "-skycell_id": Option("warpSkyfile.skycell_id"),
         "-tess_id": Option("warpSkyfile.tess_id"), "-reduction": Option("rawExp.reduction"),
         "-label": Option("warpRun.label", "multi"), "-fault": Option("warpSkyfile.fault", "int"), **_ALL},
        "warpSkyfiles", True),
    # warptool_revertoverlap.sql (the warp.revert.overlap task): faulted skycell overlaps of new runs
    ("warptool", "-revertoverlap"): Mode(
        "DELETE warpSkyCellMap FROM warpSkyCellMap JOIN warpRun ON warpRun.warp_id = warpSkyCellMap.warp_id"
        " JOIN fakeRun ON fakeRun.fake_id = warpRun.fake_id JOIN camRun ON camRun.cam_id = fakeRun.cam_id"
        " JOIN chipRun ON chipRun.chip_id = camRun.chip_id JOIN rawExp ON rawExp.exp_id = chipRun.exp_id"
        " WHERE warpRun.state = 'new' AND warpSkyCellMap.fault != 0",
        None,
        {"-warp_id": Option("warpSkyCellMap.warp_id", "int"), "-skycell_id": Option("warpSkyCellMap.skycell_id"),
         "-tess_id": Option("warpSkyCellMap.tess_id"), "-label": Option("warpRun.label", "multi"),
         "-fault": Option("warpSkyCellMap.fault", "int"), **_ALL},
        "warpSkycellMap", log=("Deleted {deleted} {table}",)),
    ("difftool", "-revertdiffskyfile"): Mode(
        "DELETE diffSkyfile FROM diffSkyfile JOIN diffRun ON diffRun.diff_id = diffSkyfile.diff_id"
        " WHERE diffRun.state = 'new' AND diffSkyfile.fault != 0",
        "UPDATE diffSkyfile JOIN diffRun USING (diff_id) SET diffSkyfile.fault = 0"
        " WHERE diffRun.state = 'update' AND diffSkyfile.data_state = 'update' AND diffSkyfile.fault != 0",
        {"-diff_id": Option("diffSkyfile.diff_id", "int"), "-skycell_id": Option("diffSkyfile.skycell_id"),
         "-label": Option("diffRun.label", "multi"), "-fault": Option("diffSkyfile.fault", "int"), **_ALL},
        "diffSkyfiles", True),
    ("stacktool", "-revertsumskyfile"): Mode(
        "DELETE stackSumSkyfile FROM stackSumSkyfile JOIN stackRun ON stackRun.stack_id = stackSumSkyfile.stack_id"
        " WHERE stackRun.state = 'new' AND stackSumSkyfile.fault != 0",
        None,
        {"-stack_id": Option("stackSumSkyfile.stack_id", "int"), "-label": Option("stackRun.label", "multi"),
         "-fault": Option("stackSumSkyfile.fault", "int"), **_ALL},
        "stackSumSkyfiles", log=("Deleted {deleted} {table}",)),
    # faketool_revertprocessedimfile.sql: no run-state filter; faketool.c never copies -fault into the search,
    # so `-fault N` is accepted and ignored (every fault of the matching runs goes).
    ("faketool", "-revertprocessedimfile"): Mode(
        "DELETE fakeProcessedImfile FROM fakeProcessedImfile JOIN fakeRun ON fakeRun.fake_id = fakeProcessedImfile.fake_id"
        " JOIN camRun ON camRun.cam_id = fakeRun.cam_id JOIN chipRun ON chipRun.chip_id = camRun.chip_id"
        " JOIN rawExp ON rawExp.exp_id = chipRun.exp_id WHERE fakeProcessedImfile.fault != 0",
        None,
        {"-label": Option("fakeRun.label", "multi"), "-fake_id": Option("fakeRun.fake_id", "int"),
         "-exp_id": Option("rawExp.exp_id", "int"), "-exp_name": Option("rawExp.exp_name"),
         "-reduction": Option("reduction"), "-fault": Option(None, "int"), **_ALL},
        "fakeProcessedImfiles", log=()),
    # disttool_revertcomponent.sql (the dist.revert task); -state is unqualified in disttool.c, so MariaDB finds it
    # ambiguous (distRun.state / distComponent.state) exactly as the real tool's query does.
    ("disttool", "-revertcomponent"): Mode(
        "DELETE distComponent FROM distComponent JOIN distRun ON distComponent.dist_id = distRun.dist_id"
        " WHERE distRun.state = 'new' AND distComponent.fault != 0",
        None,
        {"-dist_id": Option("distRun.dist_id", "int"), "-stage": Option("stage"), "-component": Option("component"),
         "-stage_id": Option("stage_id", "int"), "-state": Option("state"), "-label": Option("distRun.label", "multi"),
         "-fault": Option("distComponent.fault", "int"), **_ALL},
        "distComponents", log=("Deleted {deleted} {table}",)),
    # disttool_revertrun.sql: run-level faults, cleared only by hand
    ("disttool", "-revertrun"): Mode(
        None,
        "UPDATE distRun SET distRun.fault = 0 WHERE (distRun.state = 'new' OR distRun.state = 'goto_cleaned')"
        " AND distRun.fault != 0",
        {"-dist_id": Option("distRun.dist_id", "int"), "-stage": Option("stage"), "-stage_id": Option("stage_id", "int"),
         "-state": Option("state"), "-label": Option("distRun.label", "multi"), "-fault": Option("distRun.fault", "int"),
         **_ALL},
        "dist runs", log=("Updated {updated} {table}",)),
    # regtool_revertprocessedimfile.sql: no -label, no "search parameters are required" check; -limit is taken
    # "for compatibility" (register.imfile.revert adds the poll arguments) and not used.
    ("regtool", "-revertprocessedimfile"): Mode(
        "DELETE FROM rawImfile WHERE fault != 0",
        None,
        {"-exp_id": Option("rawImfile.exp_id", "int"), "-tmp_class_id": Option("rawImfile.tmp_class_id"),
         "-class_id": Option("rawImfile.class_id"), "-fault": Option("rawImfile.fault", "int"),
         "-exp_id_begin": Option("rawImfile.exp_id", "int", ">="), "-exp_id_end": Option("rawImfile.exp_id", "int", "<="),
         "-limit": Option(None, "int")},
        "rawImfile", requires_search=False, log=("Updated {deleted} {table}",)),
    # regtool_revertprocessedexp.sql (register.exp.revert runs it with -fault 2); no -all
    ("regtool", "-revertprocessedexp"): Mode(
        "DELETE FROM rawExp WHERE fault != 0",
        None,
        {"-exp_id": Option("rawExp.exp_id", "int"), "-fault": Option("rawExp.fault", "int"),
         "-exp_id_begin": Option("rawExp.exp_id", "int", ">="), "-exp_id_end": Option("rawExp.exp_id", "int", "<=")},
        "rawExp", log=("Updated {deleted} {table}",)),
    # pztool -clearcommonfaults (the summitcopy server's pztool.clearfault task, every 300 s):
    # pztool_revert_downloadimfile_faults.sql deletes the faulted imfile copies of the last 3 days (the next
    # pass copies them again) and pztool_revert_fileset_faults.sql clears summitExp faults older than 10 minutes
    ("pztool", "-clearcommonfaults"): Mode(
        "DELETE FROM pzDownloadImfile WHERE fault != 0 AND ABS(TIMESTAMPDIFF(SECOND, epoch, NOW())) < 86400 * 3"
        " AND (fault IN (203, 200, 104, 115, 255, 202) OR fault < 100)",
        "UPDATE summitExp SET fault = 0 WHERE fault != 0 AND ABS(TIMESTAMPDIFF(SECOND, epoch, NOW())) > 60 * 10"
        " AND ABS(TIMESTAMPDIFF(SECOND, epoch, NOW())) < 86400 * 3 AND (fault IN (203, 200, 104, 255, 202) OR fault < 100)",
        {}, "pzDownloadImfile", requires_search=False, log=()),
}

# chiptool -updaterun (chiptool.c updaterunMode + pxUpdateRun): one LIKE label, -set_* columns.
UPDATERUN_OPTIONS = {
    "-chip_id": Option("chipRun.chip_id", "int"), "-label": Option("chipRun.label", "like", "LIKE"),
    "-state": Option("chipRun.state"), "-data_group": Option("chipRun.data_group", "like", "LIKE"),
    "-dist_group": Option("chipRun.dist_group", "like", "LIKE"),
    "-set_state": Option(None), "-set_label": Option(None), "-set_data_group": Option(None),
    "-set_dist_group": Option(None), "-set_note": Option(None),
}
_SET_COLUMNS = (("-set_state", "state"), ("-set_data_group", "data_group"), ("-set_dist_group", "dist_group"),
                ("-set_note", "note"), ("-set_label", "label"))


def parse(tool: str, mode: str, options: dict, argv: list[str]) -> dict:
    """Parse `-opt value` pairs the way psArgumentParse does; leftovers are 'extra arguments'."""
    known = {**_COMMON, **options}
    values: dict = {}
    extra: list[str] = []
    i = 0
    while i < len(argv):
        name = argv[i]
        spec = known.get(name)
        if spec is None:
            extra.append(name)
            i += 1
            continue
        if spec.kind == "flag":
            values[name] = True
            i += 1
            continue
        if i + 1 >= len(argv):
            raise UsageError(f"error parsing arguments\nUsage: {tool} {mode} [<options>]\n")
        raw = argv[i + 1]
        if spec.kind == "int":
            try:
                values[name] = int(raw)
            except ValueError:
                raise UsageError(f"error parsing arguments\nUsage: {tool} {mode} [<options>]\n") from None
        elif spec.kind == "multi":
            values.setdefault(name, []).append(raw)
        else:
            values[name] = raw
        i += 2
    if extra:
        raise UsageError(f"extra arguments: {' '.join(extra)} \nUsage: {tool} {mode} [<options>]\n\n{mode}:\n")
    return values


def where_terms(options: dict, values: dict) -> tuple[str, list]:
    """The ' AND ...' search terms and their parameters (columns come from the fixed option table)."""
    clauses, params = [], []
    for name, spec in options.items():
        if spec.column is None or name not in values:
            continue
        if spec.kind == "multi":
            labels = values[name]
            clauses.append("(" + " OR ".join(f"{spec.column} = %s" for _ in labels) + ")")
            params.extend(labels)
        else:
            clauses.append(f"{spec.column} {spec.op} %s")
            params.append(values[name])
    return "".join(f" AND {c}" for c in clauses), params


def revert(conn, tool: str, mode_name: str, values: dict) -> tuple[int, int]:
    """Run one revert mode with parsed `values`; returns (rows deleted, rows updated)."""
    mode = MODES[(tool, mode_name)]
    terms, params = where_terms(mode.options, values)
    if mode.requires_search and not params and not values.get("-all"):
        raise UsageError("search parameters are required\n")
    conn.begin()
    try:
        with conn.cursor() as cur:
            deleted = cur.execute(mode.delete_sql + terms, params) if mode.delete_sql is not None else 0
            updated = 0
            if mode.update_sql is not None:
                update = mode.update_sql + terms
                if mode.skip_26_without_fault and "-fault" not in values:
                    update += f" AND {_fault_column(mode)} != %s"
                    updated = cur.execute(update, [*params, DO_NOT_REVERT_FAULT])
                else:
                    updated = cur.execute(update, params)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return deleted, updated


def _fault_column(mode: Mode) -> str:
    return mode.options["-fault"].column


def updaterun(conn, values: dict) -> int:
    """chiptool -updaterun: set run columns on chipRun rows matching the search terms."""
    terms, params = where_terms(UPDATERUN_OPTIONS, values)
    if not params:
        raise UsageError("search parameters are required\n")
    if "-state" in values and len(params) < 2:
        raise UsageError("selection by -state alone is not allowed\n")
    sets = [(column, values[opt]) for opt, column in _SET_COLUMNS if opt in values]
    if not sets:
        raise UsageError("parameters are required\n")
    if "-set_state" in values and values["-set_state"] not in VALID_STATES:
        raise UsageError("pxIsValidState failed\n")
    sql = ("UPDATE chipRun JOIN rawExp USING (exp_id) SET "
           + ", ".join(f"chipRun.{column} = %s" for column, _v in sets) + " WHERE 1 = 1" + terms)
    with conn.cursor() as cur:
        return cur.execute(sql, [v for _c, v in sets] + params)


def main(tool: str, argv: list[str]) -> int:
    """Entry point for chiptool/camtool/warptool/difftool/stacktool stand-ins."""
    modes = [m for (t, m) in MODES if t == tool] + (["-updaterun"] if tool == "chiptool" else [])
    chosen = [a for a in argv if a in modes]
    if len(chosen) != 1:
        message = "mode argument is required" if not chosen else "only one mode selection is allowed"
        sys.stderr.write(f"{message}\nUsage: {tool} <mode> [<options>]\n\n<mode>:\n"
                         + "".join(f"  {m}\n" for m in modes))
        return EXIT_CONFIG
    mode = chosen[0]
    rest = [a for a in argv if a != mode]
    options = UPDATERUN_OPTIONS if mode == "-updaterun" else MODES[(tool, mode)].options
    try:
        values = parse(tool, mode, options, rest)
        with connect_processing(values.get("-dbname")) as conn:
            if mode == "-updaterun":
                changed = updaterun(conn, values)
                sys.stderr.write(f"{tool}: updated {changed} runs\n")
            else:
                deleted, updated = revert(conn, tool, mode, values)
                spec = MODES[(tool, mode)]
                for line in spec.log:
                    sys.stderr.write(f"{tool}: {line.format(deleted=deleted, updated=updated, table=spec.table)}\n")
    except UsageError as exc:
        sys.stderr.write(str(exc))
        return EXIT_CONFIG
    except Exception as exc:  # database trouble: report it like the tools' "database error"
        sys.stderr.write(f"database error: {exc}\n")
        return EXIT_UNKNOWN
    return 0
