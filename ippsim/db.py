"""Row loading for the simulated site: fixed column lists per table and a batching bulk loader."""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

# Columns the generator writes, per table (a fixed allowlist: only these names reach SQL text).
COLUMNS: dict[str, tuple[str, ...]] = {
    "Label": ("label", "priority", "active", "comment"),
    "summitExp": ("summit_id", "exp_name", "camera", "telescope", "dateobs", "exp_type", "uri", "imfiles", "fault",
                  "epoch"),
    "summitImfile": ("summit_id", "exp_name", "camera", "telescope", "file_id", "bytes", "class", "class_id", "uri",
                     "epoch"),
    "pzDownloadExp": ("summit_id", "exp_name", "camera", "telescope", "state", "epoch"),
    "pzDownloadImfile": ("summit_id", "exp_name", "camera", "telescope", "class", "class_id", "uri", "fault", "epoch",
                         "hostname", "bytes"),
    "newExp": ("exp_id", "summit_id", "tmp_exp_name", "tmp_camera", "tmp_telescope", "state", "workdir",
               "workdir_state", "end_stage", "label", "epoch"),
    "newImfile": ("exp_id", "tmp_class_id", "uri", "epoch"),
    "rawExp": ("exp_id", "exp_name", "camera", "telescope", "dateobs", "exp_type", "state", "end_stage", "filter",
               "obs_mode", "object", "hostname", "fault", "epoch"),
    "rawImfile": ("exp_id", "exp_name", "camera", "telescope", "dateobs", "tmp_class_id", "class_id", "uri",
                  "data_state", "exp_type", "filter", "hostname", "quality", "fault", "epoch", "burntool_state"),
    "chipRun": ("chip_id", "exp_id", "state", "workdir", "label", "data_group", "dist_group", "reduction", "end_stage",
                "note"),
    "chipImfile": ("chip_id", "class_id"),
    "chipProcessedImfile": ("chip_id", "exp_id", "class_id", "data_state", "hostname", "path_base", "dtime_script",
                            "quality", "fault"),
    "camRun": ("cam_id", "chip_id", "state", "workdir", "label", "data_group", "dist_group", "reduction", "end_stage",
               "note"),
    "camProcessedExp": ("cam_id", "hostname", "path_base", "dtime_script", "quality", "fault"),
    "fakeRun": ("fake_id", "cam_id", "state", "workdir", "label", "data_group", "dist_group", "reduction", "end_stage",
                "epoch", "note"),
    "fakeProcessedImfile": ("fake_id", "exp_id", "class_id", "hostname", "path_base", "data_state", "fault", "epoch"),
    "warpRun": ("warp_id", "fake_id", "mode", "state", "workdir", "label", "data_group", "dist_group", "tess_id",
                "reduction", "end_stage", "registered", "note"),
    "warpSkyCellMap": ("warp_id", "skycell_id", "tess_id", "class_id", "fault"),
    "warpSkyfile": ("warp_id", "skycell_id", "tess_id", "path_base", "data_state", "hostname", "good_frac", "quality",
                    "fault"),
    "stackRun": ("stack_id", "state", "workdir", "label", "data_group", "dist_group", "reduction", "registered",
                 "skycell_id", "tess_id", "filter", "note"),
    "stackInputSkyfile": ("stack_id", "warp_id"),
    "stackSumSkyfile": ("stack_id", "path_base", "hostname", "good_frac", "mjd_obs", "quality", "fault"),
    "diffRun": ("diff_id", "state", "workdir", "label", "data_group", "dist_group", "reduction", "registered",
                "tess_id", "diff_mode", "note"),
    "diffInputSkyfile": ("diff_id", "skycell_id", "warp1", "stack2", "tess_id"),
    "diffSkyfile": ("diff_id", "skycell_id", "path_base", "data_state", "hostname", "good_frac", "quality", "fault"),
    "magicRun": ("magic_id", "exp_id", "state", "label", "registered", "fault"),
    "magicDSRun": ("magic_ds_id", "magic_id", "state", "stage", "stage_id", "cam_id", "label", "data_group", "fault",
                   "note"),
    "magicDSFile": ("magic_ds_id", "component", "fault", "data_state"),
    "distTarget": ("target_id", "dist_group", "filter", "stage", "clean", "state", "comment"),
    "distRun": ("dist_id", "target_id", "stage", "stage_id", "label", "clean", "state", "time_stamp", "fault",
                "data_group", "note"),
    "cabinet": ("cab_id", "name", "site_id", "location"),
    "volume": ("vol_id", "name", "host", "path", "allocate", "available", "xattr", "mountpoint", "cab_id", "note"),
    "mountedvol": ("vol_id", "name", "host", "path", "allocate", "available", "xattr", "mountpoint", "total", "used",
                   "note"),
}

# Tables that hold per-component rows (the "component rows" a scenario size is measured in).
COMPONENT_TABLES = ("summitImfile", "pzDownloadImfile", "newImfile", "rawImfile", "chipImfile", "chipProcessedImfile",
                    "fakeProcessedImfile", "warpSkyCellMap", "warpSkyfile", "diffInputSkyfile", "diffSkyfile",
                    "magicDSFile")


def insert_sql(table: str) -> str:
    """Parameterised INSERT for one allowlisted table."""
    columns = COLUMNS[table]  # KeyError for anything not in the allowlist
    return (f"INSERT INTO `{table}` ({', '.join(f'`{c}`' for c in columns)})"
            f" VALUES ({', '.join(['%s'] * len(columns))})")


def insert_rows(conn, table: str, rows: Iterable[Sequence]) -> int:
    """Insert rows (tuples in COLUMNS[table] order) with one multi-row statement per batch."""
    rows = list(rows)
    if rows:
        with conn.cursor() as cur:
            cur.executemany(insert_sql(table), rows)
    return len(rows)


class BulkLoader:
    """Buffers rows per table and writes them in large multi-row INSERTs with checks off."""

    def __init__(self, conn, *, batch: int = 5000, total: int = 0,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.conn = conn
        self.batch = batch
        self.total = total
        self.progress = progress
        self.done = 0
        self.counts: dict[str, int] = {}
        self._buffers: dict[str, list] = {}

    def __enter__(self) -> "BulkLoader":
        with self.conn.cursor() as cur:
            # bulk-load settings for this session only; restored in close()
            cur.execute("SET SESSION foreign_key_checks = 0")
            cur.execute("SET SESSION unique_checks = 0")
        self.conn.autocommit(False)
        return self

    def __exit__(self, exc_type, *_rest) -> None:
        if exc_type is None:
            self.flush()
            self.conn.commit()
        else:
            self.conn.rollback()
        self.conn.autocommit(True)
        with self.conn.cursor() as cur:
            cur.execute("SET SESSION foreign_key_checks = 1")
            cur.execute("SET SESSION unique_checks = 1")

    def add(self, table: str, row: Sequence) -> None:
        """Queue one row for `table`; writes the table's buffer when it is full."""
        buffer = self._buffers.setdefault(table, [])
        buffer.append(row)
        if len(buffer) >= self.batch:
            self._write(table)

    def flush(self) -> None:
        """Write every buffered row."""
        for table in list(self._buffers):
            self._write(table)

    def _write(self, table: str) -> None:
        rows = self._buffers.pop(table, [])
        if not rows:
            return
        insert_rows(self.conn, table, rows)
        self.counts[table] = self.counts.get(table, 0) + len(rows)
        self.done += len(rows)
        if self.done % (self.batch * 20) < len(rows):
            self.conn.commit()  # keep transactions (and undo logs) bounded on big builds
        if self.progress:
            self.progress(self.done, max(self.total, self.done))
