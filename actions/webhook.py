"""Alertmanager webhook v4 payloads → records, and the auto-action policy (pure: no I/O)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

REVERT_ALERT = "IppProcessingFaultsRevertable"  # alerts/processing.rules.yml: fault="2" items waiting an hour


class PayloadError(ValueError):
    """The body is not an Alertmanager v4 notification."""


@dataclass(frozen=True)
class Alert:
    """One alert of a notification."""

    status: str
    labels: tuple[tuple[str, str], ...]
    starts_at: str
    fingerprint: str

    def label(self, name: str) -> str | None:
        """One label's value."""
        return dict(self.labels).get(name)


@dataclass(frozen=True)
class Notification:
    """One webhook call."""

    status: str
    receiver: str
    group_key: str
    alerts: tuple[Alert, ...]


@dataclass(frozen=True)
class Proposal:
    """An action a firing alert may run without a person, and the key that makes it run at most once."""

    action: str
    params: tuple[tuple[str, str], ...]
    source: str
    dedup_key: str


def _str(data: dict, key: str, required: bool = True) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise PayloadError(f"{key}: expected a string")
    return value


def parse_notification(data: Any) -> Notification:
    """Validate the v4 shape; refuse anything else."""
    if not isinstance(data, dict) or data.get("version") != "4":
        raise PayloadError("expected an Alertmanager webhook payload with version \"4\"")
    status = _str(data, "status")
    if status not in ("firing", "resolved"):
        raise PayloadError("status: expected firing or resolved")
    alerts = data.get("alerts")
    if not isinstance(alerts, list) or len(alerts) > 10000:
        raise PayloadError("alerts: expected a list")
    parsed = []
    for item in alerts:
        if not isinstance(item, dict) or not isinstance(item.get("labels"), dict):
            raise PayloadError("alerts[]: expected objects with labels")
        labels = item["labels"]
        if any(not isinstance(k, str) or not isinstance(val, str) for k, val in labels.items()):
            raise PayloadError("alerts[].labels: expected string values")
        alert_status = _str(item, "status")
        if alert_status not in ("firing", "resolved"):
            raise PayloadError("alerts[].status: expected firing or resolved")
        parsed.append(Alert(alert_status, tuple(sorted(labels.items())), _str(item, "startsAt"),
                            _str(item, "fingerprint", required=False)))
    return Notification(status, _str(data, "receiver", required=False), _str(data, "groupKey", required=False),
                        tuple(parsed))


def dedup_key(fingerprint: str, action: str, target: str, starts_at: str) -> str:
    """sha256 of fingerprint + action + target + incident start: one incident, one run, across replicas."""
    return hashlib.sha256("\x1f".join((fingerprint, action, target, starts_at)).encode()).hexdigest()


def proposals(notification: Notification, auto_actions: tuple[str, ...]) -> list[Proposal]:
    """What the policy lets firing alerts run: a one-shot code-2 revert for the alert's stage and label."""
    out = []
    for alert in notification.alerts:
        if alert.status != "firing" or "revert-code2" not in auto_actions:
            continue
        if alert.label("alertname") != REVERT_ALERT or alert.label("fault") != "2":
            continue
        params = (("dbname", alert.label("dbname") or ""), ("stage", alert.label("stage") or ""),
                  ("label", alert.label("label") or ""), ("fault", "2"))
        target = "/".join(value for _, value in params)
        fingerprint = alert.fingerprint or hashlib.sha256(repr(alert.labels).encode()).hexdigest()[:16]
        out.append(Proposal("revert", params, f"{REVERT_ALERT} {fingerprint} {alert.starts_at}",
                            dedup_key(fingerprint, "revert", target, alert.starts_at)))
    return out
