"""Every dashboard query returns data from a real Prometheus scraping the exporter on the simulated site.

One stack for the module: a healthy phase (every query must return data, except the panels listed in
EMPTY_WHEN_HEALTHY), then a trouble phase whose events make exactly those panels show something."""

from __future__ import annotations

import re
import time

import pytest
import yaml
from live_stack import ROOT, SCRAPE_SECONDS, running_stack, wait_for_targets

from grafana.queries import Interval, default_range, expand, load_dashboards, panels, targets, variable_values

BOARDS = load_dashboards()
# Panels that are empty on a healthy site, with why; the trouble phase must make each of them show data.
EMPTY_WHEN_HEALTHY = {
    ("ipp-overview", "Firing and pending alerts"): "no IPP alert is pending or firing on a healthy site",
    ("ipp-pantasks", "Controller hosts down, off or not responding"): "every controller host works",
    ("ipp-faults", "Faults that keep coming back after reverts"): "only items whose faults return after a revert",
    ("ipp-overview", "Outstanding faults by stage, label and code"): "the revert tasks may have cleared every fault",
    ("ipp-faults", "Outstanding faults now, by stage, label and code"): "the same, filtered",
    ("ipp-faults", "Outstanding faults by host"): "ipp_processing_faults_by_host has series only for faulted hosts",
    ("ipp-faults", "Share of the faults on each host"): "the same, as a share",
    ("ipp-storage", "Forecast time to full"): "only volumes that grew over the last 6 hours",
    ("ipp-storage", "Volumes not up, unmounted, or without df figures"): "every volume is up, mounted, with df",
    ("ipp-hosts", "Hosts taken out of processing"): "no host is off in a controller or in repair",
}
# Panels no scenario here can fill, with why (none: the action service runs in the stack too).
NOT_CHECKED: dict[tuple[str, str], str] = {}


def _key(target) -> tuple[str, str]:
    return target.uid, target.title


ALL_TARGETS = [target for board in BOARDS.values() for target in targets(board)]


Result = tuple[int, frozenset]


def _results(api, end: float) -> dict[tuple[str, int, str], Result]:
    """(uid, panel id, refId) -> (number of series, label names they carry) for the range ending at `end`."""
    counts = {}
    for uid, board in BOARDS.items():
        window = default_range(board)
        values, firsts = variable_values(board, lambda selector, label, start=end - window: api.label_values(
            selector, label, start, end))
        interval = Interval.for_range(window, SCRAPE_SECONDS)
        for target in targets(board):
            chosen = {**values, target.repeat: firsts[target.repeat]} if target.repeat else values
            result = api.run(expand(target.expr, chosen, interval), target.instant, end, interval)
            labels = frozenset(name for series in result for name in series["metric"])
            counts[(uid, target.panel_id, target.ref_id)] = (len(result), labels)
    return counts


def _trouble(stack) -> None:
    """Events that make every EMPTY_WHEN_HEALTHY panel show data, with time for Prometheus to see them."""
    stack.event("recurring-faults", stage="chip", fault=5, count=4)
    stack.collect(3 * SCRAPE_SECONDS)
    stack.event("revert", stage="chip")  # the next steps retry the reverted items and they fault again
    stack.event("down", server="registration")          # IppPantasksDown pending
    stack.event("host-off", server="stdscience", host="ipp004")   # OFF once its running job ends: excluded
    stack.event("host-down", server="distribution", host="ipp003")  # DOWN in that controller at once
    stack.event("neb-host", host="ipp001", state="repair")
    stack.event("df-placeholder", host="ipp003")
    stack.event("unmount", host="ipp002")
    stack.event("disk-fill", host="ipp004", fraction=0.97)   # a volume that grows: a forecast
    stack.event("fault-storm", fault=4, count=10)  # warp and stack retry only code 2: some need a person
    stack.collect(3 * SCRAPE_SECONDS)


def _listed_have_data(results) -> bool:
    return all(results[(t.uid, t.panel_id, t.ref_id)][0] for t in ALL_TARGETS if _key(t) in EMPTY_WHEN_HEALTHY)


@pytest.fixture(scope="module")
def phases(tmp_path_factory):
    """Series counts per target on the healthy site, then after the trouble events."""
    with running_stack(tmp_path_factory.mktemp("dash-stack")) as stack:
        assert {"ipp", "node", "prometheus", "alertmanager"} <= stack.jobs
        assert wait_for_targets(stack.api, stack.jobs, timeout=30) == stack.jobs
        stack.collect(6 * SCRAPE_SECONDS)  # rate() needs two scrapes in its window, recording rules a few rounds
        healthy_end = time.time()
        healthy = _results(stack.api, healthy_end)
        _trouble(stack)
        # the site keeps moving (reverts, retries) until every listed panel shows data, for at most a minute
        deadline = time.monotonic() + 60
        while not _listed_have_data(trouble := _results(stack.api, time.time())) and time.monotonic() < deadline:
            stack.collect(SCRAPE_SECONDS)
    return healthy, trouble


def test_every_panel_query_returns_data_on_the_healthy_site(phases):
    healthy, _ = phases
    empty = [f"{t.uid} #{t.panel_id} {t.title!r} {t.ref_id}: {t.expr}" for t in ALL_TARGETS
             if _key(t) not in EMPTY_WHEN_HEALTHY and _key(t) not in NOT_CHECKED
             and healthy[(t.uid, t.panel_id, t.ref_id)][0] == 0]
    assert not empty, "queries without data:\n" + "\n".join(empty)


def test_panels_empty_when_healthy_show_data_under_the_trouble_scenario(phases):
    _, trouble = phases
    empty = [f"{t.uid} #{t.panel_id} {t.title!r} {t.ref_id}: {t.expr}" for t in ALL_TARGETS
             if _key(t) in EMPTY_WHEN_HEALTHY and trouble[(t.uid, t.panel_id, t.ref_id)][0] == 0]
    assert not empty, "queries still without data after the trouble events:\n" + "\n".join(empty)


def test_the_healthy_site_really_leaves_some_listed_panels_empty(phases):
    """The list is not a blanket excuse: at least the controller-host and excluded-host panels are empty."""
    healthy, _ = phases
    for uid, title in (("ipp-pantasks", "Controller hosts down, off or not responding"),
                       ("ipp-hosts", "Hosts taken out of processing")):
        assert all(healthy[(t.uid, t.panel_id, t.ref_id)][0] == 0 for t in ALL_TARGETS if _key(t) == (uid, title))


def test_exemption_lists_name_existing_panels():
    titles = {(uid, panel.get("title")) for uid, board in BOARDS.items() for panel in panels(board)}
    assert set(EMPTY_WHEN_HEALTHY) <= titles
    assert set(NOT_CHECKED) <= titles
    assert all(reason.strip() for reason in {**EMPTY_WHEN_HEALTHY, **NOT_CHECKED}.values())


def test_every_czar_duty_maps_to_panels_that_return_data(phases):
    healthy, trouble = phases
    parity = yaml.safe_load((ROOT / "grafana" / "parity.yml").read_text())
    silent = []
    for duty in parity["duties"]:
        for ref in duty["panels"]:
            counts = [(trouble if (ref["uid"], ref["title"]) in EMPTY_WHEN_HEALTHY else healthy)[key][0]
                      for key in healthy if key[:2] == (ref["uid"], ref["id"])]
            if not counts or min(counts) == 0:
                silent.append(f"{duty['duty']}: {ref['uid']} #{ref['id']} {ref['title']}")
    assert not silent, "czar duties whose panels return no data:\n" + "\n".join(silent)


def _link_fields(panel: dict) -> set[str]:
    """Fields and series labels the panel's data links read (${__data.fields.X}, ${__field.labels.X})."""
    urls = [link["url"] for link in panel.get("fieldConfig", {}).get("defaults", {}).get("links", [])]
    return {name for url in urls for name in re.findall(r"\$\{__(?:data\.fields|field\.labels)\.(\w+)", url)}


def test_data_links_get_every_value_they_need_from_the_query_results(phases):
    healthy, trouble = phases
    missing = []
    for uid, board in BOARDS.items():
        for panel in panels(board):
            needed = _link_fields(panel)
            if not needed:
                continue
            phase = trouble if (uid, panel["title"]) in EMPTY_WHEN_HEALTHY else healthy
            labels = set().union(*(phase[key][1] for key in phase if key[:2] == (uid, panel["id"])))
            if not needed <= labels:
                missing.append(f"{uid} #{panel['id']} {panel['title']}: links read {sorted(needed - labels)}")
    assert not missing, "\n".join(missing)
