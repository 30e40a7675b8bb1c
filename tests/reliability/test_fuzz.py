"""Hypothesis fuzzing of the pure parsers: pantasks sections, whole client runs, DB rows (bounded profile for CI).

Examples per target are set so the whole file feeds at least 20 000 inputs in about half a minute; the figure is
printed in the end-of-run summary. benchmarks/reliability.py feeds a million more.
"""

from __future__ import annotations

import os

import pytest
from fuzz_targets import ANY_CELLS, COLUMNS, INT_CELLS, TEXT_CELLS, feed, seed_texts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_report import count_fuzz

from exporter.parsers.pantasks import MARKER, SECTION_COMMANDS

SCALE = float(os.environ.get("RELIABILITY_FUZZ_SCALE", "1"))  # >1 for a longer local run
SEEDS = seed_texts()
TOKENS = sorted({token for lines in SEEDS.values() for line in lines for token in line.split()})


def profile(examples: int):
    """The bounded CI profile: no deadline (a noisy shared machine), no example database in the work tree."""
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


token = st.one_of(
    st.sampled_from(TOKENS),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["++", "+-", "-+", "--", "+", "AV", "Name", "objects", "stack", "0.0.0.1", "2024-02-29",
                     "2023-02-29", "2024-05-04-gpc1", "NULL", "(dynamic)", "\ufffd", "\u202e", '"}', "\\n"]),
    st.text(max_size=12),
)
line = st.one_of(
    st.sampled_from([line for lines in SEEDS.values() for line in lines]),
    st.lists(token, max_size=10).map(" ".join),
    st.lists(token, max_size=10).map("  ".join).map(lambda text: "pantasks: " + text),
    st.text(max_size=80),
)


def section_lines(name: str):
    """A section: real lines of that section, shuffled with generated ones."""
    return st.lists(st.one_of(st.sampled_from(SEEDS[name]), line), max_size=12)


@st.composite
def client_runs(draw) -> bytes:
    """A merged client run: banner, markers (some lost or garbled), sections, busy answers, raw byte damage."""
    parts = ["Welcome to pantasks client shell - parallel task scheduler"]
    keys = {"status": "status", "taskstats": "taskstats", "show.labels": "show.labels", "controller.status": "controller",
            "ns.show.dates": "ns.show.dates"}
    for name in SECTION_COMMANDS:
        marker = draw(st.sampled_from([f"{MARKER} {name}", f"pantasks: {MARKER} {name}", "", f"{MARKER}  {name}x"]))
        parts.append(marker)
        if draw(st.booleans()):
            parts.append("server is busy...33")
        parts += draw(section_lines(keys[name]))
    parts.append(draw(st.sampled_from([f"{MARKER} end", "", "pantasks: "])))
    data = draw(st.sampled_from(["\n", "\r\n", "\r"])).join(parts).encode("utf-8", "surrogatepass")
    damage = draw(st.lists(st.tuples(st.integers(0, max(0, len(data) - 1)), st.integers(0, 255)), max_size=4))
    blob = bytearray(data)
    for position, byte in damage:
        if blob:
            blob[position] = byte
    return bytes(blob[: draw(st.integers(0, len(blob)))]) if draw(st.booleans()) else bytes(blob)


def rows_for(target: str):
    """Rows for a DB-row target: typed columns as the query returns them, or any cells in any number."""
    columns = COLUMNS[target]
    if columns is None:
        return st.lists(st.lists(st.sampled_from(ANY_CELLS), max_size=9).map(tuple), max_size=6)
    cells = {"int": st.one_of(st.sampled_from(INT_CELLS), st.integers()),
             "text": st.one_of(st.sampled_from(TEXT_CELLS), st.text(max_size=20), st.binary(max_size=20))}
    return st.lists(st.tuples(*(cells[kind] for kind in columns)), max_size=6)


@profile(1200)
@given(client_runs())
def test_fuzz_whole_client_run_parses_and_renders(data):
    feed("client_output", data)
    count_fuzz("client_output")


@profile(5000)
@given(st.binary(max_size=2000))
def test_fuzz_client_run_of_random_bytes(data):
    feed("client_output", data)
    count_fuzz("client_output")


@pytest.mark.parametrize("target, examples", [("status", 2000), ("show.labels", 1200), ("controller", 1200),
                                              ("ns.show.dates", 1200), ("taskstats", 1200)])
def test_fuzz_pantasks_section(target, examples):
    @profile(examples)
    @given(section_lines(target))
    def run(lines):
        feed(target, lines)
        count_fuzz(target)

    run()


@pytest.mark.parametrize("target, examples", [("fault_rows", 1500), ("run_rows", 1500), ("label_rows", 1000),
                                              ("summit_totals", 800), ("masked_rows", 800), ("volume_rows", 1200),
                                              ("volume_row", 600)])
def test_fuzz_db_rows(target, examples):
    strategy = rows_for(target) if target != "volume_row" else rows_for("volume_rows").map(lambda r: r[0] if r else ())

    @profile(examples)
    @given(strategy)
    def run(rows):
        feed(target, rows)
        count_fuzz(target)

    run()
