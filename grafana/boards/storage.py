"""IPP / Storage: neb-df's replacement — nebulous volumes, their states and space, cluster totals, forecasts."""

from __future__ import annotations

from grafana import thresholds as th
from grafana.common import (
    GREEN,
    ORANGE,
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
    label_variable,
    link,
    link_variables,
    merge_and_rename,
    new_dashboard,
    override,
    query,
    row,
    series_label,
    single,
    steps,
    value_text,
)
from grafana.site import SiteSettings

VOL = 'host=~"$host", volume=~"$volume"'
USED_RATIO = "host_volume:ipp_nebulous_volume_used:ratio"
REAL_DF = "and on (host, volume) ipp_nebulous_volume_df_ok == 1"
# seconds until full at the rate of the last 6 hours (recorded in alerts/dashboards.rules.yml); +Inf when the
# volume is not filling
TIME_TO_FULL = ("(ipp_nebulous_volume_size_bytes{%s} - ipp_nebulous_volume_used_bytes{%s})"
                " / clamp_min(host_volume:ipp_nebulous_volume_used_bytes:deriv6h{%s}, 0) %s") % (VOL, VOL, VOL, REAL_DF)
STATE_COLOURS = value_text({"up": ("up", GREEN), "allocate_only": ("allocate only", ORANGE),
                            "repair": ("repair", ORANGE), "down": ("down", RED)})


def volume_table():
    """One row per volume: size, used, % used, state, df_ok, mounted, forecast time to full."""
    spec = PanelSpec("Volumes (neb-df)", "bytes", "What `neb-df` lists per volume, plus its nebulous state (up: "
                     "allocate and available; repair: available only; down: neither; allocate_only), whether df "
                     "figures are real (df_ok 0: nebdiskd's total=1/used=1 placeholder) and the time to full at "
                     "the last 6 hours' rate. Click a row to drill down.", 24, 12,
                     links=[link("Drill down to this volume",
                                 f"/d/ipp-storage?var-host={cell('host')}&var-volume={cell('volume')}"),
                            link("Bring this host back into processing (preview)",
                                 action_url("/actions/host-in", host=cell("host")))])
    targets = [query(f"ipp_nebulous_volume_size_bytes{{{VOL}}}", instant=True),
               query(f"ipp_nebulous_volume_used_bytes{{{VOL}}}", instant=True),
               query(f"{USED_RATIO}{{{VOL}}}", instant=True),
               query(f"max by (host, volume, state) (ipp_nebulous_volume_state{{{VOL}}} == 1)", instant=True),
               query(f"ipp_nebulous_volume_df_ok{{{VOL}}}", instant=True),
               query(f"ipp_nebulous_volume_mounted{{{VOL}}}", instant=True),
               query(TIME_TO_FULL, instant=True)]
    names = {"Value #A": "size", "Value #B": "used", "Value #C": "% used", "Value #E": "df ok",
             "Value #F": "mounted", "Value #G": "time to full"}
    colour_cell = {"type": "color-background", "mode": "basic"}
    overrides = [override("% used", {"unit": "percentunit", "thresholds": above(th.VOLUME_FULL).build(),
                                     "custom.cellOptions": colour_cell}),
                 override("state", {"mappings": [STATE_COLOURS], "custom.cellOptions": colour_cell}),
                 override("df ok", {"unit": "bool_yes_no", "mappings": [YES_NO]}),
                 override("mounted", {"unit": "bool_yes_no", "mappings": [YES_NO]}),
                 override("time to full", {"unit": "s", "decimals": 0})]
    return grid(spec, *targets, transformations=merge_and_rename(names, hide=("Time", "Value #D", "__name__")),
                overrides=overrides)


def totals():
    """neb-df's two summary rows: all volumes, and the volumes nebulous can allocate on."""
    all_size = f"sum(ipp_nebulous_volume_size_bytes {REAL_DF})"
    all_used = f"sum(ipp_nebulous_volume_used_bytes {REAL_DF})"
    free, size = ":ipp_nebulous_allocatable_free_bytes:sum", ":ipp_nebulous_allocatable_size_bytes:sum"
    return [
        single(PanelSpec("All volumes: size", "bytes", "Total size of every volume with real df figures.", 4, 4),
               query(all_size, instant=True)),
        single(PanelSpec("All volumes: used", "bytes", "Space used on every volume with real df figures.", 4, 4),
               query(all_used, instant=True)),
        single(PanelSpec("All volumes: % used", "percentunit", "Used / size over every volume.", 4, 4,
                         thresholds=above(th.VOLUME_FULL)), query(f"{all_used} / {all_size}", instant=True)),
        single(PanelSpec("Allocatable volumes: size", "bytes",
                         "Volumes in state up (allocate and available) with real df figures: where new files go.",
                         4, 4), query(size, instant=True)),
        single(PanelSpec("Allocatable volumes: free", "bytes", "Free space on the allocatable volumes.", 4, 4),
               query(free, instant=True)),
        single(PanelSpec("Allocatable volumes: % free", "percentunit",
                         "Free / size over the allocatable volumes; red below the alert threshold.", 4, 4,
                         thresholds=below(th.ALLOCATABLE_FREE_LOW)), query(f"{free} / {size}", instant=True)),
    ]


def trends():
    """% used per volume over time and the drill-down of the selected volumes."""
    return [
        graph(PanelSpec("% used per volume", "percentunit", "Used / size per volume with real df figures; dashed "
                        "lines are the warning and critical alert thresholds.", 12, 9,
                        thresholds=above(th.VOLUME_FULL), maximum=1),
              query(f"{USED_RATIO}{{{VOL}}}", "{{volume}}"), threshold_lines=True),
        graph(PanelSpec("Used and size of the selected volumes", "bytes", "Drill-down: pick a host and volume.",
                        12, 9),
              query(f"ipp_nebulous_volume_used_bytes{{{VOL}}}", "{{volume}} used"),
              query(f"ipp_nebulous_volume_size_bytes{{{VOL}}}", "{{volume}} size")),
        graph(PanelSpec("Forecast time to full", "s", "At the rate of the last 6 hours; only volumes that grow.",
                        12, 8, thresholds=steps((None, RED), (86400, ORANGE), (7 * 86400, GREEN))),
              query(f"({TIME_TO_FULL}) < +Inf", "{{volume}}")),
    ]


def problem_volumes():
    """Volumes that are not up, not mounted, or show nebdiskd's placeholder."""
    host_in = link("Bring this host back into processing (preview)",
                   action_url("/actions/host-in", host=series_label("host")))
    return grid(PanelSpec("Volumes not up, unmounted, or without df figures", "short",
                          "Empty on a healthy site. state: repair/down/allocate_only; df placeholder: nebdiskd "
                          "could not run df; unmounted: no mountedvol row.", 12, 8, links=[host_in]),
                query(f'max by (host, volume, state) (ipp_nebulous_volume_state{{{VOL}, state!="up"}} == 1)',
                      instant=True),
                query(f'label_replace(ipp_nebulous_volume_df_ok{{{VOL}}} == 0, "state", "df placeholder", "", "")',
                      instant=True),
                query(f'label_replace(ipp_nebulous_volume_mounted{{{VOL}}} == 0, "state", "unmounted", "", "")',
                      instant=True),
                transformations=merge_and_rename({}, hide=("Time", "Value #A", "Value #B", "Value #C", "__name__")))


def build(site: SiteSettings):
    """The storage dashboard."""
    board = new_dashboard("ipp-storage", "Storage",
                          "Nebulous volumes as neb-df lists them, with states, df placeholders, mounts, cluster "
                          "totals and time-to-full forecasts.", "now-7d",
                          [label_variable("host", "ipp_nebulous_volume_state", title="Host"),
                           label_variable("volume", 'ipp_nebulous_volume_state{host=~"$host"}', title="Volume"),
                           *link_variables(site)])
    board = add(board, row("Cluster totals (neb-df summary)"), *totals(), row("Volumes"), volume_table(),
                row("Trends and drill-down"), *trends(), problem_volumes())
    return finish(board)
