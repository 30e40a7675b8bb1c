"""A bounded soak of the real exporter process (60 s by default; RELIABILITY_SOAK_SECONDS to change it)."""

from __future__ import annotations

import os

from plugins.tools import need_tool
from reliability_report import figure
from soak import soak

SECONDS = float(os.environ.get("RELIABILITY_SOAK_SECONDS", "60"))


def test_soak_with_churn_and_20_concurrent_scrapers(tmp_path_factory):
    need_tool("mariadbd", "/usr/sbin/mariadbd")
    need_tool("sshd", "/usr/sbin/sshd")
    # the first third warms the process up (pools, caches, allocator); RSS growth is measured over the rest
    result = soak(SECONDS, scrapers=20, warmup=SECONDS / 3, base=tmp_path_factory.mktemp("soak"))
    figure("soak", result.summary())
    assert result.scrapes > 20 and result.churn_steps > 5, result.summary()
    assert result.failed == 0, result.summary()
    assert result.over_budget == 0, result.summary()
    assert result.rss_growth <= 0.05, result.summary()
    assert result.after.fds == result.before.fds, result.summary()
    assert result.after.threads == result.before.threads, result.summary()
