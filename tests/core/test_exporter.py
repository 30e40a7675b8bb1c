"""The isolating wrapper: a failing, hung or slow collector never blanks the others; the budget is honoured."""

import threading
import time
import urllib.request

import pytest
from plugins.exposition import text_samples as samples

from exporter.collectors import Collected, Exporter, SourceHealth
from exporter.config import Config, ExporterSettings
from exporter.http import make_app, parse_listen_address, render
from exporter.metrics import Families, MetricSpec

SPEC = (MetricSpec("ipp_test_value", "gauge", "A test value.", ("who",)),)


class Good:
    name = "good"
    METRICS = SPEC

    def collect(self, deadline):
        fams = Families(SPEC)
        fams.add("ipp_test_value", ["good"], 7)
        return Collected(fams.families(), [SourceHealth("good/one", 1700000000.0, 0.0)])


class Broken:
    name = "broken"

    def collect(self, deadline):
        raise RuntimeError("parser exploded")


class Hung:
    name = "hung"

    def __init__(self):
        self.release = threading.Event()

    def collect(self, deadline):
        self.release.wait(30)
        return Collected([])


@pytest.fixture
def hung():
    h = Hung()
    yield h
    h.release.set()


def make(collectors, **settings):
    return Exporter(Config(exporter=ExporterSettings(**settings)), collectors=collectors)


def test_one_failing_and_one_hung_collector_leave_the_good_one_intact(hung):
    exporter = make([Good(), Broken(), hung])
    start = time.monotonic()
    text = render(exporter, 1.0).decode()
    took = time.monotonic() - start
    got = samples(text)
    assert took < 3.0
    assert got[("ipp_test_value", (("who", "good"),))] == 7
    assert got[("ipp_scrape_collector_success", (("collector", "good"),))] == 1
    assert got[("ipp_scrape_collector_success", (("collector", "broken"),))] == 0
    assert got[("ipp_scrape_collector_success", (("collector", "hung"),))] == 0
    assert got[("ipp_source_last_success_timestamp_seconds", (("source", "good/one"),))] == 1700000000.0
    assert got[("ipp_source_data_age_seconds", (("source", "good/one"),))] == 0.0
    assert got[("ipp_scrape_collector_duration_seconds", (("collector", "hung"),))] >= 0.9
    exporter.close()


def test_output_is_sorted_by_collector():
    exporter = make([Good(), Broken()])
    text = render(exporter, 1.0).decode()
    lines = [l for l in text.splitlines() if l.startswith("ipp_scrape_collector_success")]
    assert lines == ['ipp_scrape_collector_success{collector="broken"} 0.0',
                     'ipp_scrape_collector_success{collector="good"} 1.0']


@pytest.mark.parametrize("header, expected", [(None, 9.5), ("", 9.5), ("4", 3.5), ("nan", 9.5), ("junk", 9.5), ("-3", 9.5)])
def test_budget_from_scrape_timeout_header(header, expected):
    assert make([], scrape_timeout=10, timeout_offset=0.5).budget(header) == expected


def test_http_honours_scrape_timeout_header(hung):
    from wsgiref.simple_server import make_server

    exporter = make([Good(), hung], scrape_timeout=30)
    server = make_server("127.0.0.1", 0, make_app(exporter))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        request = urllib.request.Request(url, headers={"X-Prometheus-Scrape-Timeout-Seconds": "1.5"})
        start = time.monotonic()
        with urllib.request.urlopen(request, timeout=20) as response:
            body = response.read().decode()
            assert response.headers["Content-Type"].startswith("text/plain")
        assert time.monotonic() - start < 5
        assert 'ipp_scrape_collector_success{collector="hung"} 0.0' in body
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/-/healthy", timeout=5) as response:
            assert response.read() == b"OK\n"
    finally:
        server.shutdown()
        server.server_close()
        exporter.close()


@pytest.mark.parametrize("value, expected", [(":8475", ("0.0.0.0", 8475)), ("127.0.0.1:1", ("127.0.0.1", 1)),
                                             ("[::1]:9000", ("::1", 9000))])
def test_parse_listen_address(value, expected):
    assert parse_listen_address(value) == expected


@pytest.mark.parametrize("value", ["8475", "host:", "host:port", "h:70000", "::1:9000", "[::1:9000", "[nothost]:1"])
def test_parse_listen_address_rejects(value):
    with pytest.raises(ValueError):
        parse_listen_address(value)
