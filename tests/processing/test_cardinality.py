"""Label values stay bounded on a large simulated site with a fault storm (no ids, names, times or free text)."""

from __future__ import annotations

import re

from plugins.exposition import scrape
from processing_helpers import NOW

from exporter.parsers.processing import PENDING_STATES, STAGES, SUMMIT_STATUSES, fault_buckets
from ippsim import scenario


def test_label_values_are_bounded(site_db, rows, make_collector):
    spec = scenario.ScenarioSpec(hosts=12, labels=scenario.DEFAULT_LABELS, history_exposures=60, tonight_exposures=30,
                                 n_ota=12, n_skycells=6, fault_rate=0.2, night=NOW.strftime("%Y-%m-%d"))
    scenario.build(site_db.root, spec)
    # fault storm: every faulted component gets a different, mostly unknown code
    rows.execute("UPDATE chipProcessedImfile SET fault = 1000 + (CRC32(class_id) + chip_id) %% 5000 WHERE fault <> 0")
    rows.execute("UPDATE chipRun SET state = 'new' WHERE chip_id %% 3 = 0")
    c = scrape(make_collector())
    values: dict[str, set] = {}
    series = 0
    for family in c.families:
        for s in family.samples:
            series += 1
            for k, v in s.labels.items():
                values.setdefault(k, set()).add(v)
    labels = {name for name, _ in spec.labels}
    assert values["dbname"] == {"gpc1"}
    assert values["stage"] <= set(STAGES)
    assert values["label"] <= labels | {""}
    assert values["fault"] <= set(fault_buckets("summitcopy")) | set(fault_buckets("chip"))
    assert "other" in values["fault"]  # the storm's codes all landed in one bucket
    assert values["host"] <= set(spec.host_names) | {""}
    assert values["state"] <= set(PENDING_STATES) | {"run"}
    assert values["status"] == set(SUMMIT_STATUSES)
    assert values["priority"] <= {str(p) for _, p in spec.labels}
    no_ids = re.compile(r"^\d{3,}$|\d{4}-\d\d-\d\d|[ :/]")  # ids, dates, free text or paths
    assert not [v for k, vs in values.items() if k not in ("fault", "priority") for v in vs if no_ids.search(v)]
    bound = len(STAGES) * len(labels | {""}) * (len(fault_buckets("summitcopy")) + len(PENDING_STATES)) \
        + len(STAGES) * spec.hosts + len(labels) + len(SUMMIT_STATUSES) + 2
    assert series <= bound
