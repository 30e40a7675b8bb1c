"""HTTP serving: /metrics honours X-Prometheus-Scrape-Timeout-Seconds and Accept-Encoding; landing page, health."""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from exporter.collectors import Exporter
from exporter.exposition import accepts_gzip

log = logging.getLogger(__name__)

LANDING = b"""<html><head><title>IPP exporter</title></head><body><h1>IPP exporter</h1>
<p><a href="/metrics">Metrics</a></p></body></html>
"""
# Connections the kernel queues before we accept them (Python's default is 5, which drops connections when many
# scrapers arrive at once); the kernel caps it at net.core.somaxconn.
LISTEN_BACKLOG = 1024


class StartupError(Exception):
    """The server could not start (bad address, port in use); the message is one line for the operator."""


def render(exporter: Exporter, budget: float) -> bytes:
    """Return one scrape's text exposition."""
    return exporter.expose(budget).text()


def make_app(exporter: Exporter):
    """Return the WSGI application."""

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            budget = exporter.budget(environ.get("HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS"))
            exposition = exporter.expose(budget)
            headers = [("Content-Type", CONTENT_TYPE_LATEST), ("Vary", "Accept-Encoding")]
            if accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING")):
                body = exposition.gzipped()
                headers.append(("Content-Encoding", "gzip"))
            else:
                body = exposition.text()
            start_response("200 OK", headers + [("Content-Length", str(len(body)))])
            return [body]
        if path in ("/-/healthy", "/-/ready"):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"OK\n"]
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html")])
            return [LANDING]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app


class _Server(ThreadingMixIn, WSGIServer):
    """One thread per connection: a scrape mostly waits on shared fetches or copies cached bytes."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the bound address with getfqdn(), a DNS lookup that can hang start-up
        if self.allow_reuse_address:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])
        self.setup_environ()


class _V6Server(_Server):
    address_family = socket.AF_INET6


class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        log.debug("%s %s", self.address_string(), format % args)


def parse_listen_address(value: str) -> tuple[str, int]:
    """Split `host:port`, `:port` or `[v6]:port`; raise ValueError when malformed."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--web.listen-address {value!r}: expected host:port or [ipv6]:port")
    if host.startswith("[") != host.endswith("]") or (":" in host and not host.startswith("[")):
        raise ValueError(f"--web.listen-address {value!r}: write an IPv6 address in brackets, e.g. [::1]:{port}")
    if host.startswith("["):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"--web.listen-address {value!r}: {host!r} is not an IPv6 address") from None
    return host or "0.0.0.0", int(port)


def make_server(exporter: Exporter, address: str):
    """Bind the HTTP server; raise StartupError with one clear line when the address is unusable."""
    try:
        host, port = parse_listen_address(address)
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    server_class = _V6Server if ":" in host else _Server
    try:
        server = server_class((host, port), _Quiet)
    except OSError as exc:
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise StartupError(f"--web.listen-address {address}: cannot listen: {reason}") from None
    server.set_app(make_app(exporter))
    return server

