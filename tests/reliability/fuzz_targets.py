"""The parsers under fuzz and what each must hold for any input; shared by the hypothesis tests and the benchmark.

Every target takes one input and returns normally; a parser may only refuse input the way its docstring says
(counted errors, skipped rows, or the one typed exception listed in TYPED). Anything else is a bug.
"""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from exporter.collectors.pantasks import METRICS as PANTASKS_METRICS
from exporter.collectors.pantasks import add_report
from exporter.metrics import Families
from exporter.parsers import nebulous, processing
from exporter.parsers.pantasks import (
    MARKER,
    parse_client_output,
    parse_controller_status,
    parse_labels,
    parse_ns_show_dates,
    parse_status,
    parse_taskstats,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pantasks"
# The only exceptions a target may let out: parse_volume refuses a malformed row (parse_volumes counts it).
TYPED: dict[str, tuple[type[BaseException], ...]] = {"volume_row": (ValueError, TypeError)}


class _Static:
    def __init__(self, families) -> None:
        self._families = families

    def collect(self):
        return self._families


def check_client_output(data: bytes) -> None:
    """A whole client run: parse, map onto families and render the exposition (hostile label values included)."""
    report = parse_client_output(data)
    assert report.errors >= 0
    fams = Families(PANTASKS_METRICS)
    add_report(fams, "fuzz", report)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Static(fams.families()))
    generate_latest(registry)


def check_status(lines: list[str]) -> None:
    """`status` section."""
    report = parse_status(lines)
    assert report.errors >= 0
    assert len({t.name for t in report.tasks}) == len(report.tasks)


def check_labels(lines: list[str]) -> None:
    """`show.labels` section: every label is one non-blank token."""
    for label in parse_labels(lines).labels:
        assert label and len(label.split()) == 1


def check_controller(lines: list[str]) -> None:
    """`controller status` section: host states come from the known set."""
    from exporter.parsers.pantasks import HOST_STATES
    for host in parse_controller_status(lines).hosts:
        assert host.state in HOST_STATES


def check_taskstats(lines: list[str]) -> None:
    """`status -taskstats` section."""
    assert parse_taskstats(lines).errors >= 0


def check_ns_dates(lines: list[str]) -> None:
    """`ns.show.dates` section: every page has a real date (its timestamp is computable)."""
    report = parse_ns_show_dates(lines)
    for page in report.newest().values():
        page.timestamp  # noqa: B018 - must not raise for a parsed page


def check_fault_rows(rows: list) -> None:
    """Fault rows (stage, label, fault, host, count): buckets stay in the bounded set."""
    faults, by_host, skipped = processing.parse_faults(rows)
    assert skipped >= 0
    for stage, _label, bucket in faults:
        assert bucket in processing.fault_buckets(stage)


def check_run_rows(rows: list) -> None:
    """Run rows (stage, label, state, count): states stay in the bounded set."""
    runs, _skipped = processing.parse_runs(rows)
    for stage, _label, state in runs:
        assert state in processing.run_states(stage)


def check_label_rows(rows: list) -> None:
    """Label-table rows (label, priority, active)."""
    processing.parse_label_priorities(rows)


def check_summit_totals(rows: list) -> None:
    """The night query's one row → every summit status present, never negative."""
    for row in rows:
        counts, burning = processing.parse_summit_totals(row)
        assert set(counts) == set(processing.SUMMIT_STATUSES) and isinstance(burning, int)


def check_masked_rows(rows: list) -> None:
    """chipMask rows (label, held-back runs)."""
    processing.parse_masked(rows)


def check_volume_rows(rows: list) -> None:
    """Volume rows: malformed ones are skipped and counted, never raised."""
    volumes, skipped = nebulous.parse_volumes(rows)
    assert len(volumes) + skipped == len(rows)
    for volume in volumes:
        assert volume.state in nebulous.VOLUME_STATES


def check_volume_row(row: tuple) -> None:
    """One volume row: a Volume or the documented ValueError."""
    nebulous.parse_volume(row)


TARGETS = {
    "client_output": check_client_output, "status": check_status, "taskstats": check_taskstats,
    "show.labels": check_labels, "controller": check_controller, "ns.show.dates": check_ns_dates,
    "fault_rows": check_fault_rows, "run_rows": check_run_rows, "label_rows": check_label_rows,
    "summit_totals": check_summit_totals, "masked_rows": check_masked_rows, "volume_rows": check_volume_rows,
    "volume_row": check_volume_row,
}


def feed(target: str, value) -> None:
    """Run one target on one input, letting through only its typed exceptions."""
    try:
        TARGETS[target](value)
    except TYPED.get(target, ()):
        pass


# ---- a fast mutation fuzzer (the benchmark's million inputs; hypothesis drives the CI tests) ----

def seed_texts() -> dict[str, list[str]]:
    """Real-format samples per section, from the fixture files."""
    def lines(*names: str) -> list[str]:
        return [line for n in names for line in (FIXTURES / n).read_bytes().decode("utf-8", "replace").splitlines()]
    return {
        "status": lines("status.stdscience.txt", "status.overflow.txt", "status.negative-counts.txt",
                        "status.long-names.txt", "status.truncated.txt", "status.empty.txt"),
        "show.labels": lines("show.labels.stdscience.txt", "show.labels.none.txt"),
        "controller": lines("controller-status.hosts.txt", "controller-status.inactive.txt"),
        "ns.show.dates": lines("ns.show.dates.current.txt", "ns.show.dates.old.txt"),
        "taskstats": lines("status.taskstats.stdscience.txt", "status.taskstats.reset.txt", "status.taskstats.empty.txt"),
    }


_NOISE = ["", " ", "\t", "-1", "0", "99999999999999999999", "++", "+-", "BUSY", "DOWN", "2024-02-30", "2024-05-04",
          "2024-05-04-gpc1", "server is busy...33", "pantasks: ", "\ufffd", "\x00", "é", "\u202e", 'x"}\n', "\\",
          "Task Status", "Jobs in Pantasks Queue", "host stack ALLHOSTS:  6 objects", "no defined tasks",
          "controller is not active", "Scheduler is running", f"{MARKER} status", "0.0.0.1", "AV Name"]


def mutate_line(line: str, rng: random.Random) -> str:
    """One small random change to a line: a token replaced, dropped, duplicated or swapped, bytes garbled."""
    tokens = line.split(" ")
    choice = rng.randrange(7)
    i = rng.randrange(len(tokens))
    if choice == 0:
        tokens[i] = rng.choice(_NOISE)
    elif choice == 1 and len(tokens) > 1:
        del tokens[i]
    elif choice == 2:
        tokens.insert(i, tokens[i])
    elif choice == 3:
        j = rng.randrange(len(tokens))
        tokens[i], tokens[j] = tokens[j], tokens[i]
    elif choice == 4:
        return line[: rng.randrange(len(line) + 1)]
    elif choice == 5:
        chars = list(line) or [" "]
        chars[rng.randrange(len(chars))] = chr(rng.choice((0, 7, 0xA0, 0xFFFD, 0x1F600, rng.randrange(32, 0x3000))))
        return "".join(chars)
    else:
        tokens[i] = tokens[i] * rng.randrange(2, 40)
    return " ".join(tokens)


def mutate_lines(lines: list[str], rng: random.Random) -> list[str]:
    """A section with a few lines mutated, dropped, duplicated or shuffled."""
    out = list(lines)
    for _ in range(rng.randrange(1, 4)):
        if not out:
            out.append(rng.choice(_NOISE))
            continue
        i = rng.randrange(len(out))
        action = rng.randrange(4)
        if action == 0:
            out[i] = mutate_line(out[i], rng)
        elif action == 1:
            del out[i]
        elif action == 2:
            out.insert(i, out[i])
        else:
            out.insert(i, rng.choice(_NOISE))
    return out


def client_output(sections: dict[str, list[str]], rng: random.Random) -> bytes:
    """A merged client run built from (mutated) sections, with markers sometimes missing, repeated or garbled."""
    parts = ["", "Welcome to pantasks client shell - parallel task scheduler", ""]
    names = {"status": "status", "taskstats": "taskstats", "show.labels": "show.labels",
             "controller": "controller.status", "ns.show.dates": "ns.show.dates"}
    for key, name in names.items():
        if rng.random() < 0.9:
            parts.append(f"pantasks: {MARKER} {name}")
        parts += mutate_lines(sections[key], rng) if rng.random() < 0.7 else sections[key]
    if rng.random() < 0.8:
        parts.append(f"{MARKER} end")
    data = "\n".join(parts).encode("utf-8", "surrogatepass")
    if rng.random() < 0.2:  # raw byte damage: non-UTF-8, NULs, a cut in the middle of a character
        blob = bytearray(data)
        for _ in range(rng.randrange(1, 8)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        data = bytes(blob[: rng.randrange(len(blob) + 1)]) if rng.random() < 0.3 else bytes(blob)
    return data


INT_CELLS = [None, 0, 1, 2, -1, 14, -14, 26, 256, 2**63, -(2**63), Decimal("3"), Decimal("0")]
TEXT_CELLS = [None, "", "chip", "warp", "dist", "summitcopy", "registration", "new", "update", "run", "wait", "stop",
              "OBJECT", "c123", "L", "ps_ud_%' OR 1=1 --", 'x"}\n1', "\ufffd\u202e", b"\xff\xfe", b"chip", "x" * 300]
# values PyMySQL can hand back for some column type (DOUBLE, DECIMAL, DATETIME, BIT...)
ANY_CELLS = INT_CELLS + TEXT_CELLS + [3.5, -0.0, True, Decimal("2.5"), "12", datetime(2025, 5, 2), b"\x01"]
# per target: the column types of the query behind it; None = any value in any number of columns (the parser
# checks every cell itself)
COLUMNS: dict[str, tuple[str, ...] | None] = {
    "fault_rows": None, "run_rows": None, "volume_rows": None, "volume_row": None,
    "label_rows": ("text", "int", "int"),
    "summit_totals": ("int",) * 6, "masked_rows": ("text", "int"),
}
_CELLS = {"int": INT_CELLS, "text": TEXT_CELLS}


def db_rows(target: str, rng: random.Random) -> list[tuple]:
    """Rows a DB driver could return for the target's query (typed columns), or anything at all (untyped)."""
    columns = COLUMNS[target]
    rows = []
    for _ in range(rng.randrange(0, 6)):
        if columns is None:
            rows.append(tuple(rng.choice(ANY_CELLS) for _ in range(rng.choice((0, 3, 4, 5, 6, 7, 7, 7, 8)))))
        else:
            rows.append(tuple(rng.choice(_CELLS[kind]) for kind in columns))
    return rows


def random_input(target: str, seeds: dict[str, list[str]], rng: random.Random):
    """One mutated input for `target`."""
    if target == "client_output":
        return client_output(seeds, rng)
    if target in seeds:
        return mutate_lines(seeds[target], rng)
    if target == "volume_row":
        return next(iter(db_rows(target, rng)), ())
    return db_rows(target, rng)
