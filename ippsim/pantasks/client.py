"""Simulated pantasks_client: reads commands on stdin and prints what the real client prints (run with -m)."""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections import deque
from pathlib import Path
from typing import Callable, TextIO

from ippsim.pantasks import state as st
from ippsim.pantasks.commands import Reply, run_command, split_words

PROMPT = "pantasks: "
WELCOME = "\nWelcome to pantasks client shell - parallel task scheduler\n\n\n"
HISTORY = ".pantasks"  # pantasks_client.c.in opihi_history: relative, so it lands in the client's working directory
HISTORY_LINES = 200    # lib.shell/startup.c stifle_history(200) before read_history
MSG_TIMEOUT = 3.0      # multicommand.c: each of the three reply messages is awaited this long
FLUSH_WAIT = 0.2       # multicommand.c: after a busy answer ONE late message is flushed, waiting this long


class ClientExit(Exception):
    """The client ends with this exit code (the real one calls exit())."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Connection:
    """The client's socket: every forwarded command is answered by three messages (STATUS n, stderr, stdout),
    sent when the server's CommandLock is free (ListenClients.c); the client reads them one at a time."""

    def __init__(self, lock_seconds: float = 0.0) -> None:
        self.inbox: deque[tuple[float, str]] = deque()
        self.lock_seconds = lock_seconds  # a macro holds the lock this long from our first command; inf = hung
        self.free_at: float | None = None  # monotonic time the lock is released
        self.answered = 0
        self.closed = False  # the server end is gone: reads see EOF at once, the next write fails with EPIPE

    def send(self, run: Callable[[], Reply]) -> None:
        """Queue the reply; the command runs now (a simplification: the real server runs it when the lock frees)."""
        if math.isinf(self.lock_seconds):
            return  # the lock is never released: no reply ever comes
        now = time.monotonic()
        if self.free_at is None:
            self.free_at = now + self.lock_seconds
        ready = max(now, self.free_at)
        reply = run()
        self.answered += 1
        self.inbox.extend((ready, text) for text in (f"STATUS {reply.status}", reply.stderr, reply.stdout))

    def expect(self, timeout: float) -> str | None:
        """ExpectMessage: the next message if it arrives within `timeout`; else wait the timeout out and give None."""
        now = time.monotonic()
        if self.inbox and self.inbox[0][0] <= now + timeout:
            time.sleep(max(0.0, self.inbox[0][0] - now))
            return self.inbox.popleft()[1]
        if not self.closed:
            time.sleep(timeout)
        return None


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
        self.conn = Connection()
        self.msg_timeout = MSG_TIMEOUT

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
        # the simulated server's busy_wait stands in for MSG_TIMEOUT (scaled down in tests), the flush with it
        self.msg_timeout = float(server.get("busy_wait", MSG_TIMEOUT))
        locked = math.inf if server.get("mode") == "hung" else float(server.get("lock_seconds") or 0.0)
        self.conn = Connection(locked)

    def _alive(self, server: dict | None) -> bool:
        """The server still holds our connection; a `die_after` server dies after answering that many commands."""
        if server is None or server.get("mode") == "down" or server.get("password") != self.config.get("PASSWORD"):
            return False
        die_after = server.get("die_after")
        if die_after is not None and self.conn.answered >= int(die_after):
            with st.modify(self.server_dir) as data:
                data["mode"] = "down"  # it stays down: the next client run is refused (exit 12)
            return False
        return True

    def forward(self, line: str) -> int:
        """multicommand.c: send one command, then read STATUS, stderr, stdout (3 s each); return the status."""
        if self.conn.closed:
            # the second write to a closed socket: SIGPIPE (pantasks_client.c.in gotsignal prints it), then EPIPE
            self.err("got signal : 13\n")
            self.err("server connection has died\n")
            raise ClientExit(32)
        if not self._alive(self._server_state()):
            self.conn.closed = True  # the write still succeeds; the read sees EOF, which is not EPIPE
            self.err("server is busy...33\n")
            self.pending = True
            return -1

        def run() -> Reply:
            with st.modify(self.server_dir) as data:
                return run_command(data, line)

        self.conn.send(run)
        status = -1  # command() returned -1 (not a client command); a STATUS message that does not parse keeps it
        for number, stream in ((33, None), (34, self.err), (35, self.out)):
            message = self.conn.expect(self.msg_timeout)
            if message is None:
                self.err(f"server is busy...{number}\n")
                self.pending = True
                return status
            if stream is None:
                match = re.match(r"STATUS (-?\d+)", message)
                status = int(match.group(1)) if match else status
            else:
                stream(message)  # out of step after a busy answer: another message lands here, printed as is
        return status

    def one(self, text: str) -> int:
        """Run one ';'-separated part: client builtins here, everything else on the server."""
        words = split_words(text)
        if not words:
            return 1
        if self.pending:
            self.conn.expect(FLUSH_WAIT * self.msg_timeout / MSG_TIMEOUT)  # reads at most ONE late message
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


def _read_history() -> list[str]:
    """read_history: the whole file is read at every start (only the last 200 lines are kept)."""
    try:
        with open(HISTORY, errors="replace") as history:
            return history.read().splitlines()[-HISTORY_LINES:]
    except OSError:
        return []


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
        open(HISTORY, "a").close()  # startup.c: fopen(history, "a") creates it in the working directory
    except OSError:
        stderr.write("can't save history.\n")
    _read_history()
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
