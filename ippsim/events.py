"""Things that happen to a simulated site: faults, storms, stalls, bad hosts, disks filling, summit lag."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from ippsim import history as h
from ippsim.db import COLUMNS, insert_rows

STALL_NOTE = "ippsim:stalled"  # runs carrying this note never progress in advance()

# Per stage: the fixed SQL that lists components still missing from runs in state 'new'
# (run id, component, exp_id, label, hostname hint) and the component table they go into.
_NOT_STALLED = "(r.note IS NULL OR r.note <> %s)"


@dataclass(frozen=True)
class Stage:
    """How one processing stage stores runs and components."""

    name: str
    run_table: str
    run_id: str
    component_table: str
    pending_sql: str


STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("chip", "chipRun", "chip_id", "chipProcessedImfile",
          "SELECT r.chip_id, ci.class_id, r.exp_id, r.label FROM chipRun r"
          " JOIN chipImfile ci ON ci.chip_id = r.chip_id"
          " LEFT JOIN chipProcessedImfile p ON p.chip_id = ci.chip_id AND p.class_id = ci.class_id"
          " WHERE r.state = 'new' AND p.chip_id IS NULL"),
    Stage("camera", "camRun", "cam_id", "camProcessedExp",
          "SELECT r.cam_id, 'exp', c.exp_id, r.label FROM camRun r JOIN chipRun c ON c.chip_id = r.chip_id"
          " LEFT JOIN camProcessedExp p ON p.cam_id = r.cam_id WHERE r.state = 'new' AND p.cam_id IS NULL"),
    Stage("fake", "fakeRun", "fake_id", "fakeProcessedImfile",
          "SELECT r.fake_id, ri.class_id, c.exp_id, r.label FROM fakeRun r JOIN camRun m ON m.cam_id = r.cam_id"
          " JOIN chipRun c ON c.chip_id = m.chip_id JOIN rawImfile ri ON ri.exp_id = c.exp_id"
          " LEFT JOIN fakeProcessedImfile p ON p.fake_id = r.fake_id AND p.class_id = ri.class_id"
          " WHERE r.state = 'new' AND p.fake_id IS NULL"),
    Stage("warp", "warpRun", "warp_id", "warpSkyfile",
          "SELECT r.warp_id, m.skycell_id, NULL, r.label FROM warpRun r JOIN warpSkyCellMap m ON m.warp_id = r.warp_id"
          " LEFT JOIN warpSkyfile p ON p.warp_id = m.warp_id AND p.skycell_id = m.skycell_id AND p.tess_id = m.tess_id"
          " WHERE r.state = 'new' AND p.warp_id IS NULL"),
    Stage("stack", "stackRun", "stack_id", "stackSumSkyfile",
          "SELECT r.stack_id, 'stack', NULL, r.label FROM stackRun r"
          " LEFT JOIN stackSumSkyfile p ON p.stack_id = r.stack_id WHERE r.state = 'new' AND p.stack_id IS NULL"),
    Stage("diff", "diffRun", "diff_id", "diffSkyfile",
          "SELECT r.diff_id, i.skycell_id, NULL, r.label FROM diffRun r JOIN diffInputSkyfile i ON i.diff_id = r.diff_id"
          " LEFT JOIN diffSkyfile p ON p.diff_id = i.diff_id AND p.skycell_id = i.skycell_id"
          " WHERE r.state = 'new' AND p.diff_id IS NULL"),
    Stage("destreak", "magicDSRun", "magic_ds_id", "magicDSFile",
          "SELECT r.magic_ds_id, m.skycell_id, NULL, r.label FROM magicDSRun r"
          " JOIN warpSkyCellMap m ON m.warp_id = r.stage_id AND r.stage = 'warp'"
          " LEFT JOIN magicDSFile p ON p.magic_ds_id = r.magic_ds_id AND p.component = m.skycell_id"
          " WHERE r.state = 'new' AND p.magic_ds_id IS NULL"),
)}
PROCESSING_ORDER = ("chip", "camera", "fake", "warp", "stack", "diff", "destreak")


def component_row(stage: str, run_id: int, component: str, exp_id, host: str, fault: int) -> tuple:
    """A finished (or faulted) component row for `stage`, in db.COLUMNS order."""
    path = f"neb://{host}.0/ippsim/{stage}/{run_id}.{component}"
    if stage == "chip":
        return (run_id, exp_id, component, "full", host, path, 30.0, 0, fault)
    if stage == "camera":
        return (run_id, host, path, 60.0, 0, fault)
    if stage == "fake":
        return (run_id, exp_id, component, host, path, "full", fault, _now())
    if stage == "warp":
        return (run_id, component, h.TESS_ID, path, "full", host, 0.9, 0, fault)
    if stage == "stack":
        return (run_id, path, host, 0.9, 60000.5, 0, fault)
    if stage == "diff":
        return (run_id, component, path, "full", host, 0.8, 0, fault)
    if stage == "destreak":
        return (run_id, component, fault, "full")
    raise ValueError(f"unknown stage {stage!r}")


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def pending_components(conn, stage: str, *, label: str | None = None, include_stalled: bool = False,
                       limit: int = 100000) -> list[tuple]:
    """(run id, component, exp_id, label) of components not yet written for 'new' runs of `stage`."""
    sql, params = STAGES[stage].pending_sql, []
    if not include_stalled:
        sql += f" AND {_NOT_STALLED}"
        params.append(STALL_NOTE)
    if label is not None:
        sql += " AND r.label = %s"
        params.append(label)
    sql += " ORDER BY 1, 2 LIMIT %s"
    params.append(limit)
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def _write_components(conn, stage: str, rows: list[tuple], hosts, rng: random.Random, fault_for) -> int:
    table = STAGES[stage].component_table
    out = [component_row(stage, run_id, comp, exp_id, rng.choice(hosts), fault_for())
           for run_id, comp, exp_id, _label in rows]
    return insert_rows(conn, table, out)


def inject_faults(conn, rng: random.Random, *, stage: str, code: int, count: int = 5, label: str | None = None,
                  hosts=("ipp001",)) -> int:
    """Fault up to `count` pending components of `stage` (optionally one label) with `code`; returns how many."""
    if stage == "dist":
        sql = "SELECT dist_id FROM distRun WHERE state = 'new' AND (fault IS NULL OR fault = 0)"
        params: list = []
        if label is not None:
            sql += " AND label = %s"
            params.append(label)
        with conn.cursor() as cur:
            cur.execute(sql + " ORDER BY dist_id LIMIT %s", (*params, count))
            ids = [row[0] for row in cur.fetchall()]
            for dist_id in ids:
                cur.execute("UPDATE distRun SET fault = %s WHERE dist_id = %s", (code, dist_id))
        return len(ids)
    if stage == "summitcopy":
        return summit_copy_faults(conn, rng, code=code, count=count)
    pending = pending_components(conn, stage, label=label, include_stalled=True)
    chosen = sorted(rng.sample(pending, min(count, len(pending))))
    return _write_components(conn, stage, chosen, list(hosts), rng, lambda: code)


def fault_storm(conn, rng: random.Random, *, count: int = 200, codes=(2,), hosts=("ipp001",)) -> int:
    """Many faults at once across every processing stage and label (e.g. an NFS outage)."""
    total = 0
    for stage in PROCESSING_ORDER:
        total += inject_faults(conn, rng, stage=stage, code=rng.choice(list(codes)),
                               count=max(1, count // len(PROCESSING_ORDER)), hosts=hosts)
    return total


def stall_label(conn, label: str, *, stalled: bool = True) -> int:
    """Mark every pending run of `label` so that advance() never progresses it (pantasks lost the label).

    stalled=False releases the label's stalled runs again (the czar re-added it)."""
    sql = ("UPDATE `{}` SET note = %s WHERE label = %s AND state = 'new'" if stalled
           else "UPDATE `{}` SET note = NULL WHERE note = %s AND label = %s")
    changed = 0
    with conn.cursor() as cur:
        for stage in STAGES.values():
            changed += cur.execute(sql.format(stage.run_table), (STALL_NOTE, label))
    return changed


def host_goes_bad(conn, rng: random.Random, host: str, *, count: int = 20, neb_conn=None,
                  volumes: str = "keep") -> int:
    """Pending components land on `host` and fail with fault 2; optionally its volumes go too.

    volumes: 'keep', 'unmounted' (mountedvol rows deleted), 'placeholder' (nebdiskd total=1/used=1)."""
    total = 0
    for stage in PROCESSING_ORDER:
        total += inject_faults(conn, rng, stage=stage, code=2, count=count, hosts=(host,))
    if neb_conn is not None and volumes != "keep":
        for name in host_volumes(neb_conn, host):
            if volumes == "unmounted":
                unmount_volume(neb_conn, name)
            elif volumes == "placeholder":
                nebdiskd_placeholder(neb_conn, name)
            else:
                raise ValueError(f"unknown volumes mode {volumes!r}")
    return total


def host_volumes(neb_conn, host: str) -> list[str]:
    """Names of the nebulous volumes on `host`."""
    with neb_conn.cursor() as cur:
        cur.execute("SELECT name FROM volume WHERE host = %s ORDER BY name", (host,))
        return [row[0] for row in cur.fetchall()]


def fill_volume(neb_conn, volume: str, fraction: float = 0.99) -> int:
    """Set a mounted volume's used 1K-blocks to `fraction` of its total."""
    with neb_conn.cursor() as cur:
        return cur.execute("UPDATE mountedvol SET used = FLOOR(total * %s) WHERE name = %s AND total > 1",
                           (fraction, volume))


def nebdiskd_placeholder(neb_conn, volume: str) -> int:
    """What nebdiskd writes when df cannot reach an autofs host: total=1, used=1."""
    with neb_conn.cursor() as cur:
        return cur.execute("UPDATE mountedvol SET total = 1, used = 1 WHERE name = %s", (volume,))


def unmount_volume(neb_conn, volume: str) -> int:
    """What nebdiskd does when df fails outright: the mountedvol row disappears."""
    with neb_conn.cursor() as cur:
        return cur.execute("DELETE FROM mountedvol WHERE name = %s", (volume,))


HOST_STATES = {"up": (1, 1), "repair": (0, 1), "down": (0, 0), "allocate_only": (1, 0)}


def set_host_state(neb_conn, host: str, state: str, note: str | None = None) -> int:
    """Set allocate/available of every volume of `host` in volume and mountedvol; returns the host's volume count."""
    allocate, available = HOST_STATES[state]
    with neb_conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM volume WHERE host = %s", (host,))
        volumes = cur.fetchone()[0]
        cur.execute("UPDATE volume SET allocate = %s, available = %s, note = COALESCE(%s, note)"
                              " WHERE host = %s", (allocate, available, note, host))
        cur.execute("UPDATE mountedvol SET allocate = %s, available = %s, note = COALESCE(%s, note) WHERE host = %s",
                    (allocate, available, note, host))
    return volumes


def summit_copy_faults(conn, rng: random.Random, *, code: int = 200, count: int = 5) -> int:
    """Downloads that fail with a summit-copy code (104, 115, 200, 202, 203, 255) on pzDownloadImfile."""
    with conn.cursor() as cur:
        cur.execute("SELECT s.summit_id, s.class_id, s.exp_name, s.camera, s.telescope FROM summitImfile s"
                    " JOIN pzDownloadExp d ON d.summit_id = s.summit_id AND d.state = 'run'"
                    " LEFT JOIN pzDownloadImfile p ON p.summit_id = s.summit_id AND p.class = s.class"
                    " AND p.class_id = s.class_id WHERE p.summit_id IS NULL ORDER BY 1, 2 LIMIT 10000")
        pending = list(cur.fetchall())
    chosen = sorted(rng.sample(pending, min(count, len(pending))))
    rows = [(sid, name, cam, tel, "chip", cid, f"http://summit/{name}/{cid}", code, _now(), None, None)
            for sid, cid, name, cam, tel in chosen]
    return insert_rows(conn, "pzDownloadImfile", rows)


def summit_falls_behind(conn, rng: random.Random, *, count: int = 10, n_ota: int = 4, level: int = h.SUMMIT,
                        label: str = "ThreePi.nightlyscience") -> int:
    """`count` new exposures at the summit that stop at `level` (SUMMIT: not copied; REGISTERED: not burntooled)."""
    with conn.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(summit_id), 0), MAX(dateobs) FROM summitExp")
        last_summit, last_dateobs = cur.fetchone()
        cur.execute("SELECT COALESCE(MAX(exp_id), 0) FROM newExp")
        last_exp = cur.fetchone()[0]
    ids = h.Ids(summit=last_summit + 1, exp=last_exp + 1, **_next_run_ids(conn))
    ctx = h.GenContext(rng=rng, hosts=["ipp001"], n_ota=n_ota, summit_fault_rate=0.0, ids=ids)
    start = last_dateobs or datetime(2025, 5, 2, 5, 30)
    buffered: dict[str, list] = {}
    for k in range(count):
        h.emit_exposure(lambda t, row: buffered.setdefault(t, []).append(row), ctx,
                        dateobs=start + timedelta(seconds=40 * (k + 1)), level=level, label=label)
    with conn.cursor() as cur:
        cur.execute("SET SESSION foreign_key_checks = 0")
    try:
        for table in COLUMNS:  # dependency order of the allowlist
            insert_rows(conn, table, buffered.get(table, []))
    finally:
        with conn.cursor() as cur:
            cur.execute("SET SESSION foreign_key_checks = 1")
    return count


def burntool_falls_behind(conn, rng: random.Random, *, count: int = 10, n_ota: int = 4) -> int:
    """`count` registered exposures whose imfiles burntool has not processed (burntool_state 0)."""
    return summit_falls_behind(conn, rng, count=count, n_ota=n_ota, level=h.REGISTERED)


def _next_run_ids(conn) -> dict:
    names = {"chip": ("chipRun", "chip_id"), "cam": ("camRun", "cam_id"), "fake": ("fakeRun", "fake_id"),
             "warp": ("warpRun", "warp_id"), "stack": ("stackRun", "stack_id"), "diff": ("diffRun", "diff_id"),
             "magic": ("magicRun", "magic_id"), "magic_ds": ("magicDSRun", "magic_ds_id"),
             "dist": ("distRun", "dist_id")}
    out = {}
    with conn.cursor() as cur:
        for key, (table, column) in names.items():
            cur.execute(f"SELECT COALESCE(MAX(`{column}`), 0) + 1 FROM `{table}`")
            out[key] = cur.fetchone()[0]
    return out


# ---------------------------------------------------------------------------------------------------------------
# Fault sources beyond the stage component tables (ipp-facts §9.9): each writes what the real tool or script does.

def overlap_faults(conn, rng: random.Random, *, code: int = 4, count: int = 5, label: str | None = None) -> int:
    """warpSkyCellMap rows of 'new' warp runs fault (warp_skycell_map failed); warptool -revertoverlap clears them."""
    sql, params = ("SELECT m.warp_id, m.skycell_id, m.tess_id, m.class_id FROM warpSkyCellMap m"
                   " JOIN warpRun r ON r.warp_id = m.warp_id WHERE r.state = 'new' AND (m.fault IS NULL OR m.fault = 0)"), []
    if label is not None:
        sql += " AND r.label = %s"
        params.append(label)
    with conn.cursor() as cur:
        cur.execute(sql + " ORDER BY 1, 2, 3, 4 LIMIT 10000", params)
        rows = list(cur.fetchall())
        chosen = sorted(rng.sample(rows, min(count, len(rows))))
        for key in chosen:
            cur.execute("UPDATE warpSkyCellMap SET fault = %s WHERE warp_id = %s AND skycell_id = %s AND tess_id = %s"
                        " AND class_id = %s", (code, *key))
    return len(chosen)


def dist_component_faults(conn, rng: random.Random, *, code: int = 2, count: int = 5,
                          label: str | None = None) -> int:
    """Components of 'new' dist runs fail to ship (distComponent.fault); dist.revert clears them every 60 s."""
    sql, params = "SELECT dist_id FROM distRun WHERE state = 'new'", []
    if label is not None:
        sql += " AND label = %s"
        params.append(label)
    with conn.cursor() as cur:
        cur.execute(sql + " ORDER BY dist_id LIMIT 10000", params)
        runs = [row[0] for row in cur.fetchall()]
        added = 0
        for n in range(min(count, len(runs) * 4)):
            dist_id = runs[rng.randrange(len(runs))]
            added += cur.execute("INSERT IGNORE INTO distComponent (dist_id, component, state, fault)"
                                 " VALUES (%s, %s, 'full', %s)", (dist_id, f"ippsim.{n}", code))
    return added


def burntool_stuck(conn, *, count: int = 3) -> int:
    """The newest registered imfiles are left at burntool_state -1: ipp_apply_burntool*.pl died mid-run."""
    with conn.cursor() as cur:
        cur.execute("SELECT exp_id, class_id FROM rawImfile WHERE burntool_state IS NOT NULL AND burntool_state <> -1"
                    " ORDER BY exp_id DESC, class_id LIMIT %s", (count,))
        keys = list(cur.fetchall())
        for exp_id, class_id in keys:
            cur.execute("UPDATE rawImfile SET burntool_state = -1 WHERE exp_id = %s AND class_id = %s",
                        (exp_id, class_id))
    return len(keys)


def mask_label(conn, label: str, *, masked: bool = True) -> int:
    """chiptool -mask (or -unmask) LABEL: a chipMask row holds back the label's new chip runs without a fault."""
    sql = "INSERT IGNORE INTO chipMask (label) VALUES (%s)" if masked else "DELETE FROM chipMask WHERE label = %s"
    with conn.cursor() as cur:
        return cur.execute(sql, (label,))


def magic_faults(conn, rng: random.Random, *, code: int = 5, count: int = 3, label: str | None = None) -> int:
    """The newest magic runs go back to 'new' with a faulted node result (magictool -revertnode clears it)."""
    sql, params = "SELECT magic_id FROM magicRun", []
    if label is not None:
        sql += " WHERE label = %s"
        params.append(label)
    with conn.cursor() as cur:
        cur.execute(sql + " ORDER BY magic_id DESC LIMIT %s", (*params, count))
        ids = [row[0] for row in cur.fetchall()]
        for magic_id in ids:
            cur.execute("UPDATE magicRun SET state = 'new' WHERE magic_id = %s", (magic_id,))
            cur.execute("INSERT IGNORE INTO magicNodeResult (magic_id, node, fault) VALUES (%s, %s, %s)",
                        (magic_id, f"node.{rng.randrange(100)}", code))
    return len(ids)


def publish_faults(conn, rng: random.Random, *, code: int = 2, count: int = 3,
                   label: str = "ThreePi.nightlyscience", host: str = "ipp001") -> int:
    """New publish runs for an active client whose publishDone row faulted (pubtool -revert clears them)."""
    with conn.cursor() as cur:
        cur.execute("INSERT IGNORE INTO publishClient (client_id, active, name, comment)"
                    " VALUES (1, 1, 'ippsim', 'simulated client')")
        cur.execute("SELECT COALESCE(MAX(pub_id), 0) FROM publishRun")
        first = cur.fetchone()[0] + 1
        for pub_id in range(first, first + count):
            cur.execute("INSERT INTO publishRun (pub_id, client_id, stage_id, label, state)"
                        " VALUES (%s, 1, %s, %s, 'new')", (pub_id, rng.randrange(1, 10**6), label))
            cur.execute("INSERT INTO publishDone (pub_id, hostname, fault) VALUES (%s, %s, %s)", (pub_id, host, code))
    return count
