"""One service process: config, databases, runners, audit store, locks, limits, the webhook queue and its workers."""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from dataclasses import replace
from typing import Mapping

from actions import validate as v
from actions.alertmanager import Alertmanager
from actions.audit import AuditError, AuditStore
from actions.catalog import Plan, build_plan
from actions.config import ActionsConfig
from actions.execute import Executor, Outcome, Runners
from actions.inventory import Inventory, InventoryUnavailable
from actions.metrics import ServiceMetrics
from actions.preview import drop_rows, revert_rows
from actions.webhook import Notification, proposals
from exporter.db import Database, DatabaseError

log = logging.getLogger(__name__)

WEBHOOK_ACTOR = "alertmanager"
SWEEP_EVERY = 5.0     # seconds between looks for queued rows a full queue, a restart or a replica left behind
SWEEP_AGE = 10.0      # a queued row older than this is fair game for any worker
SEEN_KEYS = 10000     # dedup keys remembered in memory


class NotRecorded(Exception):
    """A proposal could not be checked now (a source is down): answer 5xx so Alertmanager retries later."""


class Service:
    """Everything the web layer needs; create one per process (create_app does)."""

    def __init__(self, config: ActionsConfig, workers: int = 2) -> None:
        self.config = config
        self.runners = Runners(config)
        self.databases = {d.dbname: Database(d) for d in (config.processing.databases if config.processing else ())}
        self.nebulous = Database(config.nebulous.database) if config.nebulous else None
        self.audit = AuditStore(config.actions.audit)
        a = config.actions
        self.alertmanager = Alertmanager(a.alertmanager_url, a.alertmanager_timeout) if a.alertmanager_url else None
        self.inventory = Inventory(config, self.databases, self.nebulous, self.runners)
        self.executor = Executor(config, self.runners, self.audit, self.alertmanager)
        self.queue: queue.Queue[str | None] = queue.Queue(maxsize=a.queue_size)
        self.metrics = ServiceMetrics(self.queue.qsize, self.audit.hosts)
        self._locks: dict[str, threading.Lock] = collections.defaultdict(threading.Lock)
        self._locks_guard = threading.Lock()
        self._recent: collections.deque[float] = collections.deque()
        self._rate_guard = threading.Lock()
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()  # recent dedup keys (LRU)
        self._seen_guard = threading.Lock()
        self.sweep_every, self.sweep_age = SWEEP_EVERY, SWEEP_AGE  # tests shorten them
        self._stop = threading.Event()
        self._workers = [threading.Thread(target=self._work, name=f"ipp-actions-worker-{i}", daemon=True)
                         for i in range(workers)]
        for worker in self._workers:
            worker.start()

    # -- validation and running, shared by pages and the webhook --

    def plan(self, action: str, raw: Mapping[str, str]) -> Plan:
        """Validate and build; refusals are counted here (one place for pages and webhook)."""
        try:
            return build_plan(action, self.config, self.inventory, raw)
        except v.Refused as refusal:
            self.metrics.refuse(action, refusal.field)
            log.info("refused %s %s: %s", action, refusal.field, refusal.message)
            raise
        except InventoryUnavailable as exc:
            self.metrics.refuse(action, "busy")
            raise v.Refused("inventory", str(exc), status=503) from None

    def _rate_ok(self) -> bool:
        now = time.monotonic()
        with self._rate_guard:
            while self._recent and now - self._recent[0] > 60:
                self._recent.popleft()
            if len(self._recent) >= self.config.actions.max_actions_per_minute:
                return False
            self._recent.append(now)
            return True

    def _lock(self, target: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks[target]

    def run(self, plan: Plan, actor: str, ref: str | None = None, source: str | None = None,
            dedup_key: str | None = None) -> tuple[str, Outcome]:
        """Run a plan under its target lock and the global rate limit; audit it; return (audit ref, outcome).

        `dedup_key` (a confirm form's one-time nonce) makes a repeated confirmation (double click, reload) run
        nothing: the second insert is ignored and Refused('nonce', status 409) is raised instead."""
        if not self._rate_ok():
            self.metrics.refuse(plan.action, "rate")
            raise v.Refused("rate", f"more than {self.config.actions.max_actions_per_minute} actions in a minute; "
                                    "try again shortly", status=429)
        lock = self._lock(plan.target)
        if not lock.acquire(blocking=False):
            self.metrics.refuse(plan.action, "busy")
            raise v.Refused("busy", f"another action on {plan.target} is running", status=409)
        try:
            argv = [s.text() for s in plan.steps]
            if ref is None:
                ref = self.audit.record(actor, plan.action, plan.target, plan.param_dict, argv, "running", source,
                                        dedup_key)
                if ref is None:
                    self.metrics.refuse(plan.action, "nonce")
                    raise v.Refused("nonce", "this confirmation was used already: nothing was run again "
                                             "(see the audit trail)", status=409)
            start = time.monotonic()
            before = self._pending(plan)
            try:
                with self.metrics.duration.labels(plan.action).time():
                    outcome = self.executor.run(plan, actor)
            except Exception:
                # never leave a row 'running': record the failure, then let the caller log it
                self.audit.finish(ref, "failure", [{"step": "run", "ok": False, "exit_code": None,
                                                    "output": "internal error; see the service log"}], None, argv)
                self.metrics.actions.labels(plan.action, "failure").inc()
                raise
            after = self._pending(plan) if before is not None and outcome.status != "dry_run" else None
            if before is not None and after is not None:
                # counted with the tool's own filter, so tools that log no count (faketool) still report it
                outcome = replace(outcome, rows_changed=before - after)
            log.info("%s by %s: %s in %.2fs", plan.action, actor, outcome.status, time.monotonic() - start)
            self.audit.finish(ref, outcome.status, outcome.as_json(), outcome.rows_changed, argv)
            self.metrics.actions.labels(plan.action, outcome.status).inc()
            self.inventory.forget()
            return ref, outcome
        finally:
            lock.release()

    def _pending(self, plan: Plan) -> int | None:
        """How many rows the plan's DB action would still change (None for other actions or a DB error)."""
        if plan.action not in ("revert", "label-drop"):
            return None
        db = self.databases[plan.param_dict["dbname"]]
        try:
            sets = revert_rows(db, plan) if plan.action == "revert" else drop_rows(db, plan)
        except DatabaseError as exc:
            log.warning("cannot count the rows of %s: %s", plan.action, exc)
            return None
        return sum(s.count for s in sets)

    # -- webhook --

    def accept(self, notification: Notification) -> str:
        """Record the notification's proposals (UNIQUE dedup key) and queue new ones; raise AuditError when the
        store cannot record them (the caller answers 5xx so Alertmanager retries)."""
        found = proposals(notification, self.config.actions.auto_actions)
        duplicates = 0
        for proposal in found:
            ref, duplicate = self._record_proposal(proposal)
            duplicates += duplicate
            if ref is None:
                continue
            try:
                self.queue.put_nowait(ref)
            except queue.Full:
                log.warning("webhook queue full: %s stays queued for the sweeper", ref)
        status = "duplicate" if found and duplicates == len(found) else notification.status
        self.metrics.notifications.labels(status).inc()
        return status

    def _known(self, key: str) -> bool:
        """True when this process has seen `key` recently, or the audit store has it (then remember it)."""
        with self._seen_guard:
            if key in self._seen:
                self._seen.move_to_end(key)
                return True
        if not self.audit.seen(key):
            return False
        self._remember(key)
        return True

    def _remember(self, key: str) -> None:
        with self._seen_guard:
            self._seen[key] = None
            while len(self._seen) > SEEN_KEYS:
                self._seen.popitem(last=False)

    def _record_proposal(self, proposal) -> tuple[str | None, bool]:
        """(ref of a newly queued action or None, whether the proposal was a duplicate)."""
        # repeats (repeat_interval, retries): answered from memory, else one indexed lookup; the UNIQUE insert
        # below stays the real gate (another replica may record the key at the same moment)
        if self._known(proposal.dedup_key):
            return None, True
        result = self._record_new(proposal)  # NotRecorded / AuditError: not remembered, so a retry records it
        self._remember(proposal.dedup_key)
        return result

    def _record_new(self, proposal) -> tuple[str | None, bool]:
        params = dict(proposal.params)
        try:
            plan = self.plan(proposal.action, params)
        except v.Refused as refusal:
            if refusal.status >= 500:  # not the value's fault: do not spend the incident's one run on it
                raise NotRecorded(refusal.message) from None
            inserted = self.audit.record(WEBHOOK_ACTOR, proposal.action, "refused", params, [], "refused",
                                         proposal.source, proposal.dedup_key)
            log.warning("webhook proposal refused: %s", refusal)
            return None, inserted is None
        argv = [s.text() for s in plan.steps]
        hour_ago = time.time() - 3600
        if self.audit.count_auto_since(hour_ago) >= self.config.actions.auto_max_per_hour:
            inserted = self.audit.record(WEBHOOK_ACTOR, plan.action, plan.target, plan.param_dict, argv, "refused",
                                         proposal.source + " (auto-action rate limit)", proposal.dedup_key)
            if inserted:
                self.metrics.refuse(plan.action, "rate")
            return None, inserted is None
        ref = self.audit.record(WEBHOOK_ACTOR, plan.action, plan.target, plan.param_dict, argv, "queued",
                                proposal.source, proposal.dedup_key)
        return ref, ref is None

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                ref = self.queue.get(timeout=self.sweep_every)
            except queue.Empty:
                self._sweep()
                continue
            if ref is None:  # close() wakes the workers
                self.queue.task_done()
                break
            try:
                self._run_queued(ref)
            finally:
                self.queue.task_done()

    def _sweep(self) -> None:
        try:
            for record in self.audit.queued(self.sweep_age):
                self._run_queued(record.ref)
        except AuditError as exc:
            log.warning("sweep: %s", exc)

    def _run_queued(self, ref: str) -> None:
        """Claim a queued row (one worker, one replica) and run it; a resolved alert never stops it."""
        try:
            if not self.audit.claim(ref):
                return
            record = self.audit.get(ref)
            if record is None:
                return
            plan = self.plan(record.action, record.params)
            self.run(plan, WEBHOOK_ACTOR, ref=ref, source=record.source)
        except v.Refused as refusal:
            if refusal.field in ("busy", "rate") or refusal.status >= 500:  # not the value's fault: retry later
                self.audit.unclaim(ref)
                return
            self.audit.finish(ref, "refused", [{"step": "validate", "ok": False, "exit_code": None,
                                                "output": str(refusal)}], None)
        except Exception:  # noqa: BLE001 - the worker thread must survive any one action's failure
            log.exception("queued action %s failed", ref)
            try:
                self.audit.finish(ref, "failure", [{"step": "run", "ok": False, "exit_code": None,
                                                    "output": "internal error; see the service log"}], None)
            except AuditError:
                pass

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until the queue is empty and its items are done (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        """Stop the workers and close connections."""
        self._stop.set()
        for _worker in self._workers:
            try:
                self.queue.put_nowait(None)
            except queue.Full:
                pass  # the worker sees _stop after its current item
        for worker in self._workers:
            worker.join(timeout=SWEEP_EVERY + 1)
        self.runners.close()
        for db in (*self.databases.values(), *([self.nebulous] if self.nebulous else [])):
            db.close()
        self.audit.close()
