"""docs/queries.md shows every statement the DB collectors send, verbatim."""

from pathlib import Path

import pytest

import exporter.collectors.nebulous as neb
import exporter.collectors.processing as proc

DOC = Path(__file__).resolve().parents[2] / "docs" / "queries.md"


@pytest.mark.parametrize("sql", [proc.FAULTS_SQL, proc.RUNS_SQL, proc.SUMMIT_MAX_SQL, proc.SUMMIT_PROBE_SQL,
                                 proc.SUMMIT_NIGHT_SQL, proc.LABELS_SQL, neb.VOLUMES_SQL])
def test_statement_is_documented(sql):
    assert sql.strip() in DOC.read_text(), "docs/queries.md is out of date with the collector SQL"
