"""Command line: ipp-actions --config.file FILE [--web.listen-address A] [--check-config] [--log.level L]."""

from __future__ import annotations

import argparse
import logging
import sys

from actions import __version__
from actions.config import load_config
from exporter.cli import configure_logging
from exporter.config import ConfigError
from exporter.http import parse_listen_address

DEFAULT_LISTEN = "127.0.0.1:8476"
EXIT_STARTUP = 1  # the config is valid but the service cannot start (port in use, audit store down)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (the exporter's flag style)."""
    p = argparse.ArgumentParser(
        prog="ipp-actions",
        description="IPP action service: Alertmanager webhook and the czar's previewed, audited actions.",
        epilog="Exit codes: 0 ok, 1 cannot start (port in use, audit store down), 2 bad config or arguments. "
               "Docs: docs/actions.md.")
    p.add_argument("--config.file", dest="config_file", default="ipp-actions.yml", metavar="FILE",
                   help="YAML config file (default: %(default)s)")
    p.add_argument("--web.listen-address", dest="listen", default=DEFAULT_LISTEN, metavar="ADDR",
                   help="address to serve on (default: %(default)s)")
    p.add_argument("--check-config", action="store_true", help="validate the config, list every problem, and exit")
    p.add_argument("--log.level", dest="log_level", default="info", choices=["debug", "info", "warn", "error"],
                   help="log level (default: %(default)s)")
    p.add_argument("--web.threads", dest="threads", type=int, default=8, help="waitress worker threads (default: 8)")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        config = load_config(args.config_file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        host, port = parse_listen_address(args.listen)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check_config:
        print(f"{args.config_file}: OK")
        return 0
    import waitress  # type: ignore[import-untyped]

    from actions.app import create_app
    from actions.audit import AuditError

    try:
        app = create_app(config)
    except AuditError as exc:  # e.g. the MariaDB audit store is down: refuse to start rather than act unaudited
        print(f"ipp-actions: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    service = app.extensions["ipp_actions"]
    try:
        server = waitress.create_server(app, host=host, port=port, threads=args.threads, ident="ipp-actions",
                                        channel_timeout=30, cleanup_interval=10)
    except OSError as exc:
        service.close()
        print(f"ipp-actions: cannot listen on {args.listen}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_STARTUP
    logging.getLogger(__name__).info("ipp-actions listening on http://%s:%d/", host, port)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        service.close()
    return 0
