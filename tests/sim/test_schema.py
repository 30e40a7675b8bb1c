"""The simulated site's live schema has the real IPP names, types and indexes, and least-privilege accounts."""

from __future__ import annotations

import os

import pymysql
import pytest

from ippsim.mariadb import MariaDBServer
from ippsim.site import NEBULOUS_RO_TABLES, PROCESSING_RO_TABLES, schema_statements, table_names

NN = "NOT NULL"

# Every column the exporter queries or the tool stand-ins touch: (table, column, type, nullability).
# Types are information_schema COLUMN_TYPE strings; nullability None = not checked (keys are NOT NULL anyway).
# Source: ps-ipp/ipp-trunk-20250502 ippTools/share/pxadmin_create_tables.sql.
PROCESSING_COLUMNS = [
    ("dbversion", "schema_version", "varchar(64)", None),
    ("Label", "label", "varchar(64)", None),
    ("Label", "priority", "int(11)", None),
    ("Label", "active", "tinyint(4)", None),
    ("Label", "comment", "varchar(80)", None),
    # summit copy: CREATE TABLE summitExp / summitImfile / pzDownloadExp / pzDownloadImfile
    ("summitExp", "summit_id", "bigint(20)", None),
    ("summitExp", "exp_name", "varchar(64)", None),
    ("summitExp", "camera", "varchar(64)", None),
    ("summitExp", "telescope", "varchar(64)", None),
    ("summitExp", "dateobs", "datetime", None),
    ("summitExp", "exp_type", "varchar(64)", None),
    ("summitExp", "imfiles", "int(11)", None),
    ("summitExp", "fault", "smallint(6)", NN),
    ("summitExp", "epoch", "timestamp", None),
    ("summitImfile", "summit_id", "bigint(20)", None),
    ("summitImfile", "class", "varchar(64)", None),
    ("summitImfile", "class_id", "varchar(64)", None),
    ("pzDownloadExp", "summit_id", "bigint(20)", None),
    ("pzDownloadExp", "state", "varchar(64)", None),
    ("pzDownloadExp", "epoch", "timestamp", None),
    ("pzDownloadImfile", "summit_id", "bigint(20)", None),
    ("pzDownloadImfile", "class_id", "varchar(64)", None),
    ("pzDownloadImfile", "fault", "smallint(6)", NN),
    ("pzDownloadImfile", "hostname", "varchar(64)", None),
    ("pzDownloadImfile", "epoch", "timestamp", None),
    # registration: newExp / newImfile / rawExp / rawImfile (burntool_state: regtool_pendingburntoolimfile.sql)
    ("newExp", "exp_id", "bigint(20)", None),
    ("newExp", "summit_id", "bigint(20)", None),
    ("newExp", "state", "varchar(64)", None),
    ("newExp", "workdir_state", "varchar(64)", None),
    ("newExp", "label", "varchar(64)", None),
    ("newExp", "end_stage", "varchar(64)", None),
    ("newImfile", "exp_id", "bigint(20)", None),
    ("newImfile", "tmp_class_id", "varchar(64)", None),
    ("rawExp", "exp_id", "bigint(20)", None),
    ("rawExp", "exp_name", "varchar(64)", None),
    ("rawExp", "dateobs", "datetime", None),
    ("rawExp", "exp_type", "varchar(64)", None),
    ("rawExp", "state", "varchar(64)", None),
    ("rawExp", "obs_mode", "varchar(64)", None),
    ("rawExp", "hostname", "varchar(64)", None),
    ("rawExp", "fault", "smallint(6)", NN),
    ("rawExp", "epoch", "timestamp", None),
    ("rawImfile", "exp_id", "bigint(20)", None),
    ("rawImfile", "class_id", "varchar(64)", None),
    ("rawImfile", "tmp_class_id", "varchar(64)", None),
    ("rawImfile", "dateobs", "datetime", None),
    ("rawImfile", "data_state", "varchar(64)", None),
    ("rawImfile", "hostname", "varchar(64)", None),
    ("rawImfile", "quality", "smallint(6)", NN),
    ("rawImfile", "fault", "smallint(6)", NN),
    ("rawImfile", "burntool_state", "smallint(6)", "NULL"),
    # chip: chipRun has no timestamp column; the component table has data_state + fault NOT NULL
    ("chipRun", "chip_id", "bigint(20)", None),
    ("chipRun", "exp_id", "bigint(20)", None),
    ("chipRun", "state", "varchar(64)", None),
    ("chipRun", "label", "varchar(64)", None),
    ("chipRun", "data_group", "varchar(64)", None),
    ("chipRun", "dist_group", "varchar(64)", None),
    ("chipRun", "reduction", "varchar(64)", None),
    ("chipRun", "end_stage", "varchar(64)", None),
    ("chipRun", "note", "varchar(255)", None),
    ("chipImfile", "chip_id", "bigint(20)", None),
    ("chipImfile", "class_id", "varchar(64)", None),
    ("chipProcessedImfile", "chip_id", "bigint(20)", None),
    ("chipProcessedImfile", "exp_id", "bigint(20)", None),
    ("chipProcessedImfile", "class_id", "varchar(64)", None),
    ("chipProcessedImfile", "data_state", "varchar(64)", None),
    ("chipProcessedImfile", "hostname", "varchar(64)", None),
    ("chipProcessedImfile", "quality", "smallint(6)", NN),
    ("chipProcessedImfile", "fault", "smallint(6)", NN),
    # camera: camProcessedExp has no data_state (camtool_revertupdatedexp.sql)
    ("camRun", "cam_id", "bigint(20)", None),
    ("camRun", "chip_id", "bigint(20)", None),
    ("camRun", "state", "varchar(64)", None),
    ("camRun", "label", "varchar(64)", None),
    ("camProcessedExp", "cam_id", "bigint(20)", None),
    ("camProcessedExp", "hostname", "varchar(64)", None),
    ("camProcessedExp", "fault", "smallint(6)", NN),
    # fake
    ("fakeRun", "fake_id", "bigint(20)", None),
    ("fakeRun", "cam_id", "bigint(20)", None),
    ("fakeRun", "state", "varchar(64)", None),
    ("fakeRun", "label", "varchar(64)", None),
    ("fakeRun", "epoch", "timestamp", None),
    ("fakeProcessedImfile", "fake_id", "bigint(20)", None),
    ("fakeProcessedImfile", "class_id", "varchar(64)", None),
    ("fakeProcessedImfile", "data_state", "varchar(64)", None),
    ("fakeProcessedImfile", "hostname", "varchar(64)", None),
    ("fakeProcessedImfile", "fault", "smallint(6)", NN),
    # warp: warpSkyfile.fault may be NULL
    ("warpRun", "warp_id", "bigint(20)", None),
    ("warpRun", "fake_id", "bigint(20)", None),
    ("warpRun", "mode", "varchar(64)", None),
    ("warpRun", "state", "varchar(64)", None),
    ("warpRun", "label", "varchar(64)", None),
    ("warpRun", "registered", "datetime", None),
    ("warpSkyfile", "warp_id", "bigint(20)", None),
    ("warpSkyfile", "skycell_id", "varchar(64)", None),
    ("warpSkyfile", "tess_id", "varchar(64)", None),
    ("warpSkyfile", "data_state", "varchar(64)", None),
    ("warpSkyfile", "hostname", "varchar(64)", None),
    ("warpSkyfile", "fault", "smallint(6)", "NULL"),
    # stack: stackSumSkyfile has no data_state; fault may be NULL
    ("stackRun", "stack_id", "bigint(20)", None),
    ("stackRun", "state", "varchar(64)", None),
    ("stackRun", "label", "varchar(64)", None),
    ("stackRun", "registered", "datetime", None),
    ("stackSumSkyfile", "stack_id", "bigint(20)", None),
    ("stackSumSkyfile", "hostname", "varchar(64)", None),
    ("stackSumSkyfile", "fault", "smallint(6)", "NULL"),
    # diff
    ("diffRun", "diff_id", "bigint(20)", None),
    ("diffRun", "state", "varchar(64)", None),
    ("diffRun", "label", "varchar(64)", None),
    ("diffRun", "registered", "datetime", None),
    ("diffRun", "diff_mode", "smallint(6)", NN),
    ("diffSkyfile", "diff_id", "bigint(20)", None),
    ("diffSkyfile", "skycell_id", "varchar(64)", None),
    ("diffSkyfile", "data_state", "varchar(64)", None),
    ("diffSkyfile", "hostname", "varchar(64)", None),
    ("diffSkyfile", "fault", "smallint(6)", "NULL"),
    # destreak
    ("magicDSRun", "magic_ds_id", "bigint(20)", None),
    ("magicDSRun", "state", "varchar(64)", None),
    ("magicDSRun", "stage", "varchar(64)", None),
    ("magicDSRun", "stage_id", "bigint(20)", None),
    ("magicDSRun", "label", "varchar(64)", None),
    ("magicDSRun", "fault", "smallint(6)", "NULL"),
    ("magicDSFile", "magic_ds_id", "bigint(20)", None),
    ("magicDSFile", "component", "varchar(64)", None),
    ("magicDSFile", "data_state", "varchar(64)", None),
    ("magicDSFile", "fault", "smallint(6)", "NULL"),
    # dist: faults are on the run itself
    ("distRun", "dist_id", "bigint(20)", None),
    ("distRun", "stage", "varchar(64)", None),
    ("distRun", "stage_id", "bigint(20)", None),
    ("distRun", "label", "varchar(64)", None),
    ("distRun", "state", "varchar(64)", None),
    ("distRun", "time_stamp", "timestamp", None),
    ("distRun", "fault", "smallint(6)", "NULL"),
]

# Source: ps-ipp/ipp-trunk-20250502 Nebulous-Server/lib/Nebulous/Server/SQL.pm (__DATA__: volume, mountedvol).
NEBULOUS_COLUMNS = [
    ("volume", "vol_id", "int(11)", NN),
    ("volume", "name", "varchar(255)", NN),
    ("volume", "host", "varchar(255)", NN),
    ("volume", "path", "varchar(255)", NN),
    ("volume", "allocate", "tinyint(1)", None),
    ("volume", "available", "tinyint(1)", None),
    ("volume", "xattr", "tinyint(1)", None),
    ("volume", "mountpoint", "varchar(255)", NN),
    ("volume", "cab_id", "int(11)", None),
    ("volume", "note", "varchar(255)", None),
    ("volume", "last_modified", "timestamp", NN),
    ("mountedvol", "vol_id", "int(11)", NN),
    ("mountedvol", "name", "varchar(255)", NN),
    ("mountedvol", "host", "varchar(255)", NN),
    ("mountedvol", "path", "varchar(255)", NN),
    ("mountedvol", "allocate", "tinyint(1)", None),
    ("mountedvol", "available", "tinyint(1)", None),
    ("mountedvol", "xattr", "tinyint(1)", None),
    ("mountedvol", "mountpoint", "varchar(255)", NN),
    ("mountedvol", "total", "bigint(20)", NN),
    ("mountedvol", "used", "bigint(20)", NN),
    ("mountedvol", "note", "varchar(255)", None),
]

# (table, index name or None for any, [(column, prefix length or None)...], unique)
PROCESSING_INDEXES = [
    ("summitExp", "PRIMARY", [("summit_id", None)], True),
    ("summitExp", None, [("exp_name", None), ("camera", None), ("telescope", None)], False),
    ("summitExp", None, [("fault", None)], False),
    ("pzDownloadExp", None, [("state", None)], False),
    ("pzDownloadImfile", "PRIMARY", [("summit_id", None), ("class", None), ("class_id", None)], True),
    ("pzDownloadImfile", None, [("fault", None)], False),
    ("newExp", None, [("state", None)], False),
    ("newExp", None, [("summit_id", None)], False),
    ("newExp", None, [("label", None)], False),
    ("rawExp", None, [("state", None)], False),
    ("rawExp", None, [("fault", None)], False),
    ("rawImfile", "PRIMARY", [("exp_id", None), ("class_id", None)], True),
    ("rawImfile", None, [("dateobs", None)], False),
    ("rawImfile", None, [("fault", None)], False),
    ("chipRun", None, [("state", None)], False),
    ("chipRun", None, [("label", None)], False),
    ("chipRun", None, [("data_group", None)], False),
    ("chipRun", None, [("end_stage", None)], False),
    ("chipProcessedImfile", "PRIMARY", [("chip_id", None), ("exp_id", None), ("class_id", None)], True),
    ("chipProcessedImfile", None, [("data_state", None)], False),
    ("chipProcessedImfile", None, [("fault", None)], False),
    ("camRun", None, [("state", None)], False),
    ("camRun", None, [("label", None)], False),
    ("camProcessedExp", "PRIMARY", [("cam_id", None)], True),
    ("camProcessedExp", None, [("fault", None)], False),
    ("fakeRun", None, [("state", None)], False),
    ("fakeProcessedImfile", "PRIMARY", [("fake_id", None), ("exp_id", None), ("class_id", None)], True),
    ("warpRun", None, [("state", None)], False),
    ("warpSkyfile", "PRIMARY", [("warp_id", None), ("skycell_id", None), ("tess_id", None)], True),
    ("warpSkyfile", None, [("fault", None)], False),
    ("stackRun", None, [("state", None)], False),
    ("stackSumSkyfile", "PRIMARY", [("stack_id", None)], True),
    ("stackSumSkyfile", None, [("fault", None)], False),
    ("diffRun", None, [("state", None)], False),
    ("diffSkyfile", "PRIMARY", [("diff_id", None), ("skycell_id", None)], True),
    ("magicDSRun", None, [("state", None)], False),
    ("magicDSFile", "PRIMARY", [("magic_ds_id", None), ("component", None)], True),
    ("distRun", None, [("state", None)], False),
    ("distRun", None, [("fault", None)], False),
    ("Label", "PRIMARY", [("label", None)], True),
    ("Label", None, [("priority", None)], False),
    ("Label", None, [("active", None)], False),
]
NEBULOUS_INDEXES = [
    ("volume", "PRIMARY", [("vol_id", None)], True),
    ("volume", None, [("name", None)], True),
    ("volume", None, [("path", None)], True),
    ("volume", None, [("host", 16)], False),
    ("volume", None, [("allocate", None)], False),
    ("volume", None, [("available", None)], False),
    ("mountedvol", "PRIMARY", [("vol_id", None)], True),
    ("mountedvol", None, [("host", None)], False),
]


def _columns(conn, dbname: str) -> dict[tuple[str, str], tuple[str, str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS"
                    " WHERE TABLE_SCHEMA = %s", (dbname,))
        return {(t, c): (ctype, nullable) for t, c, ctype, nullable in cur.fetchall()}


def _indexes(conn, dbname: str) -> dict[tuple[str, str], tuple[list, bool]]:
    with conn.cursor() as cur:
        cur.execute("SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART, NON_UNIQUE"
                    " FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s"
                    " ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX", (dbname,))
        found: dict[tuple[str, str], tuple[list, bool]] = {}
        for table, name, _seq, column, sub_part, non_unique in cur.fetchall():
            columns, _unique = found.setdefault((table, name), ([], not non_unique))
            columns.append((column, sub_part))
        return found


def _check_columns(conn, dbname, expected):
    live = _columns(conn, dbname)
    problems = []
    for table, column, ctype, nullability in expected:
        got = live.get((table, column))
        if got is None:
            problems.append(f"{table}.{column} missing")
        elif got[0] != ctype:
            problems.append(f"{table}.{column} is {got[0]}, expected {ctype}")
        elif nullability is not None and (got[1] == "YES") != (nullability == "NULL"):
            problems.append(f"{table}.{column} nullable={got[1]}, expected {nullability}")
    return problems


def _check_indexes(conn, dbname, expected):
    live = _indexes(conn, dbname)
    problems = []
    for table, name, columns, unique in expected:
        matches = [(n, cols, u) for (t, n), (cols, u) in live.items()
                   if t == table and cols == columns and (name is None or n == name)]
        if not any(u == unique for _n, _c, u in matches):
            problems.append(f"{table}: no {'unique ' if unique else ''}index on {columns}")
    return problems


def test_processing_columns_have_real_names_and_types(site_db):
    with site_db.root.connect() as conn:
        assert _check_columns(conn, "gpc1", PROCESSING_COLUMNS) == []


def test_nebulous_columns_have_real_names_and_types(site_db):
    with site_db.root.connect() as conn:
        assert _check_columns(conn, "nebulous", NEBULOUS_COLUMNS) == []


def test_real_indexes_exist(site_db):
    with site_db.root.connect() as conn:
        assert _check_indexes(conn, "gpc1", PROCESSING_INDEXES) == []
        assert _check_indexes(conn, "nebulous", NEBULOUS_INDEXES) == []


def test_summit_exp_has_no_dateobs_index_like_the_real_schema(site_db):
    with site_db.root.connect() as conn:
        indexed = {cols[0][0] for (t, _n), (cols, _u) in _indexes(conn, "gpc1").items() if t == "summitExp"}
    assert "dateobs" not in indexed and "fault" in indexed


def test_tables_are_innodb_latin1(site_db):
    with site_db.root.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES"
                    " WHERE TABLE_SCHEMA IN ('gpc1', 'nebulous')")
        rows = cur.fetchall()
    assert {name for name, _e, _c in rows} == set(table_names("gpc1")) | set(table_names("nebulous"))
    assert {(engine, collation.split("_")[0]) for _n, engine, collation in rows} == {("InnoDB", "latin1")}


def test_schema_files_split_into_create_statements():
    statements = schema_statements("gpc1")
    assert all(s.startswith("CREATE TABLE") for s in statements)
    assert set(PROCESSING_RO_TABLES) <= set(table_names("gpc1"))
    assert set(NEBULOUS_RO_TABLES) <= set(table_names("nebulous"))


@pytest.mark.parametrize("sql", [
    "INSERT INTO gpc1.Label (label, priority, active) VALUES ('x', 1, 1)",
    "UPDATE gpc1.chipRun SET state = 'drop'",
    "DELETE FROM gpc1.chipProcessedImfile",
    "DROP TABLE gpc1.chipRun",
    "UPDATE nebulous.volume SET allocate = 0",
    "DELETE FROM nebulous.mountedvol",
])
def test_read_only_accounts_cannot_write(site_db, sql):
    for params in (site_db.ipp_ro, site_db.neb_ro):
        with params.connect(tcp=True) as conn, conn.cursor() as cur:
            with pytest.raises(pymysql.err.OperationalError) as denied:
                cur.execute(sql)
            assert denied.value.args[0] in (1142, 1044)  # command denied / access denied


def test_read_only_accounts_read_only_the_used_tables(site_db):
    with site_db.ipp_ro.connect("gpc1", tcp=True) as conn, conn.cursor() as cur:
        for table in PROCESSING_RO_TABLES:
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")  # fixed allowlist
            assert cur.fetchone() == ((1,) if table == "dbversion" else (0,))
        with pytest.raises(pymysql.err.OperationalError):
            cur.execute("SELECT COUNT(*) FROM diffInputSkyfile")
    with site_db.neb_ro.connect("nebulous") as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM mountedvol")
        assert cur.fetchone() == (0,)
        with pytest.raises(pymysql.err.OperationalError):
            cur.execute("SELECT COUNT(*) FROM gpc1.chipRun")


def test_read_write_account_changes_rows_but_not_schema(site_db):
    with site_db.ipp.connect("gpc1", tcp=True) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO Label (label, priority, active) VALUES (%s, %s, %s)", ("M31.nightlyscience", 300, 1))
        cur.execute("SELECT label, priority FROM Label")
        assert cur.fetchall() == (("M31.nightlyscience", 300),)
        with pytest.raises(pymysql.err.OperationalError):
            cur.execute("DROP TABLE chipRun")


def test_site_db_is_empty_for_each_test(site_db):
    with site_db.root.connect("gpc1") as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM Label")
        assert cur.fetchone() == (0,)
        cur.execute("SELECT schema_version FROM dbversion")
        assert len(cur.fetchall()) == 1


def test_harness_stops_its_server_and_leaves_no_process(tmp_path, mariadb):
    # a second, short-lived server next to the session one: own socket and port
    server = MariaDBServer(tmp_path / "db")
    with server as params:
        pid = server._process.pid
        assert params.port != mariadb.port and params.socket != mariadb.socket
        with params.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    assert not server.running
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    server.stop()  # idempotent
