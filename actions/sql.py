"""The SQL behind previews and fault lists: the IPP tools' own revert filters, as read-only parameterised SELECTs.

Each Source is one faulted-item table with the joins the tool's revert SQL uses; each Effect is one revert mode's
change on that source. Sources (ps-ipp/ipp-trunk-20250502, ippTools/share/ and ippTools/src/*tool.c):
chiptool_revertprocessedimfile.sql / chiptool_revertupdatedimfile.sql, camtool_revertprocessedexp.sql /
camtool_revertupdatedexp.sql, faketool_revertprocessedimfile.sql (no state filter, no -fault option),
warptool -revertwarped, difftool -revertdiffskyfile, stacktool_revertsumskyfile_delete.sql (new runs only),
disttool_revertcomponent.sql / disttool_revertrun.sql, regtool_revertprocessedimfile.sql /
regtool_revertprocessedexp.sql (no -label). Every value is bound (%(name)s); table and column text is fixed here.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE = 50  # rows shown per page of a preview or fault list


@dataclass(frozen=True)
class Source:
    """One table of faulted items, joined the way the tool joins it; columns are fixed SQL expressions."""

    tables: str
    item: str
    label: str | None
    fault: str
    host: str
    path: str
    state: str
    outstanding: str  # still needs action (the exporter's counting rule, metrics.md)
    order: str = "1"  # key columns to page by (cheaper to sort than the display text)
    # the same joins driven from the run table's KEY(state), then the faulted table's PRIMARY KEY prefix: used
    # (with STRAIGHT_JOIN) whenever the condition filters the run state, so the optimizer never starts from the
    # faulted table's KEY(fault), which holds every old fault (the exporter's finding, exporter/faults_sql.py)
    driven: str | None = None


@dataclass(frozen=True)
class Effect:
    """One revert mode's change on one source: `verb` rows matching `condition` plus the search terms."""

    tool: str
    mode: str
    source: Source
    verb: str
    condition: str
    label_arg: bool = True
    fault_arg: bool = True


CHIP = Source("chipProcessedImfile i JOIN chipRun r ON r.chip_id = i.chip_id JOIN rawExp e ON e.exp_id = i.exp_id",
              "CONCAT('chip_id ', r.chip_id, ' ', e.exp_name, ' ', i.class_id)", "r.label", "i.fault", "i.hostname",
              "i.path_base", "r.state",
              "r.state IN ('new', 'update') AND i.fault <> 0 AND (r.state = 'new' OR i.data_state = 'update')", order="i.chip_id, i.class_id",
    driven="chipRun r FORCE INDEX (state) JOIN chipProcessedImfile i FORCE INDEX (PRIMARY) ON i.chip_id = r.chip_id JOIN rawExp e ON e.exp_id = i.exp_id")
CAMERA = Source("camProcessedExp p JOIN camRun r ON r.cam_id = p.cam_id JOIN chipRun c ON c.chip_id = r.chip_id"
                " JOIN rawExp e ON e.exp_id = c.exp_id",
                "CONCAT('cam_id ', r.cam_id, ' ', e.exp_name)", "r.label", "p.fault", "p.hostname", "p.path_base",
                "r.state", "r.state IN ('new', 'update') AND p.fault <> 0", order="p.cam_id",
    driven="camRun r FORCE INDEX (state) JOIN camProcessedExp p FORCE INDEX (PRIMARY) ON p.cam_id = r.cam_id JOIN chipRun c ON c.chip_id = r.chip_id JOIN rawExp e ON e.exp_id = c.exp_id")
FAKE = Source("fakeProcessedImfile f JOIN fakeRun r ON r.fake_id = f.fake_id JOIN camRun c ON c.cam_id = r.cam_id"
              " JOIN chipRun h ON h.chip_id = c.chip_id JOIN rawExp e ON e.exp_id = h.exp_id",
              "CONCAT('fake_id ', r.fake_id, ' ', e.exp_name, ' ', f.class_id)", "r.label", "f.fault", "f.hostname",
              "f.path_base", "r.state",
              "r.state IN ('new', 'update') AND f.fault <> 0 AND (r.state = 'new' OR f.data_state = 'update')", order="f.fake_id, f.class_id",
    driven="fakeRun r FORCE INDEX (state) JOIN fakeProcessedImfile f FORCE INDEX (PRIMARY) ON f.fake_id = r.fake_id JOIN camRun c ON c.cam_id = r.cam_id JOIN chipRun h ON h.chip_id = c.chip_id JOIN rawExp e ON e.exp_id = h.exp_id")
WARP = Source("warpSkyfile s JOIN warpRun r ON r.warp_id = s.warp_id JOIN fakeRun f ON f.fake_id = r.fake_id"
              " JOIN camRun c ON c.cam_id = f.cam_id JOIN chipRun h ON h.chip_id = c.chip_id"
              " JOIN rawExp e ON e.exp_id = h.exp_id",
              "CONCAT('warp_id ', r.warp_id, ' ', e.exp_name, ' ', s.skycell_id)", "r.label", "s.fault", "s.hostname",
              "s.path_base", "r.state",
              "r.state IN ('new', 'update') AND s.fault <> 0 AND (r.state = 'new' OR s.data_state = 'update')", order="s.warp_id, s.skycell_id",
    driven="warpRun r FORCE INDEX (state) JOIN warpSkyfile s FORCE INDEX (PRIMARY) ON s.warp_id = r.warp_id JOIN fakeRun f ON f.fake_id = r.fake_id JOIN camRun c ON c.cam_id = f.cam_id JOIN chipRun h ON h.chip_id = c.chip_id JOIN rawExp e ON e.exp_id = h.exp_id")
DIFF = Source("diffSkyfile s JOIN diffRun r ON r.diff_id = s.diff_id",
              "CONCAT('diff_id ', r.diff_id, ' ', s.skycell_id)", "r.label", "s.fault", "s.hostname", "s.path_base",
              "r.state",
              "r.state IN ('new', 'update') AND s.fault <> 0 AND (r.state = 'new' OR s.data_state = 'update')", order="s.diff_id, s.skycell_id",
    driven="diffRun r FORCE INDEX (state) JOIN diffSkyfile s FORCE INDEX (PRIMARY) ON s.diff_id = r.diff_id")
STACK = Source("stackSumSkyfile s JOIN stackRun r ON r.stack_id = s.stack_id",
               "CONCAT('stack_id ', r.stack_id, ' ', COALESCE(r.skycell_id, ''))", "r.label", "s.fault", "s.hostname",
               "s.path_base", "r.state", "r.state IN ('new', 'update') AND s.fault <> 0", order="s.stack_id",
    driven="stackRun r FORCE INDEX (state) JOIN stackSumSkyfile s FORCE INDEX (PRIMARY) ON s.stack_id = r.stack_id")
DIST_COMPONENT = Source("distComponent c JOIN distRun r ON r.dist_id = c.dist_id",
                        "CONCAT('dist_id ', r.dist_id, ' component ', c.component)", "r.label", "c.fault", "NULL",
                        "c.outdir", "r.state", "r.state = 'new' AND c.fault <> 0", order="c.dist_id, c.component",
    driven="distRun r FORCE INDEX (state) JOIN distComponent c FORCE INDEX (PRIMARY) ON c.dist_id = r.dist_id")
DIST_RUN = Source("distRun r", "CONCAT('dist_id ', r.dist_id, ' run (', r.stage, ' ', r.stage_id, ')')", "r.label",
                  "r.fault", "NULL", "r.outdir", "r.state",
                  "r.state IN ('new', 'goto_cleaned') AND r.fault <> 0", order="r.dist_id",
    driven="distRun r FORCE INDEX (state)")
# registration: outstanding while the exposure is still in registration (newExp.state = 'run'), as the exporter counts
REG_IMFILE = Source("rawImfile i JOIN newExp r ON r.exp_id = i.exp_id",
                    "CONCAT('exp_id ', i.exp_id, ' ', i.class_id)", "r.label", "i.fault", "i.hostname", "i.uri",
                    "r.state", "r.state = 'run' AND i.fault <> 0", order="i.exp_id, i.class_id",
                    driven="newExp r FORCE INDEX (state) JOIN rawImfile i FORCE INDEX (PRIMARY) ON i.exp_id = r.exp_id")
REG_EXP = Source("rawExp x JOIN newExp r ON r.exp_id = x.exp_id", "CONCAT('exp_id ', x.exp_id, ' ', x.exp_name)",
                 "r.label", "x.fault", "x.hostname", "x.workdir", "r.state", "r.state = 'run' AND x.fault <> 0",
                 order="x.exp_id",
                 driven="newExp r FORCE INDEX (state) JOIN rawExp x FORCE INDEX (PRIMARY) ON x.exp_id = r.exp_id")
# summit copy (no label column): imfile downloads of exposures still downloading, and fileset faults of exposures
# not yet handed to download (pztool.c -pendingexp); the exporter's windowed count limits the latter by summit_id
SUMMIT_DOWNLOAD = Source("pzDownloadImfile i JOIN pzDownloadExp r ON r.summit_id = i.summit_id",
                         "CONCAT('summit_id ', i.summit_id, ' ', i.exp_name, ' ', i.class_id)", None, "i.fault",
                         "i.hostname", "i.uri", "r.state", "r.state = 'run' AND i.fault <> 0",
                         order="i.summit_id, i.class, i.class_id",
                         driven="pzDownloadExp r FORCE INDEX (state) JOIN pzDownloadImfile i FORCE INDEX (PRIMARY)"
                                " ON i.summit_id = r.summit_id")
SUMMIT_FILESET = Source("summitExp s LEFT JOIN pzDownloadExp d ON d.summit_id = s.summit_id",
                        "CONCAT('summit_id ', s.summit_id, ' ', s.exp_name)", None, "s.fault", "NULL", "s.uri",
                        "'fileset'", "s.fault <> 0 AND d.summit_id IS NULL", order="s.summit_id DESC")
WARP_OVERLAP = Source("warpSkyCellMap m JOIN warpRun r ON r.warp_id = m.warp_id",
                      "CONCAT('warp_id ', m.warp_id, ' ', m.skycell_id, ' ', m.class_id)", "r.label", "m.fault", "NULL",
                      "NULL", "r.state", "r.state = 'new' AND m.fault <> 0", order="m.warp_id, m.skycell_id, m.class_id",
                      driven="warpRun r FORCE INDEX (state) JOIN warpSkyCellMap m FORCE INDEX (PRIMARY)"
                             " ON m.warp_id = r.warp_id")
MAGIC = Source("magicNodeResult n JOIN magicRun r ON r.magic_id = n.magic_id",
               "CONCAT('magic_id ', n.magic_id, ' node ', n.node)", "r.label", "n.fault", "NULL", "n.path_base",
               "r.state", "r.state = 'new' AND n.fault <> 0", order="n.magic_id, n.node",
               driven="magicRun r FORCE INDEX (state) JOIN magicNodeResult n FORCE INDEX (PRIMARY) ON n.magic_id = r.magic_id")
DESTREAK = Source("magicDSFile f JOIN magicDSRun r ON r.magic_ds_id = f.magic_ds_id",
                  "CONCAT('magic_ds_id ', f.magic_ds_id, ' ', f.component)", "r.label", "f.fault", "NULL",
                  "f.backup_path_base", "r.state",
                  "r.state IN ('new', 'update') AND f.fault <> 0 AND (r.state = 'new' OR f.data_state = 'update')",
                  order="f.magic_ds_id, f.component",
                  driven="magicDSRun r FORCE INDEX (state) JOIN magicDSFile f FORCE INDEX (PRIMARY)"
                         " ON f.magic_ds_id = r.magic_ds_id")
PUBLISH = Source("publishDone p JOIN publishRun r ON r.pub_id = p.pub_id JOIN publishClient c ON c.client_id = r.client_id",
                 "CONCAT('pub_id ', p.pub_id)", "r.label", "p.fault", "p.hostname", "p.path_base", "r.state",
                 "r.state = 'new' AND p.fault <> 0 AND c.active = 1", order="p.pub_id",
                 driven="publishRun r FORCE INDEX (state) JOIN publishDone p FORCE INDEX (PRIMARY) ON p.pub_id = r.pub_id"
                        " JOIN publishClient c ON c.client_id = r.client_id")
# regtool's revert SQL has no join: registration previews count from the bare tables (no -label there either)
REG_IMFILE_BARE = Source("rawImfile i", "CONCAT('exp_id ', i.exp_id, ' ', i.class_id)", None, "i.fault",
                         "i.hostname", "i.uri", "i.data_state", "i.fault <> 0", order="i.exp_id, i.class_id")
REG_EXP_BARE = Source("rawExp x", "CONCAT('exp_id ', x.exp_id, ' ', x.exp_name)", None, "x.fault", "x.hostname",
                      "x.workdir", "x.state", "x.fault <> 0", order="x.exp_id")

# the faulted items behind ipp_processing_faults{stage}: what /faults lists
FAULT_SOURCES: dict[str, tuple[Source, ...]] = {
    "chip": (CHIP,), "camera": (CAMERA,), "fake": (FAKE,), "warp": (WARP,), "diff": (DIFF,), "stack": (STACK,),
    "dist": (DIST_COMPONENT, DIST_RUN), "registration": (REG_IMFILE, REG_EXP),
    "summitcopy": (SUMMIT_DOWNLOAD, SUMMIT_FILESET), "warp_overlap": (WARP_OVERLAP,), "magic": (MAGIC,),
    "destreak": (DESTREAK,), "publish": (PUBLISH,),
}

DELETE, RESET = "deleted (pending again)", "fault set to 0"
REVERT_EFFECTS: dict[str, tuple[Effect, ...]] = {
    "chip": (Effect("chiptool", "-revertprocessedimfile", CHIP, DELETE, "r.state = 'new' AND i.fault != 0"),
             Effect("chiptool", "-revertprocessedimfile", CHIP, RESET,
                    "r.state = 'update' AND i.data_state = 'update' AND i.fault != 0")),
    "camera": (Effect("camtool", "-revertprocessedexp", CAMERA, DELETE, "r.state = 'new' AND p.fault != 0"),
               Effect("camtool", "-revertprocessedexp", CAMERA, RESET, "r.state = 'update' AND p.fault != 0")),
    "fake": (Effect("faketool", "-revertprocessedimfile", FAKE, DELETE, "f.fault != 0", fault_arg=False),),
    "warp": (Effect("warptool", "-revertwarped", WARP, DELETE, "r.state = 'new' AND s.fault != 0"),
             Effect("warptool", "-revertwarped", WARP, RESET,
                    "r.state = 'update' AND s.data_state = 'update' AND s.fault != 0")),
    "diff": (Effect("difftool", "-revertdiffskyfile", DIFF, DELETE, "r.state = 'new' AND s.fault != 0"),
             Effect("difftool", "-revertdiffskyfile", DIFF, RESET,
                    "r.state = 'update' AND s.data_state = 'update' AND s.fault != 0")),
    "stack": (Effect("stacktool", "-revertsumskyfile", STACK, DELETE, "r.state = 'new' AND s.fault != 0"),),
    "dist": (Effect("disttool", "-revertcomponent", DIST_COMPONENT, DELETE, "r.state = 'new' AND c.fault != 0"),
             Effect("disttool", "-revertrun", DIST_RUN, RESET,
                    "(r.state = 'new' OR r.state = 'goto_cleaned') AND r.fault != 0")),
    "registration": (Effect("regtool", "-revertprocessedimfile", REG_IMFILE_BARE, DELETE, "i.fault != 0",
                            label_arg=False),
                     Effect("regtool", "-revertprocessedexp", REG_EXP_BARE, DELETE, "x.fault != 0", label_arg=False)),
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


def _terms(source: Source, label: bool, fault: bool) -> str:
    terms = ""
    if label and source.label:
        terms += f" AND {source.label} = %(label)s"
    if fault:
        terms += f" AND {source.fault} = %(fault)s"
    return terms


def effect_sql(effect: Effect) -> tuple[str, str]:
    """(COUNT query, page query) of the rows `effect` would change; params label, fault, limit, offset."""
    where = f"{effect.condition}{_terms(effect.source, effect.label_arg, effect.fault_arg)}"
    return _pair(effect.source, where)


def faults_sql(source: Source, label: bool, fault: bool) -> tuple[str, str]:
    """(COUNT query, page query) of the outstanding faulted items of `source`."""
    return _pair(source, f"{source.outstanding}{_terms(source, label, fault)}")


def _pair(s: Source, where: str) -> tuple[str, str]:
    label = s.label or "NULL"
    pinned = s.driven is not None and "r.state" in where
    select, tables = ("SELECT STRAIGHT_JOIN", s.driven) if pinned else ("SELECT", s.tables)
    count = f"{select} COUNT(*) FROM {tables} WHERE {where}"
    page = (f"{select} {s.item}, {label}, {s.state}, {s.fault}, {s.host}, {s.path} FROM {tables} WHERE {where}"
            f" ORDER BY {s.order} LIMIT %(limit)s OFFSET %(offset)s")
    return count, page
