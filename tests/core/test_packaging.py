"""The product wheel ships the exporter and the action service, never the simulated site; ipp-sim ships that."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "*.pyc")


def build_wheel(source: Path, out: Path) -> zipfile.ZipFile:
    """Build one wheel from `source` with the venv's setuptools (no network) and open it."""
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(out), str(source)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    wheels = sorted(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return zipfile.ZipFile(wheels[0])


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of the sources (building writes build/ and egg-info next to them; the shared tree stays clean)."""
    copy = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, copy / name)
    for package in ("exporter", "actions", "ippsim"):
        if (ROOT / package).is_dir():
            shutil.copytree(ROOT / package, copy / package, ignore=IGNORE)
    return copy


def dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    member = next(n for n in wheel.namelist() if n.endswith(f".dist-info/{name}"))
    return wheel.read(member).decode()


def test_product_wheel_has_exporter_and_actions_but_not_the_simulator(tree, tmp_path):
    wheel = build_wheel(tree, tmp_path)
    names = wheel.namelist()
    top = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    expected = {"exporter"} | ({"actions"} if (ROOT / "actions").is_dir() else set())
    assert top == expected, top
    assert "exporter/cli.py" in names and "exporter/collectors/pantasks.py" in names
    assert not [n for n in names if n.endswith(".sql") or "ippsim" in n], "simulator files in the product wheel"
    scripts = dist_info(wheel, "entry_points.txt")
    assert "ipp-exporter = exporter.cli:main" in scripts and "ipp-sim" not in scripts


def test_simulator_wheel_has_ippsim_its_schema_and_ipp_sim(tree, tmp_path):
    wheel = build_wheel(tree / "ippsim", tmp_path)
    names = set(wheel.namelist())
    assert {"ippsim/__init__.py", "ippsim/cli.py", "ippsim/schema/gpc1.sql", "ippsim/schema/nebulous.sql"} <= names
    packages = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "ippsim").rglob("__init__.py")
                if "__pycache__" not in p.parts}
    missing = {p for p in packages if f"{p}/__init__.py" not in names}
    assert not missing, f"ippsim/pyproject.toml does not list these packages: {sorted(missing)}"
    assert not [n for n in names if n.startswith(("exporter/", "actions/"))]
    assert "ipp-sim = ippsim.cli:main" in dist_info(wheel, "entry_points.txt")
