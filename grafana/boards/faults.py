"""IPP / Faults: outstanding faults over time by stage, label, code and host; storms; faults that come back."""

from __future__ import annotations

from grafana import thresholds as th
from grafana.common import (
    GREEN,
    ORANGE,
    PanelSpec,
    above,
    action_url,
    add,
    bars,
    fault_links,
    finish,
    graph,
    grid,
    label_variable,
    link,
    link_variables,
    merge_and_rename,
    new_dashboard,
    query,
    row,
    series_label,
    steps,
)
from grafana.panels import fault_table
from grafana.site import SiteSettings

SEL = 'dbname=~"$dbname", stage=~"$stage", label=~"$label"'
HOST_SEL = 'dbname=~"$dbname", stage=~"$stage"'
# recorded in alerts/dashboards.rules.yml: a tenth / a twentieth of the raw series, for 7-day ranges
BY_LABEL = "dbname_stage_label:ipp_processing_faults:sum"
BY_CODE = "dbname_stage_fault:ipp_processing_faults:sum"


def over_time():
    """Outstanding faults by stage, by code and by label."""
    stage_link = link("Faulted items of this stage", action_url(
        "/faults", dbname=series_label("dbname"), stage=series_label("stage")))
    return [
        graph(PanelSpec("Outstanding faults by stage", "short", "Faults still needing action per stage.", 8, 8,
                        links=[stage_link]),
              query(f"sum by (dbname, stage) ({BY_LABEL}{{{SEL}}})", "{{dbname}} {{stage}}"), stacked=True),
        graph(PanelSpec("Outstanding faults by code", "short", "Per fault code over every label of the selected "
                        "stages: 2 = system call (NFS), 26 = do not revert; the fault table below says which codes "
                        "a revert retries.", 8, 8),
              query(f"sum by (dbname, fault) ({BY_CODE}{{{HOST_SEL}}})", "{{dbname}} fault {{fault}}"),
              stacked=True),
        graph(PanelSpec("Outstanding faults by label", "short", "Faults still needing action per label.", 8, 8),
              query(f"sum by (dbname, label) ({BY_LABEL}{{{SEL}}})", "{{dbname}} {{label}}"), stacked=True),
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
              query('dbname_host:ipp_processing_faults_by_host:share{dbname=~"$dbname"}', "{{dbname}} {{host}}"),
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
