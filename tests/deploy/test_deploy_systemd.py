"""deploy/systemd/*.service: systemd-analyze verify accepts them (no unknown keys, commands that exist once the
project is installed), and they run the CLI flags the programs really have."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from deploy_procs import ROOT, run
from plugins.tools import need_tool

UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
INSTALL_BIN = "/opt/ipp-monitoring/bin/"
VENV_BIN = Path(sys.executable).parent


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_verifies_the_unit_with_the_project_installed(unit, tmp_path):
    program = unit.stem  # ipp-exporter.service runs ipp-exporter
    need_tool(program, str(VENV_BIN / program))
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace(INSTALL_BIN, f"{VENV_BIN}/"))
    result = run([need_tool("systemd-analyze"), "verify", str(copy)], timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Unknown" not in output and "ignoring" not in output, output


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_the_units_check_the_config_before_starting_and_listen_on_loopback(unit):
    text = unit.read_text()
    program = INSTALL_BIN + unit.stem
    assert f"ExecStartPre={program} --config.file " in text and "--check-config" in text
    assert f"ExecStart={program} --config.file " in text and "--web.listen-address 127.0.0.1:" in text
    assert "User=" in text and "User=root" not in text


def test_the_units_flags_exist_in_the_programs():
    for unit in UNITS:
        program = need_tool(unit.stem, str(VENV_BIN / unit.stem))
        helptext = run([program, "--help"]).stdout
        for flag in ("--config.file", "--web.listen-address", "--check-config"):
            assert flag in helptext, f"{unit.stem} has no {flag}"
