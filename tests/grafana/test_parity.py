"""grafana/parity.yml: every czar duty maps to panels that exist (test_live.py checks they return data)."""

from __future__ import annotations

from pathlib import Path

import yaml

from grafana.queries import load_dashboards, panels

ROOT = Path(__file__).resolve().parents[2]
PARITY = yaml.safe_load((ROOT / "grafana" / "parity.yml").read_text())
# The duties the czar procedures list (issue 10's list); each must have a row in the table.
DUTY_WORDS = ("pantasks server", "Nfail", "Labels", "Summit copy", "Burntool", "Faults per stage and code",
              "Revert", "Disk space per volume", "totals", "cluster load", "bad host", "Alert the IPP group")


def test_every_duty_of_the_procedures_is_in_the_table():
    duties = [entry["duty"] for entry in PARITY["duties"]]
    missing = [word for word in DUTY_WORDS if not any(word.lower() in duty.lower() for duty in duties)]
    assert not missing
    assert all(entry["procedure"].strip() and entry["panels"] for entry in PARITY["duties"])


def test_every_mapped_panel_exists_with_that_id_and_title():
    boards = load_dashboards()
    titles = {(uid, panel["id"]): panel["title"] for uid, board in boards.items() for panel in panels(board)}
    wrong = [f"{entry['duty']}: {ref}" for entry in PARITY["duties"] for ref in entry["panels"]
             if titles.get((ref["uid"], ref["id"])) != ref["title"]]
    assert not wrong, "panels gone or renumbered (fix grafana/parity.yml):\n" + "\n".join(wrong)


def test_fault_duty_maps_to_a_panel_with_action_links():
    boards = load_dashboards()
    entry = next(e for e in PARITY["duties"] if "Faults per stage and code" in e["duty"])
    linked = [panel for ref in entry["panels"] for panel in panels(boards[ref["uid"]])
              if panel["id"] == ref["id"] and panel.get("fieldConfig", {}).get("defaults", {}).get("links")]
    assert linked
