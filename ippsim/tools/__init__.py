"""IPP command stand-ins (chip/cam/fake/warp/diff/stack/dist/reg/pztool, neb-host, neb-df) for the simulated site.

Run as `python -m ippsim.tools <name> <args...>`, or put `write_bin_dir(path)` on PATH to call them by name.
Database settings come from IPPSIM_* environment variables (see ippsim/tools/config.py).
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from pathlib import Path

TOOL_NAMES = ("chiptool", "camtool", "faketool", "warptool", "difftool", "stacktool", "disttool", "regtool", "pztool", "neb-host",
              "neb-df")


def run(argv: list[str]) -> int:
    """Dispatch `argv` = [tool name, args...] to its stand-in; returns the exit code."""
    if not argv or argv[0] not in TOOL_NAMES:
        sys.stderr.write(f"usage: python -m ippsim.tools <{'|'.join(TOOL_NAMES)}> [args...]\n")
        return 2
    name, args = argv[0], argv[1:]
    if name == "neb-host":
        from ippsim.tools.neb import neb_host_main
        return neb_host_main(args)
    if name == "neb-df":
        from ippsim.tools.neb import neb_df_main
        return neb_df_main(args)
    from ippsim.tools.pxtools import main
    return main(name, args)


def write_bin_dir(directory: str | os.PathLike, python: str | None = None) -> Path:
    """Write small executables named like the IPP tools that run this interpreter's stand-ins."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    interpreter = python or sys.executable
    for name in TOOL_NAMES:
        path = target / name
        # exec keeps the tool's exit code and signals; the name is a fixed allowlist entry
        path.write_text(f"#!/bin/sh\nexec {shlex.quote(interpreter)} -m ippsim.tools {shlex.quote(name)} \"$@\"\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return target
