"""The incident loop end to end on one running demo (`ipp-sim demo --scenario incident-night --speed 60 --step 1`).

Real processes on loopback: MariaDB, the simulated pantasks servers (two behind sshd), the exporter, Prometheus on
the demo's time-compressed copies of alerts/*.rules.yml, Alertmanager with alerts/alertmanager.yml's routing, the
action service, node_exporter. At --speed 60 one real second is one simulated minute. Phases, in file order:
1. a quiet hour: no warning/critical alert at all;
2. the story (the scenario's own events at step 80) and every other incident, injected at once on distinct
   servers, hosts, labels and stages, each driven to resolution (tests/incidents/loop.py);
3. an exporter source dies (MariaDB killed; the demo restarts it).
docs/incidents.md is the table of these incidents and how to reproduce each by hand."""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest
from demo_stack import DemoStack, wait_until
from loop import REPORT, THIS_MACHINE_ALERTS, Expect, Incident, Operator, Recorder, drive, report
from plugins.tools import need_tool

STORY_STEP = 80  # ippsim/demo_events.py SCENARIOS["incident-night"]: the story starts after an hour of quiet night
QUIET_MINUTES = 60
TO_SERVICE = ("ipp-action-service", "ipp-czar-email")
TO_MAIL = ("ipp-czar-email",)
M31, MD04 = "M31.nightlyscience", "MD04.nightlyscience"
STEP_LINE = re.compile(r"^step (\d+):", re.M)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo running the incident-night story, and a recorder of every alert Prometheus and Alertmanager hold."""
    for tool, *candidates in (("mariadbd", "/usr/sbin/mariadbd"), ("prometheus", "/usr/bin/prometheus"),
                              ("prometheus-alertmanager", "/usr/bin/prometheus-alertmanager"),
                              ("prometheus-node-exporter", "/usr/bin/prometheus-node-exporter")):
        need_tool(tool, *candidates)
    stack = DemoStack(tmp_path_factory.mktemp("incidents") / "run", scenario="incident-night", speed=60, step=1,
                      size="tiny", restart_delay=20).start()
    recorder = Recorder(stack).start()
    try:
        yield stack, recorder
    finally:
        recorder.stop()
        pids = [*stack.info.get("children", {}).values(), _mariadb_pid(stack)]
        assert stack.stop() == 0, stack.output()[-3000:]
        assert not [pid for pid in pids if pid and _alive(pid)], "the demo left processes running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _mariadb_pid(stack: DemoStack) -> int | None:
    try:
        return int((stack.run_dir / "mariadb" / "mysqld.pid").read_text())
    except (OSError, ValueError):
        return None


def step_now(stack: DemoStack) -> int:
    """The demo's last step number (from its output)."""
    steps = STEP_LINE.findall(stack.output())
    return int(steps[-1]) if steps else 0


def test_a_quiet_night_stays_quiet(demo):
    """An hour of simulated night from the first scrape on: no warning or critical alert, not even pending."""
    stack, recorder = demo
    assert wait_until(lambda: stack.query('up{job="ipp"} == 1') and stack.query('up{job="node"} == 1'), 60), \
        "Prometheus never scraped the exporter and node_exporter"
    # the night starts once the rules have been evaluated with the exporter's first scrape: before it,
    # absent(up{job="ipp"}) holds and IppExporterAbsent is pending -- the stack starting, not the site's night
    assert wait_until(lambda: not recorder.active("IppExporterAbsent", {}), 60)
    start, first_step = time.monotonic(), step_now(stack)
    assert first_step < STORY_STEP - QUIET_MINUTES, f"the stack took {first_step} steps to come up"
    assert wait_until(lambda: step_now(stack) >= STORY_STEP - 1, 150), stack.output()[-2000:]
    end, last_step = time.monotonic(), step_now(stack)
    noisy = recorder.notifying_between(start, end, THIS_MACHINE_ALERTS)
    fired = [e for e in noisy if e.firing]
    # Known, not fixed (see docs/incidents.md): IppProcessingLabelStuck goes PENDING (never firing) for a stage whose
    # only pending run waits on a faulted item: the revert cycle (30 min) plus the retry delay (3 min) is longer
    # than the rule's 30 min job window; its `for: 30m` keeps it from ever notifying.
    pending = sorted({(e.labels["alertname"], e.labels.get("stage", ""), round(e.gone - e.seen) if e.gone else -1)
                      for e in noisy if not e.firing})
    REPORT.append({"phase": "quiet", "incident": f"quiet night, steps {first_step}-{last_step}",
                   "alert": f"{len(fired)} firing, {len(pending)} pending", "fire": "-", "receiver": "-",
                   "action": "-", "resolve": "-",
                   "notes": f"{last_step - first_step} simulated minutes in {end - start:.0f}s; excluded (this machine, "
                            f"job node): {', '.join(THIS_MACHINE_ALERTS)}; pending (alert, stage, seconds): {pending}"})
    assert last_step - first_step >= QUIET_MINUTES
    assert not fired, [e.labels for e in fired]
    assert all(name == "IppProcessingLabelStuck" for name, _stage, _secs in pending), pending


def _ramp(stack: DemoStack, host: str, fractions: tuple[float, ...], every: float) -> threading.Thread:
    """A volume filling in steps (ipp-sim inject disk-fill every `every` seconds) in a thread."""
    def run() -> None:
        for fraction in fractions:
            stack.inject("disk-fill", host=host, fraction=fraction)
            time.sleep(every)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _incidents(stack: DemoStack, person: Operator, story_start: float) -> list[Incident]:
    def auto_revert(incident: Incident) -> str | None:
        audit = person.audit()
        if f"alertmanager revert label:gpc1/{M31} success" not in audit:
            return None  # the webhook's run is queued; looked at again next round
        person.confirm("/actions/revert-toggle?server=stdscience&stage=chip&to=on")
        return "audit: alertmanager ran the code-2 chip revert; chip.revert.on confirmed on the revert-toggle page"

    def confirm_link(alert: str, audit_line: str):
        def respond(incident: Incident) -> str:
            url = incident.fired[alert].annotations["action_url"]
            person.confirm(url)
            assert audit_line in person.audit(), f"no audit record {audit_line!r}"
            return f"confirmed {url.split('/', 3)[-1]}"
        return respond

    def person_reverts(incident: Incident) -> str:
        """Read the alert's faults page, then confirm the revert page for every label holding such faults."""
        faults_page = person.open(incident.fired["IppProcessingFaultsNeedAttention"].annotations["action_url"])
        assert "chip" in faults_page
        labels = sorted({row["metric"]["label"]
                         for row in stack.query('ipp_processing_faults{stage="chip",fault="26"} > 0')})
        assert labels, "no chip fault 26 left to revert"
        for label in labels:
            person.confirm(f"/actions/revert?dbname=gpc1&stage=chip&label={label}&fault=26")
            assert f"czar revert label:gpc1/{label} success" in person.audit()
        return f"faults page read; revert chip fault 26 confirmed on the revert page for {', '.join(labels)}"

    def read_faults(alert: str):
        def respond(incident: Incident) -> str:
            person.open(incident.fired[alert].annotations["action_url"])
            return "faults page opened (its items are listed); cause fixed by hand"
        return respond

    def host_back(incident: Incident) -> str:
        for event, params in (("host-up", {"host": "ipp003"}), ("neb-host", {"host": "ipp003", "state": "up"}),
                              ("df-restore", {"host": "ipp003"})):
            stack.inject(event, **params)
        time.sleep(2)
        result = person.confirm("/actions/host-in?host=ipp003")
        assert "czar host-in host:ipp003 success" in person.audit(), result[-1500:]
        back = wait_until(lambda: not stack.query('ipp_pantasks_controller_host_state{host="ipp003",state="OFF"} == 1'),
                          30)
        assert back, "ipp003 is still OFF in a controller after host-in"
        return "host back: host-in confirmed, controllers on"

    ramp = _ramp(stack, "ipp001", (0.82, 0.85, 0.88, 0.91, 0.94), 4.0)
    person.confirm(f"/actions/label-remove?server=stdscience&label={MD04}")  # the slip the alert catches
    story = dict(inject=[], started=story_start)
    host = Incident("host failing (story, ipp003)",
                    expects=[Expect("IppHostDownInEveryController", {"host": "ipp003"}, TO_SERVICE,
                                    "/actions/host-out?host=ipp003")],
                    action="person: host-out page; host-in after recovery",
                    respond=confirm_link("IppHostDownInEveryController", "czar host-out host:ipp003 success"),
                    after=host_back, **story)
    label = Incident("label not in any server", [],
                     [Expect("IppProcessingLabelNotInPantasks", {"label": MD04}, TO_SERVICE,
                             f"/actions/label-add?server=stdscience&label={MD04}")],
                     "person: label-add page",
                     respond=confirm_link("IppProcessingLabelNotInPantasks", f"czar label-add label:stdscience/{MD04}"),
                     started=story_start)
    # A hung or dead pantasks server cannot take the host-out/host-in commands nor report the host DOWN (nor
    # answer the label-add): the pantasks incidents start once the host is back in and the label is added again.
    after_host = dict(gate=lambda: host.resolved is not None and label.resolved is not None)
    stalled = Incident("stalled label (distribution controller stopped)",
                       [("controller-stop", {"server": "distribution"})],
                       [Expect("IppPantasksControllerStopped", {"server": "distribution"}, TO_MAIL),
                        Expect("IppProcessingLabelStuck", {"stage": "dist"}, TO_MAIL)],
                       "none (controller run by hand)", recover=[("controller-run", {"server": "distribution"})],
                       **after_host)
    return [
        Incident("code-2 fault burst (story, chip revert off)",
                 expects=[Expect("IppProcessingFaultsRevertable", {"stage": "chip", "label": M31, "fault": "2"},
                                 TO_SERVICE, f"/actions/revert?dbname=gpc1&stage=chip&label={M31}&fault=2")],
                 action="policy: auto revert-code2 (audited); person: revert-toggle chip on", respond=auto_revert,
                 **story),
        host,
        # chip (most pending work) has its revert task off for the story; fake and diff have a few pending items
        Incident("faults that come back after reverts",
                 [("recurring-faults", {"stage": stage, "fault": 5, "count": 5}) for stage in ("fake", "diff")],
                 [Expect("IppProcessingFaultsRecurring", {"fault": "5"}, TO_MAIL, "/faults?dbname=gpc1&stage=")],
                 "person: faults page (link), fixes the cause", respond=read_faults("IppProcessingFaultsRecurring"),
                 recover=[("fix-recurring", {"stage": stage}) for stage in ("fake", "diff")]),
        # code 26 (PXTOOL_DO_NOT_REVERT_FAULT): no revert task retries it, a person decides (chip: most pending work)
        Incident("data faults that need a person", [("fault-storm", {"stage": "chip", "fault": 26, "count": 6})],
                 [Expect("IppProcessingFaultsNeedAttention", {"stage": "chip", "fault": "26"}, TO_MAIL,
                         "/faults?dbname=gpc1&stage=chip")],
                 "person: faults page, confirms revert page", respond=person_reverts),
        # a label's runs stall when the server running their stage stops: no dist job starts, dist runs wait
        stalled,
        label,
        # busy answers first (IppPantasksBusy fires), then no status table at all: IppPantasksDown, which inhibits
        # the Busy alert of the same server in Alertmanager, so only Down notifies
        Incident("pantasks server hung (cleanup)", [("hung", {"server": "cleanup", "busy_wait": 1.0})],
                 [Expect("IppPantasksDown", {"server": "cleanup"}, TO_MAIL)], "none (restart by hand)",
                 recover=[("up", {"server": "cleanup"})], **after_host),
        Incident("pantasks server down, so burntool behind", [("down", {"server": "registration"}),
                                                               ("burntool-behind", {"count": 5})],
                 [Expect("IppPantasksDown", {"server": "registration"}, TO_MAIL),
                  Expect("IppBurntoolBehind", {"dbname": "gpc1"}, TO_MAIL)],
                 "none (restart by hand)", recover=[("up", {"server": "registration"})], **after_host),
        Incident("scheduler stopped, so summit copy behind", [("scheduler-stop", {"server": "summitcopy"}),
                                                               ("summit-behind", {"count": 5})],
                 [Expect("IppPantasksSchedulerStopped", {"server": "summitcopy"}, TO_MAIL),
                  Expect("IppSummitCopyBehind", {"dbname": "gpc1"}, TO_MAIL, "/faults?dbname=gpc1&stage=summitcopy")],
                 "none (scheduler run by hand)", recover=[("scheduler-run", {"server": "summitcopy"})], **after_host),
        Incident("negative Nrun (distribution)", [("statsreset", {"server": "distribution"})],
                 [Expect("IppPantasksTaskNegativeRunning", {"server": "distribution"}, TO_MAIL)],
                 "none (restart by hand)", recover=[("restart", {"server": "distribution"})],
                 gate=lambda: stalled.resolved is not None),
        Incident("volume filling up (ipp001)", [],
                 [Expect("IppNebulousVolumeFillingUp", {"host": "ipp001", "severity": "critical"}, TO_MAIL)],
                 "none (runbook: free space)", respond=lambda _i: None if ramp.is_alive() else "ramp ended",
                 recover=[("disk-fill", {"host": "ipp001", "fraction": 0.5})]),
        Incident("df placeholder (ipp002)", [("df-placeholder", {"host": "ipp002"})],
                 [Expect("IppNebulousDfPlaceholder", {"host": "ipp002"}, TO_MAIL)], "none (nebdiskd fixed)",
                 recover=[("df-restore", {"host": "ipp002"})]),
    ]


def test_incidents_close_the_loop(demo):
    """Every incident: fires, is routed right, its action runs or is offered, the site recovers, it resolves."""
    stack, recorder = demo
    assert wait_until(lambda: step_now(stack) >= STORY_STEP, 150), stack.output()[-2000:]
    story_start = time.monotonic()
    assert re.search(rf"^step {STORY_STEP}: host-failure: ipp003 failed", stack.output(), re.M), "the story did not start"
    person = Operator(stack)
    person.login()
    incidents = _incidents(stack, person, story_start)
    drive(stack, recorder, incidents, timeout=240)  # recurring faults: 3 revert cycles (~90-155 s) + 30-60 s
    mailed = _mails(stack)
    for incident in incidents:
        incident.problems += [f"no mail about {e.alert} in {stack.run_dir / 'mail'}" for e in incident.expects
                              if "ipp-czar-email" in e.receivers and e.alert not in mailed]
    report(incidents, "incident")
    assert not [(i.name, i.problems) for i in incidents if i.problems]


def _mails(stack: DemoStack) -> str:
    """Every message the demo's mail sink received (quoted-printable soft line breaks joined)."""
    return "".join(path.read_text(errors="replace") for path in sorted((stack.run_dir / "mail").glob("*.eml"))
                   ).replace("=\r\n", "").replace("=\n", "")


def test_exporter_source_dead(demo):
    """MariaDB killed: both database alerts fire and reach the czar's mail; the demo restarts it; they resolve."""
    stack, recorder = demo
    pid = _mariadb_pid(stack)
    assert pid and _alive(pid)
    os.kill(pid, signal.SIGKILL)
    incident = Incident("exporter source dead (MariaDB killed)", [],
                        [Expect("IppProcessingDbDown", {"dbname": "gpc1"}, TO_MAIL),
                         Expect("IppNebulousDbDown", {}, TO_MAIL)],
                        "none: the demo restarts MariaDB after 20s", started=time.monotonic())
    drive(stack, recorder, [incident], timeout=90)
    mailed = _mails(stack)
    incident.problems += [f"no mail about {e.alert}" for e in incident.expects if e.alert not in mailed]
    report([incident], "source")
    assert "mariadb restarted" in stack.output()
    assert not incident.problems, incident.problems
