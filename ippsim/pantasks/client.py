"""Simulated pantasks_client: reads commands on stdin and prints what the real client prints (run with -m)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TextIO

from ippsim.pantasks import state as st
from ippsim.pantasks.commands import run_command, split_words

PROMPT = "pantasks: "
WELCOME = "\nWelcome to pantasks client shell - parallel task scheduler\n\n\n"
HISTORY = ".pantasks"
FLUSH_WAIT = 0.2  # multicommand.c: a late reply is flushed with a 0.2 s wait before the next command


class ClientExit(Exception):
    """The client ends with this exit code (the real one calls exit())."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _config_args(argv: list[str]) -> tuple[list[str], str | None, dict[str, str]]:
    """ConfigInit: remove `-c file` and `-D KEY value` from the arguments."""
    rest, rcfile, overrides, i = [argv[0]], None, {}, 1
    while i < len(argv):
        if argv[i] == "-c" and i + 1 < len(argv):
            rcfile, i = argv[i + 1], i + 2
        elif argv[i] == "-D" and i + 2 < len(argv):
            overrides[argv[i + 1]], i = argv[i + 2], i + 3
        else:
            rest.append(argv[i])
            i += 1
    return rest, rcfile, overrides


def find_rc(rcfile: str | None) -> Path | None:
    """ptolemy.rc search order: -c file, $PTOLEMY, ./ptolemy.rc, ~/.ptolemyrc."""
    candidates = [rcfile, os.environ.get("PTOLEMY"), st.RC_FILE, os.path.expanduser("~/.ptolemyrc")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate).resolve()
    return None


class Client:
    """One client session: the connection check, then the read-eval loop over stdin."""

    def __init__(self, rc_path: Path | None, config: dict[str, str], stdin: TextIO, stdout: TextIO,
                 stderr: TextIO) -> None:
        self.config, self.stdin, self.stdout, self.stderr = config, stdin, stdout, stderr
        self.server_dir = Path(config.get("SIM_STATE_DIR") or (rc_path.parent if rc_path else "."))
        self.pending = False

    def out(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def err(self, text: str) -> None:
        self.stderr.write(text)
        self.stderr.flush()

    def _server_state(self) -> dict | None:
        try:
            return st.load(self.server_dir)
        except st.StateError:
            return None

    def connect(self) -> None:
        """multicommand_InitServer: needs PANTASKS_SERVER; every port refused (server down) exits 12."""
        if not self.config.get("PANTASKS_SERVER"):
            self.err("pantasks server host undefined\n")
            raise ClientExit(31)
        ports = self.config.get("PANTASKS_SERVER_PORT", "")
        if ports and not ports.split(":")[0].isdigit():
            self.err(f"error in port range ({ports}), must be in form NN:MM or NN\n")
            raise ClientExit(20)
        server = self._server_state()
        if server is None or server.get("mode") == "down":
            raise ClientExit(12)  # exit(12) without a message once the last port refused

    def forward(self, line: str) -> int:
        """Send one command to the server and print its stderr, then its stdout; return STATUS."""
        server = self._server_state()
        if server is None or server.get("mode") == "down" or server.get("password") != self.config.get("PASSWORD"):
            self.err("server connection has died\n")
            raise ClientExit(33)
        if server.get("mode") == "hung":
            time.sleep(float(server.get("busy_wait", st.DEFAULT_BUSY_WAIT)))
            self.err("server is busy...33\n")
            self.pending = True
            return -1  # the status of the unsent-reply path: not FALSE, so auto_break does not fire
        with st.modify(self.server_dir) as data:
            reply = run_command(data, line)
        self.err(reply.stderr)
        self.out(reply.stdout)
        return reply.status

    def one(self, text: str) -> int:
        """Run one ';'-separated part: client builtins here, everything else on the server."""
        words = split_words(text)
        if not words:
            return 1
        if self.pending:
            server = self._server_state() or {}
            time.sleep(min(FLUSH_WAIT, float(server.get("busy_wait", FLUSH_WAIT))))
            self.pending = False
        if words[0] == "echo":
            self.out(" ".join(words[1:]) + "\n")
            return 1
        if words[0] in ("quit", "exit"):
            raise ClientExit(int(words[1]) if len(words) > 1 and words[1].isdigit() else 0)
        if words[0] == "server":
            return self.forward(" ".join(words[1:])) if len(words) > 1 else 0
        return self.forward(text)

    def multicommand(self, line: str) -> None:
        """Split at ';' and run each part; after a failed part the rest of the line is skipped (auto_break)."""
        for part in line.split(";"):
            part = part.strip()
            if part and self.one(part) == 0:
                break

    def loop(self) -> None:
        """Read lines like readline on a non-tty: prompt, echo of the line, newline; EOF exits 2."""
        while True:
            self.out(PROMPT)
            raw = self.stdin.readline()
            if raw == "":
                if os.getppid() == 1:
                    self.err("caught parent shutdown\n")
                raise ClientExit(2)
            line = raw.rstrip("\n")
            self.out(line + "\n")
            line = line.strip()
            if line:
                self.multicommand(line)
                _append_history(line)


def _append_history(line: str) -> None:
    try:
        with open(HISTORY, "a") as history:
            history.write(line + "\n")
    except OSError:
        pass


def run(argv: list[str], stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    """The whole client; returns the exit code."""
    args, rcfile, overrides = _config_args(argv)
    rc_path = find_rc(rcfile)
    config: dict[str, str] = {}
    if rc_path is None:
        stderr.write("can't find config file. some functions will be unavailable\n")
    else:
        config = st.read_rc(rc_path)
    config.update(overrides)
    try:
        open(HISTORY, "a").close()
    except OSError:
        stderr.write("can't save history.\n")
    if len(args) > 1:
        return 41  # the first argument is a local script to 'input'; the client then exits without connecting
    client = Client(rc_path, config, stdin, stdout, stderr)
    try:
        client.out(WELCOME)
        client.connect()
        client.loop()
    except ClientExit as done:
        stdout.flush()
        return done.code
    except BrokenPipeError:
        return 32
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m ippsim.pantasks.client` and the generated pantasks_client wrapper."""
    return run(list(sys.argv if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
