"""One hung pantasks server must not knock the healthy ones out (issue 13): real client processes, real time."""

from pathlib import Path

from plugins.exposition import ShiftedClock, text_value

from exporter.collectors import Exporter
from exporter.config import config_from_data

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pantasks"
FAKE_CLIENT = str(FIXTURES / "bin" / "fake_pantasks_client")
BUDGET = 1.0  # each scrape waits this long on the hung server
TTL = 4.5     # a copy fresh when a scrape starts expires while it waits in about one scrape of four


def server_dir(tmp_path: Path, name: str, mode: str) -> str:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "ptolemy.rc").write_text(f"FAKE_MODE {mode}\nFAKE_STATUS {FIXTURES / 'status.stdscience.txt'}\n"
                                          f"FAKE_LABELS {FIXTURES / 'show.labels.stdscience.txt'}\n")
    return str(directory)


def test_five_servers_one_hung_the_four_healthy_are_up_in_every_scrape(tmp_path):
    # s0 sorts first, so every healthy server is read after the wait on the hung one
    servers = [{"name": f"s{i}", "directory": server_dir(tmp_path, f"s{i}", "hang" if i == 0 else "replay"),
                "client": FAKE_CLIENT, "timeout": "5s"} for i in range(5)]
    config = config_from_data({"exporter": {"cache_ttl": TTL, "max_stale": 0, "scrape_timeout": 30},
                               "pantasks": {"servers": servers}})
    exporter = Exporter(config, enabled=("pantasks",))
    try:
        ups = []
        for _ in range(20):
            text = exporter.expose(BUDGET).text().decode()
            ups.append([text_value(text, "ipp_pantasks_up", server=f"s{i}") for i in range(5)])
    finally:
        exporter.close()
    assert all(up[0] == 0 for up in ups)
    assert [up[1:] for up in ups] == [[1, 1, 1, 1]] * 20, ups


def test_a_fetch_in_flight_past_max_fetch_age_is_abandoned_and_the_next_scrape_starts_another(tmp_path):
    hung = {"name": "hung", "directory": server_dir(tmp_path, "hung", "hang"), "client": FAKE_CLIENT, "timeout": "8s"}
    config = config_from_data({"exporter": {"cache_ttl": "10s", "max_stale": 0, "max_fetch_age": "20s"},
                               "pantasks": {"servers": [hung]}})
    clock = ShiftedClock()
    exporter = Exporter(config, enabled=("pantasks",), clock=clock)  # the one clock: deadlines and fetch ages
    try:
        first = exporter.expose(0.3).text().decode()
        clock.offset += 10  # in flight 10 s: under the cap, so the next scrape joins it
        joined = exporter.expose(0.3).text().decode()
        clock.offset += 11  # in flight 21 s: over the cap
        retried = exporter.expose(0.3).text().decode()
    finally:
        exporter.close()
    fetches = [text_value(t, "ipp_source_fetches_total", source="pantasks/hung") for t in (first, joined, retried)]
    assert fetches == [1, 1, 2]
    assert all(text_value(t, "ipp_pantasks_up", server="hung") == 0 for t in (first, joined, retried))
