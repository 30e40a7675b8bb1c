"""Nodes of the "past one machine" setups: Alertmanager cluster members and Prometheus HA replicas started with the
committed deploy/ha/ files (only host names, ports and timing replaced)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import yaml
from deploy_procs import default_args, http_json, load_render, ports, server, wait_until
from plugins.tools import need_tool

TOKEN = "ha-test-token"  # the bearer token every webhook of these tests carries
PEER_TIMEOUT = 3.0  # --cluster.peer-timeout: how long the second node waits for the first's notification


def alertmanager_node(binary: str, tmp: Path, number: int, webhook_base: str, hosts: dict[str, str]) -> "Serving":
    """One cluster node: the shipped routing with its webhooks sent to `webhook_base` (token in tmp/token), and
    the flags of deploy/ha/alertmanager.default with `hosts` mapped; yields its base URL."""
    render = load_render()
    config = render.relocate(render.load_shipped(), webhook_base=webhook_base, token_file=str(tmp / "token"),
                             timing={"group_wait": "1s", "group_interval": "2s"})
    path = tmp / f"alertmanager{number}.yml"
    path.write_text(yaml.safe_dump(config))
    args = default_args("ha/alertmanager.default", hosts)
    args = [a for a in args if not a.startswith("--cluster.peer-timeout")] + [f"--cluster.peer-timeout={PEER_TIMEOUT}s"]
    argv = [binary, f"--config.file={path}", f"--storage.path={tmp / f'am{number}'}", *args,
            "--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=1s", "--cluster.settle-timeout=1s"]
    web = next(a for a in args if a.startswith("--web.listen-address=")).split("=", 1)[1]
    return Serving(argv, f"http://{web}", "/-/ready", tmp / f"alertmanager{number}.log")


def prometheus_replica(binary: str, tmp: Path, config: Path, replica: str, port: int) -> "Serving":
    """One replica: deploy/ha/prometheus.default's flags, PROM_REPLICA in the environment as Debian's unit sets it."""
    args = default_args("ha/prometheus.default", {"ippmon01:9090": f"127.0.0.1:{port}"})
    # resend-delay: the first evaluation can beat Alertmanager discovery; production keeps the 1m default
    argv = [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / replica}", *args,
            "--rules.alert.resend-delay=1s"]
    return Serving(argv, f"http://127.0.0.1:{port}", "/-/ready", tmp / f"prometheus-{replica}.log",
                    env={**os.environ, "PROM_REPLICA": replica})


class Serving:
    """`with` a server() that yields its base URL."""

    def __init__(self, argv, base, ready, log, env=None):
        self.base, self.context = base, server(argv, base + ready, log, env=env)

    def __enter__(self) -> str:
        self.context.__enter__()
        return self.base

    def __exit__(self, *exc_info):
        return self.context.__exit__(*exc_info)


@contextlib.contextmanager
def alertmanager_pair(binary: str, tmp: Path, webhook_bases: list[str]) -> Iterator[list[str]]:
    """Two clustered Alertmanagers (node i notifies webhook_bases[i]), ready and seeing each other; yields URLs."""
    web1, web2, gossip1, gossip2 = ports(4)
    (tmp / "token").write_text(TOKEN + "\n")
    node1 = {"ippmon01:9093": f"127.0.0.1:{web1}", "0.0.0.0:9094": f"127.0.0.1:{gossip1}",
             "ippmon02:9094": f"127.0.0.1:{gossip2}"}
    node2 = {"ippmon01:9093": f"127.0.0.1:{web2}", "0.0.0.0:9094": f"127.0.0.1:{gossip2}",
             "ippmon02:9094": f"127.0.0.1:{gossip1}"}
    with alertmanager_node(binary, tmp, 1, webhook_bases[0], node1) as am1, \
            alertmanager_node(binary, tmp, 2, webhook_bases[1], node2) as am2:
        wait_until(lambda: all(len(http_json(f"{am}/api/v2/status")["cluster"]["peers"]) == 2 for am in (am1, am2)),
                   20, "the two Alertmanagers to see each other")
        yield [am1, am2]


@contextlib.contextmanager
def victoria_metrics(tmp: Path) -> Iterator[str]:
    """Debian's victoria-metrics with the flags of deploy/victoria/victoria-metrics.default on a loopback port
    (no query latency offset, no cache, so fresh samples are answered at once); yields its base URL."""
    (port,) = ports(1)
    args = default_args("victoria/victoria-metrics.default", {"ippmon01:8428": f"127.0.0.1:{port}"})
    args = [a for a in args if not a.startswith("-storageDataPath")] + [
        f"-storageDataPath={tmp / 'victoria'}", "-search.latencyOffset=0s", "-search.disableCache"]
    url = f"http://127.0.0.1:{port}"
    with server([need_tool("victoria-metrics"), *args], f"{url}/health", tmp / "victoria.log"):
        yield url
