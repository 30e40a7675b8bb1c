"""The service's own metrics (metrics.md "Action service"), on a registry per app, every label value present."""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from actions.catalog import ACTIONS, FIELDS

NOTIFICATION_STATUSES = ("firing", "resolved", "rejected", "duplicate")
RESULTS = ("success", "failure", "refused", "dry_run")
REFUSAL_FIELDS = tuple(sorted({f for fields in FIELDS.values() for f in fields} | {"action", "csrf", "login", "nonce",
                                                                                    "token", "payload", "rate", "busy"}))


class _Hosts:
    """ipp_actions_host_excluded{host}: read from the audit store at scrape time."""

    def __init__(self, read: Callable[[], dict]) -> None:
        self._read = read

    def collect(self):
        family = GaugeMetricFamily("ipp_actions_host_excluded",
                                   "1 while a host is out of processing through this service (host-out), 0 after host-in.",
                                   labels=["host"])
        try:
            hosts = self._read()
        except Exception:  # noqa: BLE001 - a dead audit store must not break /metrics; audit_up says so
            hosts = {}
        for host, (excluded, _silence) in sorted(hosts.items()):
            family.add_metric([host], 1 if excluded else 0)
        return [family]


class ServiceMetrics:
    """Counters, histogram and gauges of one service process."""

    def __init__(self, queue_depth: Callable[[], int], hosts: Callable[[], dict]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.notifications = Counter("ipp_webhook_notifications", "Webhook notifications by outcome.",
                                     ["status"], registry=r)
        self.actions = Counter("ipp_webhook_actions", "Actions by name and result (refused includes refused values).",
                               ["action", "result"], registry=r)
        self.duration = Histogram("ipp_webhook_action_duration_seconds", "Time an action took to run.", ["action"],
                                  registry=r, buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
        self.refused = Counter("ipp_actions_refused_values", "Values refused before use, by field.", ["field"],
                               registry=r)
        self.queue = Gauge("ipp_actions_queue_depth", "Webhook actions waiting for a worker.", registry=r)
        self.queue.set_function(queue_depth)
        self.audit_up = Gauge("ipp_actions_audit_up", "1 when the last audit-store call succeeded.", registry=r)
        r.register(_Hosts(hosts))
        for status in NOTIFICATION_STATUSES:
            self.notifications.labels(status)
        for action in ACTIONS:
            self.duration.labels(action)
        for action in (*ACTIONS, "unknown"):
            for result in RESULTS:
                self.actions.labels(action, result)
        for field in REFUSAL_FIELDS:
            self.refused.labels(field)

    def refuse(self, action: str, field: str) -> None:
        """Count one refused value."""
        self.actions.labels(action if action in ACTIONS else "unknown", "refused").inc()
        self.refused.labels(field if field in REFUSAL_FIELDS else "payload").inc()
