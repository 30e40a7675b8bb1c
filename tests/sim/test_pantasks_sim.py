"""The simulated pantasks servers: byte formats, client behaviour, state-changing commands, parser compatibility."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from exporter.parsers import pantasks as parsers
from ippsim.pantasks import render, sim
from ippsim.pantasks import state as st
from ippsim.pantasks.commands import run_command
from ippsim.pantasks.sites import create_server, new_state, new_task
from ippsim.pantasks.wrapper import write_client

LABEL = "M31.nightlyscience"


@pytest.fixture
def server(tmp_path):
    """A stdscience server directory with one label, and the generated client."""
    directory = create_server(tmp_path / "stdscience", "stdscience", labels=(LABEL,))
    return directory, write_client(tmp_path / "bin")


def client(server_dir, client_path, text, *args, env=None, timeout=20, merged=False):
    """Run the generated pantasks_client in the server directory with `text` on stdin (merged: stderr=STDOUT)."""
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT} if merged else {"capture_output": True}
    return subprocess.run([str(client_path), *args], input=text, text=True, cwd=server_dir, env=env,
                          timeout=timeout, check=False, **streams)


def test_column_width_reproduces_the_log10_quirk():
    assert [render.column_width(v) for v in (0, 1, 99999, 100000, 123456, 999999, 10**7)] == [5, 5, 5, 5, 6, 6, 7]


def test_status_table_uses_the_real_printf_widths():
    tasks = [dict(new_task("a.load", "chiptool", "load", False), command="chiptool", njobs=100000, nsuccess=99998,
                  nfailure=1, ntimeout=0),
             dict(new_task("chip.imfile.run", "chip_imfile.pl", "run", True), njobs=3, nsuccess=1)]
    text = render.format_task_table(tasks, now=0.0)
    lines = text.split("\n")
    assert lines[:2] == ["", " Task Status"]
    # the C formats with N=15 (longest name), all numeric widths 5 (100000 overflows: log10 quirk) and
    # C = max(N, strlen of the LAST task's command "(dynamic)") = 15, hence trailing blanks on every row
    header = "  AV %-15s  %5s  %5s  %5s %5s %5s %-15s" % ("Name", "Nrun", "Njobs", "Ngood", "Nfail", "Ntime", "Command")
    row = "%-15s  %5d  %5d  %5d %5d %5d %-15s"
    assert lines[2] == header
    assert lines[3] == "  ++ " + row % ("a.load", 1, 100000, 99998, 1, 0, "chiptool")
    assert lines[4] == "  ++ " + row % ("chip.imfile.run", 2, 3, 1, 0, 0, "(dynamic)")
    assert lines[3].endswith("chiptool       ")


def test_job_rows_repeat_the_total_and_empty_queue_says_so():
    jobs = [{"id": 5321, "task": "chip.imfile.run", "state": "BUSY", "argv0": "chip_imfile.pl"},
            {"id": 5322, "task": "chip.imfile.run", "state": "PENDING", "argv0": "chip_imfile.pl"}]
    assert render.format_job_queue(jobs).split("\n")[2] == \
        "    2      5321: chip.imfile.run                 BUSY       chip_imfile.pl"
    assert render.format_job_queue([]) == "\n no defined jobs\n"


def test_client_banner_prompt_echo_and_exit_2_at_eof(server):
    directory, path = server
    result = client(directory, path, "show.labels; echo done\n")
    assert result.returncode == 2
    assert result.stdout == ("\nWelcome to pantasks client shell - parallel task scheduler\n\n\n"
                             f"pantasks: show.labels; echo done\n{LABEL}\ndone\npantasks: ")
    assert (directory / ".pantasks").read_text() == "show.labels; echo done\n"


def test_failed_command_skips_the_rest_of_its_line(server):
    directory, path = server
    result = client(directory, path, "nosuchcmd; echo skipped\necho next\n")
    assert result.stderr == "nosuchcmd: Command not found.\n"
    assert "\nskipped\n" not in result.stdout and "\nnext\n" in result.stdout


def test_arguments_are_a_script_and_exit_41_without_banner(server):
    directory, path = server
    result = client(directory, path, "status\n", "status")
    assert result.returncode == 41 and "Welcome" not in result.stdout


def test_down_server_exits_12_after_the_banner(server):
    directory, path = server
    sim.apply_event(directory, "down")
    result = client(directory, path, "status\n")
    assert result.returncode == 12 and result.stdout.startswith("\nWelcome to pantasks client shell")
    assert "pantasks: " not in result.stdout


def test_missing_server_key_exits_31_and_ptolemy_env_is_used(server, tmp_path):
    directory, path = server
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "HOME": str(elsewhere)}
    env.pop("PTOLEMY", None)
    assert client(elsewhere, path, "status\n", env=env).returncode == 31
    found = client(elsewhere, path, "show.labels\n", env={**env, "PTOLEMY": str(directory / "ptolemy.rc")})
    assert found.returncode == 2 and LABEL in found.stdout


def test_hung_server_answers_busy_after_the_configured_wait(server):
    directory, path = server
    sim.apply_event(directory, "hung", busy_wait=0.3)
    started = time.monotonic()
    result = client(directory, path, "status\nshow.labels\n")
    assert time.monotonic() - started >= 0.6
    assert result.stderr == "server is busy...33\nserver is busy...33\n"
    assert "Scheduler" not in result.stdout


def test_labels_reverts_and_scheduler_commands_change_state(server):
    directory, _path = server
    state = st.load(directory)
    assert run_command(state, f"add.label {LABEL}").stdout == f"{LABEL} set\n"
    assert run_command(state, "add.label ThreePi.nightlyscience").changed
    assert run_command(state, f"del.label {LABEL}").changed
    assert render.format_labels(state["labels"]) == "ThreePi.nightlyscience\n"
    assert run_command(state, "warp.revert.on").changed
    active = {t["name"]: t["active"] for t in state["tasks"]}
    assert active["warp.revert.warped"] and active["warp.revert.overlap"] and not active["stack.revert"]
    run_command(state, "warp.revert.off")
    assert not any(t["active"] for t in state["tasks"] if t["name"].startswith("warp.revert"))
    run_command(state, "stop")
    assert " Scheduler is stopped\n" in run_command(state, "status").stdout
    run_command(state, "run")
    assert " Scheduler is running\n" in run_command(state, "status").stdout
    assert run_command(state, "stat").stdout.startswith("\n Scheduler is")  # unique prefixes match, as in opihi


def test_controller_host_commands_and_their_error_texts(server):
    directory, _path = server
    state = st.load(directory)
    assert run_command(state, "controller host off ipp099").stdout == "host ipp099 not found\n"
    assert run_command(state, "controller host on ipp011").stdout == "host ipp011 is not OFF\n"
    run_command(state, "controller host off ipp011")
    assert "0  ipp011    OFF  0.0.0.10\n" in run_command(state, "controller status +host").stdout
    assert run_command(state, "controller host on ipp011").stdout == ""
    assert run_command(state, "controller host check ipp011").stdout == "host ipp011 is DOWN\n"
    state["controller_running"] = False
    assert run_command(state, "controller status").stdout == "controller is not active\n"


def test_taskstatsreset_keeps_ntimeout_so_nrun_goes_negative(server):
    directory, _path = server
    with st.modify(directory) as state:
        task = next(t for t in state["tasks"] if t["name"] == "chip.imfile.load")
        task.update(njobs=10, nsuccess=7, nfailure=1, ntimeout=2)
        assert run_command(state, "status -taskstatsreset").changed
    row = next(line for line in run_command(st.load(directory), "status").stdout.splitlines()
               if " chip.imfile.load " in line)
    assert row.split()[2:7] == ["-2", "0", "0", "0", "2"]


def test_concurrent_clients_do_not_lose_updates(server):
    directory, _path = server

    def add(n):
        with st.modify(directory) as state:
            run_command(state, f"add.label L{n}")

    threads = [threading.Thread(target=add, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(st.load(directory)["labels"]) == sorted([LABEL] + [f"L{n}" for n in range(16)])
    assert not list(directory.glob("*.tmp"))


def test_advance_keeps_nrun_equal_to_queued_jobs(tmp_path):
    directory = create_server(tmp_path / "s", "stdscience", labels=(LABEL,), seed=3)
    start = time.time()
    for i in range(15):
        sim.advance(directory, 10, now=start + 10 * i)
    state = st.load(directory)
    for task in state["tasks"]:
        queued = sum(1 for j in state["jobs"] if j["task"] == task["name"])
        assert render.nrun(task) == queued, task["name"]
    assert sum(t["njobs"] for t in state["tasks"]) > 50


def test_no_labels_means_nothing_runs(tmp_path):
    directory = create_server(tmp_path / "s", "registration")
    sim.advance(directory, 60)
    assert all(t["njobs"] == 0 and t["command"] is None for t in st.load(directory)["tasks"])


def test_unknown_server_name_is_refused():
    with pytest.raises(ValueError, match="unknown pantasks server"):
        new_state("nosuch")


# ---- the exporter's parser reads the simulated client's output for every event (docs/pantasks.md contract)

EVENT_EXPECTATIONS = {
    # event: (params, up, busy, scheduler_running, controller_running)
    "up": ({}, True, False, True, True),
    "hung": ({"busy_wait": 0.05}, False, True, None, None),
    "restart": ({}, True, False, True, True),
    "statsreset": ({}, True, False, True, True),
    "scheduler-stop": ({}, True, False, False, True),
    "scheduler-run": ({}, True, False, True, True),
    "controller-stop": ({}, True, False, True, False),
    "controller-run": ({}, True, False, True, True),
    "host-down": ({"host": "ipp012"}, True, False, True, True),
    "host-off": ({"host": "ipp013"}, True, False, True, True),
    "host-up": ({"host": "ipp012"}, True, False, True, True),
    "stall-label": ({"label": LABEL}, True, False, True, True),
    "unstall-label": ({"label": LABEL}, True, False, True, True),
    "macro-lock": ({"busy_wait": 0.05, "seconds": 0.2}, False, True, None, None),
}


@pytest.mark.parametrize("event", sorted(set(sim.EVENTS) - {"down", "die-mid-run"}))
def test_exporter_parser_reads_every_event(server, event):
    directory, path = server
    start = time.time()
    for i in range(4):
        sim.advance(directory, 10, now=start + 10 * i)
    params, up, busy, scheduler, controller = EVENT_EXPECTATIONS[event]
    sim.apply_event(directory, event, **params)
    result = client(directory, path, parsers.client_script().decode(), merged=True)
    assert result.returncode == 2
    report = parsers.parse_client_output(result.stdout)
    assert report.busy is busy and report.ended and report.errors == 0
    if not up:
        assert report.status is None
        return
    state = st.load(directory)
    assert report.status.complete and report.status.scheduler_running is scheduler
    assert report.status.controller_running is controller
    assert [(t.name, t.running, t.jobs, t.failed, t.timed_out) for t in report.status.tasks] == \
        [(t["name"], render.nrun(t), t["njobs"], t["nfailure"], t["ntimeout"]) for t in state["tasks"]]
    assert report.labels.labels == tuple(state["labels"])
    if controller:
        assert {(h.host, h.state) for h in report.controller.hosts} == {(h["name"], h["state"]) for h in state["hosts"]}
    else:
        assert report.controller is not None and not report.controller.active
    if event == "statsreset":
        assert any(t.running < 0 for t in report.status.tasks)
    if event == "host-down":
        assert ("ipp012", "DOWN") in {(h.host, h.state) for h in report.controller.hosts}


def test_exporter_parser_reads_ns_show_dates(server):
    directory, path = server
    with st.modify(directory) as state:
        state["ns_pages"] = [{"key": "2025-05-02-gpc1", "date": "2025-05-02", "state": "NEW", "sstate": "TOWARP",
                              "dstate": "TOWARP", "ostate": "OBSERVING", "dbname": "gpc1", "camera": "GPC1"}]
    result = client(directory, path, parsers.client_script().decode())
    page = parsers.parse_client_output(result.stdout).nightly.newest()["gpc1"]
    assert (page.date, page.state, page.stack_state, page.observing_state) == ("2025-05-02", "NEW", "TOWARP", "OBSERVING")


# ---- issue 11: what the real server and client do (status_server.c, TaskOps.c, multicommand.c, startup.c)

def test_status_lists_the_job_queue_only_with_dash_jobs(server):
    directory, _path = server
    with st.modify(directory) as state:
        state["jobs"] = [{"id": 7, "task": "chip.imfile.run", "state": "BUSY", "argv0": "chip_imfile.pl"}]
    state = st.load(directory)
    plain = run_command(state, "status", now=0.0).stdout
    assert "Task Status" in plain and "Jobs in Pantasks Queue" not in plain and "no defined jobs" not in plain
    with_jobs = run_command(state, "status -jobs", now=0.0).stdout
    assert with_jobs.endswith("chip_imfile.pl\n\n")  # ListJobs, then status_server's final gprint("\n")
    assert "    1         7: chip.imfile.run" in with_jobs


def test_taskstats_prints_listtaskstats_and_the_reset_quirks(server):
    directory, _path = server
    state = st.load(directory)
    task = next(t for t in state["tasks"] if t["name"] == "chip.imfile.run")
    task.update(njobs=3, nsuccess=1, nfailure=1)
    task["timing"] = render.new_timing()
    render.record_time(task, "success", 60.0)
    render.record_time(task, "all", 60.0)
    state["tasks"] = [task]
    lines = run_command(state, "status -taskstats", now=0.0).stdout.split("\n")
    assert lines[:4] == ["", " Scheduler is running", " Controller is running", ""]
    width = len("chip.imfile.run")
    assert lines[4] == " Task Statistics"
    assert lines[6] == ("  AV %-*s | Njobs   Tmin   Tave   Tmax | Njobs   Tmin   Tave   Tmax | Njobs   Tmin   Tave   Tmax |"
                        % (width, "Name"))
    # the all-jobs average divides by Njobs (3, one job still running): 60/3
    assert lines[7] == "  ++ chip.imfile.run | %5d %6.2f %6.2f %6.2f | %5d %6.2f %6.2f %6.2f | %5d %6s %6.2f %6.2f |" % (
        3, 60.0, 20.0, 60.0, 1, 60.0, 60.0, 60.0, 1, "NONE", 0.0, 0.0)
    run_command(state, "status -taskstatsreset")
    task["nsuccess"] += 1
    render.record_time(task, "success", 30.0)
    render.record_time(task, "all", 30.0)  # Njobs is 0 after the reset: the C average divides by zero
    row = run_command(state, "status -taskstats chip").stdout.splitlines()[-1]
    assert row.split("|")[1].split() == ["0", "0.00", "inf", "30.00"]
    assert row.split("|")[2].split() == ["1", "0.00", "30.00", "30.00"]  # the reset leaves min at 0, not NONE
    report = parsers.parse_taskstats(run_command(state, "status -taskstats").stdout)
    assert report.complete and report.errors == 0 and report.tasks[0].all.average is None


def test_server_without_macros_answers_command_not_found(tmp_path):
    directory = create_server(tmp_path / "s", "stdscience", macros=False)
    path = write_client(tmp_path / "bin")
    result = client(directory, path, "show.labels\nns.show.dates\nstatus\n")
    assert result.returncode == 2
    assert result.stderr == "show.labels: Command not found.\nns.show.dates: Command not found.\n"
    assert "\n no defined tasks\n" in result.stdout
    report = parsers.parse_client_output(client(directory, path, parsers.client_script().decode(), merged=True).stdout)
    assert report.undefined == ("show.labels", "ns.show.dates") and report.errors == 0
    assert report.status.complete and report.labels is None and report.nightly is None
    client(directory, path, "server input input\n")  # loading the site's input file defines the macros
    assert client(directory, path, "show.labels\n").stderr == ""


def test_client_appends_history_in_its_working_directory_and_reads_it(server, tmp_path):
    directory, path = server
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PTOLEMY": str(directory / "ptolemy.rc")}
    for _ in range(3):
        assert client(work, path, "show.labels\nstatus\n", env=env).returncode == 2
    assert (work / ".pantasks").read_text() == "show.labels\nstatus\n" * 3
    assert not (directory / ".pantasks").exists()
    (work / ".pantasks").unlink()
    (work / ".pantasks").mkdir()  # fopen(".pantasks", "a") fails: the client says so and goes on
    result = client(work, path, "show.labels\n", env=env)
    assert result.returncode == 2 and result.stderr.startswith("can't save history.\n")
    (work / ".pantasks").rmdir()
    (work / ".pantasks").symlink_to(os.devnull)  # what the exporter does: nothing is kept
    client(work, path, "show.labels\n", env=env)
    assert (work / ".pantasks").is_symlink() and os.path.getsize(work / ".pantasks") == 0


def test_rc_input_include_is_opened_from_the_working_directory(server, tmp_path):
    directory, path = server
    rc = directory / "ptolemy.rc"
    (directory / "extra.rc").write_text("PASSWORD wrong\n")
    rc.write_text(rc.read_text() + "input extra.rc\n")
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PTOLEMY": str(rc)}
    # from elsewhere the relative include is not found (config.c fopen(infile)): the password stays "sim"
    assert LABEL in client(work, path, "show.labels\n", env=env).stdout
    assert client(directory, path, "show.labels\n", env=env).stderr == "server is busy...33\n"


def _sections(text: str) -> dict[str, str]:
    return {name: "\n".join(section.lines) for name, section in parsers.split_sections(text).items()}


def test_late_replies_shift_every_later_section(server):
    directory, path = server
    sim.apply_event(directory, "macro-lock", busy_wait=0.1, seconds=0.15)  # after the 0.1 s wait and the flush
    result = client(directory, path, parsers.client_script().decode(), merged=True)
    assert result.returncode == 2
    sections = _sections(result.stdout)
    assert parsers.split_sections(result.stdout)["status"].busy
    # each later section shows the previous command's whole reply, to the end of the run
    assert "Task Status" in sections["taskstats"] and "no defined jobs" in sections["taskstats"]
    assert "Task Statistics" in sections["show.labels"]
    assert sections["controller.status"].strip() == LABEL
    assert "host stack ALLHOSTS" in sections["ns.show.dates"]
    report = parsers.parse_client_output(result.stdout)
    assert report.busy and report.misaligned == 4 and report.errors == 0
    assert (report.status, report.taskstats, report.labels, report.controller, report.nightly) == (None,) * 5


def test_a_reply_inside_the_flush_window_leaves_status_messages_in_the_text(server):
    directory, path = server
    sim.apply_event(directory, "macro-lock", busy_wait=1.5, seconds=1.55)  # lands within the 0.1 s flush
    result = client(directory, path, parsers.client_script().decode(), merged=True)
    assert "STATUS 1pantasks: echo IPPEXPORTER_SECTION show.labels" in result.stdout
    assert "STATUS 1pantasks: echo IPPEXPORTER_SECTION end" in result.stdout
    report = parsers.parse_client_output(result.stdout)
    assert report.ended and report.misaligned == 4
    assert (report.taskstats, report.labels, report.controller, report.nightly) == (None,) * 4


def test_server_dying_mid_run_answers_busy_then_the_connection_dies(server):
    directory, path = server
    sim.apply_event(directory, "die-mid-run", commands=2)
    result = client(directory, path, parsers.client_script().decode(), merged=True)
    assert result.returncode == 32
    sections = parsers.split_sections(result.stdout)
    assert sections["show.labels"].busy and sections["show.labels"].lines == ()
    assert sections["controller.status"].lines == ("got signal : 13", "server connection has died")
    report = parsers.parse_client_output(result.stdout)
    assert report.status.complete and report.taskstats.complete and report.errors == 0
    assert report.labels is None and report.controller is None and report.missing == ("ns.show.dates",)
    assert client(directory, path, "status\n").returncode == 12  # it stays down
