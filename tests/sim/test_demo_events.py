"""Demo events and time steps change the DB and the pantasks servers exactly as intended, through the shared code."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from dataclasses import replace

import pytest

from ippsim import demo_events as de
from ippsim import events as dbev
from ippsim import reverts as rv
from ippsim.pantasks import render, sim
from ippsim.pantasks import state as pstate
from ippsim.pantasks.sites import SERVER_TASKS, create_server, new_state
from ippsim.scenario import Rates, ScenarioSpec, build
from ippsim.site import create_database
from ippsim.tools.config import environment

SPEC = replace(ScenarioSpec.tiny(seed=6), tonight_exposures=40)  # pending work of every stage in two labels
LABELS = tuple(name for name, _prio in SPEC.labels)
SERVER_LABELS = LABELS[:2]  # the third label's faults are not the revert tasks' business


def _make_site(root, tmp_path, dbname="gpc1", nebulous_db="nebulous") -> de.Site:
    build(root, SPEC, dbname=dbname, nebulous_db=nebulous_db)
    servers = {name: create_server(tmp_path / dbname / name, name, hosts=tuple(SPEC.host_names),
                                   labels=SERVER_LABELS, seed=index)
               for index, name in enumerate(SERVER_TASKS)}
    return de.Site(root=root, dbname=dbname, nebulous_db=nebulous_db, servers=servers, rng=random.Random(1),
                   hosts=tuple(SPEC.host_names), rates=Rates(components_per_tick=3, fault_rate=0.3)).open()


@pytest.fixture
def site(site_db, tmp_path):
    demo_site = _make_site(site_db.root, tmp_path)
    yield demo_site
    demo_site.close()


def _one(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def _task(site, server, name) -> dict:
    return next(t for t in pstate.load(site.servers[server])["tasks"] if t["name"] == name)


def _faults(conn, stage: str, code: int) -> int:
    s = dbev.STAGES[stage]
    return _one(conn, f"SELECT COUNT(*) FROM `{s.component_table}` p JOIN `{s.run_table}` r"
                      f" ON r.`{s.run_id}` = p.`{s.run_id}` WHERE r.state = 'new' AND p.fault = %s", (code,))[0]


def test_fault_storm_on_one_stage_faults_that_many_and_counts_failed_jobs(site):
    before_db, before = _faults(site.conn, "chip", 5), _task(site, "stdscience", "chip.imfile.run")
    text = de.apply(site, "fault-storm", {"stage": "chip", "count": 3, "fault": 5})
    after = _task(site, "stdscience", "chip.imfile.run")
    assert text == "3 chip components faulted with 5"
    assert _faults(site.conn, "chip", 5) == before_db + 3
    assert (after["njobs"] - before["njobs"], after["nfailure"] - before["nfailure"]) == (3, 3)
    assert after["nsuccess"] == before["nsuccess"]


def test_fault_storm_without_stage_hits_every_stage(site):
    failed_before = sum(t["nfailure"] for t in pstate.load(site.servers["stdscience"])["tasks"])
    faults_before = {stage: _faults(site.conn, stage, 3) for stage in dbev.PROCESSING_ORDER}
    n = int(de.apply(site, "fault-storm", {"count": 14, "fault": 3}).split()[0])
    per_stage = {stage: _faults(site.conn, stage, 3) - faults_before[stage] for stage in dbev.PROCESSING_ORDER}
    assert n == sum(per_stage.values()) and sum(1 for v in per_stage.values() if v) >= 5
    failed = sum(t["nfailure"] for t in pstate.load(site.servers["stdscience"])["tasks"]) - failed_before
    assert failed == n - per_stage["destreak"]  # destreak has no run task in stdscience


def test_unknown_stage_host_and_event_are_refused(site):
    for event, params in (("fault-storm", {"stage": "nope"}), ("disk-fill", {"host": "ipp999"}),
                          ("revert", {"stage": "destreak"}), ("neb-host", {"host": "ipp001", "state": "sideways"})):
        with pytest.raises(ValueError):
            de.apply(site, event, params)
    with pytest.raises(ValueError, match="unknown event"):
        de.apply(site, "meteor", {})


def _switch_reverts(site, active: bool = True) -> None:
    for directory in site.servers.values():
        with pstate.modify(directory) as state:
            for task in state["tasks"]:
                if task["name"] in rv.REVERT_TASKS:
                    task["active"] = active


def _switch_on_reverts(site) -> None:
    _switch_reverts(site, True)


def _inject_mixed_faults(conn) -> None:
    # the generator lets tonight's diffs point at tonight's pending stacks; real diffs use finished template
    # stacks, and only then can stacktool delete a faulted stack sum (diffInputSkyfile.stack2 is a foreign key)
    with conn.cursor() as cur:
        cur.execute("UPDATE diffInputSkyfile SET stack2 = NULL")
    rng = random.Random(9)
    for stage, code in (("chip", 2), ("chip", 4), ("camera", 3), ("warp", 2), ("warp", 4), ("stack", 2),
                        ("stack", 5), ("diff", 5)):
        for label in LABELS:
            dbev.inject_faults(conn, rng, stage=stage, code=code, count=1, label=label)


TABLES = ("chipProcessedImfile", "camProcessedExp", "warpSkyfile", "stackSumSkyfile", "diffSkyfile")


def _table(conn, table) -> list:
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM `{table}`")
        return sorted(map(repr, cur.fetchall()))


def test_revert_tasks_change_exactly_what_the_tool_command_lines_change(site, site_db, tmp_path):
    """Same site twice: run_reverts on one, the stand-in CLIs with the tasks' argv on the other."""
    create_database(site_db.root, "gpc1cli", "gpc1")
    create_database(site_db.root, "nebcli", "nebulous")
    try:
        other = _make_site(site_db.root, tmp_path, "gpc1cli", "nebcli")
        for conn in (site.conn, other.conn):
            _inject_mixed_faults(conn)
        assert _table(site.conn, "warpSkyfile") == _table(other.conn, "warpSkyfile")
        before = {t: _table(site.conn, t) for t in TABLES}
        _switch_on_reverts(site)
        changed, failures = de.run_reverts(site)
        env = {**os.environ, **environment(site_db.root, dbname="gpc1cli")}
        for server, directory in site.servers.items():
            labels = pstate.load(directory)["labels"]
            for task in (t["name"] for t in pstate.load(directory)["tasks"] if t["name"] in rv.REVERT_TASKS):
                spec = rv.REVERT_TASKS[task]
                argv = [sys.executable, "-m", "ippsim.tools", spec.tool, spec.mode,
                        *rv.revert_argv(task, labels, "gpc1cli")]
                result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
                assert result.returncode == 0, (server, task, result.stderr)
        for table in TABLES:
            assert _table(site.conn, table) == _table(other.conn, table), table
        assert changed > 0 and failures == [] and all(_table(site.conn, t) != before[t] for t in TABLES)
        other.close()
    finally:
        with site_db.root.connect() as conn, conn.cursor() as cur:
            cur.execute("DROP DATABASE gpc1cli")
            cur.execute("DROP DATABASE nebcli")


def test_revert_tasks_follow_the_real_fault_filters_and_labels(site):
    _inject_mixed_faults(site.conn)
    _switch_on_reverts(site)
    before = _task(site, "stdscience", "warp.revert.warped")
    de.run_reverts(site)
    by_label = ("SELECT r.label, p.fault FROM `{c}` p JOIN `{r}` r ON r.`{i}` = p.`{i}`"
                " WHERE r.state = 'new' AND p.fault <> 0")
    left = {}
    for stage in ("chip", "camera", "warp", "stack", "diff"):
        s = dbev.STAGES[stage]
        with site.conn.cursor() as cur:
            cur.execute(by_label.format(c=s.component_table, r=s.run_table, i=s.run_id))
            left[stage] = set(cur.fetchall())
    for stage in ("chip", "camera", "diff"):  # every non-zero fault of the server's labels went
        assert {label for label, _f in left[stage]} <= {LABELS[2]}
    for stage in ("warp", "stack"):  # only fault 2, only the server's labels
        assert (LABELS[0], 2) not in left[stage] and (LABELS[1], 2) not in left[stage]
    assert (LABELS[0], 4) in left["warp"] and (LABELS[0], 5) in left["stack"] and (LABELS[2], 2) in left["warp"]
    assert _task(site, "stdscience", "warp.revert.warped")["njobs"] == before["njobs"] + 1


def test_reverts_do_nothing_while_off_or_while_the_server_hangs(site):
    _inject_mixed_faults(site.conn)
    _switch_reverts(site, False)
    assert de.run_reverts(site) == (0, [])
    _switch_on_reverts(site)
    sim.apply_event(site.servers["stdscience"], "hung")
    sim.apply_event(site.servers["distribution"], "hung")
    assert de.run_reverts(site) == (0, [])
    assert _faults(site.conn, "chip", 2) > 0


def _active(site, server: str) -> set[str]:
    return {t["name"] for t in pstate.load(site.servers[server])["tasks"] if t["active"] and t["name"] in rv.REVERT_TASKS}


def test_revert_tasks_start_as_a_running_site_has_them():
    """chip/camera/fake/warp/diff reverts are defined active; stack.revert `active false`; register.on and
    dist.on (ippTasks/{stack,register,dist}.pro) leave registration's off and dist's on."""
    servers = {name: new_state(name, labels=LABELS) for name in SERVER_TASKS}
    active = {name: {t["name"] for t in st["tasks"] if t["active"] and t["kind"] == "revert"}
              for name, st in servers.items()}
    assert active["stdscience"] == {"chip.revert", "camera.revert", "fake.revert", "warp.revert.warped",
                                    "warp.revert.overlap", "diff.revert"}
    assert active["distribution"] == {"dist.revert"} and active["registration"] == set()
    periods = {task: spec.period for task, spec in rv.REVERT_TASKS.items()}
    assert periods["chip.revert"] == periods["diff.revert"] == 1800 and periods["dist.revert"] == 60
    assert periods["register.imfile.revert"] == 600


def _chip_faults(conn, label) -> int:
    return _one(conn, "SELECT COUNT(*) FROM chipProcessedImfile p JOIN chipRun r USING (chip_id)"
                      " WHERE r.state = 'new' AND p.fault <> 0 AND r.label = %s", (label,))[0]


def test_faults_form_a_sawtooth_with_the_real_revert_period(site):
    """Default tasks, 10 s steps: chip faults pile up for 1800 s, then chip.revert clears them all at once."""
    label = LABELS[0]
    site.rates = replace(site.rates, fault_rate=0.5)
    counts = []
    for _ in range(181):
        de.step(site, 10.0)
        counts.append(_chip_faults(site.conn, label))
    drops = [i for i in range(1, len(counts)) if counts[i] < counts[i - 1]]
    assert drops == [179], counts  # the 180th step (1800 s) ran chip.revert; nothing before it removed a fault
    assert counts[178] > 0 and counts[179] < counts[178]
    assert _task(site, "stdscience", "chip.revert")["nsuccess"] == 1


def test_recurring_items_fault_again_after_every_revert(site):
    label = LABELS[0]
    text = de.apply(site, "recurring-faults", {"stage": "chip", "label": label, "count": 3, "fault": 5})
    assert text == "3 chip items fault with 5 on every retry"
    site.rates = replace(site.rates, fault_rate=0.0, components_per_tick=200)
    for _cycle in range(2):
        de.run_reverts(site)  # chip.revert deletes the three faulted rows
        assert _faults(site.conn, "chip", 5) == 0
        for _ in range(int(rv.RETRY_DELAY // 10)):  # pantasks has not picked them up again yet
            de.step(site, 10.0)
            assert _faults(site.conn, "chip", 5) == 0
        de.step(site, 10.0)  # now they are, and fail the same way
        assert _faults(site.conn, "chip", 5) == 3


def test_dist_revert_runs_every_60_seconds_and_registration_reverts_stay_off(site):
    dbev.inject_faults(site.conn, random.Random(2), stage="dist", code=2, count=1, label=LABELS[0])
    with site.conn.cursor() as cur:
        cur.execute("SELECT dist_id FROM distRun WHERE state = 'new' ORDER BY dist_id LIMIT 1")
        (dist_id,), = cur.fetchall()
        cur.execute("INSERT INTO distComponent (dist_id, component, state, fault) VALUES (%s, 'XY01', 'full', 2)",
                    (dist_id,))
    before = _task(site, "distribution", "dist.revert")["nsuccess"]
    for _ in range(5):
        de.run_reverts(site, 10.0)
    assert _one(site.conn, "SELECT COUNT(*) FROM distComponent WHERE fault <> 0")[0] == 1
    de.run_reverts(site, 10.0)
    assert _one(site.conn, "SELECT COUNT(*) FROM distComponent WHERE fault <> 0")[0] == 0
    assert _task(site, "distribution", "dist.revert")["nsuccess"] == before + 1
    assert _one(site.conn, "SELECT COUNT(*) FROM distRun WHERE fault <> 0")[0] >= 1  # run faults: by hand only
    assert "register.imfile.revert" not in _active(site, "registration")


def test_a_revert_the_database_refuses_is_a_failed_job_and_the_others_still_run(site):
    dbev.inject_faults(site.conn, random.Random(3), stage="stack", code=2, count=1, label=LABELS[0])
    dbev.inject_faults(site.conn, random.Random(3), stage="chip", code=2, count=1, label=LABELS[0])
    with site.conn.cursor() as cur:  # make the faulted stack sum an input of a diff: the DELETE hits the foreign key
        cur.execute("SELECT stack_id FROM stackSumSkyfile WHERE fault = 2 LIMIT 1")
        (stack_id,), = cur.fetchall()
        cur.execute("SELECT MIN(diff_id) FROM diffRun")
        (diff_id,), = cur.fetchall()
        cur.execute("INSERT INTO diffInputSkyfile (diff_id, skycell_id, stack2) VALUES (%s, 'skycell.x', %s)",
                    (diff_id, stack_id))
    site.conn.commit()
    _switch_on_reverts(site)
    stack_before, chip_before = _task(site, "stdscience", "stack.revert"), _task(site, "stdscience", "chip.revert")
    changed, failures = de.run_reverts(site)
    assert [f.split(":")[0] for f in failures] == ["stack.revert"] and "foreign key" in failures[0]
    assert _task(site, "stdscience", "stack.revert")["nfailure"] == stack_before["nfailure"] + 1
    assert _task(site, "stdscience", "chip.revert")["nsuccess"] == chip_before["nsuccess"] + 1
    assert changed > 0 and _faults(site.conn, "chip", 2) == 0 and _faults(site.conn, "stack", 2) > 0


def test_a_stack_revert_succeeds_when_no_diff_uses_the_faulted_stack(site):
    dbev.inject_faults(site.conn, random.Random(3), stage="stack", code=2, count=1, label=LABELS[0])
    _switch_on_reverts(site)  # generated diffs use finished template stacks, never a pending one
    before = _task(site, "stdscience", "stack.revert")
    changed, failures = de.run_reverts(site)
    assert failures == [] and changed > 0 and _faults(site.conn, "stack", 2) == 0
    assert _task(site, "stdscience", "stack.revert")["nsuccess"] == before["nsuccess"] + 1


def test_manual_revert_event_runs_the_tool_with_label_and_fault(site):
    _inject_mixed_faults(site.conn)
    fours, twos = _faults(site.conn, "warp", 4), _faults(site.conn, "warp", 2)
    text = de.apply(site, "revert", {"stage": "warp", "label": LABELS[0], "fault": 4})
    assert text.startswith("warptool -revertwarped -label M31.nightlyscience -fault 4: deleted 1,")
    assert (_faults(site.conn, "warp", 4), _faults(site.conn, "warp", 2)) == (fours - 1, twos)


def _volumes(site, host):
    with site.neb.cursor() as cur:
        cur.execute("SELECT name, total, used, allocate, available FROM mountedvol WHERE host = %s", (host,))
        return cur.fetchall()


def test_disk_events_change_the_hosts_mounted_volumes(site):
    assert de.apply(site, "disk-fill", {"host": "ipp002", "fraction": 0.96}) == "1 volumes of ipp002 filled to 96%"
    assert all(0.955 < used / total <= 0.96 for _n, total, used, _a, _v in _volumes(site, "ipp002"))
    assert all(used / total < 0.9 for _n, total, used, _a, _v in _volumes(site, "ipp001"))
    de.apply(site, "df-placeholder", {"host": "ipp003"})
    assert [(t, u) for _n, t, u, _a, _v in _volumes(site, "ipp003")] == [(1, 1)]
    de.apply(site, "unmount", {"host": "ipp004"})
    assert _volumes(site, "ipp004") == ()
    de.apply(site, "neb-host", {"host": "ipp001", "state": "down"})
    assert [(a, v) for _n, _t, _u, a, v in _volumes(site, "ipp001")] == [(0, 0)]
    assert _one(site.neb, "SELECT allocate, available FROM volume WHERE host = 'ipp001'") == (0, 0)


def test_host_failure_downs_the_host_everywhere(site):
    failed_before = sum(t["nfailure"] for t in pstate.load(site.servers["stdscience"])["tasks"])
    faults_before = {stage: _faults(site.conn, stage, 2) for stage in dbev.PROCESSING_ORDER}
    text = de.apply(site, "host-failure", {"host": "ipp003", "count": 2})
    for directory in site.servers.values():
        assert [h["state"] for h in pstate.load(directory)["hosts"] if h["name"] == "ipp003"] == ["DOWN"]
    assert [v[1:] for v in _volumes(site, "ipp003")] == [(1, 1, 0, 0)]
    added = {stage: _faults(site.conn, stage, 2) - n for stage, n in faults_before.items()}
    assert f"{sum(added.values())} of its jobs faulted" in text and sum(added.values()) >= 10
    failed = sum(t["nfailure"] for t in pstate.load(site.servers["stdscience"])["tasks"]) - failed_before
    assert failed == sum(added.values()) - added["destreak"]  # destreak has no run task in stdscience


def test_stall_label_stalls_pantasks_jobs_and_db_runs_and_unstall_undoes_both(site):
    label = LABELS[0]
    new_runs = _one(site.conn, "SELECT COUNT(*) FROM chipRun WHERE label = %s AND state = 'new'", (label,))[0]
    assert new_runs > 0
    de.apply(site, "stall-label", {"label": label})
    assert pstate.load(site.servers["stdscience"])["stalled_labels"] == [label]
    assert _one(site.conn, "SELECT COUNT(*) FROM chipRun WHERE label = %s AND state = 'new' AND note = %s",
                (label, dbev.STALL_NOTE))[0] == new_runs
    assert not dbev.pending_components(site.conn, "chip", label=label)
    de.apply(site, "unstall-label", {"label": label})
    assert pstate.load(site.servers["stdscience"])["stalled_labels"] == []
    assert _one(site.conn, "SELECT COUNT(*) FROM chipRun WHERE note = %s", (dbev.STALL_NOTE,))[0] == 0


def test_summit_and_burntool_fall_behind(site):
    exps = _one(site.conn, "SELECT COUNT(*) FROM summitExp")[0]
    unburnt = _one(site.conn, "SELECT COUNT(*) FROM rawImfile WHERE burntool_state = 0")[0]
    assert de.apply(site, "summit-behind", {"count": 3}) == "3 exposures wait at the summit"
    assert _one(site.conn, "SELECT COUNT(*) FROM summitExp")[0] == exps + 3
    de.apply(site, "burntool-behind", {"count": 2})
    assert _one(site.conn, "SELECT COUNT(*) FROM rawImfile WHERE burntool_state = 0")[0] == unburnt + 2 * 4


def _busy(site, server, task) -> int:
    return sum(1 for j in pstate.load(site.servers[server])["jobs"] if j["task"] == task)


def test_a_step_moves_the_db_and_the_run_task_counters_together(site):
    for _ in range(2):  # the second step ends the DB-backed jobs the first one started
        chip_rows = _one(site.conn, "SELECT COUNT(*), COALESCE(SUM(fault <> 0), 0) FROM chipProcessedImfile")
        before = _task(site, "stdscience", "chip.imfile.run")
        expected = min(3, len(dbev.pending_components(site.conn, "chip")))
        moved = de.step(site, 10.0)
        after = _task(site, "stdscience", "chip.imfile.run")
        rows, faulted = _one(site.conn, "SELECT COUNT(*), COALESCE(SUM(fault <> 0), 0) FROM chipProcessedImfile")
        assert expected > 0 and moved["chip_components"] == expected and rows == chip_rows[0] + expected
        ended = (after["nsuccess"] - before["nsuccess"]) + (after["nfailure"] - before["nfailure"])
        assert ended == expected and after["nfailure"] - before["nfailure"] == faulted - chip_rows[1]
        assert render.nrun(after) == _busy(site, "stdscience", "chip.imfile.run")  # Njobs = ended + running
        pending = len(dbev.pending_components(site.conn, "chip"))
        assert 0 < _busy(site, "stdscience", "chip.imfile.run") <= min(pending, len(site.hosts))
        assert moved["downloaded"] > 0 and _task(site, "summitcopy", "summit_copy")["nsuccess"] > 0


def test_a_step_stops_processing_while_stdscience_hangs(site):
    sim.apply_event(site.servers["stdscience"], "hung")
    before = pstate.load(site.servers["stdscience"])["tasks"]
    moved = de.step(site, 10.0)
    assert all(moved[f"{s}_components"] == 0 for s in dbev.PROCESSING_ORDER)
    assert pstate.load(site.servers["stdscience"])["tasks"] == before
    assert moved["arrived"] == 1  # the summit does not wait for pantasks


def _all_faults(site) -> int:
    return sum(_one(site.conn, f"SELECT COUNT(*) FROM `{dbev.STAGES[s].component_table}` WHERE fault <> 0")[0]
               for s in dbev.PROCESSING_ORDER)


@pytest.mark.parametrize("name", sorted(de.SCENARIOS))
def test_each_story_moves_what_its_name_promises(site, name):
    faulted_before = _all_faults(site)
    for at in range(8):
        for when, event, params in de.SCENARIOS[name]:
            if when == at:
                de.apply(site, event, dict(params))
        de.step(site, 10.0)
    fulls = [used / total for _n, total, used, _a, _v in _volumes(site, "ipp002")]
    if name in ("quiet-night", "incident-night"):  # incident-night's story starts at step 70, after a quiet hour
        assert _task(site, "stdscience", "chip.imfile.run")["nsuccess"] > 0  # work goes on, recorded as jobs
        assert _task(site, "registration", "register.imfile.run")["nsuccess"] > 0
    elif name == "fault-storm":
        # how many of each storm land depends on the tiny site's pending work at that step; at least the
        # chip storm and the all-stage storm do, and no revert period (1800 s) passed to clear them
        assert _all_faults(site) >= faulted_before + 10
    elif name == "disk-filling":
        assert min(fulls) > 0.95
    elif name == "host-failure":
        assert [v[1:] for v in _volumes(site, "ipp003")] == [(1, 1, 0, 0)]
        hosts = pstate.load(site.servers["registration"])["hosts"]
        assert [h["state"] for h in hosts if h["name"] == "ipp003"] == ["DOWN"]
    else:
        states = {n: pstate.load(d) for n, d in site.servers.items()}
        assert states["stdscience"]["mode"] == "hung" and states["registration"]["mode"] == "down"
        assert min(render.nrun(t) for t in states["distribution"]["tasks"]) < 0
        assert states["summitcopy"]["scheduler"] != "running"
        assert _one(site.conn, "SELECT COUNT(*) FROM chipRun WHERE note = %s", (dbev.STALL_NOTE,))[0] > 0
    if name != "disk-filling":
        assert max(fulls) < 0.95


def test_a_step_leaves_stages_no_server_runs_alone_and_draws_only_the_configured_codes(site):
    """No simulated server runs destreak; a quiet night can draw only codes the revert tasks retry."""
    site.rates = replace(site.rates, fault_rate=1.0, fault_weights=((2, 1),))
    codes = "SELECT fault, COUNT(*) FROM chipProcessedImfile GROUP BY fault"
    destreak_rows = _one(site.conn, "SELECT COUNT(*) FROM magicDSFile")[0]
    with site.conn.cursor() as cur:
        cur.execute(codes)
        before = dict(cur.fetchall())
    moved = de.step(site, 10.0)
    with site.conn.cursor() as cur:
        cur.execute(codes)
        after = dict(cur.fetchall())
    assert de.IDLE_STAGES == ("destreak",) and moved["destreak_components"] == 0
    assert _one(site.conn, "SELECT COUNT(*) FROM magicDSFile")[0] == destreak_rows
    assert moved["chip_components"] > 0
    assert {code: after.get(code, 0) - before.get(code, 0) for code in after} == {
        **{code: 0 for code in after}, 2: moved["chip_components"]}


def test_revert_switch_events_run_the_czars_macro_in_the_stages_server(site):
    assert de.apply(site, "revert-off", {"stage": "chip"}) == "chip.revert.off in stdscience"
    assert "chip.revert" not in _active(site, "stdscience")
    _inject_mixed_faults(site.conn)
    chips = _faults(site.conn, "chip", 2)
    de.run_reverts(site)
    assert _faults(site.conn, "chip", 2) == chips  # nobody reverts chip now
    assert de.apply(site, "revert-on", {"stage": "stack"}) == "stack.revert.on in stdscience"
    assert de.apply(site, "revert-on", {"stage": "registration"}) == "register.revert.on in registration"
    assert {"register.imfile.revert", "register.exp.revert"} <= _active(site, "registration")
    assert "stack.revert" in _active(site, "stdscience")
    with pytest.raises(ValueError):
        de.apply(site, "revert-on", {"stage": "nope"})


def _unrevertable(conn) -> dict:
    """Outstanding faults that alerts/processing.rules.yml's unrevertable recording rule keeps, as the exporter counts."""
    from exporter.collectors.processing import FAULTS_SQL, SUMMIT_FAULT_WINDOW, SUMMIT_MAX_SQL
    from exporter.parsers.processing import parse_faults
    with conn.cursor() as cur:
        cur.execute(SUMMIT_MAX_SQL)
        cur.execute(FAULTS_SQL, {"summit_floor": (cur.fetchone()[0] or 0) - SUMMIT_FAULT_WINDOW})
        faults, _by_host, _skipped = parse_faults(cur.fetchall())
    return {key: n for key, n in faults.items() if key[0] != "summitcopy" and n
            and (key[0] == "destreak" or key[2] == "26" or (key[0] in ("warp", "stack") and key[2] != "2"))}


def test_the_czars_morning_leaves_no_fault_the_alert_rules_call_unrevertable(site):
    from ippsim.czar_morning import czar_morning
    for stage, code in (("chip", 26), ("diff", 26), ("warp", 4), ("stack", 5), ("destreak", 3)):
        de.apply(site, "fault-storm", {"stage": stage, "count": 2, "fault": code})
    before = _unrevertable(site.conn)
    assert {(stage, code) for stage, _label, code in before} >= {("chip", "26"), ("diff", "26"), ("warp", "4"),
                                                                  ("stack", "5"), ("destreak", "3")}
    done = czar_morning(site)
    assert _unrevertable(site.conn) == {}, done
    assert any("destreak components rerun by hand" in line for line in done)


def test_summitcopy_clears_common_download_faults_every_300_seconds(site):
    """pztool.clearfault (pztool -clearcommonfaults): common codes are deleted so the copy retries them; 110 stays."""
    assert "pztool.clearfault" in _active(site, "summitcopy")
    with site.conn.cursor() as cur:
        cur.execute("SELECT summit_id FROM pzDownloadImfile GROUP BY summit_id HAVING COUNT(*) >= 2 ORDER BY 1 DESC LIMIT 1")
        (summit_id,), = cur.fetchall()
        cur.execute("SELECT class_id FROM pzDownloadImfile WHERE summit_id = %s ORDER BY class_id LIMIT 2", (summit_id,))
        (first,), (second,) = cur.fetchall()
        for class_id, code in ((first, 200), (second, 110)):
            cur.execute("UPDATE pzDownloadImfile SET fault = %s, epoch = NOW() WHERE summit_id = %s AND class_id = %s",
                        (code, summit_id, class_id))
    faults = "SELECT fault FROM pzDownloadImfile WHERE summit_id = %s AND class_id IN (%s, %s) ORDER BY fault"
    de.run_reverts(site, 290.0)
    assert [row[0] for row in _rows(site.conn, faults, (summit_id, first, second))] == [110, 200]
    de.run_reverts(site, 10.0)
    assert [row[0] for row in _rows(site.conn, faults, (summit_id, first, second))] == [110]


def _rows(conn, sql, params=()):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()
