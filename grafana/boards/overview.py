"""IPP / Czar overview: the first screen of the morning (replaces Czartool's front page)."""

from __future__ import annotations

from grafana.common import (
    GREEN,
    ORANGE,
    RED,
    YES_NO,
    PanelSpec,
    add,
    bars,
    finish,
    graph,
    grid,
    label_variable,
    link_variables,
    merge_and_rename,
    new_dashboard,
    override,
    query,
    row,
    single,
    steps,
    value_text,
)
from grafana.panels import REVERTABLE, UNREVERTABLE, alert_table, fault_table
from grafana.site import SiteSettings

DB = 'dbname=~"$dbname"'


def server_table():
    """Each pantasks server: answering, busy, scheduler and controller running."""
    spec = PanelSpec("Pantasks servers", "bool_yes_no",
                     "What `pantasks_client` → `status` shows at the top, per server: does it answer, is it busy "
                     "in a macro, are its scheduler and controller running.", 12, 8, mappings=[YES_NO])
    names = {"Value #A": "answers", "Value #B": "busy", "Value #C": "scheduler", "Value #D": "controller"}
    busy = {"mappings": [value_text({"1": ("busy", RED), "0": ("no", GREEN)})]}
    return grid(spec, *(query(metric, instant=True) for metric in (
        "ipp_pantasks_up", "ipp_pantasks_busy", "ipp_pantasks_scheduler_running", "ipp_pantasks_controller_running")),
        transformations=merge_and_rename(names), overrides=[override("busy", busy)])


def fault_stats():
    """Outstanding faults in three classes: a revert task retries them, a person must act, do not revert."""
    classes = (("Faults a revert will retry", f"sum({REVERTABLE}{{{DB}}})", ORANGE,
                "Faults whose stage's revert task retries their code (the alert rules' classification)."),
               ("Faults that need a person", f'sum({UNREVERTABLE}{{{DB}, fault!="26"}})', RED,
                "Faults no revert task retries (warp/stack codes other than 2, destreak): read the logs."),
               ("Do-not-revert faults (code 26)", f'sum(ipp_processing_faults{{{DB}, fault="26"}})', "blue",
                "Components marked PXTOOL_DO_NOT_REVERT_FAULT: kept on purpose."))
    return [single(PanelSpec(title, "short", description, 4, 4, thresholds=steps((None, GREEN), (1, colour))),
                   query(expr, instant=True))
            for title, expr, colour, description in classes]


def pending_table():
    """Runs waiting per stage and label, by state."""
    spec = PanelSpec("Pending runs by stage and label", "short",
                     "Runs in the pending states (new, update, wait, error_*, and registration/summit runs in "
                     "progress) per stage and label.", 12, 10)
    expr = f"sum by (dbname, stage, label, state) (ipp_processing_runs{{{DB}}}) > 0"
    return grid(spec, query(expr, instant=True), transformations=merge_and_rename({"Value": "runs"}))


def label_table():
    """Labels with pending work, their priority, and how many pantasks servers process them."""
    spec = PanelSpec("Labels in processing", "short",
                     "Labels with pending work (Label table: priority, active) and the number of pantasks servers "
                     "whose `show.labels` lists them (0 or empty: no server works on it).", 12, 10)
    return grid(spec, query(f"max by (dbname, label, priority, active) (ipp_processing_label_info{{{DB}}})",
                            instant=True),
                query("count by (label) (ipp_pantasks_label_info)", instant=True),
                transformations=merge_and_rename({"Value #B": "pantasks servers"}, hide=("Time", "Value #A")))


def summit_panels():
    """Tonight's summit copy → download → registration → burntool counts, and the backlog of each step."""
    order = 'label_replace(ipp_summit_exposures{%s}, "step", "$1", "status", "(.*)")' % DB
    progress = bars(PanelSpec("Tonight: summit → download → registration → burntool", "short",
                              "OBJECT exposures of the current night: taken at the summit, downloaded, registered, "
                              "burntooled, and faulted somewhere on the way.", 8, 8),
                    query(f"sum by (dbname, step) ({order})", "{{step}}", instant=True))
    backlog = graph(PanelSpec("Tonight's backlog per step", "short",
                              "Exposures still waiting at each step; a flat, non-zero line means the step stopped.",
                              8, 8),
                    query(f"dbname:ipp_summit_exposures:download_backlog{{{DB}}}", "download {{dbname}}"),
                    query(f"dbname:ipp_summit_exposures:registration_backlog{{{DB}}}", "registration {{dbname}}"),
                    query(f"dbname:ipp_summit_exposures:burntool_backlog{{{DB}}}", "burntool {{dbname}}"))
    return [progress, backlog]


def nightly_table():
    """The newest ns.show.dates page per server and database: date and book/stack/diff/observing states."""
    spec = PanelSpec("Nightly science (ns.show.dates)", "dateTimeAsIsoNoDateIfToday",
                     "The newest nightly-science page per database: its date (today's page should exist after "
                     "01:00 UTC) and the book, stack, diff and observing states.", 8, 8)
    renamed = [query(f"max by (server, dbname) (ipp_nightly_science_date_timestamp_seconds{{{DB}}}) * 1000",
                     instant=True),
               query(f"max by (server, dbname, state) (ipp_nightly_science_state{{{DB}}} == 1)", instant=True)]
    for metric, column in (("stack", "stack"), ("diff", "diff"), ("observing", "observing")):
        expr = (f'max by (server, dbname, {column}) (label_replace(ipp_nightly_science_{metric}_state{{{DB}}} == 1, '
                f'"{column}", "$1", "state", "(.*)"))')
        renamed.append(query(expr, instant=True))
    hidden = ("Time", "Value #B", "Value #C", "Value #D", "Value #E")
    return grid(spec, *renamed, transformations=merge_and_rename({"Value #A": "date"}, hide=hidden))


def build(site: SiteSettings):
    """The czar overview dashboard."""
    board = new_dashboard("ipp-overview", "Czar overview",
                          "Pantasks servers, faults per stage × label × code with action links, labels, tonight's "
                          "summit-to-burntool progress, nightly science and alerts.", "now-6h",
                          [label_variable("dbname", "ipp_processing_db_up", title="Database"), *link_variables(site)])
    board = add(board, row("Pantasks and alerts"), server_table(), alert_table(width=12, height=8),
                row("Faults and pending work"), *fault_stats(), single(
                    PanelSpec("Processing database reachable", "bool_yes_no", "1 when every processing query "
                              "succeeded on the last scrape.", 4, 4, mappings=[YES_NO],
                              thresholds=steps((None, RED), (1, GREEN))),
                    query(f"min(ipp_processing_db_up{{{DB}}})", instant=True)),
                single(PanelSpec("Nebulous reachable", "bool_yes_no", "1 when the nebulous database answered.", 4, 4,
                                 mappings=[YES_NO], thresholds=steps((None, RED), (1, GREEN))),
                       query("min(ipp_nebulous_db_up)", instant=True)),
                single(PanelSpec("Firing alerts", "short", "IPP alerts firing now (Watchdog excluded).", 4, 4,
                                 thresholds=steps((None, GREEN), (1, RED))),
                       query('count(ALERTS{alertstate="firing", alertname!="IppWatchdog"}) or vector(0)',
                             instant=True)),
                fault_table("Outstanding faults by stage, label and code", DB),
                pending_table(), label_table(),
                row("Tonight"), *summit_panels(), nightly_table())
    return finish(board)
