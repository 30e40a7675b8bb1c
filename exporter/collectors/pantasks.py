"""Pantasks servers: `status`, `show.labels`, `controller status`, `ns.show.dates` through pantasks_client."""

from __future__ import annotations

from exporter.metrics import MetricSpec

S = ("server",)
T = ("server", "task")

METRICS = (
    MetricSpec("ipp_pantasks_up", "gauge", "1 when pantasks_client reached the server and a status table came back.", S),
    MetricSpec("ipp_pantasks_busy", "gauge", "1 when the client answered 'server is busy...' for a command.", S),
    MetricSpec("ipp_pantasks_scheduler_running", "gauge", "1 when status says 'Scheduler is running'.", S),
    MetricSpec("ipp_pantasks_controller_running", "gauge", "1 when status says 'Controller is running'.", S),
    MetricSpec("ipp_pantasks_task_active", "gauge", "1 when the task is active (status flag 1 '+').", T),
    MetricSpec("ipp_pantasks_task_valid", "gauge", "1 when the task is inside its time ranges (status flag 2 '+').", T),
    MetricSpec("ipp_pantasks_task_running", "gauge", "Nrun as printed (Njobs-Ngood-Nfail-Ntime); negative values are a signal.", T),
    MetricSpec("ipp_pantasks_task_jobs_total", "counter", "Njobs: jobs started since the server started or its stats were reset.", T),
    MetricSpec("ipp_pantasks_task_succeeded_total", "counter", "Ngood: jobs that exited 0.", T),
    MetricSpec("ipp_pantasks_task_failed_total", "counter", "Nfail: jobs that exited non-zero or crashed.", T),
    MetricSpec("ipp_pantasks_task_timed_out_total", "counter", "Ntime: local jobs that timed out (a count, not a time).", T),
    MetricSpec("ipp_pantasks_queue_jobs", "gauge", "Jobs in the pantasks queue by state.", ("server", "state")),
    MetricSpec("ipp_pantasks_label_info", "gauge", "1 for each label the server processes (show.labels).", ("server", "label")),
    MetricSpec("ipp_pantasks_controller_host_state", "gauge", "1 for the controller host's current state (controller status).",
               ("server", "host", "state")),
    MetricSpec("ipp_pantasks_parse_errors_total", "counter", "Lines that looked like data but did not parse.", S),
    MetricSpec("ipp_nightly_science_state", "gauge", "1 for the state of the newest ns.show.dates page per database.",
               ("server", "dbname", "state")),
    MetricSpec("ipp_nightly_science_date_timestamp_seconds", "gauge", "Midnight UTC of the newest ns.show.dates page's date.",
               ("server", "dbname")),
)


def build(config, executor):
    """Return the pantasks collector, or None when the config has no pantasks section."""
    return None  # filled in by the pantasks source work
