"""One step of simulated time: components complete, runs finish and spawn the next stage, summit data flows."""

from __future__ import annotations

import random
from datetime import timedelta

from ippsim import events as ev
from ippsim import history as h
from ippsim.db import insert_rows

_LIMIT = 100000  # bound on rows any single tick query looks at


def _hosts(conn, neb_conn) -> list[str]:
    if neb_conn is not None:
        with neb_conn.cursor() as cur:
            cur.execute("SELECT DISTINCT host FROM volume WHERE allocate = 1 AND available = 1 ORDER BY host")
            hosts = [row[0] for row in cur.fetchall()]
            if hosts:
                return hosts
    return ["ipp001"]


def _fault_source(rng: random.Random, rate: float, weights: dict):
    def draw() -> int:
        if rng.random() >= rate:
            return 0
        return rng.choices(list(weights), weights=list(weights.values()))[0]
    return draw


# A run whose note starts with this carries items with a persistent cause (bad input data, a program bug): every
# retry of those items -- after a revert deleted the faulted row -- fails again with the same code. Note text:
# "ippsim:recurring:<code>:<component> <component> ..." (camera and stack runs have the one component 'exp'/'stack').
RECURRING_NOTE = "ippsim:recurring:"


def mark_recurring(conn, stage: str, items: list[tuple[int, str]], code: int) -> int:
    """Give (run id, component) items of `stage` a persistent cause: they fail with `code` on every attempt."""
    s = ev.STAGES[stage]
    by_run: dict[int, list[str]] = {}
    for run_id, component in items:
        by_run.setdefault(run_id, []).append(str(component))
    with conn.cursor() as cur:
        for run_id, components in by_run.items():
            cur.execute(f"UPDATE `{s.run_table}` SET note = %s WHERE `{s.run_id}` = %s",
                        (f"{RECURRING_NOTE}{int(code)}:{' '.join(sorted(components))}", run_id))
    return sum(len(c) for c in by_run.values())


def recurring_codes(conn, stage: str) -> dict[tuple[int, str], int]:
    """(run id, component) -> the fault code it repeats, for the marked items of `stage`'s runs in state new."""
    s = ev.STAGES[stage]
    with conn.cursor() as cur:
        cur.execute(f"SELECT `{s.run_id}`, note FROM `{s.run_table}` WHERE state = 'new' AND note LIKE %s LIMIT %s",
                    (RECURRING_NOTE + "%", _LIMIT))
        rows = cur.fetchall()
    codes = {}
    for run_id, note in rows:
        code, _, components = note[len(RECURRING_NOTE):].partition(":")
        if code.isdigit():
            codes.update({(run_id, component): int(code) for component in components.split()})
    return codes


def _process_components(conn, rng, hosts, rates, out) -> None:
    draw = _fault_source(rng, rates.fault_rate, dict(rates.fault_weights) or h.FAULT_WEIGHTS)
    for stage in ev.PROCESSING_ORDER:
        if stage in rates.idle_stages:
            out[f"{stage}_components"] = 0
            continue
        pending = ev.pending_components(conn, stage, limit=_LIMIT)
        repeats = recurring_codes(conn, stage)
        if stage in rates.retries_waiting and repeats:
            pending = [row for row in pending if (row[0], str(row[1])) not in repeats]
        # retried items come first (the load task lists the old runs a revert reopened before newer work)
        first = [row for row in pending if (row[0], str(row[1])) in repeats][:rates.components_per_tick]
        rest = [row for row in pending if (row[0], str(row[1])) not in repeats] if first else pending
        chosen = sorted(first + rng.sample(rest, min(rates.components_per_tick - len(first), len(rest))))
        out[f"{stage}_components"] = ev._write_components(conn, stage, chosen, hosts, rng,
                                                          _fault_for(chosen, repeats, draw))


def _fault_for(rows: list[tuple], repeats: dict, draw):
    """Fault code of each row in turn: its persistent cause's code, else a fresh draw (drawn lazily, in row order)."""
    keys = iter((run_id, str(comp)) for run_id, comp, *_rest in rows)
    return lambda: repeats.get(next(keys)) or draw()


def _finished_runs(conn, stage: str) -> list[int]:
    s = ev.STAGES[stage]
    with conn.cursor() as cur:
        cur.execute(f"SELECT r.`{s.run_id}` FROM `{s.run_table}` r WHERE r.state = 'new' AND {ev._NOT_STALLED}"
                    f" ORDER BY 1 LIMIT %s", (ev.STALL_NOTE, _LIMIT))
        runs = {row[0] for row in cur.fetchall()}
        cur.execute(f"SELECT DISTINCT p.`{s.run_id}` FROM `{s.component_table}` p JOIN `{s.run_table}` r"
                    f" ON r.`{s.run_id}` = p.`{s.run_id}` WHERE r.state = 'new' AND p.fault <> 0 LIMIT %s", (_LIMIT,))
        faulted = {row[0] for row in cur.fetchall()}
    pending = {row[0] for row in ev.pending_components(conn, stage, include_stalled=True, limit=_LIMIT)}
    return sorted(runs - faulted - pending)


def _run_columns(conn, table: str, id_column: str, run_id: int) -> dict:
    with conn.cursor() as cur:
        cur.execute(f"SELECT label, data_group, dist_group, reduction, workdir FROM `{table}`"
                    f" WHERE `{id_column}` = %s", (run_id,))
        label, data_group, dist_group, reduction, workdir = cur.fetchone()
    return {"label": label, "data_group": data_group, "dist_group": dist_group, "reduction": reduction,
            "workdir": workdir}


def _spawn(conn, rng, stage: str, run_id: int, ids: h.Ids, rates) -> None:
    """Queue the next stage for a run that just finished."""
    s = ev.STAGES[stage]
    if stage not in ("chip", "camera", "fake", "warp"):
        return
    rc = _run_columns(conn, s.run_table, s.run_id, run_id)
    now = ev._now()
    if stage == "chip":
        insert_rows(conn, "camRun", [(ids.take("cam"), run_id, "new", rc["workdir"], rc["label"], rc["data_group"],
                                      rc["dist_group"], rc["reduction"], "warp", None)])
    elif stage == "camera":
        insert_rows(conn, "fakeRun", [(ids.take("fake"), run_id, "new", rc["workdir"], rc["label"], rc["data_group"],
                                       rc["dist_group"], rc["reduction"], "warp", now, None)])
    elif stage == "fake":
        warp_id = ids.take("warp")
        insert_rows(conn, "warpRun", [(warp_id, run_id, "warp", "new", rc["workdir"], rc["label"], rc["data_group"],
                                       rc["dist_group"], h.TESS_ID, rc["reduction"], "warp", now, None)])
        cells = h.skycell_ids(rng.randrange(0, 5000), rates.n_skycells)
        insert_rows(conn, "warpSkyCellMap", [(warp_id, cell, h.TESS_ID, "XY33", 0) for cell in cells])
    else:
        with conn.cursor() as cur:
            cur.execute("SELECT skycell_id FROM warpSkyCellMap WHERE warp_id = %s ORDER BY skycell_id", (run_id,))
            cells = [row[0] for row in cur.fetchall()]
            cur.execute("SELECT c.exp_id FROM warpRun w JOIN fakeRun f USING (fake_id) JOIN camRun m USING (cam_id)"
                        " JOIN chipRun c USING (chip_id) WHERE w.warp_id = %s", (run_id,))
            exp_id = cur.fetchone()[0]
        ctx = h.GenContext(rng=rng, hosts=["ipp001"], fault_rate=0.0, done_fraction=0.0, ids=ids)
        buffered: dict[str, list] = {}
        h.emit_after_warp(lambda t, row: buffered.setdefault(t, []).append(row), ctx, warp_id=run_id, exp_id=exp_id,
                          cells=cells or ["skycell.0"], rc=rc, registered=now, pending=True)
        for table, rows in buffered.items():
            insert_rows(conn, table, rows)


def _finish_runs(conn, rng, rates, out) -> None:
    ids = h.Ids(**ev._next_run_ids(conn))
    for stage in ev.PROCESSING_ORDER:
        s = ev.STAGES[stage]
        done = _finished_runs(conn, stage)
        for run_id in done:
            with conn.cursor() as cur:
                cur.execute(f"UPDATE `{s.run_table}` SET state = 'full' WHERE `{s.run_id}` = %s", (run_id,))
            _spawn(conn, rng, stage, run_id, ids, rates)
        out[f"{stage}_runs_finished"] = len(done)
    with conn.cursor() as cur:
        cur.execute("SELECT dist_id FROM distRun r WHERE state = 'new' AND (fault IS NULL OR fault = 0)"
                    f" AND {ev._NOT_STALLED} ORDER BY dist_id LIMIT %s", (ev.STALL_NOTE, _LIMIT))
        dist = [row[0] for row in cur.fetchall() if rng.random() < rates.dist_finish_probability]
        for dist_id in dist:
            cur.execute("UPDATE distRun SET state = 'full' WHERE dist_id = %s", (dist_id,))
    out["dist_runs_finished"] = len(dist)


def _summit(conn, rng, hosts, rates, out) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT label FROM Label WHERE active = 1 ORDER BY label")
        labels = [row[0] for row in cur.fetchall()] or ["ThreePi.nightlyscience"]
    out["arrived"] = ev.summit_falls_behind(conn, rng, count=rates.arrivals_per_tick, n_ota=rates.n_ota,
                                            label=rng.choice(labels))
    draw = _fault_source(rng, rates.summit_fault_rate, h.SUMMIT_FAULT_WEIGHTS)
    with conn.cursor() as cur:
        # the copy starts on exposures the summit listed without a fault
        cur.execute("SELECT s.summit_id, s.exp_name, s.camera, s.telescope FROM summitExp s LEFT JOIN pzDownloadExp d"
                    " USING (summit_id) WHERE d.summit_id IS NULL AND s.fault = 0 ORDER BY 1 LIMIT %s",
                    (rates.downloads_per_tick,))
        insert_rows(conn, "pzDownloadExp", [(*row, "run", ev._now()) for row in cur.fetchall()])
        cur.execute("SELECT s.summit_id, s.exp_name, s.camera, s.telescope, s.class, s.class_id FROM summitImfile s"
                    " JOIN pzDownloadExp d ON d.summit_id = s.summit_id AND d.state = 'run' LEFT JOIN pzDownloadImfile p"
                    " ON p.summit_id = s.summit_id AND p.class = s.class AND p.class_id = s.class_id"
                    " WHERE p.summit_id IS NULL ORDER BY 1, 6 LIMIT %s", (rates.downloads_per_tick,))
        rows = [(sid, name, cam, tel, cls, cid, f"neb://{rng.choice(hosts)}.0/{name}.{cid}.fits", draw(), ev._now(),
                 rng.choice(hosts), 50331648) for sid, name, cam, tel, cls, cid in cur.fetchall()]
        out["downloaded"] = insert_rows(conn, "pzDownloadImfile", rows)
        # fully and cleanly copied exposures are handed to registration (pztool -advance)
        cur.execute("SELECT d.summit_id, d.exp_name FROM pzDownloadExp d WHERE d.state = 'run' AND NOT EXISTS"
                    " (SELECT 1 FROM summitImfile s LEFT JOIN pzDownloadImfile p ON p.summit_id = s.summit_id"
                    " AND p.class = s.class AND p.class_id = s.class_id WHERE s.summit_id = d.summit_id"
                    " AND (p.summit_id IS NULL OR p.fault <> 0)) ORDER BY 1 LIMIT %s", (_LIMIT,))
        for summit_id, exp_name in cur.fetchall():
            cur.execute("UPDATE pzDownloadExp SET state = 'stop' WHERE summit_id = %s", (summit_id,))
            cur.execute("INSERT INTO newExp (summit_id, tmp_exp_name, tmp_camera, tmp_telescope, state, workdir,"
                        " workdir_state, end_stage, label) VALUES (%s, %s, %s, %s, 'run', %s, 'dirty', 'reg', %s)",
                        (summit_id, exp_name, h.CAMERA, h.TELESCOPE, "neb://any/gpc1", rng.choice(labels)))
            exp_id = cur.lastrowid
            cur.execute("INSERT INTO newImfile (exp_id, tmp_class_id, uri) SELECT %s, class_id, uri FROM summitImfile"
                        " WHERE summit_id = %s", (exp_id, summit_id))
    _register(conn, rng, hosts, rates, out)


def _register(conn, rng, hosts, rates, out) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT n.exp_id, i.tmp_class_id, s.exp_name, s.dateobs, s.exp_type FROM newExp n"
                    " JOIN newImfile i ON i.exp_id = n.exp_id JOIN summitExp s ON s.summit_id = n.summit_id"
                    " LEFT JOIN rawImfile r ON r.exp_id = i.exp_id AND r.tmp_class_id = i.tmp_class_id"
                    " WHERE n.state = 'run' AND r.exp_id IS NULL ORDER BY 1, 2 LIMIT %s",
                    (rates.registrations_per_tick,))
        rows = [(exp_id, name, h.CAMERA, h.TELESCOPE, dateobs, cid, cid, f"neb://any/{name}.{cid}.fits", "full",
                 exp_type, "r.00000", rng.choice(hosts), 0, 0, ev._now(), 0)
                for exp_id, cid, name, dateobs, exp_type in cur.fetchall()]
        out["registered"] = insert_rows(conn, "rawImfile", rows)
        cur.execute("SELECT n.exp_id, s.exp_name, s.dateobs, s.exp_type, n.label FROM newExp n JOIN summitExp s"
                    " ON s.summit_id = n.summit_id WHERE n.state = 'run' AND NOT EXISTS (SELECT 1 FROM newImfile i"
                    " LEFT JOIN rawImfile r ON r.exp_id = i.exp_id AND r.tmp_class_id = i.tmp_class_id"
                    " WHERE i.exp_id = n.exp_id AND r.exp_id IS NULL) ORDER BY 1 LIMIT %s", (_LIMIT,))
        for exp_id, name, dateobs, exp_type, label in cur.fetchall():
            cur.execute("UPDATE newExp SET state = 'stop' WHERE exp_id = %s", (exp_id,))
            insert_rows(conn, "rawExp", [(exp_id, name, h.CAMERA, h.TELESCOPE, dateobs, exp_type, "new", "warp",
                                          "r.00000", "3PI", (label or "x").split(".")[0], rng.choice(hosts), 0,
                                          ev._now())])
        cur.execute("SELECT exp_id, class_id FROM rawImfile WHERE burntool_state IN (0, -1) ORDER BY 1, 2 LIMIT %s",
                    (rates.burntool_per_tick,))
        burnt = cur.fetchall()
        for exp_id, class_id in burnt:
            cur.execute("UPDATE rawImfile SET burntool_state = %s WHERE exp_id = %s AND class_id = %s",
                        (h.BURNTOOL_GOOD, exp_id, class_id))
        out["burntooled"] = len(burnt)
        _queue_chips(cur, out)


def _queue_chips(cur, out) -> None:
    """Registered, burntooled OBJECT exposures get a chipRun (the nightly-science queueing)."""
    cur.execute("SELECT e.exp_id, e.exp_type, n.label, e.dateobs FROM rawExp e JOIN newExp n USING (exp_id)"
                " WHERE e.state = 'new' AND NOT EXISTS (SELECT 1 FROM rawImfile r WHERE r.exp_id = e.exp_id"
                " AND (r.burntool_state IS NULL OR ABS(r.burntool_state) <> %s)) ORDER BY 1 LIMIT %s",
                (h.BURNTOOL_GOOD, _LIMIT))
    queued = 0
    for exp_id, exp_type, label, dateobs in cur.fetchall():
        cur.execute("UPDATE rawExp SET state = 'full' WHERE exp_id = %s", (exp_id,))
        if exp_type != "OBJECT" or not label:
            continue
        rc = h.run_columns(label, dateobs or (h.datetime(2025, 5, 2) + timedelta(hours=6)))
        cur.execute("INSERT INTO chipRun (exp_id, state, workdir, label, data_group, dist_group, reduction, end_stage)"
                    " VALUES (%s, 'new', %s, %s, %s, %s, %s, 'warp')",
                    (exp_id, rc["workdir"], label, rc["data_group"], rc["dist_group"], rc["reduction"]))
        chip_id = cur.lastrowid
        cur.execute("INSERT INTO chipImfile (chip_id, class_id) SELECT %s, class_id FROM rawImfile WHERE exp_id = %s",
                    (chip_id, exp_id))
        queued += 1
    out["chip_runs_queued"] = queued


def tick(conn, rng: random.Random, *, neb_conn=None, rates) -> dict:
    """One simulated step; returns what it did."""
    out: dict[str, int] = {}
    hosts = _hosts(conn, neb_conn)
    with conn.cursor() as cur:
        cur.execute("SET SESSION foreign_key_checks = 0")  # stage links are written in pipeline order, not FK order
    try:
        _process_components(conn, rng, hosts, rates, out)
        _finish_runs(conn, rng, rates, out)
        _summit(conn, rng, hosts, rates, out)
    finally:
        with conn.cursor() as cur:
            cur.execute("SET SESSION foreign_key_checks = 1")
    if neb_conn is not None:
        with neb_conn.cursor() as cur:
            out["volumes_filled"] = cur.execute("UPDATE mountedvol SET used = LEAST(total, used + %s) WHERE total > 1",
                                                (rates.disk_fill_kib,))
    return out
