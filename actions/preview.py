"""Read-only queries behind the pages: the rows a revert or drop would change, fault lists, the czar's board."""

from __future__ import annotations

from dataclasses import dataclass

from actions import validate as v
from actions.catalog import Plan
from actions.sql import DROP_MATCHES_SQL, FAULT_SOURCES, LABELS_SQL, PAGE, REVERT_EFFECTS, effect_sql, fault_list_sql
from exporter.collectors.processing import RUNS_SQL
from exporter.db import Database, Session
from exporter.faults_sql import SOURCES as FAULT_SOURCE_LIST
from exporter.faults_sql import faults_sql as faults_statement
from exporter.parsers import column_text as _text

ITEM_COLUMNS = ("item", "label", "run state", "fault", "host", "path / log base")


@dataclass(frozen=True)
class RowSet:
    """One group of rows: what happens to them, how many there are, and one page of them."""

    title: str
    count: int
    rows: tuple[tuple, ...]
    columns: tuple[str, ...] = ITEM_COLUMNS


def _page(session: Session, count_sql: str, page_sql: str, params: dict, page: int) -> tuple[int, tuple[tuple, ...]]:
    count = int(session.query(count_sql, params)[0][0])
    rows = session.query(page_sql, {**params, "limit": PAGE, "offset": page * PAGE}) if count else []
    return count, tuple(tuple(_text(c) for c in row) for row in rows)


def revert_rows(db: Database, plan: Plan, page: int = 0) -> list[RowSet]:
    """Per effect of the stage's revert modes: the rows it would delete or reset (the tool's own filter)."""
    p = plan.param_dict
    params = {"label": p["label"], "fault": int(p["fault"])}

    def work(session: Session) -> list[RowSet]:
        out = []
        for effect in REVERT_EFFECTS[p["stage"]]:
            count, rows = _page(session, *effect_sql(effect), params, page)
            out.append(RowSet(f"{effect.tool} {effect.mode}: {effect.verb}", count, rows))
        return out
    return db.run(work)


def drop_rows(db: Database, plan: Plan) -> list[RowSet]:
    """The labels `chiptool -updaterun -label <escaped>` matches (LIKE), with their new runs."""
    pattern = v.like_escape(plan.param_dict["label"])
    rows = db.run(lambda s: s.query(DROP_MATCHES_SQL, {"pattern": pattern}))
    matched = tuple((_text(label), int(n)) for label, n in rows)
    return [RowSet("chipRun rows in state new set to drop, by the label the LIKE pattern matches",
                   sum(n for _, n in matched), matched, ("label", "runs"))]


def fault_rows(db: Database, stage: str, label: str | None, fault: int | None, page: int = 0) -> list[RowSet]:
    """The outstanding faulted items of one stage (optionally one label and fault code), a page at a time."""
    params = {"label": label, "fault": fault}

    def work(session: Session) -> list[RowSet]:
        out = []
        for source in FAULT_SOURCES[stage]:
            count, rows = _page(session, *fault_list_sql(source, label is not None, fault is not None), params, page)
            out.append(RowSet(source.table, count, rows))
        return out
    return db.run(work)


def db_labels(db: Database) -> set[str]:
    """Every label the processing DB knows."""
    return {_text(row[0]) for row in db.run(lambda s: s.query(LABELS_SQL)) if row[0] is not None}


@dataclass(frozen=True)
class BoardCell:
    """One stage × label cell of the board: pending runs and outstanding faults by code."""

    stage: str
    label: str
    pending: int
    faults: tuple[tuple[int, int], ...]


# The exporter's own statements (index-pinned, history-free): the board counts what ipp_processing_faults and
# ipp_processing_runs count. The summit fileset branch needs a window parameter and has no label: left out.
BOARD_FAULTS_SQL = faults_statement(tuple(s for s in FAULT_SOURCE_LIST if not s.window))


def board(db: Database) -> list[BoardCell]:
    """Pending runs and outstanding faults per stage and label (what Czartool's main table showed)."""
    def work(session: Session) -> list[BoardCell]:
        pending: dict[tuple[str, str], int] = {}
        faults: dict[tuple[str, str], dict[int, int]] = {}
        for stage, label, _state, n in session.query(RUNS_SQL):
            key = (_text(stage), _text(label))
            pending[key] = pending.get(key, 0) + int(n)
        for stage, label, code, _host, n in session.query(BOARD_FAULTS_SQL):
            if code is None:  # the per-host rows of the same statement
                continue
            cell = faults.setdefault((_text(stage), _text(label)), {})
            cell[int(code)] = cell.get(int(code), 0) + int(n)
        keys = sorted(set(pending) | set(faults))
        return [BoardCell(stage, label, pending.get((stage, label), 0), tuple(sorted(faults.get((stage, label), {}).items())))
                for stage, label in keys]
    return db.run(work)
