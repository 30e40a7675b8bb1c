"""The action service's pure modules do no I/O (the brief's layering rule, as tests/test_layering.py does for parsers)."""

from __future__ import annotations

import ast
from pathlib import Path

PURE = ("validate", "webhook", "markdown", "sql")
FORBIDDEN = {"paramiko", "pymysql", "subprocess", "socket", "sqlite3", "urllib", "http", "flask", "prometheus_client",
             "exporter.transport", "exporter.db", "actions.service", "actions.execute", "actions.audit"}
ACTIONS = Path(__file__).resolve().parents[2] / "actions"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_pure_modules_import_no_io():
    for name in PURE:
        bad = {m for m in _imports(ACTIONS / f"{name}.py") if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)}
        assert not bad, f"actions/{name}.py imports {bad}"


def test_product_package_does_not_import_ippsim():
    for path in ACTIONS.glob("*.py"):
        assert not any(m.split(".")[0] == "ippsim" for m in _imports(path)), path
