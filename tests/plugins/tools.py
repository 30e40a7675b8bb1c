"""Find external tools; a missing tool FAILS under CI=true and skips only on a developer machine."""

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def need_tool(name: str, *candidates: str) -> str:
    """Return the path of tool `name` (or one of `candidates`); fail in CI, skip elsewhere, when absent."""
    for candidate in (name, *candidates):
        path = shutil.which(candidate) or (candidate if os.path.isabs(candidate) and os.access(candidate, os.X_OK) else None)
        if path:
            return path
    message = f"required tool {name!r} is not installed (the README's test command installs it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)  # only outside CI: a developer machine without the tool
