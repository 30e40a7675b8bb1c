"""How pantasks_client is run: in a private working directory, never the server's, local or over SSH."""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
import threading

from exporter.config import PantasksServer

# pantasks_client appends every input line to ./.pantasks and reads the whole file at start
# (lib.shell/startup.c read_history, pantasks/client_shell.c append_history), so it never runs in the server's
# directory: it runs in a private one whose .pantasks is /dev/null, and finds the server through $PTOLEMY.
HISTORY_FILE = ".pantasks"
REMOTE_WORKDIR = ".cache/ipp-exporter/pantasks"  # relative: under the SSH login's home directory
# a fixed script: the directory, ptolemy.rc and client are positional parameters, never parsed by the shell
REMOTE_SCRIPT = ('[ -L "$1/.pantasks" ] || { mkdir -p -m 700 "$1" && ln -sfn /dev/null "$1/.pantasks"; } && '
                 'cd "$1" && PTOLEMY="$2" && export PTOLEMY && exec "$3"')


class ClientWorkdir:
    """The private local working directory of the client runs, with .pantasks pointing at /dev/null."""

    def __init__(self) -> None:
        self._path: str | None = None
        self._lock = threading.Lock()

    def path(self) -> str:
        """Create (or re-create, if removed) the directory and its /dev/null history link; return its path."""
        with self._lock:
            if self._path is None or not os.path.isdir(self._path):
                self._path = tempfile.mkdtemp(prefix="ipp-exporter-pantasks-")
            history = os.path.join(self._path, HISTORY_FILE)
            if not os.path.islink(history):
                if os.path.lexists(history):
                    os.unlink(history)
                os.symlink(os.devnull, history)
            return self._path

    def close(self) -> None:
        """Remove the directory."""
        with self._lock:
            if self._path is not None:
                shutil.rmtree(self._path, ignore_errors=True)
                self._path = None


def client_command(server: PantasksServer, workdir: ClientWorkdir,
                   remote_workdir: str = REMOTE_WORKDIR) -> tuple[list[str], str | None, dict[str, str]]:
    """argv, working directory and environment of one pantasks_client run that leaves the server's directory alone.

    Locally: the client in `workdir` with PTOLEMY set. Over SSH: the fixed REMOTE_SCRIPT, with the remote work
    directory, ptolemy.rc and client as positional parameters. Anything that runs pantasks_client (the action
    service too) should use this, or every run appends to the server directory's .pantasks."""
    if server.host:
        rc = server.ptolemy_rc or posixpath.join(server.directory, "ptolemy.rc")
        return ["sh", "-c", REMOTE_SCRIPT, "pantasks_client", remote_workdir, rc, server.client], None, {}
    rc = server.ptolemy_rc or os.path.join(server.directory, "ptolemy.rc")
    return [server.client], workdir.path(), {"PTOLEMY": rc}
