"""Processing databases (gpc1, …): outstanding faults, pending runs, summit/burntool progress, label priorities."""

from __future__ import annotations

from exporter.metrics import MetricSpec

METRICS = (
    MetricSpec("ipp_processing_db_up", "gauge", "1 when the connection and every query succeeded.", ("dbname",)),
    MetricSpec("ipp_processing_faults", "gauge", "Faulted components that still need action, by stage, label and fault code.",
               ("dbname", "stage", "label", "fault")),
    MetricSpec("ipp_processing_runs", "gauge", "Runs in a pending state (new, update, wait, error_*) by stage and label.",
               ("dbname", "stage", "label", "state")),
    MetricSpec("ipp_processing_faults_by_host", "gauge", "Outstanding faults by the component's host.", ("dbname", "stage", "host")),
    MetricSpec("ipp_summit_exposures", "gauge", "OBJECT exposures of the current observing night by progress status.",
               ("dbname", "status")),
    MetricSpec("ipp_processing_label_info", "gauge", "1 for each label with pending work, with its Label-table priority.",
               ("dbname", "label", "priority", "active")),
)


def build(config, executor):
    """Return the processing-DB collector, or None when the config has no processing section."""
    return None  # filled in by the processing source work
