"""IPP panels that more than one dashboard shows: the fault table with its action links, the alert list."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as model

from grafana.common import (
    BLUE,
    GREEN,
    ORANGE,
    RED,
    PanelSpec,
    cell,
    fault_links,
    grid,
    link,
    merge_and_rename,
    override,
    query,
    steps,
)

REVERTABLE = "dbname_stage_label_fault:ipp_processing_faults_revertable:sum"
UNREVERTABLE = "dbname_stage_label_fault:ipp_processing_faults_unrevertable:sum"
DO_NOT_REVERT = "26"  # PXTOOL_DO_NOT_REVERT_FAULT (ippTools/src/pxtools.h): kept on purpose
# What a fault needs, from the same recording rules the alerts use (processing.rules.yml says which stage's
# revert task retries which codes); summit copy clears its own codes with pztool.
NEEDS = {"a revert (its task retries it)": ORANGE, "a person": RED, "nothing (do not revert)": BLUE,
         "summit copy (pztool clears it)": ORANGE}


def classified_faults(selector: str) -> str:
    """Outstanding faults per dbname, stage, label and code, with a `needs` label saying what they need."""
    needs = list(NEEDS)
    parts = [(f"{REVERTABLE}{{{selector}}}", needs[0]),
             (f'{UNREVERTABLE}{{{selector}, fault!="{DO_NOT_REVERT}"}}', needs[1]),
             (f'sum by (dbname, stage, label, fault) (ipp_processing_faults{{{selector}, fault="{DO_NOT_REVERT}"}})',
              needs[2]),
             (f'sum by (dbname, stage, label, fault) (ipp_processing_faults{{{selector}, stage="summitcopy"}})',
              needs[3])]
    return "\n  or ".join(f'label_replace({expr} > 0, "needs", "{text}", "", "")' for expr, text in parts)


def fault_table(title: str, selector: str, width: int = 24, height: int = 10):
    """Outstanding faults, one row per dbname × stage × label × code, each row linked to its items and a revert."""
    spec = PanelSpec(title, "short", "Outstanding faults (run state new, or update with the component in update) "
                     "per stage, label and fault code, and what they need: a revert (the stage's revert task "
                     "retries that code), a person, or nothing (code 26, do not revert). Click a row: the action "
                     "service lists exactly those items, or previews a revert of them (nothing runs until you "
                     "confirm).", width, height, thresholds=steps((None, GREEN), (1, ORANGE)), links=fault_links())
    colour_cell = {"type": "color-background", "mode": "basic"}
    mapping = model.ValueMap(options={text: model.ValueMappingResult(text=text, color=colour, index=index)
                                      for index, (text, colour) in enumerate(NEEDS.items())})
    return grid(spec, query(classified_faults(selector), instant=True),
                transformations=merge_and_rename({"Value": "faults"}, hide=("Time", "__name__")),
                overrides=[override("needs", {"mappings": [mapping], "custom.cellOptions": colour_cell})])


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
