"""IPP / Pantasks: per server and task, what `status`, `status -jobs` and `controller status` show."""

from __future__ import annotations

from grafana import thresholds as th
from grafana.common import (
    GREEN,
    RED,
    YES_NO,
    PanelSpec,
    above,
    action_url,
    add,
    finish,
    graph,
    grid,
    label_variable,
    link,
    link_variables,
    merge_and_rename,
    new_dashboard,
    query,
    row,
    series_label,
    steps,
    timeline,
)
from grafana.site import SiteSettings

SERVER = 'server=~"$server"'
TASK = 'server=~"$server", task=~"$task"'


def server_lanes():
    """Up, scheduler and controller of each server over time."""
    spec = PanelSpec("Servers: answering, scheduler, controller", "bool_yes_no",
                     "One lane per server and flag; red is 0 (not answering, or stopped).", 24, 7, mappings=[YES_NO],
                     thresholds=steps((None, RED), (1, GREEN)))
    return timeline(spec, query(f"ipp_pantasks_up{{{SERVER}}}", "{{server}} answers"),
                    query(f"ipp_pantasks_scheduler_running{{{SERVER}}}", "{{server}} scheduler"),
                    query(f"ipp_pantasks_controller_running{{{SERVER}}}", "{{server}} controller"),
                    query(f"ipp_pantasks_busy{{{SERVER}}} == 0", "{{server}} not busy"))


def task_rates():
    """Nrun, started jobs, failures and timeouts per task."""
    per_task = "{{server}} {{task}}"
    return [
        graph(PanelSpec("Running jobs (Nrun)", "short",
                        "Nrun per task as pantasks prints it; below zero the server's counters are inconsistent and "
                        "the czar procedures say to restart it.", 12, 8, thresholds=steps((None, RED), (0, GREEN))),
              query(f"ipp_pantasks_task_running{{{TASK}}}", per_task), threshold_lines=True),
        graph(PanelSpec("Jobs started", "suffix: jobs/s", "Njobs per second per task (5-minute rate).", 12, 8),
              query(f"sum by (server, task) (server_task:ipp_pantasks_task_jobs:rate5m{{{TASK}}})", per_task)),
        graph(PanelSpec("Job failures (Nfail)", "suffix: jobs/s",
                        "Nfail per second per task (5-minute rate): the column the czar watches.", 12, 8),
              query(f"sum by (server, task) (server_task:ipp_pantasks_task_failed:rate5m{{{TASK}}})", per_task)),
        graph(PanelSpec("Timed-out jobs (Ntime)", "suffix: jobs/s", "Ntime per second per task (5-minute rate).",
                        12, 8),
              query(f"sum by (server, task) (server_task:ipp_pantasks_task_timed_out:rate5m{{{TASK}}})", per_task)),
    ]


def failure_ratios():
    """Failure ratio over the last hour, *.run and *.load tasks against their own alert thresholds."""
    ratio = "server_task:ipp_pantasks_task_failure:ratio1h"
    return [
        graph(PanelSpec("Failure ratio of *.run tasks (1h)", "percentunit",
                        "Failed / started jobs in the last hour (tasks with at least 10 jobs); a stage script may "
                        "fail on bad data, the alert threshold is the dashed line.", 12, 8,
                        thresholds=above(th.RUN_TASK_FAILURE), minimum=0),
              query(f'{ratio}{{{TASK}, task=~".+[.]run"}}', "{{server}} {{task}}"), threshold_lines=True),
        graph(PanelSpec("Failure ratio of *.load tasks (1h)", "percentunit",
                        "Failed / started jobs in the last hour; a *.load job is a database query and should "
                        "almost never fail.", 12, 8, thresholds=above(th.LOAD_TASK_FAILURE), minimum=0),
              query(f'{ratio}{{{TASK}, task=~".+[.]load"}}', "{{server}} {{task}}"), threshold_lines=True),
    ]


def task_table():
    """The status table: AV flags, Nrun, jobs and failures in the last hour."""
    spec = PanelSpec("Tasks (status)", "short", "Per task: active (A), valid (V), Nrun, and jobs started and failed "
                     "in the last hour.", 24, 10)
    targets = [query(f"ipp_pantasks_task_active{{{TASK}}}", instant=True),
               query(f"ipp_pantasks_task_valid{{{TASK}}}", instant=True),
               query(f"ipp_pantasks_task_running{{{TASK}}}", instant=True),
               query(f"server_task:ipp_pantasks_task_jobs:increase1h{{{TASK}}}", instant=True),
               query(f"server_task:ipp_pantasks_task_failed:increase1h{{{TASK}}}", instant=True)]
    names = {"Value #A": "active", "Value #B": "valid", "Value #C": "Nrun", "Value #D": "jobs 1h",
             "Value #E": "failed 1h"}
    return grid(spec, *targets, transformations=merge_and_rename(names))


def queue_and_hosts():
    """Job queue by state, controller hosts by state, and the hosts that are not working."""
    host_in = action_url("/actions/host-in", host=series_label("host"))
    off_spec = PanelSpec("Controller hosts down, off or not responding", "short",
                         "Hosts a controller marks DOWN, OFF (`controller host off`) or RESP; empty when every host "
                         "works. Click to bring a host back in (previewed first).", 12, 8,
                         links=[link("Bring this host back (preview)", host_in)])
    return [
        graph(PanelSpec("Job queue by state", "short", "Jobs in each pantasks queue by state (status -jobs).",
                        12, 8), query(f"sum by (server, state) (ipp_pantasks_queue_jobs{{{SERVER}}})",
                                      "{{server}} {{state}}"), stacked=True),
        graph(PanelSpec("Controller hosts by state", "short", "Hosts per controller state (controller status).",
                        12, 8), query(f"sum by (server, state) (server_state:ipp_pantasks_controller_host_state:sum"
                                      f"{{{SERVER}}})", "{{server}} {{state}}"), stacked=True),
        grid(off_spec, query(f'ipp_pantasks_controller_host_state{{{SERVER}, state=~"DOWN|OFF|RESP"}} == 1',
                             instant=True), transformations=merge_and_rename({}, hide=("Time", "Value", "__name__"))),
        graph(PanelSpec("Unparsed status lines", "short", "Lines that looked like data but did not parse, per "
                        "scrape interval; non-zero means the exporter and pantasks disagree on a format.", 12, 8),
              query(f"sum by (server) (increase(ipp_pantasks_parse_errors_total{{{SERVER}}}[$__rate_interval]))",
                    "{{server}}")),
    ]


def build(site: SiteSettings):
    """The pantasks dashboard."""
    board = new_dashboard("ipp-pantasks", "Pantasks",
                          "Per pantasks server and task: Nrun, job, failure and timeout rates, failure ratio, AV "
                          "flags, job queue and controller hosts.", "now-6h",
                          [label_variable("server", "ipp_pantasks_up", title="Server"),
                           label_variable("task", 'ipp_pantasks_task_active{server=~"$server"}', title="Task"),
                           *link_variables(site)])
    board = add(board, row("Servers"), server_lanes(), row("Tasks"), *task_rates(), *failure_ratios(),
                task_table(), row("Queue and controller"), *queue_and_hosts())
    return finish(board)
