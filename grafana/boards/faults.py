"""IPP / Faults: outstanding faults over time by stage, label, code and host; storms; faults that come back."""

from __future__ import annotations

from grafana import thresholds as th
from grafana.common import (PanelSpec, above, action_url, add, bars, fault_links, finish, graph, grid,
                            label_variable, link, link_variables, merge_and_rename, new_dashboard, query, row,
                            series_label, steps, GREEN, ORANGE)
from grafana.panels import fault_table
from grafana.site import SiteSettings

SEL = 'dbname=~"$dbname", stage=~"$stage", label=~"$label"'
HOST_SEL = 'dbname=~"$dbname", stage=~"$stage"'


def over_time():
    """Outstanding faults by stage, by code and by label."""
    stage_link = link("Faulted items of this stage", action_url(
        "/faults", dbname=series_label("dbname"), stage=series_label("stage")))
    return [
        graph(PanelSpec("Outstanding faults by stage", "short", "Faults still needing action per stage.", 8, 8,
                        links=[stage_link]),
              query(f"sum by (dbname, stage) (ipp_processing_faults{{{SEL}}})", "{{dbname}} {{stage}}"),
              stacked=True),
        graph(PanelSpec("Outstanding faults by code", "short", "2 = system call (revertable), 26 = do not revert, "
                        "others need someone to read the logs.", 8, 8),
              query(f"sum by (dbname, fault) (ipp_processing_faults{{{SEL}}})", "{{dbname}} fault {{fault}}"),
              stacked=True),
        graph(PanelSpec("Outstanding faults by label", "short", "Faults still needing action per label.", 8, 8),
              query(f"sum by (dbname, label) (ipp_processing_faults{{{SEL}}})", "{{dbname}} {{label}}"),
              stacked=True),
    ]


def by_host():
    """Faults by the component's host: a bad host stands out."""
    host_out = link("Take this host out of processing (preview)",
                    action_url("/actions/host-out", host=series_label("host")))
    return [
        bars(PanelSpec("Outstanding faults by host", "short", "Faults by the host the faulted component ran on.",
                       12, 9, links=[host_out]),
             query(f"sum by (dbname, host) (ipp_processing_faults_by_host{{{HOST_SEL}}})", "{{host}}",
                   instant=True)),
        graph(PanelSpec("Share of the faults on each host", "percentunit",
                        "A host with more than the alert's share (dashed) of all outstanding faults may need to be "
                        "taken out.", 12, 9, thresholds=above(th.FAULTS_ONE_HOST_SHARE), links=[host_out],
                        minimum=0, maximum=1),
              query(f'dbname_host:ipp_processing_faults_by_host:share{{dbname=~"$dbname"}}', "{{dbname}} {{host}}"),
              threshold_lines=True),
    ]


def storm_and_returns():
    """New-fault rate against its one-day baseline, and faults that keep coming back after reverts."""
    factor = th.FAULT_STORM_FACTOR
    storm = graph(PanelSpec("New faults in 15 minutes vs. the one-day baseline", "short",
                            f"Faults gained in 15 minutes per stage, and {factor}× the stage's average of the last "
                            f"day; above both that and the first dashed line is a fault storm (the second: a storm on a "
                            f"stage with no history a day ago).", 12, 9,
                            thresholds=above(th.FAULT_STORM_NEW)),
                  query(f'dbname_stage:ipp_processing_faults:growth15m{{{HOST_SEL}}}', "{{stage}} new"),
                  query(f'{factor} * dbname_stage:ipp_processing_faults:growth15m_avg1d{{{HOST_SEL}}}',
                        f"{{{{stage}}}} {factor}× baseline"), threshold_lines=True)
    returning = grid(PanelSpec("Faults that keep coming back after reverts", "short",
                               "Fault counts that dropped (a revert) in the last day and are outstanding again: "
                               "the revert does not fix them. The value is how many times they dropped.", 12, 9,
                               thresholds=steps((None, GREEN), (2, ORANGE)), links=fault_links()),
                     query(f"(resets(ipp_processing_faults{{{SEL}}}[1d]) > 0) and on (dbname, stage, label, fault) "
                           f"(ipp_processing_faults{{{SEL}}} > 0)", instant=True),
                     transformations=merge_and_rename({"Value": "reverted, came back"}))
    return [storm, returning]


def build(site: SiteSettings):
    """The faults dashboard."""
    board = new_dashboard("ipp-faults", "Faults",
                          "Outstanding faults by stage, label, code and host over time, the new-fault rate against "
                          "its baseline, and faults that return after reverts.", "now-24h",
                          [label_variable("dbname", "ipp_processing_db_up", title="Database"),
                           label_variable("stage", 'ipp_processing_faults{dbname=~"$dbname"}', title="Stage"),
                           label_variable("label", 'ipp_processing_faults{dbname=~"$dbname", stage=~"$stage"}',
                                          title="Label"),
                           *link_variables(site)])
    board = add(board, row("Over time"), *over_time(),
                fault_table("Outstanding faults now, by stage, label and code", SEL),
                row("Hosts"), *by_host(), row("Storms and returns"), *storm_and_returns())
    return finish(board)
