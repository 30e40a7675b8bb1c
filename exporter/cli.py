"""Command line: ipp-exporter --config.file FILE [--once | --check-config] [--web.listen-address A]."""

from __future__ import annotations

import argparse
import logging
import sys

from exporter import __version__
from exporter.collectors import COLLECTOR_NAMES, Exporter
from exporter.config import ConfigError, load_config

DEFAULT_LISTEN = ":8475"  # outside Prometheus's default-port allocations (9100-9999); see README
EXIT_STARTUP = 2


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (Go-exporter style flag names)."""
    p = argparse.ArgumentParser(
        prog="ipp-exporter",
        description="Export Pan-STARRS IPP pantasks, processing-DB and nebulous state as Prometheus metrics.",
        epilog="Exit codes: 0 ok, 2 bad config or arguments, or the server could not start (one line on stderr). "
               "Docs: README.md and docs/metrics.md.",
    )
    p.add_argument("--config.file", dest="config_file", default="ipp-exporter.yml", metavar="FILE",
                   help="YAML config file (default: %(default)s)")
    p.add_argument("--web.listen-address", dest="listen", default=DEFAULT_LISTEN, metavar="ADDR",
                   help="host:port, :port or [ipv6]:port to serve /metrics on (default: %(default)s)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="print one scrape's exposition to stdout and exit 0")
    mode.add_argument("--check-config", action="store_true", help="validate the config, list every problem, and exit")
    for name in COLLECTOR_NAMES:
        p.add_argument(f"--collector.{name}", dest=f"collector_{name}", action=argparse.BooleanOptionalAction,
                       default=True, help=f"enable the {name} collector (default: on when configured)")
    p.add_argument("--log.level", dest="log_level", default="info", choices=["debug", "info", "warn", "error"],
                   help="log level (default: %(default)s)")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def configure_logging(level: str) -> None:
    """Log to stderr at a --log.level value (debug, info, warn, error); shared by the action service's CLI."""
    logging.basicConfig(level=getattr(logging, "WARNING" if level == "warn" else level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _fail(message: str) -> int:
    print(f"ipp-exporter: {message}", file=sys.stderr)
    return EXIT_STARTUP


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        config = load_config(args.config_file)
    except ConfigError as exc:
        if len(exc.problems) == 1:
            return _fail(f"{exc.source}: {exc.problems[0]}")
        print(exc, file=sys.stderr)  # several problems: every one listed, one per line, with its path
        return EXIT_STARTUP
    if args.check_config:
        print(f"{args.config_file}: OK")
        return 0
    from exporter.http import StartupError, make_server, render

    enabled = [n for n in COLLECTOR_NAMES if getattr(args, f"collector_{n}")]
    try:
        exporter = Exporter(config, enabled)
    except (OSError, ValueError) as exc:  # building collectors does no I/O; this is a config the checks missed
        return _fail(f"cannot set up the collectors: {exc}")
    try:
        if args.once:
            sys.stdout.write(render(exporter, exporter.budget(None)).decode())
            sys.stdout.flush()
            return 0
        try:
            server = make_server(exporter, args.listen)
        except StartupError as exc:
            return _fail(str(exc))
        logging.getLogger("exporter").info("listening on %s (/metrics)", args.listen)
        try:
            server.serve_forever()
        finally:
            server.server_close()
    except KeyboardInterrupt:
        return 0
    finally:
        exporter.close()
    return 0
