"""Reverts end to end on the simulated site: the preview's rows are exactly the rows the real tool changes."""

from __future__ import annotations

import re

from conftest import LABELS, csrf_token, has_stand_in, login, rows

from ippsim import events as ev

STAGE_TOOL = {"chip": "chiptool", "camera": "camtool", "fake": "faketool", "warp": "warptool", "diff": "difftool",
              "stack": "stacktool", "dist": "disttool"}


def _faulted(site, stage: str) -> set[tuple]:
    """(label, run state, run id, fault, components) of every faulted component, whatever the state (independent SQL)."""
    if stage == "dist":
        return set(rows(site, "SELECT label, state, dist_id, fault, 1 FROM distRun WHERE fault <> 0"))
    s = ev.STAGES[stage]
    return set(rows(site, f"SELECT r.label, r.state, p.`{s.run_id}`, p.fault, COUNT(*) FROM `{s.component_table}` p"
                          f" JOIN `{s.run_table}` r ON r.`{s.run_id}` = p.`{s.run_id}`"
                          f" WHERE p.fault <> 0 GROUP BY 1, 2, 3, 4"))


def _counts(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<span class="count">(\d+)</span>', page)]


def test_every_stage_tool_has_a_stand_in():
    assert all(has_stand_in(tool) for tool in STAGE_TOOL.values())


def test_revert_changes_exactly_the_previewed_rows_in_every_stage(app, client, site):
    login(client)
    for stage in STAGE_TOOL:  # one site for all stages: each stage's revert must leave the others untouched too
        _revert_one_stage(client, site, stage)


def _revert_one_stage(client, site, stage: str) -> None:
    before = _faulted(site, stage)
    label = sorted(f[0] for f in before if f[1] == "new" and f[3] == 3)[0]
    query = f"dbname=gpc1&stage={stage}&label={label}&fault=3"
    preview = client.get(f"/actions/revert?{query}")
    assert preview.status_code == 200, preview.get_data(as_text=True)
    page = preview.get_data(as_text=True)
    previewed = sum(_counts(page))
    assert previewed >= 1, "the injected code-3 faults must show in the preview"
    assert f"{STAGE_TOOL[stage]} -revert" in page and f"-label {label}" in page
    assert client.get(f"/actions/revert?{query}").status_code == 200  # a second GET: still nothing ran
    assert sum(_counts(client.get(f"/actions/revert?{query}").get_data(as_text=True))) == previewed
    result = client.post("/actions/revert", data={"dbname": "gpc1", "stage": stage, "label": label, "fault": "3",
                                                   "csrf_token": csrf_token(client, f"/actions/revert?{query}")})
    body = result.get_data(as_text=True)
    assert result.status_code == 200 and 'id="status" class="ok">success' in body, body
    rows_changed = int(re.search(r'id="rows-changed">(\d+)', body).group(1))
    assert rows_changed == previewed
    after = client.get(f"/actions/revert?{query}").get_data(as_text=True)
    assert sum(_counts(after)) == 0
    # exactly the label's code-3 faults of new runs went; every other label, code and state is untouched
    assert _faulted(site, stage) == {f for f in before if not (f[0] == label and f[1] == "new" and f[3] == 3)}


def test_revert_preview_of_fake_and_registration_name_the_real_syntax(client):
    fake = client.get(f"/actions/revert?dbname=gpc1&stage=fake&label={LABELS[0]}&fault=3").get_data(as_text=True)
    assert f"faketool -revertprocessedimfile -label {LABELS[0]} -dbname gpc1" in fake
    assert "-fault" not in re.search(r'<ol id="steps">.*?</ol>', fake, re.S).group(0)
    reg = client.get("/actions/revert?dbname=gpc1&stage=registration&fault=2").get_data(as_text=True)
    assert "regtool -revertprocessedimfile -fault 2 -dbname gpc1" in reg
    assert "regtool -revertprocessedexp -fault 2 -dbname gpc1" in reg
    dist = client.get(f"/actions/revert?dbname=gpc1&stage=dist&label={LABELS[0]}&fault=3").get_data(as_text=True)
    assert "disttool -revertcomponent" in dist and "disttool -revertrun" in dist
