"""IPP / Exporter & stack health: collectors, data age, scrapes, Prometheus, Alertmanager, action service."""

from __future__ import annotations

from grafana import thresholds as th
from grafana.common import (
    GREEN,
    RED,
    YES_NO,
    PanelSpec,
    above,
    add,
    finish,
    graph,
    label_variable,
    new_dashboard,
    query,
    rate,
    row,
    steps,
    timeline,
)
from grafana.site import SiteSettings

JOB = 'job=~"$job"'


def exporter_panels():
    """Collector success and duration, data age and time since the last good fetch per source."""
    return [
        timeline(PanelSpec("Collector success", "bool_yes_no", "1 when the collector ran without error on a scrape.",
                           12, 7, mappings=[YES_NO], thresholds=steps((None, RED), (1, GREEN))),
                 query("ipp_scrape_collector_success", "{{collector}}")),
        graph(PanelSpec("Collector duration", "s", "Time each collector took on a scrape.", 12, 7),
              query("ipp_scrape_collector_duration_seconds", "{{collector}}")),
        graph(PanelSpec("Age of the data served", "s", "Above 0 when a cached or stale copy is served; dashed: the "
                        "stale-data alert threshold.", 12, 7, thresholds=above(th.SOURCE_STALE_SECONDS)),
              query("ipp_source_data_age_seconds", "{{source}}"), threshold_lines=True),
        graph(PanelSpec("Time since the last successful fetch", "s", "Per source; dashed: the stale-data alert "
                        "threshold.", 12, 7, thresholds=above(th.SOURCE_STALE_SECONDS)),
              query("time() - ipp_source_last_success_timestamp_seconds", "{{source}}"), threshold_lines=True),
        graph(PanelSpec("Input the exporter skipped", "short", "Pantasks lines that looked like data but did not "
                        "parse, and database rows of an unexpected shape, per scrape interval; non-zero means the "
                        "exporter and a source disagree on a format.", 24, 7),
              query("sum by (server) (increase(ipp_pantasks_parse_errors_total[$__rate_interval]))",
                    "pantasks {{server}}"),
              query("sum by (dbname) (increase(ipp_processing_skipped_rows_total[$__rate_interval]))",
                    "processing {{dbname}}"),
              query("sum(increase(ipp_nebulous_skipped_rows_total[$__rate_interval]))", "nebulous")),
    ]


def scrape_panels():
    """Targets up, scrape duration and samples per job."""
    return [
        timeline(PanelSpec("Targets up", "bool_yes_no", "Prometheus's `up` per scrape target.", 24, 6,
                           mappings=[YES_NO], thresholds=steps((None, RED), (1, GREEN))),
                 query(f"up{{{JOB}}}", "{{job}} {{instance}}")),
        graph(PanelSpec("Scrape duration", "s", "How long each scrape took (the ipp job runs pantasks_client and "
                        "SQL inside its scrape).", 12, 7), query(f"scrape_duration_seconds{{{JOB}}}",
                                                              "{{job}} {{instance}}")),
        graph(PanelSpec("Samples per scrape", "short", "Samples each scrape returned; a jump is new label values.",
                        12, 7), query(f"scrape_samples_scraped{{{JOB}}}", "{{job}} {{instance}}")),
    ]


def prometheus_panels():
    """Rule evaluation, head series and Alertmanager delivery."""
    return [
        graph(PanelSpec("Rule group evaluation time", "s", "Last evaluation of each rule group.", 8, 7),
              query("prometheus_rule_group_last_duration_seconds", "{{rule_group}}")),
        graph(PanelSpec("Rule evaluation failures", "ops", "Failed rule evaluations per second.", 8, 7,
                        thresholds=steps((None, GREEN), (0.0001, RED))),
              query(f"sum by (rule_group) ({rate('prometheus_rule_evaluation_failures_total')})", "{{rule_group}}")),
        graph(PanelSpec("Series in the head block", "short", "Active series in Prometheus.", 8, 7),
              query("prometheus_tsdb_head_series", "{{instance}}")),
        graph(PanelSpec("Alerts sent to Alertmanager", "ops", "Alerts Prometheus sent and dropped per second.", 8, 7),
              query(f"sum({rate('prometheus_notifications_sent_total')})", "sent"),
              query(f"sum({rate('prometheus_notifications_dropped_total')})", "dropped")),
        graph(PanelSpec("Alertmanager: alerts held", "short", "Alerts Alertmanager holds, by state.", 8, 7),
              query("sum by (state) (alertmanager_alerts)", "{{state}}")),
        graph(PanelSpec("Alertmanager: notifications", "ops", "Notifications and failed notifications per second, "
                        "by integration (webhook = the action service).", 8, 7),
              query(f"sum by (integration) ({rate('alertmanager_notifications_total')})", "{{integration}} sent"),
              query(f"sum by (integration) ({rate('alertmanager_notifications_failed_total')})",
                    "{{integration}} failed")),
    ]


def action_service_panels():
    """Webhook notifications and actions of the action service."""
    return [
        graph(PanelSpec("Action service: webhook notifications", "ops", "Alertmanager notifications received, by "
                        "status (firing, resolved, rejected, duplicate).", 12, 7),
              query(f"sum by (status) ({rate('ipp_webhook_notifications_total')})", "{{status}}")),
        graph(PanelSpec("Action service: actions", "ops", "Actions run, by action and result (success, failure, "
                        "refused, dry_run).", 12, 7),
              query(f"sum by (action, result) ({rate('ipp_webhook_actions_total')})", "{{action}} {{result}}")),
    ]


def build(site: SiteSettings):  # noqa: ARG001 - every board takes the site settings
    """The exporter & stack health dashboard."""
    board = new_dashboard("ipp-health", "Exporter & stack health",
                          "Is the monitoring itself healthy: exporter collectors and data age, scrapes, rule "
                          "evaluation, Alertmanager and the action service.", "now-6h",
                          [label_variable("job", "up", title="Job")])
    board = add(board, row("Exporter"), *exporter_panels(), row("Scrapes"), *scrape_panels(),
                row("Prometheus and Alertmanager"), *prometheus_panels(), row("Action service"),
                *action_service_panels())
    return finish(board)
