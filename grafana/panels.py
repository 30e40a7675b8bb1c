"""IPP panels that more than one dashboard shows: the fault table with its action links, the alert list."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as model

from grafana.common import (BLUE, GREEN, ORANGE, RED, PanelSpec, cell, fault_links, grid, link, merge_and_rename,
                            override, query, steps)

# What a fault code needs (czar procedures "Reverting"; ipp-facts: 26 = PXTOOL_DO_NOT_REVERT_FAULT)
REVERTABLE, DO_NOT_REVERT = "2", "26"


def fault_code_mappings() -> list:
    """Fault codes shown with what they need: 2 revertable, 26 do not revert, anything else a person."""
    return [model.ValueMap(options={
                REVERTABLE: model.ValueMappingResult(text="2 · revertable", color=ORANGE, index=0),
                DO_NOT_REVERT: model.ValueMappingResult(text="26 · do not revert", color=BLUE, index=1)}),
            model.RegexMap(options=model.DashboardRegexMapOptions(
                pattern="(.+)", result=model.ValueMappingResult(text="$1 · needs a person", color=RED, index=2)))]


def fault_table(title: str, selector: str, width: int = 24, height: int = 10):
    """Outstanding faults, one row per dbname × stage × label × code, each row linked to its items and a revert."""
    spec = PanelSpec(title, "short", "Outstanding faults (run state new, or update with the component in update) "
                     "per stage, label and fault code. Click a row: the action service lists exactly those items, "
                     "or previews a revert of them (nothing runs until you confirm).", width, height,
                     thresholds=steps((None, GREEN), (1, ORANGE)), links=fault_links())
    expr = f"sum by (dbname, stage, label, fault) (ipp_processing_faults{{{selector}}}) > 0"
    colour_cell = {"type": "color-background", "mode": "basic"}
    return grid(spec, query(expr, instant=True), transformations=merge_and_rename({"Value": "faults"}),
                overrides=[override("fault", {"mappings": fault_code_mappings(), "custom.cellOptions": colour_cell})])


def alert_table(width: int = 24, height: int = 8):
    """Firing and pending alerts (the always-firing Watchdog left out), each linked to its runbook."""
    spec = PanelSpec("Firing and pending alerts", "short",
                     "Every IPP alert that is pending or firing now (IppWatchdog, which always fires, is left out). "
                     "Click a row for its runbook.", width, height,
                     links=[link("Runbook", f"${{runbook_base}}/{cell('alertname')}.md")],
                     mappings=[model.ValueMap(options={
                         "firing": model.ValueMappingResult(text="firing", color=RED, index=0),
                         "pending": model.ValueMappingResult(text="pending", color=ORANGE, index=1)})])
    expr = 'ALERTS{alertname!="IppWatchdog"}'
    return grid(spec, query(expr, instant=True),
                transformations=merge_and_rename({}, hide=("Time", "Value", "__name__")))
