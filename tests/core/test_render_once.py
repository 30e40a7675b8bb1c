"""Render once per fetch: cached bytes (and their gzip copy) served as-is; self-metrics stay per scrape; HTTP storm."""

import gzip
import subprocess
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from plugins.exposition import text_samples, text_value
from plugins.tools import need_tool

from exporter.cache import SingleFlight
from exporter.collectors import Collected, Exporter, SourceHealth, answers_key
from exporter.config import Config, ExporterSettings
from exporter.exposition import Piece, accepts_gzip
from exporter.http import LISTEN_BACKLOG, make_server
from exporter.metrics import Families, MetricSpec

SPEC = (MetricSpec("ipp_test_value", "gauge", "A test value.", ("who",)),)


class Clock:
    def __init__(self):
        self.now = 5000.0

    def __call__(self):
        return self.now


class Counting:
    """A collector over one cached source that counts how often it builds its families."""

    name = "counting"

    def __init__(self, executor, clock, ttl=10.0, samples=200):
        self.builds, self.fetched, self.samples = 0, 0, samples
        self.flight = SingleFlight(self._fetch, executor, ttl, 60.0, clock=clock)

    def _fetch(self):
        self.fetched += 1
        return self.fetched

    def collect(self, deadline):
        fetched = self.flight.get(deadline)
        return Collected(lambda: self._families(fetched.value), [SourceHealth.of("counting/one", fetched)],
                         key=answers_key([fetched]))

    def _families(self, value):
        self.builds += 1
        fams = Families(SPEC)
        for i in range(self.samples):
            fams.add("ipp_test_value", [f"w{i:04d}"], value)
        return fams.families()


@pytest.fixture
def pool():
    with ThreadPoolExecutor(4) as executor:
        yield executor


def make(collectors, clock=None, **settings):
    kw = {"clock": clock} if clock else {}
    return Exporter(Config(exporter=ExporterSettings(**settings)), collectors=collectors, **kw)


def test_families_are_built_and_rendered_once_per_fetch(pool):
    clock = Clock()
    counting = Counting(pool, clock)
    exporter = make([counting], clock)
    try:
        first = exporter.expose(5.0)
        texts = [exporter.expose(5.0).text().decode() for _ in range(20)]
        assert counting.builds == 1 and counting.fetched == 1
        assert first.pieces[0] is exporter.expose(5.0).pieces[0]  # the same bytes object, served as-is
        assert all(text_value(t, "ipp_test_value", who="w0001") == 1 for t in texts)
        clock.now += 11  # TTL over: one new fetch, one new rendering
        text = exporter.expose(5.0).text().decode()
        assert counting.builds == 2 and text_value(text, "ipp_test_value", who="w0001") == 2
    finally:
        exporter.close()


def test_self_metrics_stay_per_scrape_while_the_data_is_cached(pool):
    clock = Clock()
    exporter = make([Counting(pool, clock)], clock)
    try:
        exporter.expose(5.0)
        clock.now += 4
        text = exporter.expose(5.0).text().decode()
        assert text_value(text, "ipp_source_data_age_seconds", source="counting/one") == 4
        assert text_value(text, "ipp_source_fetches_total", source="counting/one") == 1
        assert text_value(text, "ipp_scrape_collector_success", collector="counting") == 1
        clock.now += 3
        later = exporter.expose(5.0).text().decode()
        assert text_value(later, "ipp_source_data_age_seconds", source="counting/one") == 7
    finally:
        exporter.close()


def test_gzip_copy_decodes_to_the_text(pool):
    exporter = make([Counting(pool, Clock())])
    try:
        exposition = exporter.expose(5.0)
        assert gzip.decompress(exposition.gzipped()) == exposition.text()
        assert len(exposition.gzipped()) < len(exposition.text()) / 3
    finally:
        exporter.close()


@pytest.mark.parametrize("header, expected", [("gzip", True), ("deflate, gzip;q=0.5", True), ("gzip;q=0", False),
                                              ("identity", False), (None, False), ("*", True), ("GZIP", True)])
def test_accept_encoding(header, expected):
    assert accepts_gzip(header) is expected


@pytest.fixture
def served(pool):
    exporter = make([Counting(pool, Clock(), samples=2000)], scrape_timeout=10)
    server = make_server(exporter, "127.0.0.1:0")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    exporter.close()


def get(port, path="/metrics", **headers):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.headers, response.read()


def test_http_honours_accept_encoding(served):
    headers, body = get(served.server_port, **{"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip" and headers["Vary"] == "Accept-Encoding"
    text = gzip.decompress(body).decode()
    assert text_value(text, "ipp_test_value", who="w1999") == 1
    plain_headers, plain = get(served.server_port)
    assert plain_headers["Content-Encoding"] is None
    assert text_samples(plain.decode(), "ipp_test_value") == text_samples(text, "ipp_test_value")


def test_listen_backlog_fits_a_scrape_storm(served):
    ss = need_tool("ss")
    out = subprocess.run([ss, "-ltnH", f"sport = :{served.server_port}"], capture_output=True, text=True, timeout=10)
    backlog = int(out.stdout.split()[2])  # Send-Q of a listening socket is its backlog
    assert backlog >= min(LISTEN_BACKLOG, int(open("/proc/sys/net/core/somaxconn").read())) >= 128


def test_two_hundred_concurrent_scrapes_all_answer(served):
    def scrape(_):
        _, body = get(served.server_port, **{"Accept-Encoding": "gzip"})
        return text_value(gzip.decompress(body).decode(), "ipp_test_value", who="w0000")

    with ThreadPoolExecutor(200) as clients:
        values = list(clients.map(scrape, range(200), timeout=120))
    assert values == [1] * 200


def test_small_renderer_matches_generate_latest_byte_for_byte():
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    from exporter.exposition import render_small

    gauge = GaugeMetricFamily("ipp_x_seconds", 'Help with \\ backslash\nnewline and "quotes".', labels=["source"])
    for value, number in (('a"b\\c\nd', 1.5), ("plain", float("nan")), ("big", 1e21), ("neg", -0.0), ("int", 3)):
        gauge.add_metric([value], number)
    counter = CounterMetricFamily("ipp_y_total", "A counter.", labels=["source"])
    counter.add_metric(["s"], 7)
    empty = GaugeMetricFamily("ipp_z", "No samples.", labels=["a"])
    plain = GaugeMetricFamily("ipp_w", "No labels.", value=2.25)
    families = [gauge, counter, empty, plain]
    assert render_small(families).text == Piece.render(families).text
