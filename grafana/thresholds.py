"""Dashboard thresholds shared with the alert rules (tests/grafana/test_thresholds.py checks they agree)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleThreshold:
    """Where an alert rule compares a series derived from `metric` with `op` against these `values`."""

    metric: str                      # the exported series the compared one is derived from (through recording rules)
    op: str                          # ">" or "<"
    values: tuple[float, ...]        # every threshold the alert rules use for it
    name_pattern: str = ""           # the compared series' name must contain this (picks one of several derived series)
    selector: str = ""               # the comparison's label selector must contain this
    exclude: str = ""                # rules whose expression contains this are a different check


# nebulous.rules.yml IppNebulousVolumeAlmostFull (warning, critical); FillingUp uses predict_linear
VOLUME_FULL = RuleThreshold("ipp_nebulous_volume_used_bytes", ">", (0.90, 0.95), name_pattern="used:ratio",
                            exclude="predict_linear")
# IppNebulousAllocatableSpaceLow: free / size of the allocatable volumes
ALLOCATABLE_FREE_LOW = RuleThreshold("ipp_nebulous_volume_size_bytes", "<", (0.10,), name_pattern="allocatable")
# IppPantasksTaskFailing: one ratio, two classes of task
RUN_TASK_FAILURE = RuleThreshold("ipp_pantasks_task_failed_total", ">", (0.5,), name_pattern="ratio",
                                 selector="[.]run")
LOAD_TASK_FAILURE = RuleThreshold("ipp_pantasks_task_failed_total", ">", (0.1,), name_pattern="ratio",
                                  selector="[.]load")
# IppHostLoadHigh, IppHostMemoryLow, IppHostFilesystemAlmostFull
HOST_LOAD_PER_CPU = RuleThreshold("node_load15", ">", (2,), name_pattern="per_cpu")
HOST_MEMORY_AVAILABLE_LOW = RuleThreshold("node_memory_MemAvailable_bytes", "<", (0.05,))
HOST_FILESYSTEM_FREE_LOW = RuleThreshold("node_filesystem_size_bytes", "<", (0.05,))
# IppSourceDataStale (seconds)
SOURCE_STALE_SECONDS = RuleThreshold("ipp_source_data_age_seconds", ">", (900,))
# IppProcessingFaultStorm: this many new faults in 15 minutes (20 against a day's history, 50 without one) ...
FAULT_STORM_NEW = RuleThreshold("ipp_processing_faults", ">", (20, 50), name_pattern="growth")
# ... and this many times the stage's one-day average
FAULT_STORM_FACTOR = 5
# IppProcessingFaultsOnOneHost: share of the outstanding faults on one host
FAULTS_ONE_HOST_SHARE = RuleThreshold("ipp_processing_faults_by_host", ">", (0.5,), name_pattern="share")

ALL = {name: value for name, value in globals().items() if isinstance(value, RuleThreshold)}
