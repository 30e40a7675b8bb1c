"""Render once per fetch: cached bytes (and their gzip copy) served as-is; self-metrics stay per scrape; HTTP storm."""

import gzip
import subprocess
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plugins.exposition import text_samples, text_value
from plugins.tools import need_tool
from prometheus_client import CollectorRegistry, generate_latest

from exporter.cache import SingleFlight
from exporter.collectors import Collected, Exporter, SourceHealth, answers_key
from exporter.config import Config, ExporterSettings
from exporter.exposition import LineMemo, Piece, accepts_gzip
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


def _generate_latest(families: Families) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Static(families.families()))
    return generate_latest(registry)


class _Static:
    def __init__(self, families):
        self._families = families

    def collect(self):
        return self._families


HOSTILE_SPECS = (
    MetricSpec("ipp_x_seconds", "gauge", 'Help with \\ backslash\nnewline and "quotes".', ("source", "a_first")),
    MetricSpec("ipp_y", "counter", "A counter.", ("source",)),
    MetricSpec("ipp_z", "gauge", "No samples.", ("a",)),
    MetricSpec("ipp_w", "gauge", "No labels."),
)


def test_direct_renderer_matches_generate_latest_byte_for_byte():
    fams = Families(HOSTILE_SPECS)
    values = (1.5, float("nan"), 1e21, -0.0, 3, 999_999, 1_000_000, -10**17, 2**70, float("inf"), float("-inf"),
              1e-07, 123456.75, True, 0.1 + 0.2, -1e6, 123_456_789, 1_200_000, 10**15, 2**53 - 1, 2**53, 7 * 10**12)
    for i, value in enumerate(values):
        fams.add("ipp_x_seconds", ['a"b\\c\nd' if i % 2 else f"plain{i}", "z\u00e9\u2603"], value)
    fams.add("ipp_y", ["s"], 7)
    fams.add("ipp_w", [], 2.25)
    memo = LineMemo()
    assert Piece.render(fams, memo=memo).text == _generate_latest(fams)
    assert Piece.render(fams, memo=memo).text == _generate_latest(fams)  # again, from the memo


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=5),
                          st.one_of(st.integers(min_value=-2**80, max_value=2**80), st.floats())), max_size=30))
def test_direct_renderer_matches_generate_latest_for_any_values(samples):
    fams = Families(HOSTILE_SPECS)
    memo = LineMemo()
    for source, first, value in samples:
        fams.add("ipp_x_seconds", [source, first], value)
        fams.add("ipp_y", [first], value)
    assert Piece.render(fams, memo=memo).text == _generate_latest(fams)
    assert Piece.render(fams, memo=memo).text == _generate_latest(fams)


def test_a_family_is_rendered_again_exactly_when_its_samples_changed():
    memo = LineMemo()
    rounds = [{"ipp_y": [(["a"], 1), (["b"], 2)], "ipp_w": [([], 1.5)]},
              {"ipp_y": [(["a"], 1), (["b"], 2)], "ipp_w": [([], 2.5)]},   # one family changed
              {"ipp_y": [(["a"], 1), (["b"], 3)], "ipp_w": [([], 2.5)]},   # the other one
              {"ipp_y": [(["a"], 1)], "ipp_w": [([], 2.5)]},               # a series gone
              {"ipp_y": [(["a"], 1), (["b"], 3)], "ipp_w": []}]
    previous, previous_samples = None, {}
    for samples in rounds:
        fams = Families(HOSTILE_SPECS)
        for name, values in samples.items():
            for labels, value in values:
                fams.add(name, labels, value)
        piece = Piece.render(fams, memo=memo)
        assert piece.text == _generate_latest(fams)
        assert gzip.decompress(piece.gzipped()) == piece.text
        if previous is not None:  # chunks: x_seconds, y, z, w; an unchanged family brings its gzip member along
            kept = [now is before for now, before in zip(piece.chunks, previous.chunks, strict=True)]
            assert kept[1] == (samples["ipp_y"] == previous_samples["ipp_y"])
            assert kept[3] == (samples["ipp_w"] == previous_samples["ipp_w"])
            assert kept[0] and kept[2]
        previous, previous_samples = piece, samples


def test_line_memo_is_bounded():
    memo = LineMemo()
    for round_ in range(5):
        fams = Families(HOSTILE_SPECS)
        for i in range(1000):
            fams.add("ipp_y", [f"r{round_}-{i}"], i)
        Piece.render(fams, memo=memo)
    assert len(memo.of("ipp_y_total", 1000).prefixes) <= 2 * 1000 + 256


def test_label_count_is_checked_when_added():
    with pytest.raises(ValueError, match="ipp_y"):
        Families(HOSTILE_SPECS).add("ipp_y", ["a", "b"], 1)
