"""Run a Plan's steps: tools through the exporter's transport, pantasks commands through pantasks_client,
silences through Alertmanager. Every step reports separately, so a partial failure is shown, never hidden."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from actions.alertmanager import Alertmanager, AlertmanagerError
from actions.audit import AuditStore
from actions.catalog import Plan, Step
from actions.config import ActionsConfig
from actions.pantasks import run_commands
from exporter.transport import LocalRunner, Runner, SshRunner, TransportError

log = logging.getLogger(__name__)

_ROWS = re.compile(r"\b(?:Deleted|Updated|updated) (\d+)\b")
_OUTPUT_LIMIT = 20000  # characters of a step's output kept in the audit trail
_ALREADY_ON = re.compile(r"host \S+ is not OFF")


@dataclass(frozen=True)
class StepResult:
    """What one step did."""

    text: str
    ok: bool
    exit_code: int | None
    output: str


@dataclass(frozen=True)
class Outcome:
    """What an action did: overall status, each step, and the rows the tools said they changed."""

    status: str  # success | failure | dry_run
    steps: tuple[StepResult, ...]
    rows_changed: int | None

    def as_json(self) -> list[dict]:
        """The steps for the audit trail."""
        return [{"step": s.text, "ok": s.ok, "exit_code": s.exit_code, "output": s.output} for s in self.steps]


class Runners:
    """One runner per place commands run: '' = locally, a host name = over SSH (reused connection)."""

    def __init__(self, config: ActionsConfig) -> None:
        self._config = config
        self._runners: dict[str, Runner] = {"": LocalRunner()}

    def get(self, host: str | None) -> Runner:
        """The runner for `host` (None or '' = local)."""
        key = host or ""
        if key not in self._runners:
            assert self._config.ssh is not None  # config validation requires ssh for any host
            self._runners[key] = SshRunner(key, self._config.ssh)
        return self._runners[key]

    def close(self) -> None:
        """Close SSH connections."""
        for runner in self._runners.values():
            runner.close()


class Executor:
    """Runs plans step by step within the action deadline."""

    def __init__(self, config: ActionsConfig, runners: Runners, audit: AuditStore,
                 alertmanager: Alertmanager | None) -> None:
        self.config, self.runners, self.audit, self.alertmanager = config, runners, audit, alertmanager

    def run(self, plan: Plan, actor: str) -> Outcome:
        """Run every step (or none under dry_run) and record host exclusions."""
        if self.config.actions.dry_run:
            return Outcome("dry_run", tuple(StepResult(s.text(), True, None, "dry run: not run") for s in plan.steps),
                           None)
        deadline = time.monotonic() + self.config.actions.action_timeout
        results = []
        silence_id = None
        for step in plan.steps:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                results.append(StepResult(step.text(), False, None, "not run: the action's time limit was reached"))
                continue
            result, new_silence = self._step(step, plan, actor, remaining)
            silence_id = new_silence or silence_id
            results.append(result)
        if plan.action in ("host-out", "host-in") and any(r.ok for r in results):
            self.audit.set_host(plan.param_dict["host"], plan.action == "host-out", silence_id, actor)
        rows = [int(n) for r in results for n in _ROWS.findall(r.output)]
        status = "success" if all(r.ok for r in results) else "failure"
        return Outcome(status, tuple(results), sum(rows) if rows else None)

    def _step(self, step: Step, plan: Plan, actor: str, remaining: float) -> tuple[StepResult, str | None]:
        try:
            if step.kind == "tool":
                return self._tool(step, remaining), None
            if step.kind == "pantasks":
                return self._pantasks(step, remaining), None
            return self._silence(step, plan, actor)
        except (TransportError, AlertmanagerError) as exc:
            log.warning("action %s step %r failed: %s", plan.action, step.text(), exc)
            return StepResult(step.text(), False, None, str(exc)), None

    def _tool(self, step: Step, remaining: float) -> StepResult:
        runner = self.runners.get(self.config.tools.host)
        result = runner.run(list(step.argv), timeout=min(self.config.tools.timeout, remaining), merge_stderr=True)
        output = (result.stdout + result.stderr).decode("utf-8", "replace")[-_OUTPUT_LIMIT:]
        return StepResult(step.text(), result.exit_code == 0, result.exit_code, output)

    def _pantasks(self, step: Step, remaining: float) -> StepResult:
        assert self.config.pantasks is not None  # a pantasks step exists only for a configured server
        server = next(s for s in self.config.pantasks.servers if s.name == step.where)
        outcome = run_commands(self.runners.get(server.host), server, [" ".join(step.argv)], remaining)[0]
        ok, output = outcome.ok, outcome.output
        if not ok and step.argv[:3] == ("controller", "host", "on") and _ALREADY_ON.fullmatch(output.strip()):
            # `on` works only from OFF (controller_host.c): a host this server never took out is already in
            ok, output = True, f"{output}\n(already in processing on this server)"
        return StepResult(step.text(), ok, None, output[-_OUTPUT_LIMIT:])

    def _silence(self, step: Step, plan: Plan, actor: str) -> tuple[StepResult, str | None]:
        host = plan.param_dict["host"]
        if self.alertmanager is None:
            return StepResult(step.text(), False, None, "no alertmanager_url configured"), None
        if step.kind == "silence":
            silence_id = self.alertmanager.create_host_silence(
                host, self.config.actions.silence_duration, actor,
                f"host {host} taken out of processing through the IPP action service")
            return StepResult(step.text(), True, None, f"silence {silence_id} created"), silence_id
        known = self.audit.hosts().get(host)
        if not known or not known[1]:
            return StepResult(step.text(), True, None, "no silence recorded for this host"), None
        return StepResult(step.text(), True, None, f"silence {known[1]}: {self.alertmanager.expire_silence(known[1])}"), None
