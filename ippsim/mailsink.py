"""A loopback SMTP sink for the demo: Alertmanager's e-mail receiver delivers here, each message becomes a file."""

from __future__ import annotations

import socketserver
import threading
import time
from pathlib import Path

_MAX_MESSAGE = 10 * 1024 * 1024  # bytes; a bigger message is refused, never buffered without bound


class _Session(socketserver.StreamRequestHandler):
    """One SMTP conversation: HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT (no TLS, no AUTH)."""

    timeout = 30.0

    def _reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode("ascii"))

    def handle(self) -> None:
        self._reply("220 ipp-sim mail sink")
        sender, recipients = "", []
        while True:
            raw = self.rfile.readline(4096)
            if not raw:
                return
            verb, _, arg = raw.decode("latin-1").strip().partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self._reply("250-ipp-sim")
                self._reply("250 8BITMIME")
            elif verb in ("HELO", "NOOP"):
                self._reply("250 ok")
            elif verb == "MAIL":
                sender, recipients = arg, []
                self._reply("250 ok")
            elif verb == "RCPT":
                recipients.append(arg)
                self._reply("250 ok")
            elif verb == "RSET":
                sender, recipients = "", []
                self._reply("250 ok")
            elif verb == "DATA":
                self._data(sender, recipients)
                sender, recipients = "", []
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 not implemented")

    def _data(self, sender: str, recipients: list[str]) -> None:
        if not recipients:
            self._reply("503 need RCPT first")
            return
        self._reply("354 end with <CRLF>.<CRLF>")
        lines, size = [], 0
        while True:
            line = self.rfile.readline(65536)
            if not line or line in (b".\r\n", b".\n"):
                break
            size += len(line)
            if size <= _MAX_MESSAGE:
                lines.append(line[1:] if line.startswith(b"..") else line)
        if size > _MAX_MESSAGE:
            self._reply("552 message too big")
            return
        self.server.sink.store(sender, recipients, b"".join(lines))  # type: ignore[attr-defined]
        self._reply("250 stored")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class MailSink:
    """SMTP on 127.0.0.1:<port> writing each message to `directory`/<n>.eml; start()/stop()."""

    def __init__(self, directory: Path, port: int = 0) -> None:
        self.directory = Path(directory)
        self._server = _Server(("127.0.0.1", port), _Session)
        self._server.sink = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._count = 0

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> "MailSink":
        self.directory.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="mail-sink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def store(self, sender: str, recipients: list[str], body: bytes) -> Path:
        """Write one message with its envelope as a header comment."""
        with self._lock:
            self._count += 1
            path = self.directory / f"{time.strftime('%Y%m%dT%H%M%S')}-{self._count:05d}.eml"
        envelope = f"X-Envelope-From: {sender}\r\nX-Envelope-To: {', '.join(recipients)}\r\n".encode("latin-1")
        path.write_bytes(envelope + body)
        return path

    def messages(self) -> list[Path]:
        """The stored messages, oldest first."""
        return sorted(self.directory.glob("*.eml"))
