"""Layering: the parsers stay pure (stdlib only, no I/O libraries, no other exporter layers)."""

import ast
import pathlib
import sys

PARSERS = pathlib.Path(__file__).resolve().parent.parent / "exporter" / "parsers"
FORBIDDEN = {"paramiko", "pymysql", "subprocess", "socket", "prometheus_client", "flask", "yaml", "requests",
             "exporter.transport", "exporter.db", "exporter.collectors", "transport", "db", "collectors"}


def imported_modules(path: pathlib.Path) -> set[str]:
    """Every module name a file imports (relative imports give their module part)."""
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return names


def test_parsers_import_only_stdlib_modules():
    files = sorted(PARSERS.glob("*.py"))
    assert files, "no parser modules found"
    for path in files:
        names = imported_modules(path)
        bad = {m for m in names if m in FORBIDDEN or m.split(".")[0] in FORBIDDEN}
        assert not bad, f"{path.name} imports {sorted(bad)}"
        outside = {m for m in names if m.split(".")[0] not in sys.stdlib_module_names
                   and m != "__future__" and not m.startswith("exporter.parsers")}
        assert not outside, f"{path.name} imports non-stdlib {sorted(outside)}"


def test_layering_check_catches_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from ..transport import Runner\nimport paramiko\n")
    assert {"transport", "paramiko"} <= imported_modules(bad)


PRODUCT = [pathlib.Path(__file__).resolve().parent.parent / name for name in ("exporter", "actions")]


def simulator_imports(path: pathlib.Path) -> set[str]:
    """The ippsim modules a file imports."""
    return {m for m in imported_modules(path) if m.split(".")[0] == "ippsim"}


def test_product_packages_never_import_the_simulator():
    files = [path for package in PRODUCT if package.is_dir() for path in sorted(package.rglob("*.py"))]
    assert any("exporter" in path.parts for path in files), "no exporter modules found"
    offenders = {str(path): sorted(simulator_imports(path)) for path in files if simulator_imports(path)}
    assert not offenders, f"the product (shipped without ippsim) imports it: {offenders}"


def test_simulator_import_check_catches_both_forms(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import ippsim.procs\nfrom ippsim.sshd import SshdServer\n")
    assert simulator_imports(bad) == {"ippsim.procs", "ippsim.sshd"}
