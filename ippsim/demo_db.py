"""Database side of the demo's time steps and events: faults, reverts (the IPP tools' own SQL), disks, hosts."""

from __future__ import annotations

import random

from ippsim.mariadb import ConnParams

# stage -> (component table, run table, run key, component key, revert fault filter: None = every fault != 0)
STAGES = {
    "chip": ("chipProcessedImfile", "chipRun", "chip_id", "class_id", None),
    "camera": ("camProcessedExp", "camRun", "cam_id", None, None),
    "warp": ("warpSkyfile", "warpRun", "warp_id", "skycell_id", 2),
    "diff": ("diffSkyfile", "diffRun", "diff_id", "skycell_id", None),
}
# The revert task each stage's revert macro switches on, in the stdscience server.
REVERT_TASK = {"chip": "chip.revert", "camera": "camera.revert", "warp": "warp.revert.warped", "diff": "diff.revert"}


def _stage(stage: str) -> tuple:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGES)}")
    return STAGES[stage]


def fault_storm(root: ConnParams, dbname: str, stage: str, count: int, fault: int, rng: random.Random) -> int:
    """Give `count` good components of runs in state 'new' the fault code `fault`; return how many changed."""
    table, run_table, run_key, comp_key, _filter = _stage(stage)
    keys = f"c.{run_key}" + (f", c.{comp_key}" if comp_key else "")
    with root.connect(dbname) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT {keys} FROM {table} c JOIN {run_table} r ON r.{run_key} = c.{run_key}"
                    f" WHERE r.state = 'new' AND (c.fault = 0 OR c.fault IS NULL)")
        rows = list(cur.fetchall())
        picks = rng.sample(rows, min(count, len(rows)))
        for row in picks:
            where = f"{run_key} = %s" + (f" AND {comp_key} = %s" if comp_key else "")
            cur.execute(f"UPDATE {table} SET fault = %s WHERE {where}", (fault, *row))
    return len(picks)


def revert(root: ConnParams, dbname: str, stage: str) -> int:
    """What `<tool> -revert...` does: delete faulted components of runs in state 'new'; return rows deleted."""
    table, run_table, run_key, _comp, only = _stage(stage)
    condition = "c.fault = %s" if only is not None else "c.fault != 0"
    params = (only,) if only is not None else ()
    with root.connect(dbname) as conn, conn.cursor() as cur:
        cur.execute(f"DELETE c FROM {table} c JOIN {run_table} r ON r.{run_key} = c.{run_key}"
                    f" WHERE r.state = 'new' AND {condition}", params)
        return cur.rowcount


def grow_disks(root: ConnParams, nebulous_db: str, fraction: float, host: str | None = None) -> int:
    """Fill volumes by `fraction` of their size (capped at full), on one host or all; return rows changed."""
    where, params = ("WHERE total > 1 AND host = %s", (host,)) if host else ("WHERE total > 1", ())
    with root.connect(nebulous_db) as conn, conn.cursor() as cur:
        cur.execute(f"UPDATE mountedvol SET used = LEAST(total, used + FLOOR(total * %s)) {where}", (fraction, *params))
        return cur.rowcount


def set_neb_host(root: ConnParams, nebulous_db: str, host: str, state: str, df_ok: bool = True) -> int:
    """`neb-host <host> up|repair|down`; df_ok=False writes nebdiskd's total=1/used=1 placeholder."""
    flags = {"up": (1, 1), "repair": (0, 1), "down": (0, 0)}
    if state not in flags:
        raise ValueError(f"unknown nebulous host state {state!r}")
    allocate, available = flags[state]
    with root.connect(nebulous_db) as conn, conn.cursor() as cur:
        cur.execute("UPDATE volume SET allocate = %s, available = %s WHERE host = %s", (allocate, available, host))
        changed = cur.rowcount
        cur.execute("UPDATE mountedvol SET allocate = %s, available = %s WHERE host = %s", (allocate, available, host))
        if not df_ok:
            cur.execute("UPDATE mountedvol SET total = 1, used = 1 WHERE host = %s", (host,))
        return changed


def outstanding_faults(root: ConnParams, dbname: str, stage: str) -> int:
    """Faulted components of 'new' runs (the ones a revert would retry)."""
    table, run_table, run_key, _comp, _only = _stage(stage)
    with root.connect(dbname) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {table} c JOIN {run_table} r ON r.{run_key} = c.{run_key}"
                    " WHERE r.state = 'new' AND c.fault != 0")
        return int(cur.fetchone()[0])
