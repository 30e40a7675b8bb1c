"""Tool stand-ins change exactly the rows the real IPP SQL would, with the real argument syntax and output."""

from __future__ import annotations

import os
import subprocess

import pytest

from ippsim.db import insert_rows
from ippsim.scenario import ScenarioSpec, build
from ippsim.tools import TOOL_NAMES, write_bin_dir
from ippsim.tools.config import environment

INJECTION = "ps_ud_%' OR 1=1 --"


@pytest.fixture
def tool(site_db, tmp_path):
    """Run a stand-in by its IPP name from a bin/ dir, as the ipp rw account; returns CompletedProcess."""
    bindir = write_bin_dir(tmp_path / "bin")
    env = {**os.environ, **environment(site_db.ipp, neb_params=site_db.neb),
           "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=60, check=False)
    return run


def _rows(site, sql: str) -> set:
    with site.root.connect("gpc1") as conn, conn.cursor() as cur:
        cur.execute(sql)
        return set(cur.fetchall())


def _load(site, rows: dict) -> None:
    with site.root.connect("gpc1") as conn:
        with conn.cursor() as cur:
            cur.execute("SET SESSION foreign_key_checks = 0")  # only the tables under test are filled
        for table, table_rows in rows.items():
            insert_rows(conn, table, table_rows)


def _raw(exp_id):
    return (exp_id, f"o{exp_id}", "GPC1", "PS1", "2025-05-02 06:00:00", "OBJECT", "full", "warp", "r", "3PI", "M",
            "ipp001", 0, "2025-05-02 06:00:00")


def _chip_run(chip_id, exp_id, state, label):
    return (chip_id, exp_id, state, "w", label, "dg", "dist", "DEFAULT", "warp", None)


def _cpi(chip_id, exp_id, class_id, fault, data_state="full"):
    return (chip_id, exp_id, class_id, data_state, "ipp001", "p", 1.0, 0, fault)


@pytest.fixture
def chips(site_db):
    _load(site_db, {
        "rawExp": [_raw(1), _raw(2), _raw(3), _raw(4)],
        "chipRun": [_chip_run(1, 1, "new", "ps_ud_A"), _chip_run(2, 2, "new", "ps_ud_B"),
                    _chip_run(3, 3, "update", "ps_ud_A"), _chip_run(4, 4, "full", "ps_ud_A")],
        "chipProcessedImfile": [_cpi(1, 1, "XY01", 0), _cpi(1, 1, "XY02", 2), _cpi(1, 1, "XY03", 4),
                                _cpi(1, 1, "XY04", 26), _cpi(2, 2, "XY01", 2), _cpi(3, 3, "XY01", 2, "update"),
                                _cpi(3, 3, "XY02", 2, "full"), _cpi(3, 3, "XY03", 26, "update"),
                                _cpi(4, 4, "XY01", 2)],
    })
    return site_db


CPI = "SELECT chip_id, class_id, fault FROM chipProcessedImfile"
ALL_CPI = {(1, "XY01", 0), (1, "XY02", 2), (1, "XY03", 4), (1, "XY04", 26), (2, "XY01", 2), (3, "XY01", 2),
           (3, "XY02", 2), (3, "XY03", 26), (4, "XY01", 2)}


def test_chiptool_revert_by_label_deletes_new_faults_and_resets_update_faults(chips, tool):
    result = tool("chiptool", "-revertprocessedimfile", "-label", "ps_ud_A", "-dbname", "gpc1")
    assert result.returncode == 0, result.stderr
    # new run: every non-zero fault deleted (26 too); update run: data_state=update faults -> 0 except 26
    assert _rows(chips, CPI) == {(1, "XY01", 0), (2, "XY01", 2), (3, "XY01", 0), (3, "XY02", 2), (3, "XY03", 26),
                                 (4, "XY01", 2)}
    assert "Deleted 3 chipProcessedImfiles" in result.stderr and "Updated 1 chipProcessedImfiles" in result.stderr


def test_chiptool_revert_fault_filter_touches_only_that_code(chips, tool):
    assert tool("chiptool", "-revertprocessedimfile", "-label", "ps_ud_A", "-fault", "4").returncode == 0
    assert _rows(chips, CPI) == ALL_CPI - {(1, "XY03", 4)}


def test_chiptool_revert_repeated_label_ors_the_labels(chips, tool):
    assert tool("chiptool", "-revertprocessedimfile", "-label", "ps_ud_A", "-label", "ps_ud_B",
                "-fault", "2").returncode == 0
    assert _rows(chips, CPI) == ALL_CPI - {(1, "XY02", 2), (2, "XY01", 2), (3, "XY01", 2)} | {(3, "XY01", 0)}


@pytest.mark.parametrize("label", [INJECTION, "ps_ud_%"])
def test_chiptool_revert_label_is_a_bound_exact_match(chips, tool, label):
    result = tool("chiptool", "-revertprocessedimfile", "-label", label)
    assert result.returncode == 0, result.stderr
    assert _rows(chips, CPI) == ALL_CPI


def test_chiptool_revert_without_search_terms_is_refused(chips, tool):
    result = tool("chiptool", "-revertprocessedimfile", "-dbname", "gpc1")
    assert result.returncode == 3 and "search parameters are required" in result.stderr
    assert _rows(chips, CPI) == ALL_CPI


@pytest.mark.parametrize("argv, message", [
    (("chiptool", "-revertprocessedimfile", "-label", "ps_ud_A", "-bogus"), "extra arguments: -bogus"),
    (("chiptool", "-label", "ps_ud_A"), "mode argument is required"),
    (("chiptool", "-revertprocessedimfile", "-fault", "two"), "error parsing arguments"),
])
def test_bad_command_lines_exit_3_and_change_nothing(chips, tool, argv, message):
    result = tool(*argv)
    assert result.returncode == 3 and message in result.stderr
    assert _rows(chips, CPI) == ALL_CPI


def test_chiptool_updaterun_drops_matching_new_runs_only(chips, tool):
    result = tool("chiptool", "-updaterun", "-set_state", "drop", "-label", "ps_ud_A", "-state", "new")
    assert result.returncode == 0, result.stderr
    assert _rows(chips, "SELECT chip_id, state FROM chipRun") == {(1, "drop"), (2, "new"), (3, "update"), (4, "full")}


def test_chiptool_updaterun_label_is_like_but_bound(chips, tool):
    assert tool("chiptool", "-updaterun", "-set_state", "drop", "-label", INJECTION, "-state", "new").returncode == 0
    assert _rows(chips, "SELECT chip_id, state FROM chipRun WHERE state = 'drop'") == set()
    assert tool("chiptool", "-updaterun", "-set_state", "drop", "-label", "ps_ud_%", "-state", "new").returncode == 0
    assert _rows(chips, "SELECT chip_id FROM chipRun WHERE state = 'drop'") == {(1,), (2,)}


def test_chiptool_updaterun_refuses_state_alone_and_bad_states(chips, tool):
    assert tool("chiptool", "-updaterun", "-set_state", "drop", "-state", "new").returncode == 3
    assert tool("chiptool", "-updaterun", "-set_state", "bogus", "-label", "ps_ud_A").returncode == 3
    assert _rows(chips, "SELECT chip_id FROM chipRun WHERE state = 'drop'") == set()


@pytest.fixture
def chain(site_db):
    """One exposure through chip/cam/fake with warp, diff, stack runs in new and update states."""
    _load(site_db, {
        "rawExp": [_raw(1)],
        "chipRun": [_chip_run(1, 1, "full", "L1")],
        "camRun": [(1, 1, "new", "w", "L1", "dg", "d", "DEFAULT", "warp", None),
                   (2, 1, "update", "w", "L1", "dg", "d", "DEFAULT", "warp", None)],
        "camProcessedExp": [(1, "ipp001", "p", 1.0, 0, 5), (2, "ipp001", "p", 1.0, 0, 26)],
        "fakeRun": [(1, 1, "full", "w", "L1", "dg", "d", "DEFAULT", "warp", "2025-05-02 06:00:00", None)],
        "warpRun": [(1, 1, "warp", "new", "w", "L1", "dg", "d", "T", "DEFAULT", "warp", None, None),
                    (2, 1, "warp", "update", "w", "L1", "dg", "d", "T", "DEFAULT", "warp", None, None)],
        "warpSkyfile": [(1, "s1", "T", "p", "full", "ipp001", 0.9, 0, 2), (1, "s2", "T", "p", "full", "ipp001", 0.9, 0, 4),
                        (2, "s1", "T", "p", "update", "ipp001", 0.9, 0, 2)],
        "diffRun": [(1, "new", "w", "L1", "dg", "d", "DEFAULT", None, "T", 2, None),
                    (2, "update", "w", "L2", "dg", "d", "DEFAULT", None, "T", 2, None)],
        "diffSkyfile": [(1, "s1", "p", "full", "ipp001", 0.8, 0, 5), (1, "s2", "p", "full", "ipp001", 0.8, 0, None),
                        (2, "s1", "p", "update", "ipp001", 0.8, 0, 2)],
        "stackRun": [(1, "new", "w", "L1", "dg", "d", "DEFAULT", None, "s1", "T", "r", None),
                     (2, "full", "w", "L1", "dg", "d", "DEFAULT", None, "s1", "T", "r", None)],
        "stackSumSkyfile": [(1, "p", "ipp001", 0.9, 1.0, 0, 2), (2, "p", "ipp001", 0.9, 1.0, 0, 2)],
    })
    return site_db


def test_camtool_revert_deletes_new_and_resets_update_including_26(chain, tool):
    assert tool("camtool", "-revertprocessedexp", "-label", "L1").returncode == 0
    assert _rows(chain, "SELECT cam_id, fault FROM camProcessedExp") == {(2, 0)}


def test_warptool_revert_fault_2_only(chain, tool):
    assert tool("warptool", "-revertwarped", "-fault", "2", "-label", "L1").returncode == 0
    assert _rows(chain, "SELECT warp_id, skycell_id, fault FROM warpSkyfile") == {(1, "s2", 4), (2, "s1", 0)}


def test_warptool_revertoverlap_deletes_faulted_overlaps_of_new_runs(chain, tool):
    with chain.root.connect("gpc1") as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO warpSkyCellMap (warp_id, skycell_id, tess_id, class_id, fault) VALUES"
                        " (%s, %s, 'T', 'XY01', %s)", [(1, "s3", 3), (1, "s4", 0), (2, "s3", 3)])
    result = tool("warptool", "-revertoverlap", "-label", "L1")
    assert result.returncode == 0, result.stderr
    assert "Deleted 1 warpSkycellMap" in result.stderr  # warp 2 is an update run: not touched
    assert _rows(chain, "SELECT warp_id, skycell_id, fault FROM warpSkyCellMap WHERE skycell_id IN ('s3', 's4')") == {
        (1, "s4", 0), (2, "s3", 3)}


def test_difftool_revert_all_faults_per_label(chain, tool):
    assert tool("difftool", "-revertdiffskyfile", "-label", "L1").returncode == 0
    # L1: new run's faulted skyfile deleted, NULL fault kept; L2's update run untouched
    assert _rows(chain, "SELECT diff_id, skycell_id, fault FROM diffSkyfile") == {(1, "s2", None), (2, "s1", 2)}


def test_stacktool_revert_only_new_runs(chain, tool):
    assert tool("stacktool", "-revertsumskyfile", "-fault", "2", "-label", "L1").returncode == 0
    assert _rows(chain, "SELECT stack_id FROM stackSumSkyfile") == {(2,)}


@pytest.fixture
def storage(site_db):
    build(site_db.root, ScenarioSpec.tiny())
    return site_db


def _neb(site, sql):
    with site.root.connect("nebulous") as conn, conn.cursor() as cur:
        cur.execute(sql)
        return set(cur.fetchall())


def test_neb_host_sets_both_tables_and_prints_listing(storage, tool):
    result = tool("neb-host", "ipp002", "repair", "--note", "disk swap")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "host            name            mounted allocate available xattr   last_modified note"
    assert len(lines) == 1 + 4
    row = next(line for line in lines if line.startswith("ipp002 "))
    assert row.split()[:6] == ["ipp002", "ipp002.0", "1", "0", "1", "0"] and row.endswith(" disk swap")
    assert _neb(storage, "SELECT allocate, available FROM volume WHERE host = 'ipp002'") == {(0, 1)}
    assert _neb(storage, "SELECT allocate, available FROM mountedvol WHERE host = 'ipp002'") == {(0, 1)}
    assert _neb(storage, "SELECT allocate, available FROM volume WHERE host <> 'ipp002'") == {(1, 1)}


def test_neb_host_unknown_state_dies(storage, tool):
    result = tool("neb-host", "ipp002", "sideways")
    assert result.returncode == 255 and "Unknown state" in result.stderr
    assert _neb(storage, "SELECT allocate, available FROM volume") == {(1, 1)}


def test_neb_df_formats_kib_rows_and_summmary(storage, tool):
    with storage.root.connect("nebulous") as conn, conn.cursor() as cur:
        cur.execute("UPDATE mountedvol SET total = 1, used = 1 WHERE host = 'ipp003'")
        cur.execute("SELECT SUM(total), SUM(used) FROM mountedvol")
        total, used = (int(v) for v in cur.fetchone())
    result = tool("neb-df")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Filesystem           1K-blocks      Used Available Use% Mounted on"
    assert lines[3] == "ipp003                       1         1         0  50% /export/ipp003.0"
    assert lines[-4] == "/summmary_of_all_volumes"
    assert lines[-3].split() == [str(total), str(used), str(total - used), f"{100 * used / (total + 1):.0f}%", "/total"]
    assert lines[-1].endswith("/allocated")


def test_every_tool_name_has_an_executable(tmp_path):
    bindir = write_bin_dir(tmp_path / "bin")
    assert sorted(p.name for p in bindir.iterdir()) == sorted(TOOL_NAMES)
    assert all(os.access(bindir / name, os.X_OK) for name in TOOL_NAMES)


def _fake_run(fake_id, state, label):
    return (fake_id, 1, state, "w", label, "dg", "d", "DEFAULT", "warp", "2025-05-02 06:00:00", None)


def _fpi(fake_id, class_id, fault):
    return (fake_id, 1, class_id, "ipp001", "p", "full", fault, "2025-05-02 06:00:00")


@pytest.fixture
def fakes(site_db):
    _load(site_db, {
        "rawExp": [_raw(1)], "chipRun": [_chip_run(1, 1, "full", "L1")],
        "camRun": [(1, 1, "full", "w", "L1", "dg", "d", "DEFAULT", "warp", None)],
        "fakeRun": [_fake_run(1, "new", "L1"), _fake_run(2, "full", "L1"), _fake_run(3, "new", "L2")],
        "fakeProcessedImfile": [_fpi(1, "XY01", 0), _fpi(1, "XY02", 5), _fpi(1, "XY03", 2), _fpi(2, "XY01", 4),
                                _fpi(3, "XY01", 2)],
    })
    return site_db


FPI = "SELECT fake_id, class_id, fault FROM fakeProcessedImfile"


def test_faketool_revert_deletes_faults_of_finished_runs_too_and_ignores_fault(fakes, tool):
    # faketool_revertprocessedimfile.sql has no run-state filter; faketool.c never copies -fault into its search
    result = tool("faketool", "-revertprocessedimfile", "-label", "L1", "-fault", "2", "-dbname", "gpc1")
    assert result.returncode == 0, result.stderr
    assert _rows(fakes, FPI) == {(1, "XY01", 0), (3, "XY01", 2)}


def test_faketool_revert_needs_search_terms_or_all(fakes, tool):
    result = tool("faketool", "-revertprocessedimfile")
    assert result.returncode == 3 and "search parameters are required" in result.stderr
    assert tool("faketool", "-revertprocessedimfile", "-all").returncode == 0
    assert _rows(fakes, FPI) == {(1, "XY01", 0)}


def _dist_run(dist_id, state, label, fault):
    return (dist_id, 1, "chip", dist_id, label, 0, state, "2025-05-02 06:00:00", fault, "dg", None)


@pytest.fixture
def dists(site_db):
    _load(site_db, {"distRun": [_dist_run(1, "new", "L1", 0), _dist_run(2, "full", "L1", 0),
                                _dist_run(3, "new", "L2", 0), _dist_run(4, "new", "L1", 2),
                                _dist_run(5, "goto_cleaned", "L1", 5), _dist_run(6, "full", "L1", 2)]})
    with site_db.root.connect("gpc1") as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO distComponent (dist_id, component, state, fault) VALUES (%s, %s, 'full', %s)",
                        [(1, "XY01", 0), (1, "XY02", 2), (1, "XY03", 5), (2, "XY01", 2), (3, "XY01", 2)])
    return site_db


DC = "SELECT dist_id, component, fault FROM distComponent"
DR = "SELECT dist_id, fault FROM distRun"


def test_disttool_revertcomponent_deletes_faulted_components_of_new_runs(dists, tool):
    result = tool("disttool", "-revertcomponent", "-label", "L1", "-dbname", "gpc1")
    assert result.returncode == 0, result.stderr
    assert "Deleted 2 distComponents" in result.stderr
    assert _rows(dists, DC) == {(1, "XY01", 0), (2, "XY01", 2), (3, "XY01", 2)}
    assert _rows(dists, DR) == {(1, 0), (2, 0), (3, 0), (4, 2), (5, 5), (6, 2)}  # run faults untouched


def test_disttool_revertcomponent_state_is_ambiguous_like_the_real_query(dists, tool):
    result = tool("disttool", "-revertcomponent", "-state", "new")
    assert result.returncode == 1 and "database error" in result.stderr and "ambiguous" in result.stderr
    assert tool("disttool", "-revertcomponent").returncode == 3
    assert len(_rows(dists, DC)) == 5


def test_disttool_revertrun_clears_run_faults_of_new_and_goto_cleaned_runs(dists, tool):
    result = tool("disttool", "-revertrun", "-label", "L1")
    assert result.returncode == 0, result.stderr
    assert "Updated 2 dist runs" in result.stderr
    assert _rows(dists, DR) == {(1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 2)}
    assert len(_rows(dists, DC)) == 5


def _raw_imfile(exp_id, class_id, fault):
    return (exp_id, f"o{exp_id}", "GPC1", "PS1", "2025-05-02 06:00:00", class_id, class_id, "u", "full", "OBJECT",
            "r", "ipp001", 0, fault, "2025-05-02 06:00:00", 14)


@pytest.fixture
def registrations(site_db):
    exps = [_raw(1), _raw(2), _raw(3)]
    exps[1] = exps[1][:12] + (2,) + exps[1][13:]
    exps[2] = exps[2][:12] + (5,) + exps[2][13:]
    _load(site_db, {"rawExp": exps,
                    "rawImfile": [_raw_imfile(1, "XY01", 0), _raw_imfile(1, "XY02", 2), _raw_imfile(1, "XY03", 5)]})
    return site_db


def test_regtool_revertprocessedimfile_takes_limit_but_no_label(registrations, tool):
    result = tool("regtool", "-revertprocessedimfile", "-limit", "1", "-dbname", "gpc1")
    assert result.returncode == 0, result.stderr  # -limit is "for compatibility, not used": both faults go
    assert _rows(registrations, "SELECT exp_id, class_id FROM rawImfile") == {(1, "XY01")}
    result = tool("regtool", "-revertprocessedimfile", "-label", "L1")
    assert result.returncode == 3 and "extra arguments: -label" in result.stderr


def test_regtool_revertprocessedexp_fault_2_and_search_terms_required(registrations, tool):
    assert tool("regtool", "-revertprocessedexp").returncode == 3
    assert tool("regtool", "-revertprocessedexp", "-all").returncode == 3  # regtool has no -all here
    result = tool("regtool", "-revertprocessedexp", "-fault", "2")
    assert result.returncode == 0, result.stderr
    assert _rows(registrations, "SELECT exp_id, fault FROM rawExp") == {(1, 0), (3, 5)}
