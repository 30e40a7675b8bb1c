"""Lint and types are part of the test command: ruff (pyflakes, import order, bugbear) and mypy, config in pyproject.toml."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What must stay clean: ruff on the whole project (its excludes are in pyproject.toml; `ruff check --fix` sorts
# imports), mypy on the two product packages (the simulator and the tests are not type-checked).
RUFF_PATHS = (".",)
MYPY_PATHS = ("exporter", "actions")


def _need_module(name: str) -> None:
    if importlib.util.find_spec(name) is None:
        # lint and types are part of the test command: a missing checker fails, in CI and anywhere else
        pytest.fail(f"{name} is not installed (pip install -e '.[test]')")


def _run(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def test_ruff_finds_nothing():
    _need_module("ruff")
    result = _run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format=concise", *RUFF_PATHS])
    assert result.returncode == 0, f"ruff check {' '.join(RUFF_PATHS)} (ruff check --fix sorts imports):\n" \
                                   f"{result.stdout}{result.stderr}"


def test_mypy_finds_nothing(tmp_path):
    _need_module("mypy")
    # a private cache: several test runs share this tree at once
    result = _run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache"), *MYPY_PATHS])
    assert result.returncode == 0, f"mypy {' '.join(MYPY_PATHS)}:\n{result.stdout}{result.stderr}"


def test_lint_config_is_in_pyproject():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    assert set(tool["ruff"]["lint"]["select"]) >= {"F", "I", "B"}
    assert tool["mypy"]["python_version"] == "3.11"


def test_exporter_ships_py_typed():
    assert (ROOT / "exporter" / "py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert any("py.typed" in patterns for patterns in package_data.values()), package_data


def test_the_checks_can_fail(tmp_path):
    _need_module("ruff")
    _need_module("mypy")
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nimport os\n\n\ndef f(x: int = 'no', items=[]) -> int:\n    return x\n")
    ruff = _run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format=concise",
                 "--config", str(ROOT / "pyproject.toml"), str(bad)])
    assert ruff.returncode != 0 and all(code in ruff.stdout for code in ("F401", "I001", "B006")), ruff.stdout
    mypy = _run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), "--config-file",
                 str(ROOT / "pyproject.toml"), str(bad)])
    assert mypy.returncode != 0 and "Incompatible default" in mypy.stdout, mypy.stdout
