"""Nebulous storage: volume states, mounts and disk space from the nebulous database."""

from __future__ import annotations

from exporter.metrics import MetricSpec

V = ("host", "volume")

METRICS = (
    MetricSpec("ipp_nebulous_db_up", "gauge", "1 when the nebulous database answered."),
    MetricSpec("ipp_nebulous_volume_state", "gauge", "1 for the volume's state: up, repair, down or allocate_only.",
               ("host", "volume", "state")),
    MetricSpec("ipp_nebulous_volume_mounted", "gauge", "1 when a mountedvol row exists for the volume.", V),
    MetricSpec("ipp_nebulous_volume_size_bytes", "gauge", "Volume size (mountedvol.total x 1024).", V),
    MetricSpec("ipp_nebulous_volume_used_bytes", "gauge", "Volume space used (mountedvol.used x 1024).", V),
    MetricSpec("ipp_nebulous_volume_df_ok", "gauge", "0 when nebdiskd wrote its total=1/used=1 placeholder instead of df figures.", V),
)


def build(config, executor):
    """Return the nebulous collector, or None when the config has no nebulous section."""
    return None  # filled in by the nebulous source work
