"""IPP / Hosts: Ganglia's replacement — node_exporter on every cluster host, with nebulous and pantasks states."""

from __future__ import annotations

from grafana import thresholds as th
from grafana.common import (
    GREEN,
    RED,
    YES_NO,
    PanelSpec,
    above,
    action_url,
    add,
    below,
    cell,
    finish,
    graph,
    grid,
    heat,
    label_variable,
    link,
    link_variables,
    merge_and_rename,
    new_dashboard,
    override,
    query,
    row,
    series_label,
    steps,
)
from grafana.site import SiteSettings

HOST = 'host=~"$host"'
LOAD = "host:node_load15:per_cpu"
MEMORY = "host:node_memory_available:ratio"
# recorded in alerts/dashboards.rules.yml: one series per host (7-day ranges stay fast)
CPU_BUSY = f"host:node_cpu_busy:ratio5m{{{HOST}}}"
FS_FREE = "host_mountpoint:node_filesystem_avail:ratio"
ROOT_FREE = f'min by (host) ({FS_FREE}{{{HOST}, mountpoint="/"}})'
NETWORK = f"host:node_network_bytes:rate5m{{{HOST}}}"
DISK_BUSY = f"host:node_disk_io_time_seconds:max_rate5m{{{HOST}}}"


def fleet_table():
    """One row per host: up, load, CPU, memory, disk, network, nebulous and controller states, excluded."""
    spec = PanelSpec("Fleet", "short", "Ganglia's overview as a table: node_exporter up, 15-minute load per CPU, "
                     "CPU busy, memory available, / free, network traffic; the host's nebulous volume states and "
                     "pantasks controller states; excluded = taken out by the czar. Click a row to drill down.",
                     24, 10, links=[link("Drill down to this host", f"/d/ipp-hosts?var-host={cell('host')}"),
                                    link("Take this host out of processing (preview)",
                                         action_url("/actions/host-out", host=cell("host")))])
    neb = ('max by (host, nebulous) (label_replace(ipp_nebulous_volume_state{%s} == 1, "nebulous", "$1", "state",'
           ' "(.*)"))') % HOST
    controller = ('max by (host, controller) (label_replace(ipp_pantasks_controller_host_state{%s} == 1, '
                  '"controller", "$1", "state", "(.*)"))') % HOST
    targets = [query(f"up{{{HOST}}}", instant=True), query(f"{LOAD}{{{HOST}}}", instant=True),
               query(CPU_BUSY, instant=True), query(f"{MEMORY}{{{HOST}}}", instant=True),
               query(ROOT_FREE, instant=True), query(NETWORK, instant=True), query(neb, instant=True),
               query(controller, instant=True), query(f"host:ipp_host_excluded:max{{{HOST}}}", instant=True)]
    names = {"Value #A": "up", "Value #B": "load/CPU", "Value #C": "CPU busy", "Value #D": "memory available",
             "Value #E": "/ free", "Value #F": "network", "Value #I": "excluded"}
    colour_cell = {"type": "color-background", "mode": "basic"}
    overrides = [override("up", {"mappings": [YES_NO], "custom.cellOptions": colour_cell,
                                 "thresholds": steps((None, RED), (1, GREEN)).build()}),
                 override("load/CPU", {"thresholds": above(th.HOST_LOAD_PER_CPU).build(),
                                       "custom.cellOptions": colour_cell}),
                 override("CPU busy", {"unit": "percentunit"}),
                 override("memory available", {"unit": "percentunit", "custom.cellOptions": colour_cell,
                                               "thresholds": below(th.HOST_MEMORY_AVAILABLE_LOW).build()}),
                 override("/ free", {"unit": "percentunit", "custom.cellOptions": colour_cell,
                                     "thresholds": below(th.HOST_FILESYSTEM_FREE_LOW).build()}),
                 override("network", {"unit": "Bps"}),
                 override("excluded", {"mappings": [YES_NO]})]
    hidden = ("Time", "Value #G", "Value #H", "__name__", "instance", "job")
    return grid(spec, *targets, transformations=merge_and_rename(names, hide=hidden), overrides=overrides)


def load_views():
    """Load heatmap across the fleet and one small panel per host."""
    heatmap = heat(PanelSpec("Load per CPU across the fleet", "short", "How many hosts sit at each 15-minute load "
                             "per CPU; a stripe above the alert threshold is an overloaded group.", 24, 8),
                   query(f"{LOAD}{{{HOST}}}", "{{host}}"))
    small = graph(PanelSpec("Load per CPU: $host", "short", "One small panel per selected host (repeats over "
                            "$host); dashed: the alert threshold.", 6, 6, thresholds=above(th.HOST_LOAD_PER_CPU)),
                  query(f"{LOAD}{{{HOST}}}", "{{host}}"), threshold_lines=True).repeat("host").max_per_row(4)
    return [heatmap, small]


def drill_down():
    """CPU, memory, filesystems, network and disk of the selected hosts."""
    return [
        graph(PanelSpec("CPU busy", "percentunit", "1 - idle, averaged over the host's CPUs (5-minute rate).", 12, 8,
                        maximum=1),
              query(CPU_BUSY, "{{host}}")),
        graph(PanelSpec("Memory available", "percentunit", "MemAvailable / MemTotal; dashed: the alert threshold.",
                        12, 8, thresholds=below(th.HOST_MEMORY_AVAILABLE_LOW), maximum=1),
              query(f"{MEMORY}{{{HOST}}}", "{{host}}"), threshold_lines=True),
        graph(PanelSpec("Free space on system filesystems", "percentunit", "/, /tmp and /var (logs, scratch); "
                        "dashed: the alert threshold.", 12, 8, thresholds=below(th.HOST_FILESYSTEM_FREE_LOW),
                        maximum=1),
              query(f"{FS_FREE}{{{HOST}}}", "{{host}} {{mountpoint}}"), threshold_lines=True),
        graph(PanelSpec("Network traffic", "Bps", "Received + transmitted bytes per second, loopback excluded "
                        "(5-minute rate).", 12, 8), query(NETWORK, "{{host}}")),
        graph(PanelSpec("Disk busy (busiest disk)", "percentunit", "Share of time the host's busiest disk had I/O "
                        "in flight (5-minute rate).", 12, 8), query(DISK_BUSY, "{{host}}")),
        grid(PanelSpec("Hosts taken out of processing", "short", "Hosts off in a pantasks controller or in repair in "
                       "nebulous; empty when every host works. Click to bring one back (previewed first).", 12, 8,
                       links=[link("Bring this host back (preview)",
                                   action_url("/actions/host-in", host=series_label("host")))]),
             query(f"host:ipp_host_excluded:max{{{HOST}}} == 1", instant=True),
             transformations=merge_and_rename({}, hide=("Time", "Value", "__name__"))),
    ]


def build(site: SiteSettings):
    """The hosts dashboard."""
    board = new_dashboard("ipp-hosts", "Hosts",
                          "Cluster hosts from node_exporter (what Ganglia showed) with their nebulous and pantasks "
                          "states; drill down with the host variable.", "now-6h",
                          [label_variable("host", "node_uname_info", title="Host"), *link_variables(site)])
    board = add(board, row("Fleet"), fleet_table(), *load_views(), row("Selected hosts"), *drill_down())
    return finish(board)
