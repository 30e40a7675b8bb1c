"""Every golden exposition (one per source) passes `promtool check metrics` (issue 13: only one was checked)."""

import subprocess
from pathlib import Path

import pytest
from plugins.tools import need_tool

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SOURCES = ("pantasks", "processing", "nebulous")


def test_there_is_one_golden_per_source():
    assert sorted(p.stem for p in GOLDEN.glob("*.prom")) == sorted(SOURCES)


@pytest.mark.parametrize("source", SOURCES)
def test_golden_exposition_passes_promtool(source):
    promtool = need_tool("promtool")
    text = (GOLDEN / f"{source}.prom").read_bytes()
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    assert text.count(b"# TYPE ") >= 3
