"""The fetch pool that collectors under test run their fetches in."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest


@pytest.fixture
def executor():
    """Fetch pool shared by the collectors of one test."""
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="test-fetch")
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)
