"""HTTP serving: /metrics honours X-Prometheus-Scrape-Timeout-Seconds; a small landing page and health check."""

from __future__ import annotations

import logging
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from exporter.collectors import Exporter

log = logging.getLogger(__name__)

LANDING = b"""<html><head><title>IPP exporter</title></head><body><h1>IPP exporter</h1>
<p><a href="/metrics">Metrics</a></p></body></html>
"""


class _Scrape:
    """A registry-like view that generate_latest() can render for one request."""

    def __init__(self, exporter: Exporter, budget: float) -> None:
        self._exporter, self._budget = exporter, budget

    def collect(self):
        return self._exporter.scrape(self._budget)


def render(exporter: Exporter, budget: float) -> bytes:
    """Return one scrape's text exposition."""
    return generate_latest(_Scrape(exporter, budget))


def make_app(exporter: Exporter):
    """Return the WSGI application."""

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            budget = exporter.budget(environ.get("HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS"))
            body = render(exporter, budget)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
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
    daemon_threads = True
    allow_reuse_address = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        log.debug("%s %s", self.address_string(), format % args)


def parse_listen_address(value: str) -> tuple[str, int]:
    """Split `host:port`, `:port` or `[::1]:port`; raise ValueError when malformed."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--web.listen-address {value!r}: expected host:port")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def serve(exporter: Exporter, address: str, ready: threading.Event | None = None) -> None:
    """Serve until interrupted."""
    host, port = parse_listen_address(address)
    server = make_server(host, port, make_app(exporter), server_class=_Server, handler_class=_Quiet)
    log.info("listening on http://%s:%d/metrics", host, server.server_port)
    if ready:
        ready.set()
    try:
        server.serve_forever()
    finally:
        server.server_close()
