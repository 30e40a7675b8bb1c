"""The Dockerfile: lints clean (hadolint), builds from a context .dockerignore keeps small, runs as non-root,
and the wheel it installs really carries both console scripts (built here from the same context)."""

from __future__ import annotations

import fnmatch
import shutil
import sys
import tomllib
import zipfile
from pathlib import Path

from deploy_procs import ROOT, run
from dockerfile_parse import DockerfileParser
from plugins.tools import need_tool

DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SCRIPTS = {"ipp-exporter", "ipp-actions"}


def instructions() -> list[dict]:
    """The Dockerfile's instructions as parsed by dockerfile-parse."""
    parser = DockerfileParser(path=str(DOCKERFILE))
    return parser.structure


def final_stage() -> list[dict]:
    """Instructions of the last build stage (the image that runs)."""
    found = instructions()
    last_from = max(i for i, ins in enumerate(found) if ins["instruction"] == "FROM")
    return found[last_from:]


def ignore_patterns() -> list[str]:
    """Non-comment lines of .dockerignore, in order."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def in_build_context(relative: str) -> bool:
    """Whether .dockerignore lets `relative` into the build context (last matching pattern wins, `!` re-includes)."""
    parts = relative.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]  # a matched directory takes its contents
    included = True
    for pattern in ignore_patterns():
        body = pattern.removeprefix("!").rstrip("/")
        if body.startswith("**/"):  # any depth: compare path components
            matched = any(fnmatch.fnmatch(part, body[3:]) for part in parts)
        else:
            matched = any(fnmatch.fnmatch(candidate, body) for candidate in candidates)
        if matched:
            included = pattern.startswith("!")
    return included


def test_hadolint_finds_nothing():
    binary = need_tool("hadolint", str(Path(sys.executable).with_name("hadolint")))
    result = run([binary, "--no-color", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_build_wheels_then_installs_them_without_an_index():
    froms = [ins for ins in instructions() if ins["instruction"] == "FROM"]
    assert len(froms) >= 2 and " AS build" in froms[0]["value"]
    runs = " ".join(ins["value"] for ins in final_stage() if ins["instruction"] == "RUN")
    assert "pip install" in runs and "--no-index" in runs
    assert any(ins["instruction"] == "COPY" and ins["value"].startswith("--from=build") for ins in final_stage())


def test_the_image_runs_as_a_non_root_user_and_exposes_both_ports():
    users = [ins["value"] for ins in final_stage() if ins["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    exposed = {p for ins in final_stage() if ins["instruction"] == "EXPOSE" for p in ins["value"].split()}
    assert {"8475", "8476"} <= exposed
    assert any(ins["instruction"] == "HEALTHCHECK" for ins in final_stage())


def test_every_console_script_the_image_and_compose_call_is_declared():
    declared = set(PYPROJECT["project"]["scripts"])
    text = DOCKERFILE.read_text() + (ROOT / "docker-compose.yml").read_text()
    used = {name for name in SCRIPTS if name in text}
    assert used == SCRIPTS and used <= declared, f"pyproject.toml [project.scripts] lacks {used - declared}"


def test_copy_sources_exist_in_the_build_context():
    for ins in instructions():
        if ins["instruction"] in {"COPY", "ADD"} and not ins["value"].startswith("--from="):
            for source in ins["value"].split()[:-1]:
                assert (ROOT / source).exists(), source


def test_dockerignore_lets_in_the_packages_and_keeps_out_the_rest():
    packages = [p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]]
    for needed in ["pyproject.toml", "README.md", *(f"{p}/__init__.py" for p in packages)]:
        assert in_build_context(needed), f"{needed} is excluded by .dockerignore"
    for unwanted in [".venv/bin/python", ".git/HEAD", "tests/conftest.py", "secrets/webhook.token",
                     "exporter/__pycache__/cli.cpython-311.pyc", "deploy/secrets.example/webhook.token"]:
        assert not in_build_context(unwanted), f"{unwanted} would be sent to the Docker daemon"


def test_the_wheel_built_from_the_docker_context_has_both_services(tmp_path):
    context = tmp_path / "context"
    for path in ROOT.rglob("*"):
        relative = path.relative_to(ROOT).as_posix()
        if path.is_file() and in_build_context(relative):
            (context / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, context / relative)
    result = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                  "--wheel-dir", str(tmp_path / "wheels"), str(context)], timeout=180)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (wheel,) = (tmp_path / "wheels").glob("ipp_monitoring-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "exporter/cli.py" in names and "actions/__init__.py" in names
    packages = [p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]]
    tracked = run(["git", "ls-files", *packages], cwd=ROOT).stdout.split()
    missing = [path for path in tracked if path not in names and "/tests/" not in path]
    assert tracked and not missing, f"package files the installed image would lack: {missing}"
    for script in SCRIPTS:
        assert f"{script} = " in entry_points, f"the wheel has no {script} console script"
