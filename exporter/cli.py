"""Command line: ipp-exporter --config.file FILE [--once | --check-config] [--web.listen-address A]."""

from __future__ import annotations

import argparse
import logging
import sys

from exporter import __version__
from exporter.collectors import COLLECTOR_NAMES, Exporter
from exporter.config import ConfigError, load_config

DEFAULT_LISTEN = ":8475"  # outside Prometheus's default-port allocations (9100-9999); see README


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (Go-exporter style flag names)."""
    p = argparse.ArgumentParser(
        prog="ipp-exporter",
        description="Export Pan-STARRS IPP pantasks, processing-DB and nebulous state as Prometheus metrics.",
        epilog="Exit codes: 0 ok, 2 bad config or arguments. Docs: README.md and docs/metrics.md.",
    )
    p.add_argument("--config.file", dest="config_file", default="ipp-exporter.yml", metavar="FILE",
                   help="YAML config file (default: %(default)s)")
    p.add_argument("--web.listen-address", dest="listen", default=DEFAULT_LISTEN, metavar="ADDR",
                   help="address to serve /metrics on (default: %(default)s)")
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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, "WARNING" if args.log_level == "warn" else args.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        config = load_config(args.config_file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.check_config:
        print(f"{args.config_file}: OK")
        return 0
    from exporter.http import parse_listen_address, render, serve

    enabled = [n for n in COLLECTOR_NAMES if getattr(args, f"collector_{n}")]
    if not args.once:
        try:
            parse_listen_address(args.listen)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
    exporter = Exporter(config, enabled)
    try:
        if args.once:
            sys.stdout.write(render(exporter, exporter.budget(None)).decode())
            sys.stdout.flush()
            return 0
        serve(exporter, args.listen)
    except KeyboardInterrupt:
        return 0
    finally:
        exporter.close()
    return 0
