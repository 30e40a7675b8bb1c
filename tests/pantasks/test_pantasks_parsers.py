"""Parser tests on fixtures printed with the IPP C formats (tests/fixtures/pantasks/make_fixtures.py)."""

from pantasks_helpers import fixture_bytes

from exporter.parsers.pantasks import (
    MARKER,
    SECTION_COMMANDS,
    client_script,
    decode,
    parse_client_output,
    parse_controller_status,
    parse_labels,
    parse_ns_show_dates,
    parse_status,
    parse_taskstats,
    split_sections,
)


def text(name: str) -> str:
    return decode(fixture_bytes(name))


def client_output(sections: dict[str, str], echo: bool = False, end: bool = True, busy: tuple = ()) -> str:
    """Build merged client output the way the real client prints it for our stdin."""
    out = "\nWelcome to pantasks client shell - parallel task scheduler\n\n\n"
    names = list(sections) + (["end"] if end else [])
    commands = SECTION_COMMANDS
    for name in names:
        out += "pantasks: " + (f"echo {MARKER} {name}\n" if echo else "") + f"{MARKER} {name}\n"
        if name == "end":
            break
        out += "pantasks: " + (commands[name] + "\n" if echo else "")
        out += "server is busy...33\n" if name in busy else sections[name]
    return out + "pantasks: "


STANDARD = {"status": "status.stdscience.txt", "taskstats": "status.taskstats.stdscience.txt",
            "show.labels": "show.labels.stdscience.txt",
            "controller.status": "controller-status.hosts.txt", "ns.show.dates": "ns.show.dates.current.txt"}


def standard(**changes) -> dict[str, str]:
    return {k: text(changes.get(k.replace(".", "_"), v)) for k, v in STANDARD.items()}


def test_client_script_sends_a_marker_before_each_command_and_an_end_marker():
    assert client_script().decode().splitlines() == [
        f"echo {MARKER} status", "status -jobs", f"echo {MARKER} taskstats", "status -taskstats",
        f"echo {MARKER} show.labels", "show.labels",
        f"echo {MARKER} controller.status", "controller status", f"echo {MARKER} ns.show.dates", "ns.show.dates",
        f"echo {MARKER} end"]


def test_parse_status_reads_every_task_row_and_job():
    report = parse_status(text("status.stdscience.txt"))
    assert report.complete and report.scheduler_running and report.controller_running
    assert report.errors == 0
    tasks = {t.name: t for t in report.tasks}
    assert len(tasks) == 7
    run = tasks["chip.imfile.run"]
    assert (run.active, run.valid, run.running, run.jobs, run.succeeded, run.failed, run.timed_out) == \
        (True, True, 3, 23527, 17755, 5769, 0)
    assert tasks["extra.labels.on"].valid is False
    assert tasks["chip.revert"].active is False
    assert tasks["ns.stacks.run"].command == "(dynamic)" and tasks["ns.stacks.run"].timed_out == 1
    assert [j.state for j in report.jobs] == ["BUSY", "BUSY", "PENDING", "EXIT", "CRASH"]


def test_parse_status_empty_tables_are_complete_and_empty():
    report = parse_status(text("status.empty.txt"))
    assert report.complete and report.tasks == () and report.jobs == () and report.errors == 0
    assert not report.scheduler_running and not report.controller_running


def test_parse_status_keeps_negative_nrun_and_harvesting_is_not_running():
    report = parse_status(text("status.negative-counts.txt"))
    assert {t.name: t.running for t in report.tasks} == {"chip.imfile.run": -7, "warp.skycell.run": -2}
    assert report.scheduler_running is False and report.errors == 0


def test_parse_status_power_of_ten_overflow_does_not_fuse_columns():
    report = parse_status(text("status.overflow.txt"))
    assert report.errors == 0
    assert {t.name: (t.jobs, t.succeeded, t.failed) for t in report.tasks} == {
        "chip.imfile.load": (100000, 100000, 0), "chip.imfile.run": (99999, 10, 99989)}


def test_parse_status_counts_a_cut_row_and_keeps_the_rest():
    report = parse_status(text("status.truncated.txt"))
    assert report.errors == 1
    assert [t.name for t in report.tasks] == ["extra.labels.on", "chip.imfile.load", "chip.imfile.run"]
    assert report.jobs == ()


def test_parse_status_long_names():
    report = parse_status(text("status.long-names.txt"))
    assert report.errors == 0
    assert report.tasks[0].name == "a" * 120 + ".run" and report.tasks[0].command == "x" * 90
    assert report.jobs[0].state == "HUNG" and report.jobs[0].task == "a" * 120 + ".run"


def test_parse_status_counts_extra_columns_bad_numbers_and_unknown_job_states():
    lines = text("status.stdscience.txt").replace("chiptool          \n", "chiptool extra\n", 1)
    lines = lines.replace("  -+ chip.revert             0", "  -+ chip.revert           0x0", 1)
    lines = lines.replace("BUSY       chip_imfile.pl", "ZOMBIE     chip_imfile.pl", 1)
    report = parse_status(lines)
    assert report.errors == 3
    assert "chip.imfile.load" not in {t.name for t in report.tasks} and len(report.tasks) == 5
    assert len(report.jobs) == 4


def test_parse_status_duplicate_task_is_counted_once_and_first_kept():
    lines = text("status.stdscience.txt")
    row = next(line for line in lines.splitlines() if "chip.revert" in line)
    report = parse_status(lines.replace(row, row + "\n" + row.replace("12     12", "99     99")))
    assert report.errors == 1 and {t.name: t.jobs for t in report.tasks}["chip.revert"] == 12


def test_non_utf8_bytes_are_replaced_not_fatal():
    raw = client_output({**standard(), "status": "@@STATUS@@"}).encode()
    report = parse_client_output(raw.replace(b"@@STATUS@@", fixture_bytes("status.non-utf8.txt")))
    assert report.status.complete and report.status.tasks[0].name == "chip.\ufffd\ufffd.run"
    labels = parse_labels(text("show.labels.non-utf8.txt"))
    assert labels.labels == ("M31.nightlyscience",) and labels.errors == 1


def test_parse_labels():
    assert parse_labels(text("show.labels.stdscience.txt")).labels == ("M31.nightlyscience", "ps_ud_QUB",
                                                                        "LAP.ThreePi.20130717")
    assert parse_labels(text("show.labels.none.txt")).labels == ()
    assert parse_labels("a label with spaces\nok\n").errors == 1


def test_parse_controller_status_hosts_and_inactive():
    report = parse_controller_status(text("controller-status.hosts.txt"))
    assert report.active and report.errors == 0
    assert {h.host: h.state for h in report.hosts} == {"ipp016": "BUSY", "ipp017": "IDLE", "ipp018": "DOWN",
                                                       "ipp019": "OFF", "ippc30": "RESP", "ippc31": "DONE"}
    inactive = parse_controller_status(text("controller-status.inactive.txt"))
    assert not inactive.active and inactive.hosts == ()
    bad = parse_controller_status("host stack ALLHOSTS:  2 objects\n0  ipp016  WEIRD  0.0.0.3\n1  ipp017\n")
    assert bad.errors == 2 and bad.hosts == ()


def test_parse_ns_show_dates_current_and_old_formats():
    report = parse_ns_show_dates(text("ns.show.dates.current.txt"))
    newest = report.newest()
    assert set(newest) == {"gpc1", "gpc2"}
    assert (newest["gpc1"].date, newest["gpc1"].stack_state, newest["gpc1"].diff_state) == \
        ("2024-05-04", "TOWARP", "QUEUEDIFFS")
    assert newest["gpc1"].timestamp == 1714780800.0
    old = parse_ns_show_dates(text("ns.show.dates.old.txt")).newest()
    assert list(old) == ["unknown"] and old["unknown"].state == "BURNING"
    bad = parse_ns_show_dates("2024-13-40 NEW\n2024-05-01-gpc1 2024-05-01 NEW\nnot a row\n")
    assert bad.errors == 2 and bad.pages == ()


def test_split_sections_with_prompts_and_echoed_input():
    for echo in (False, True):
        sections = split_sections(client_output(standard(), echo=echo))
        assert list(sections) == ["status", "taskstats", "show.labels", "controller.status", "ns.show.dates", "end"]
        assert not any(s.busy for s in sections.values())
        assert all("pantasks:" not in line and not line.startswith("echo") for s in sections.values() for line in s.lines)
        report = parse_client_output(client_output(standard(), echo=echo))
        assert report.status.complete and report.ended and report.errors == 0
        assert len(report.labels.labels) == 3 and len(report.controller.hosts) == 6


def test_busy_status_means_no_status_and_busy_flag():
    report = parse_client_output(client_output(standard(), busy=("status",)))
    assert report.busy and report.status is None
    assert report.labels is None  # free text after a busy answer may be the late status reply
    assert report.controller.active and report.nightly.pages


def test_late_reply_after_busy_is_not_taken_for_the_next_section():
    sections = standard()
    sections["controller.status"] = text("show.labels.stdscience.txt")  # the spilled late reply
    report = parse_client_output(client_output(sections, busy=("show.labels",)))
    assert report.busy and report.status.complete and report.labels is None and report.controller is None


def test_truncated_run_without_later_markers_leaves_those_sections_missing():
    output = client_output(standard(), end=False)
    cut = output[: output.index(f"{MARKER} controller.status")]
    report = parse_client_output(cut)
    assert report.status.complete and report.controller is None and report.nightly is None
    assert report.missing == ("controller.status", "ns.show.dates") and not report.ended


def test_garbage_output_gives_no_sections_and_does_not_raise():
    report = parse_client_output(b"\x00\xff garbage\n1 2 3\n  ++ x\n" * 50)
    assert report.status is None and report.errors == 0 and report.missing


# ---- issue 11: status -taskstats, macros not loaded, replies out of step, a dead connection

def test_parse_taskstats_rows_none_and_overflowing_times():
    report = parse_taskstats(text("status.taskstats.stdscience.txt"))
    assert report.complete and report.errors == 0 and len(report.tasks) == 7
    tasks = {t.name: t for t in report.tasks}
    run = tasks["chip.imfile.run"]
    assert (run.all.count, run.all.minimum, run.all.average, run.all.maximum) == (23527, 3.5, 51.82, 1834.25)
    assert (run.failure.count, run.failure.average) == (5769, 19.07)
    assert tasks["chip.imfile.load"].failure.minimum is None  # NONE: no failed job yet
    assert tasks["warp.skycell.run"].success.maximum == 12345.67  # wider than %6.2f, still its own token


def test_parse_taskstats_after_a_reset_and_empty():
    row = parse_taskstats(text("status.taskstats.reset.txt")).tasks[0]
    assert row.all.average is None and row.all.maximum == 61.0  # inf (divided by Njobs = 0) is not a value
    assert (row.success.count, row.success.minimum) == (1, 0.0)
    empty = parse_taskstats(text("status.taskstats.empty.txt"))
    assert empty.complete and empty.tasks == () and empty.errors == 0


def test_parse_taskstats_counts_bad_rows_and_rejects_a_status_table():
    lines = text("status.taskstats.stdscience.txt").replace("1834.25 |", "18x4.25 |", 1)
    assert parse_taskstats(lines).errors == 1
    assert not parse_taskstats(text("status.stdscience.txt")).complete


def test_command_not_found_is_undefined_not_an_error():
    sections = standard()
    sections["show.labels"] = "show.labels: Command not found.\n"
    sections["ns.show.dates"] = "ns.show.dates: Command not found.\n"
    report = parse_client_output(client_output(sections))
    assert report.undefined == ("show.labels", "ns.show.dates")
    assert report.errors == 0 and report.labels is None and report.nightly is None and report.status.complete


def test_shifted_replies_after_busy_are_dropped_and_counted():
    sections = standard()
    shifted = {"taskstats": sections["status"], "show.labels": sections["taskstats"],
               "controller.status": sections["show.labels"], "ns.show.dates": sections["controller.status"]}
    report = parse_client_output(client_output({"status": "", **shifted}, busy=("status",)))
    assert report.busy and report.misaligned == 4 and report.errors == 0
    assert (report.status, report.taskstats, report.labels, report.controller, report.nightly) == (None,) * 5


def test_status_message_glued_to_the_prompt_marks_the_section_misaligned():
    out = client_output(standard(), echo=True, busy=("taskstats",))
    out = out.replace(f"pantasks: echo {MARKER} controller.status", f"STATUS 1pantasks: echo {MARKER} controller.status")
    sections = split_sections(out)
    assert "controller.status" in sections and sections["show.labels"].lines[-1] == "STATUS 1"
    report = parse_client_output(out)
    assert report.labels is None and report.status.complete and report.controller.active
    assert report.misaligned == 1  # show.labels; controller status has its own shape


def test_dead_connection_is_no_reply_and_no_parse_error():
    sections = standard()
    sections["show.labels"] = "got signal : 13\nserver connection has died\n"
    report = parse_client_output(client_output(sections))
    assert report.labels is None and report.errors == 0 and report.misaligned == 0
