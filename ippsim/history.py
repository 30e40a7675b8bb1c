"""Rows of one exposure taken from the summit through every IPP stage, up to a given progress level."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Sequence

CAMERA = "GPC1"
TELESCOPE = "PS1"
TESS_ID = "RINGS.V3"
BURNTOOL_GOOD = 14  # BURNTOOL.STATE.GOOD for gpc1 (ipp-facts §5)

# Progress levels of an exposure (each includes everything before it).
SUMMIT, DOWNLOADING, DOWNLOADED, REGISTERED, BURNING, CHIP, CAMERA_L, FAKE, WARP, DIFF, DONE = range(11)
LEVEL_NAMES = ("summit", "downloading", "downloaded", "registered", "burning", "chip", "camera", "fake", "warp",
               "diff", "done")

# Processing fault codes (PS_EXIT_* 1-6, 26 do-not-revert, 256 crash) with relative frequencies.
FAULT_WEIGHTS = {2: 50, 4: 14, 5: 14, 3: 5, 1: 5, 6: 6, 256: 4, 26: 2}
SUMMIT_FAULT_WEIGHTS = {104: 20, 200: 30, 203: 20, 202: 10, 115: 10, 255: 10}

Emit = Callable[[str, Sequence], None]


def ota_class_ids(count: int) -> list[str]:
    """The first `count` gpc1 OTA class_ids (XY01..XY76, the 8x8 grid without its corners)."""
    corners = {"XY00", "XY07", "XY70", "XY77"}
    ids = [f"XY{x}{y}" for x in range(8) for y in range(8) if f"XY{x}{y}" not in corners]
    return ids[:max(1, min(count, len(ids)))]


def skycell_ids(first: int, count: int) -> list[str]:
    """`count` consecutive skycell names starting at index `first`."""
    return [f"skycell.{1000 + (first + k) // 100}.{(first + k) % 100:03d}" for k in range(count)]


@dataclass
class Ids:
    """Next free id of every AUTO_INCREMENT key the generator assigns itself."""

    summit: int = 1
    exp: int = 1
    chip: int = 1
    cam: int = 1
    fake: int = 1
    warp: int = 1
    stack: int = 1
    diff: int = 1
    magic: int = 1
    magic_ds: int = 1
    dist: int = 1

    def take(self, name: str) -> int:
        """Return the next id for `name` and advance it."""
        value = getattr(self, name)
        setattr(self, name, value + 1)
        return value


@dataclass
class GenContext:
    """Everything the row generator needs: sizes, fault rates, hosts, labels, random source and ids."""

    rng: random.Random
    hosts: list[str]
    n_ota: int = 60
    n_skycells: int = 20
    fault_rate: float = 0.05
    summit_fault_rate: float = 0.03
    done_fraction: float = 0.5
    ids: Ids = field(default_factory=Ids)
    # A finished stack that later diffs use as their template (stack2), as real warp-stack diffs do; a
    # pending (maybe faulted) stack is never an input, so a stack revert is not blocked by diffInputSkyfile.
    template_stack: int | None = None

    def fault(self) -> int:
        """0, or a processing fault code drawn with FAULT_WEIGHTS."""
        if self.rng.random() >= self.fault_rate:
            return 0
        return self.rng.choices(list(FAULT_WEIGHTS), weights=list(FAULT_WEIGHTS.values()))[0]

    def summit_fault(self) -> int:
        """0, or a summit-copy fault code."""
        if self.rng.random() >= self.summit_fault_rate:
            return 0
        return self.rng.choices(list(SUMMIT_FAULT_WEIGHTS), weights=list(SUMMIT_FAULT_WEIGHTS.values()))[0]

    def host(self) -> str:
        """A processing host for one component."""
        return self.rng.choice(self.hosts)


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _partial(ctx: GenContext, items: list[str], pending: bool) -> list[tuple[str, int]]:
    """Components written for a run: all (fault 0) when finished, a faulty subset while it is pending."""
    if not pending:
        return [(item, 0) for item in items]
    if len(items) == 1:  # a one-component run that is still 'new' is either waiting or has faulted
        fault = ctx.fault() if ctx.done_fraction > 0 else 0
        return [(items[0], fault)] if fault else []
    return [(item, ctx.fault()) for item in items if ctx.rng.random() < ctx.done_fraction]


def emit_exposure(emit: Emit, ctx: GenContext, *, dateobs: datetime, level: int, label: str,
                  exp_type: str = "OBJECT", finished_state: str = "full") -> int:
    """Write one exposure's rows up to `level`; finished stages get `finished_state`. Returns its summit_id."""
    rng, ids = ctx.rng, ctx.ids
    summit_id = ids.take("summit")
    exp_name = f"o{dateobs:%y%m%d}g{summit_id % 10000:04d}o"
    obs = _ts(dateobs)
    epoch = _ts(dateobs + timedelta(seconds=40))
    classes = ota_class_ids(ctx.n_ota)
    summit_fault = ctx.summit_fault() if level == SUMMIT else 0
    emit("summitExp", (summit_id, exp_name, CAMERA, TELESCOPE, obs, exp_type, f"http://summit/{exp_name}",
                       len(classes), summit_fault, epoch))
    for class_id in classes:
        emit("summitImfile", (summit_id, exp_name, CAMERA, TELESCOPE, f"{exp_name}.{class_id}.fits", 50331648,
                              "chip", class_id, f"http://summit/{exp_name}/{class_id}", epoch))
    if level < DOWNLOADING:
        return summit_id
    downloading = level == DOWNLOADING
    emit("pzDownloadExp", (summit_id, exp_name, CAMERA, TELESCOPE, "run" if downloading else "stop", epoch))
    for class_id, fault in _partial_summit(ctx, classes, downloading):
        emit("pzDownloadImfile", (summit_id, exp_name, CAMERA, TELESCOPE, "chip", class_id,
                                  f"neb://{ctx.host()}.0/{exp_name}.{class_id}.fits", fault, epoch, ctx.host(),
                                  50331648))
    if downloading:
        return summit_id
    exp_id = ids.take("exp")
    registering = level == DOWNLOADED
    workdir = f"neb://any/gpc1/{dateobs:%Y%m%d}"
    emit("newExp", (exp_id, summit_id, exp_name, CAMERA, TELESCOPE, "run" if registering else "stop", workdir,
                    "dirty", "reg", label, epoch))
    for class_id in classes:
        emit("newImfile", (exp_id, class_id, f"neb://any/{exp_name}.{class_id}.fits", epoch))
    registered = [c for c in classes if not registering or rng.random() < ctx.done_fraction]
    for class_id in registered:
        if level <= REGISTERED:
            burntool = 0
        elif level == BURNING:
            burntool = rng.choice((0, -1, BURNTOOL_GOOD))
        else:
            burntool = BURNTOOL_GOOD
        emit("rawImfile", (exp_id, exp_name, CAMERA, TELESCOPE, obs, class_id, class_id,
                           f"neb://any/{exp_name}.{class_id}.fits", "full", exp_type, "r.00000", ctx.host(), 0, 0,
                           epoch, burntool))
    if registering:
        return summit_id
    raw_state = "full" if (level > BURNING or exp_type != "OBJECT") else "new"
    emit("rawExp", (exp_id, exp_name, CAMERA, TELESCOPE, obs, exp_type, raw_state, "warp", "r.00000",
                    "3PI" if "ThreePi" in label else "MD", f"{label.split('.')[0]}", ctx.host(), 0, epoch))
    if level < CHIP or exp_type != "OBJECT":
        return summit_id
    emit_processing(emit, ctx, exp_id=exp_id, dateobs=dateobs, level=level, label=label, classes=classes,
                    finished_state=finished_state)
    return summit_id


def _partial_summit(ctx: GenContext, classes: list[str], downloading: bool) -> list[tuple[str, int]]:
    if not downloading:
        return [(c, 0) for c in classes]
    return [(c, ctx.summit_fault()) for c in classes if ctx.rng.random() < ctx.done_fraction]


def run_columns(label: str, dateobs: datetime) -> dict:
    """Shared run-level column values (label, data/dist group, reduction, workdir)."""
    return {"label": label, "data_group": f"{label}.{dateobs:%Y%m%d}", "dist_group": label.split(".")[0],
            "reduction": "DEFAULT", "workdir": f"neb://any/{label}/{dateobs:%Y%m%d}"}


def emit_processing(emit: Emit, ctx: GenContext, *, exp_id: int, dateobs: datetime, level: int, label: str,
                    classes: list[str], finished_state: str = "full") -> None:
    """chip → camera → fake → warp → stack/diff/destreak/dist rows of one registered OBJECT exposure."""
    ids, rc = ctx.ids, run_columns(label, dateobs)
    data_state = "cleaned" if finished_state == "cleaned" else "full"
    registered = _ts(dateobs + timedelta(hours=1))

    def state(stage_level: int) -> str:
        return "new" if level == stage_level else finished_state

    chip_id = ids.take("chip")
    emit("chipRun", (chip_id, exp_id, state(CHIP), rc["workdir"], label, rc["data_group"], rc["dist_group"],
                     rc["reduction"], "warp", None))
    for class_id in classes:
        emit("chipImfile", (chip_id, class_id))
    for class_id, fault in _partial(ctx, classes, level == CHIP):
        emit("chipProcessedImfile", (chip_id, exp_id, class_id, data_state, ctx.host(),
                                     f"{rc['workdir']}/{exp_id}.{class_id}", 30.0, 0, fault))
    if level == CHIP:
        return
    cam_id = ids.take("cam")
    emit("camRun", (cam_id, chip_id, state(CAMERA_L), rc["workdir"], label, rc["data_group"], rc["dist_group"],
                    rc["reduction"], "warp", None))
    for _item, fault in _partial(ctx, ["exp"], level == CAMERA_L):
        emit("camProcessedExp", (cam_id, ctx.host(), f"{rc['workdir']}/{exp_id}.cm", 60.0, 0, fault))
    if level == CAMERA_L:
        return
    fake_id = ids.take("fake")
    emit("fakeRun", (fake_id, cam_id, state(FAKE), rc["workdir"], label, rc["data_group"], rc["dist_group"],
                     rc["reduction"], "warp", registered, None))
    for class_id, fault in _partial(ctx, classes, level == FAKE):
        emit("fakeProcessedImfile", (fake_id, exp_id, class_id, ctx.host(), f"{rc['workdir']}/{exp_id}.{class_id}.fk",
                                     data_state, fault, registered))
    if level == FAKE:
        return
    emit_warp_and_later(emit, ctx, fake_id=fake_id, exp_id=exp_id, dateobs=dateobs, level=level, label=label,
                        finished_state=finished_state)


def emit_warp_and_later(emit: Emit, ctx: GenContext, *, fake_id: int, exp_id: int, dateobs: datetime, level: int,
                        label: str, finished_state: str = "full") -> None:
    """warp, then stack + diff + destreak + dist of one exposure."""
    rc = run_columns(label, dateobs)
    data_state = "cleaned" if finished_state == "cleaned" else "full"
    registered = _ts(dateobs + timedelta(hours=2))
    cells = skycell_ids(ctx.rng.randrange(0, 5000), ctx.n_skycells)
    warp_id = ctx.ids.take("warp")
    emit("warpRun", (warp_id, fake_id, "warp", "new" if level == WARP else finished_state, rc["workdir"], label,
                     rc["data_group"], rc["dist_group"], TESS_ID, rc["reduction"], "warp", registered, None))
    for cell in cells:
        emit("warpSkyCellMap", (warp_id, cell, TESS_ID, "XY33", 0))
    for cell, fault in _partial(ctx, cells, level == WARP):
        emit("warpSkyfile", (warp_id, cell, TESS_ID, f"{rc['workdir']}/{warp_id}.{cell}", data_state, ctx.host(),
                             0.9, 0, fault))
    if level == WARP:
        return
    emit_after_warp(emit, ctx, warp_id=warp_id, exp_id=exp_id, cells=cells, rc=rc, registered=registered,
                    pending=level == DIFF, finished_state=finished_state)


def emit_after_warp(emit: Emit, ctx: GenContext, *, warp_id: int, exp_id: int, cells: list[str], rc: dict,
                    registered: str, pending: bool, finished_state: str = "full") -> None:
    """stack, diff, destreak and dist runs fed by one finished warp run."""
    ids, label = ctx.ids, rc["label"]
    data_state = "cleaned" if finished_state == "cleaned" else "full"
    run_state = "new" if pending else finished_state
    stack_id = ids.take("stack")
    emit("stackRun", (stack_id, run_state, rc["workdir"], label, rc["data_group"], rc["dist_group"], rc["reduction"],
                      registered, cells[0], TESS_ID, "r.00000", None))
    emit("stackInputSkyfile", (stack_id, warp_id))
    for _item, fault in _partial(ctx, ["stack"], pending):
        emit("stackSumSkyfile", (stack_id, f"{rc['workdir']}/{stack_id}.stk", ctx.host(), 0.9, 60000.5, 0, fault))
    diff_id = ids.take("diff")
    emit("diffRun", (diff_id, run_state, rc["workdir"], label, rc["data_group"], rc["dist_group"], rc["reduction"],
                     registered, TESS_ID, 2, None))
    for cell in cells:
        emit("diffInputSkyfile", (diff_id, cell, warp_id, ctx.template_stack, TESS_ID))
    if not pending:
        ctx.template_stack = stack_id
    for cell, fault in _partial(ctx, cells, pending):
        emit("diffSkyfile", (diff_id, cell, f"{rc['workdir']}/{diff_id}.{cell}", data_state, ctx.host(), 0.8, 0,
                             fault))
    magic_id = ids.take("magic")
    emit("magicRun", (magic_id, exp_id, "full", label, registered, 0))
    magic_ds_id = ids.take("magic_ds")
    emit("magicDSRun", (magic_ds_id, magic_id, run_state, "warp", warp_id, None, label, rc["data_group"], 0, None))
    for cell, fault in _partial(ctx, cells, pending):
        emit("magicDSFile", (magic_ds_id, cell, fault, data_state))
    dist_id = ids.take("dist")
    dist_fault = ctx.fault() if pending else 0
    emit("distRun", (dist_id, 1, "warp", warp_id, label, 0, run_state, registered, dist_fault, rc["data_group"],
                     None))


def _series_codes(ctx: GenContext, count: int) -> list[int]:
    codes = list(FAULT_WEIGHTS)
    return ctx.rng.sample(codes, min(count, len(codes)))


def emit_active_workload(emit: Emit, ctx: GenContext, *, labels: Sequence[str], stages: Sequence[str], runs: int,
                         faults: int, codes_per_series: int, when: datetime) -> None:
    """`runs` pending runs spread over every (stage, label), with `faults` outstanding faulted components among
    them (each (stage, label) draws from its own `codes_per_series` codes): a real site's active work, without
    the exposures behind it (foreign keys are off in the bulk loader; nothing here follows exp_id back)."""
    pairs = [(stage, label) for stage in stages for label in labels]
    runs_per_pair = max(1, runs // len(pairs))
    multi = [s for s in stages if s in ("chip", "fake", "warp", "diff", "destreak")]
    single_faults = (len(stages) - len(multi)) * len(labels) * runs_per_pair * 0.8
    per_run = max(1, round((faults - single_faults) / max(1, len(multi) * len(labels) * runs_per_pair)))
    for stage, label in pairs:
        codes = _series_codes(ctx, codes_per_series)
        for k in range(runs_per_pair):
            update = k % 10 == 9  # one run in ten is an 'update' run with its faults in data_state 'update'
            _emit_active_run(emit, ctx, stage, label, codes, per_run if stage in multi else 1, update, when)


def _emit_active_run(emit: Emit, ctx: GenContext, stage: str, label: str, codes: list[int], n_faults: int,
                     update: bool, when: datetime) -> None:
    rc, rng = run_columns(label, when), ctx.rng
    state, data_state = ("update", "update") if update else ("new", "full")
    faulted = [rng.choice(codes) for _ in range(n_faults)] if (stage not in ("camera", "stack", "dist")
                                                               or rng.random() < 0.8) else []
    comps = [f"c{n:02d}" for n in range(len(faulted) + 1)]  # one more component, done without a fault
    fault_of = dict(zip(comps, faulted, strict=False))
    registered = _ts(when)
    if stage == "chip":
        run_id = ctx.ids.take("chip")
        emit("chipRun", (run_id, 0, state, rc["workdir"], label, rc["data_group"], rc["dist_group"], rc["reduction"],
                         "warp", None))
        for c in comps:
            emit("chipProcessedImfile", (run_id, 0, c, data_state, ctx.host(), f"{rc['workdir']}/{run_id}.{c}", 30.0, 0,
                                         fault_of.get(c, 0)))
    elif stage == "camera":
        run_id = ctx.ids.take("cam")
        emit("camRun", (run_id, 0, state, rc["workdir"], label, rc["data_group"], rc["dist_group"], rc["reduction"],
                        "warp", None))
        if faulted:
            emit("camProcessedExp", (run_id, ctx.host(), f"{rc['workdir']}/{run_id}.cm", 60.0, 0, faulted[0]))
    elif stage == "fake":
        run_id = ctx.ids.take("fake")
        emit("fakeRun", (run_id, 0, state, rc["workdir"], label, rc["data_group"], rc["dist_group"], rc["reduction"],
                         "warp", registered, None))
        for c in comps:
            emit("fakeProcessedImfile", (run_id, 0, c, ctx.host(), f"{rc['workdir']}/{run_id}.{c}.fk", data_state,
                                         fault_of.get(c, 0), registered))
    elif stage == "warp":
        run_id = ctx.ids.take("warp")
        emit("warpRun", (run_id, 0, "warp", state, rc["workdir"], label, rc["data_group"], rc["dist_group"], TESS_ID,
                         rc["reduction"], "warp", registered, None))
        for c in comps:
            emit("warpSkyfile", (run_id, c, TESS_ID, f"{rc['workdir']}/{run_id}.{c}", data_state, ctx.host(), 0.9, 0,
                                 fault_of.get(c, 0)))
    elif stage == "stack":
        run_id = ctx.ids.take("stack")
        emit("stackRun", (run_id, state, rc["workdir"], label, rc["data_group"], rc["dist_group"], rc["reduction"],
                          registered, "skycell.0000.000", TESS_ID, "r.00000", None))
        if faulted:
            emit("stackSumSkyfile", (run_id, f"{rc['workdir']}/{run_id}.stk", ctx.host(), 0.9, 60000.5, 0, faulted[0]))
    elif stage == "diff":
        run_id = ctx.ids.take("diff")
        emit("diffRun", (run_id, state, rc["workdir"], label, rc["data_group"], rc["dist_group"], rc["reduction"],
                         registered, TESS_ID, 2, None))
        for c in comps:
            emit("diffSkyfile", (run_id, c, f"{rc['workdir']}/{run_id}.{c}", data_state, ctx.host(), 0.8, 0,
                                 fault_of.get(c, 0)))
    elif stage == "destreak":
        run_id = ctx.ids.take("magic_ds")
        emit("magicDSRun", (run_id, 0, state, "warp", 0, None, label, rc["data_group"], 0, None))
        for c in comps:
            emit("magicDSFile", (run_id, c, fault_of.get(c, 0), data_state))
    elif stage == "dist":
        run_id = ctx.ids.take("dist")
        emit("distRun", (run_id, 1, "warp", 0, label, 0, "new", registered, faulted[0] if faulted else 0,
                         rc["data_group"], None))
    else:
        raise ValueError(f"no active workload for stage {stage!r}")
