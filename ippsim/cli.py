"""`ipp-sim`: run the simulated IPP site (demo), inject events into it, write its tools, run its client."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_RUN_DIR = "/tmp/ipp-sim"


def _params(args: argparse.Namespace) -> dict:
    out = {}
    for key in ("server", "host", "label", "stage", "state"):
        if getattr(args, key, None):
            out[key] = getattr(args, key)
    for key in ("count", "fault", "fraction", "busy_wait"):
        if getattr(args, key, None) is not None:
            out[key] = getattr(args, key)
    return out


def _speed(text: str) -> float:
    value = float(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("speed must be between 1 and 1000")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with its subcommands."""
    from ippsim.demo_events import ALL_EVENTS, SCENARIOS

    p = argparse.ArgumentParser(prog="ipp-sim", description="Simulated Pan-STARRS IPP site for the monitoring stack.",
                                epilog="Docs: docs/demo.md and docs/simulated-site.md.")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="bring up the simulated site + exporter (+ Prometheus, Alertmanager) and run it",
                       description="Start MariaDB, the pantasks servers, sshd, the exporter, the action service, "
                                   "Prometheus, Alertmanager, node_exporter and a mail sink (fresh state every run); "
                                   "advance time every --step seconds; restart a part that dies; Ctrl-C stops "
                                   "everything.")
    d.add_argument("--scenario", default="quiet-night", choices=sorted(SCENARIOS), help="story to play (default: %(default)s)")
    d.add_argument("--run-dir", default=DEFAULT_RUN_DIR, help="working directory for every part (default: %(default)s)")
    d.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")
    d.add_argument("--step", type=float, default=10.0, help="seconds between time steps (default: %(default)s)")
    d.add_argument("--speed", type=_speed, default=10.0,
                   help="time compression: a step moves the site step x speed seconds, and the demo's copies of the"
                        " alert rules divide every for: delay and window by speed; 1 = real time (default: %(default)s)")
    d.add_argument("--restart-delay", type=float, default=20.0,
                   help="seconds a killed part (MariaDB, exporter, ...) stays down before the demo restarts it"
                        " (default: %(default)s)")
    d.add_argument("--size", choices=("demo", "tiny"), default="demo", help="site size (default: %(default)s)")
    d.add_argument("--steps", type=int, default=0, help="stop after this many steps (default: run until Ctrl-C)")
    d.add_argument("--no-prometheus", action="store_true", help="do not start Prometheus and Alertmanager")
    d.add_argument("--no-ssh", action="store_true", help="reach every pantasks server locally (no sshd)")
    d.add_argument("--no-actions", action="store_true", help="do not start the action service")
    d.add_argument("--actions-port", type=int, default=8476, help="action service port (default: %(default)s)")
    d.add_argument("--exporter-port", type=int, default=8475, help="exporter port on 127.0.0.1 (default: %(default)s)")
    d.add_argument("--prometheus-port", type=int, default=9090, help="Prometheus port (default: %(default)s)")
    d.add_argument("--alertmanager-port", type=int, default=9093, help="Alertmanager port (default: %(default)s)")
    d.add_argument("--node-exporter-port", type=int, default=9100,
                   help="node_exporter port, for the host (Ganglia) rules (default: %(default)s)")

    i = sub.add_parser("inject", help="inject an event into a running demo",
                       description="Queue an event for the demo running in --run-dir; it is applied within a second.")
    i.add_argument("event", choices=ALL_EVENTS, metavar="EVENT", help="one of: " + ", ".join(ALL_EVENTS))
    i.add_argument("--run-dir", default=DEFAULT_RUN_DIR, help="the demo's run directory (default: %(default)s)")
    i.add_argument("--server", help="pantasks server (default: stdscience; host-* events: every server)")
    i.add_argument("--host", help="host for host-*, host-failure, neb-host, disk-fill, df-placeholder, unmount"
                                  " (e.g. ipp003)")
    i.add_argument("--label", help="label for stall-label / unstall-label; limits fault-storm --stage and revert to it")
    i.add_argument("--stage", help="fault-storm: chip camera fake warp stack diff destreak dist summitcopy"
                                   " (default: every stage); revert: chip camera fake warp stack diff dist"
                                   " (default chip); recurring-faults: the stage whose items keep faulting (default"
                                   " chip); revert-on / revert-off: the stage whose <stage>.revert task to switch")
    i.add_argument("--state", help="neb-host state: up, repair, down, allocate_only (default repair)")
    i.add_argument("--count", type=int, help="fault-storm / recurring-faults: components to fault; summit-behind /"
                                             " burntool-behind: exposures; host-failure: faults per stage")
    i.add_argument("--fault", type=int, help="fault-storm: fault code (default 2); recurring-faults: the code that"
                                             " comes back after every revert (default 5); revert: only this code")
    i.add_argument("--fraction", type=float, help="disk-fill: fill the host's volumes to this fraction (default 0.97)")
    i.add_argument("--busy-wait", dest="busy_wait", type=float, help="hung: seconds the client waits (default 3)")

    t = sub.add_parser("tools", help="write the simulated pantasks_client into a bin directory")
    t.add_argument("bin_dir", help="directory to write pantasks_client into")

    s = sub.add_parser("server", help="create a simulated pantasks server directory")
    s.add_argument("name", help="server: stdscience, summitcopy, registration, distribution, cleanup")
    s.add_argument("directory", help="directory to create (holds ptolemy.rc and the state file)")
    s.add_argument("--label", action="append", default=[], help="label to add (repeatable)")

    sub.add_parser("pantasks-client", help="run the simulated pantasks_client (reads commands on stdin)",
                   add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["pantasks-client"]:  # pass everything through: the client treats arguments itself
        from ippsim.pantasks.client import run
        return run(["pantasks_client", *argv[1:]])
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from ippsim.demo import DemoOptions, run_demo
        return run_demo(DemoOptions(
            run_dir=Path(args.run_dir), scenario=args.scenario, seed=args.seed, step=args.step, size=args.size,
            prometheus=not args.no_prometheus, ssh=not args.no_ssh, exporter_port=args.exporter_port,
            prometheus_port=args.prometheus_port, alertmanager_port=args.alertmanager_port,
            node_exporter_port=args.node_exporter_port, steps=args.steps, speed=args.speed,
            restart_delay=args.restart_delay, actions=not args.no_actions, actions_port=args.actions_port))
    if args.command == "inject":
        from ippsim.demo_events import queue_event
        pid_file = Path(args.run_dir) / "demo.pid"
        try:
            pid = int(pid_file.read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            print(f"no demo is running in {args.run_dir} (start one with: ipp-sim demo --run-dir {args.run_dir})",
                  file=sys.stderr)
            return 1
        path = queue_event(Path(args.run_dir), args.event, _params(args))
        print(f"queued {args.event} ({path.name}); the demo applies it within a second")
        return 0
    if args.command == "tools":
        from ippsim.pantasks.wrapper import write_client
        print(write_client(args.bin_dir))
        return 0
    if args.command == "server":
        from ippsim.pantasks.sites import create_server
        try:
            print(create_server(args.directory, args.name, labels=tuple(args.label)))
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
