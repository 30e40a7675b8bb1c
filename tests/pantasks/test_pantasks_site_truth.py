"""Issue 11 in the collector: the job queue, task timing, macros not loaded, the history file, replies out of step."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest
from pantasks_helpers import FIXTURES
from plugins.exposition import scrape_text as scrape
from plugins.exposition import text_value as value

from exporter.collectors.pantasks import JobSeconds, PantasksCollector
from exporter.config import PantasksServer, SshConfig
from exporter.parsers.pantasks import parse_taskstats
from exporter.transport import LocalRunner, SshRunner
from ippsim.pantasks import sim
from ippsim.pantasks.sites import create_server
from ippsim.pantasks.wrapper import write_client

LABEL = "M31.nightlyscience"


@pytest.fixture
def site(tmp_path):
    """A simulated stdscience server that has run a while, and the simulated pantasks_client."""
    directory = create_server(tmp_path / "stdscience", "stdscience", labels=(LABEL,), seed=5)
    start = time.time()
    for step in range(6):
        sim.advance(directory, 10, now=start + 10 * step)
    return directory, str(write_client(tmp_path / "bin"))


def tree(directory: Path) -> dict[str, str]:
    """Every entry under directory with a hash of its content (links by target): what 'untouched' compares."""
    out = {}
    for path in sorted(directory.rglob("*")):
        key = str(path.relative_to(directory))
        if path.is_symlink():
            out[key] = "-> " + os.readlink(path)
        elif path.is_file():
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[key] = "dir"
    return out


def scrape_site(site, executor) -> str:
    """One scrape of the simulated server by a local collector."""
    directory, client = site
    server = PantasksServer(name="stdscience", directory=str(directory), client=client, timeout=10)
    collector = PantasksCollector((server,), {"": LocalRunner()}, executor, 15.0, 300.0)
    try:
        return scrape(collector, budget=10.0)
    finally:
        collector.close()


def test_queued_jobs_come_from_status_jobs(site, executor):
    text = scrape_site(site, executor)
    busy = value(text, "ipp_pantasks_queue_jobs", server="stdscience", state="BUSY")
    assert busy is not None and busy > 0
    assert value(text, "ipp_pantasks_task_job_duration_seconds", server="stdscience", task="chip.imfile.load",
                 result="success", stat="max") > 0
    assert value(text, "ipp_pantasks_macro_defined", server="stdscience", macro="show.labels") == 1


@pytest.fixture(params=["stand-in x100", "simulated x4"])
def history_site(request, site, tmp_path):
    """(server directory, client, scrapes): the light sh stand-in for 100 scrapes, the simulated client for a few."""
    directory, client = site
    if request.param.startswith("simulated"):
        return directory, client, 4
    rc = directory / "ptolemy.rc"
    rc.write_text(rc.read_text() + f"FAKE_STATUS {FIXTURES / 'status.stdscience.txt'}\n")
    return directory, str(FIXTURES / "bin" / "history_client"), 100


def test_server_dir_untouched_after_local_scrapes(history_site, executor):
    directory, client, scrapes = history_site
    before = tree(directory)
    # four configured names for the one server: each scrape runs four clients at once
    servers = tuple(PantasksServer(name=f"s{n}", directory=str(directory), client=client, timeout=10) for n in range(4))
    collector = PantasksCollector(servers, {"": LocalRunner()}, executor, 0.0, 300.0)
    try:
        for _ in range(scrapes // 4):
            text = scrape(collector, budget=10.0)
            assert [value(text, "ipp_pantasks_up", server=s.name) for s in servers] == [1] * 4
        workdir = Path(collector._workdir.path())
        assert os.readlink(workdir / ".pantasks") == os.devnull and sorted(os.listdir(workdir)) == [".pantasks"]
    finally:
        collector.close()
    assert sum(collector.flights[s.name].fetches for s in servers) == scrapes
    assert tree(directory) == before
    assert not workdir.exists()


def test_server_dir_untouched_after_ssh_scrapes(history_site, sshd, executor, tmp_path):
    directory, client, scrapes = history_site
    before = tree(directory)
    remote_work = tmp_path / "remote-home" / "work dir; $(touch pwned)"
    servers = tuple(PantasksServer(name=f"remote{n}", directory=str(directory), client=client, host=sshd.host,
                                   timeout=10) for n in range(4))
    runner = SshRunner(sshd.host, SshConfig(sshd.user, sshd.known_hosts, sshd.port, sshd.key_file))
    collector = PantasksCollector(servers, {sshd.host: runner}, executor, 0.0, 300.0,
                                  remote_workdir=str(remote_work))
    try:
        for _ in range(scrapes // 4):
            text = scrape(collector, budget=10.0)
            assert [value(text, "ipp_pantasks_up", server=s.name) for s in servers] == [1] * 4
    finally:
        collector.close()
    assert sum(collector.flights[s.name].fetches for s in servers) == scrapes
    assert tree(directory) == before
    assert os.readlink(remote_work / ".pantasks") == os.devnull and os.listdir(remote_work) == [".pantasks"]
    assert not list(tmp_path.rglob("pwned"))


def test_history_stand_in_writes_history_where_it_runs(history_site, tmp_path):
    """The stand-in must really write ./.pantasks, or the two tests above prove nothing."""
    directory, client, _scrapes = history_site
    env = {**os.environ, "PTOLEMY": str(directory / "ptolemy.rc")}
    subprocess.run([client], input=b"echo x\nstatus -jobs\n", cwd=tmp_path, env=env, capture_output=True, timeout=20)
    assert (tmp_path / ".pantasks").read_text().splitlines()[-2:] == ["echo x", "status -jobs"]


def test_macros_not_loaded_is_up_and_not_defined(fake_server, local_collector):
    server = fake_server("bare", FAKE_NOT_FOUND="show.labels,ns.show.dates", FAKE_STATUS=FIXTURES / "status.empty.txt")
    text = scrape(local_collector(server))
    assert value(text, "ipp_pantasks_up", server="bare") == 1
    assert value(text, "ipp_pantasks_macro_defined", server="bare", macro="show.labels") == 0
    assert value(text, "ipp_pantasks_macro_defined", server="bare", macro="ns.show.dates") == 0
    assert value(text, "ipp_pantasks_parse_errors_total", server="bare") == 0
    assert "ipp_pantasks_label_info{" not in text


def test_task_timing_series(fake_server, local_collector):
    text = scrape(local_collector(fake_server("s")))
    run = {"server": "s", "task": "chip.imfile.run"}
    assert value(text, "ipp_pantasks_task_job_duration_seconds", **run, result="success", stat="avg") == 62.4
    assert value(text, "ipp_pantasks_task_job_duration_seconds", **run, result="failure", stat="max") == 655.0
    assert value(text, "ipp_pantasks_task_job_seconds_total", **run, result="success") == round(62.4 * 17755, 2)
    # a group without jobs has no figures (its printed 0.00 is no duration)
    assert value(text, "ipp_pantasks_task_job_duration_seconds", server="s", task="chip.imfile.load",
                 result="failure", stat="avg") is None
    reset = scrape(local_collector(fake_server("r", FAKE_TASKSTATS=FIXTURES / "status.taskstats.reset.txt")))
    assert value(reset, "ipp_pantasks_task_job_duration_seconds", server="r", task="chip.imfile.run",
                 result="all", stat="avg") is None  # inf after a reset is not exported


def _stats(count: int, average: float):
    row = f"  ++ t | {count:5d}   1.00 {average:6.2f}  90.00 | {count:5d}   1.00 {average:6.2f}  90.00 |" \
          "     0   NONE   0.00   0.00 |"
    return parse_taskstats(f"\n Scheduler is running\n\n Task Statistics\n{row}\n")


def test_job_seconds_never_dip_but_reset_with_the_count():
    sums = JobSeconds()

    def success(count: int, average: float) -> float:
        return dict(((task, result), total) for task, result, total in sums.update("s", _stats(count, average)))[
            ("t", "success")]

    assert success(20000, 60.00) == 1200000.0
    # one more job of 0.5 s: the rounded average 59.99 gives 1199859.99, a dip rate() would take for a reset
    assert success(20001, 59.99) == 1200000.0
    assert success(20100, 60.10) == 1208010.0
    assert success(3, 10.0) == 30.0  # server restart / taskstatsreset: a real reset


def test_busy_shift_is_counted_and_nothing_is_misattributed(site, executor):
    sim.apply_event(site[0], "macro-lock", busy_wait=0.3, seconds=0.35)
    text = scrape_site(site, executor)
    assert value(text, "ipp_pantasks_busy", server="stdscience") == 1
    assert value(text, "ipp_pantasks_up", server="stdscience") == 0
    assert value(text, "ipp_pantasks_misaligned_sections_total", server="stdscience") == 4
    assert value(text, "ipp_pantasks_parse_errors_total", server="stdscience") == 0


def test_sections_lost_to_a_busy_answer_keep_their_last_good_copy(fake_server, local_collector):
    server = fake_server("s")
    collector = local_collector(server, ttl=0.0, max_stale=300.0)
    first = scrape(collector)
    assert value(first, "ipp_pantasks_label_info", server="s", label="ps_ud_QUB") == 1
    rc = Path(server.directory) / "ptolemy.rc"
    rc.write_text(rc.read_text() + "FAKE_BUSY show.labels,controller status\nFAKE_NOT_FOUND ns.show.dates\n")
    second = scrape(collector)
    assert value(second, "ipp_pantasks_busy", server="s") == 1 and value(second, "ipp_pantasks_up", server="s") == 1
    assert value(second, "ipp_pantasks_label_info", server="s", label="ps_ud_QUB") == 1  # the last good copy
    assert value(second, "ipp_pantasks_controller_host_state", server="s", host="ipp019", state="OFF") == 1
    # `Command not found.` is current news, not a lost section: no nightly pages from the old copy
    assert value(second, "ipp_pantasks_macro_defined", server="s", macro="ns.show.dates") == 0
    assert "ipp_nightly_science_state{" not in second
