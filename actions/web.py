"""Pages and endpoints: board, faults, action previews and confirms, audit, runbooks, login, webhook, metrics."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from pathlib import Path
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, session, url_for
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from actions import markdown
from actions import validate as v
from actions.alertmanager import AlertmanagerError
from actions.audit import AuditError
from actions.auth import check_login, current_user
from actions.catalog import ACTIONS, FIELDS, TOGGLE_STEMS
from actions.pantasks import controller_hosts, task_states
from actions.preview import RowSet, board, drop_rows, fault_rows, revert_rows
from actions.service import NotRecorded, Service
from actions.sql import FAULT_SOURCES, HOST_VOLUMES_SQL, PAGE
from actions.webhook import PayloadError, parse_notification
from exporter.db import DatabaseError
from exporter.transport import TransportError

bp = Blueprint("actions", __name__)
_NONCE = re.compile(r"[0-9a-f]{32}")
_RUNBOOK = re.compile(r"^(Ipp[A-Za-z0-9]+|README)(\.md)?$")


def service() -> Service:
    """This app's Service."""
    return current_app.extensions["ipp_actions"]


def _page_number() -> int:
    raw = request.args.get("page", "0")
    return int(raw) if raw.isdigit() and len(raw) < 6 else 0


@bp.app_context_processor
def _globals() -> dict:
    svc = service()
    return {"user": current_user(svc.config, request), "dry_run": svc.config.actions.dry_run, "ACTIONS": ACTIONS,
            "PAGE": PAGE, "urlencode": urlencode, "FAULT_STAGES": FAULT_SOURCES, "REVERT_STAGES": v.REVERT_STAGES,
            "FAULT_CODES": v.FAULT_CODES}


@bp.route("/healthz")
def healthz() -> Response:
    """200 when the audit store answers."""
    try:
        service().audit.recent(limit=1)
    except AuditError as exc:
        return Response(f"audit store unavailable: {exc}\n", 503, mimetype="text/plain")
    return Response("ok\n", mimetype="text/plain")


@bp.route("/metrics")
def metrics() -> Response:
    """The service's own metrics."""
    svc = service()
    try:
        svc.audit.recent(limit=1)
        svc.metrics.audit_up.set(1)
    except AuditError:
        svc.metrics.audit_up.set(0)
    return Response(generate_latest(svc.metrics.registry), mimetype=CONTENT_TYPE_LATEST)


@bp.route("/alertmanager", methods=["POST"])
@bp.route("/alerts", methods=["POST"])  # the path alerts/alertmanager.yml used first
def webhook() -> tuple[Response, int] | Response:
    """Alertmanager v4 webhook: check the bearer token, record and queue; answer at once."""
    svc = service()
    token = svc.config.actions.webhook_token
    given = request.headers.get("Authorization", "")
    if not token or not hmac.compare_digest(given.encode("utf-8", "replace"), f"Bearer {token}".encode()):
        svc.metrics.notifications.labels("rejected").inc()
        svc.metrics.refused.labels("token").inc()
        return Response("missing or wrong bearer token\n", 401, mimetype="text/plain")
    try:
        notification = parse_notification(json.loads(request.get_data(cache=False) or b"null"))
    except (ValueError, RecursionError, PayloadError) as exc:  # RecursionError: absurdly nested JSON
        svc.metrics.notifications.labels("rejected").inc()
        svc.metrics.refused.labels("payload").inc()
        return Response(f"bad payload: {str(exc)[:200]}\n", 400, mimetype="text/plain")
    try:
        status = svc.accept(notification)
    except (AuditError, NotRecorded) as exc:
        return Response(f"could not record the notification: {exc}\n", 503, mimetype="text/plain")
    return Response(f"{status}\n", 200, mimetype="text/plain")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Operator login (users file of werkzeug password hashes)."""
    svc = service()
    error = None
    target = request.values.get("next", "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"
    if request.method == "POST":
        user = check_login(svc.config, request.form.get("username", ""), request.form.get("password", ""))
        if user:
            session.clear()
            session["user"] = user
            return redirect(target)
        svc.metrics.refused.labels("login").inc()
        error = "Unknown user or wrong password."
    return render_template("login.html", error=error, next=target), 401 if error else 200


@bp.route("/logout", methods=["POST"])
def logout():
    """Forget the operator."""
    session.clear()
    return redirect(url_for("actions.board_page"))


@bp.route("/")
def board_page():
    """The czar's board: firing alerts and per stage × label pending runs and faults."""
    svc = service()
    alerts, alert_error = [], None
    if svc.alertmanager:
        try:
            alerts = svc.alertmanager.firing_alerts()
        except AlertmanagerError as exc:
            alert_error = str(exc)
    tables, errors = {}, {}
    for dbname, db in svc.databases.items():
        try:
            tables[dbname] = board(db)
        except DatabaseError as exc:
            errors[dbname] = str(exc)
    return render_template("board.html", alerts=alerts, alert_error=alert_error, tables=tables, errors=errors)


def _refusal(refusal: v.Refused, action: str | None = None):
    return render_template("refused.html", refusal=refusal, action=action), refusal.status


@bp.route("/faults")
def faults():
    """The faulted items behind one fault count (the ippMonitor replacement), paginated."""
    svc = service()
    args = request.args
    try:
        dbname = v.choice("dbname", v.name("dbname", args.get("dbname")), svc.databases)
        if "stage" not in args:  # no count picked yet: the database's counts, each a link to its items
            return _faults_index(svc, dbname)
        stage = v.choice("stage", args.get("stage"), FAULT_SOURCES)
        label = args.get("label") or None
        if label is not None:
            v.member("label", v.name("label", label), svc.inventory.labels(dbname), f"label in {dbname}")
        extra = v.SUMMIT_FAULT_CODES if stage == "summitcopy" else ()
        fault = v.fault("fault", args["fault"], extra) if args.get("fault") else None
    except v.Refused as refusal:
        svc.metrics.refused.labels(refusal.field if refusal.field in FIELDS["revert"] else "payload").inc()
        return _refusal(refusal)
    page = _page_number()
    try:
        sets, error = fault_rows(svc.databases[dbname], stage, label, fault, page), None
    except DatabaseError as exc:
        sets, error = [], str(exc)
    query = {"dbname": dbname, "stage": stage, "label": label or "", "fault": "" if fault is None else str(fault)}
    return render_template("faults.html", sets=sets, error=error, query=query, page=page)


def _faults_index(svc: Service, dbname: str):
    """The outstanding fault counts of one database per stage × label, as on the board."""
    try:
        cells, error = [cell for cell in board(svc.databases[dbname]) if cell.faults], None
    except DatabaseError as exc:
        cells, error = [], str(exc)
    return render_template("faults.html", cells=cells, dbname=dbname, error=error)


def _preview(svc: Service, plan, page: int) -> tuple[list[RowSet], str | None]:
    p = plan.param_dict
    try:
        if plan.action == "revert":
            return revert_rows(svc.databases[p["dbname"]], plan, page), None
        if plan.action == "label-drop":
            return drop_rows(svc.databases[p["dbname"]], plan), None
        if plan.action in ("label-add", "label-remove"):
            labels = svc.inventory.server_labels(p["server"])
            return [RowSet(f"labels of {p['server']} now", len(labels), tuple((x,) for x in labels), ("label",))], None
        if plan.action == "revert-toggle":
            return [_toggle_rows(svc, plan)], None
        if plan.action in ("host-out", "host-in"):
            return [_host_rows(svc, p["host"])], None
    except (DatabaseError, AuditError, TransportError) as exc:
        return [], f"preview unavailable: {exc}"
    return [], None


def _host_rows(svc: Service, host: str) -> RowSet:
    """Where the host stands now: each server's controller, its nebulous volumes, and this service's record."""
    shown: list[tuple[str, str]] = []
    for spec in svc.config.pantasks.servers if svc.config.pantasks else ():
        try:
            state = controller_hosts(svc.runners.get(spec.host), spec, spec.timeout).get(host, "not in this controller")
        except TransportError as exc:
            state = f"unreachable: {exc}"
        shown.append((f"pantasks[{spec.name}] controller", state))
    if svc.nebulous is not None:
        for volume, allocate, available in svc.nebulous.run(lambda s: s.query(HOST_VOLUMES_SQL, (host,))):
            shown.append((f"nebulous volume {volume}", f"allocate {allocate}, available {available}"))
    excluded = svc.audit.hosts().get(host)
    shown.append(("this service", "out (host-out)" if excluded and excluded[0] else "in"))
    return RowSet(f"{host} now", len(shown), tuple(shown), ("where", "state"))


def _toggle_rows(svc: Service, plan) -> RowSet:
    """The server's tasks the toggle switches, with their active flag now (`status`)."""
    p = plan.param_dict
    assert svc.config.pantasks is not None  # the server was validated against the configured ones
    spec = next(s for s in svc.config.pantasks.servers if s.name == p["server"])
    stem = TOGGLE_STEMS[p["stage"]]
    prefix = f"{stem}." if p["stage"] == "destreak" else f"{stem}.revert"
    tasks = task_states(svc.runners.get(spec.host), spec, spec.timeout)
    shown = tuple((name, "active" if active else "off") for name, active in sorted(tasks.items())
                  if name.startswith(prefix))
    return RowSet(f"{p['server']}: tasks the switch changes, as they are now", len(shown), shown, ("task", "now"))


@bp.route("/actions/<name>", methods=["GET"])
def preview(name: str):
    """Preview an action: exact steps and the rows it would change. Changes nothing."""
    svc = service()
    try:
        plan = svc.plan(name, request.args)
    except v.Refused as refusal:
        return _refusal(refusal, name)
    page = _page_number()
    sets, error = _preview(svc, plan, page)
    # a one-time nonce in the confirm form: a double click or a reload of the POST runs the action once
    return render_template("preview.html", plan=plan, sets=sets, error=error, page=page, nonce=uuid.uuid4().hex)


@bp.route("/actions/<name>", methods=["POST"])
def confirm(name: str):
    """Run a previewed action: a logged-in operator and a CSRF token (checked by Flask-WTF) are required."""
    svc = service()
    user = current_user(svc.config, request)
    if user is None:
        svc.metrics.refuse(name, "login")
        shown = {k: v for k, v in request.form.items() if k != "csrf_token"}
        return redirect(url_for("actions.login", next=request.path + "?" + urlencode(shown)))
    try:
        plan = svc.plan(name, request.form)
        nonce = request.form.get("nonce", "")
        dedup = hashlib.sha256(f"web\x1f{nonce}".encode()).hexdigest() if _NONCE.fullmatch(nonce) else None
        ref, outcome = svc.run(plan, user, source="web", dedup_key=dedup)
    except v.Refused as refusal:
        return _refusal(refusal, name)
    except AuditError as exc:
        abort(503, description=str(exc))
    return render_template("result.html", plan=plan, outcome=outcome, ref=ref)


@bp.route("/audit")
def audit():
    """The audit trail, newest first."""
    svc = service()
    page = _page_number()
    ref = request.args.get("ref")
    try:
        if ref:
            record = svc.audit.get(v.name("ref", ref))
            records = [record] if record else []
        else:
            records = svc.audit.recent(limit=PAGE, offset=page * PAGE)
    except v.Refused as refusal:
        return _refusal(refusal)
    except AuditError as exc:
        abort(503, description=str(exc))
    return render_template("audit.html", records=records, page=page)


@bp.route("/runbooks/<name>")
def runbook(name: str):
    """docs/runbooks/<Alert>.md as HTML (runbook_url points here)."""
    match = _RUNBOOK.match(name)
    if not match:
        abort(404)
    path = Path(current_app.config["RUNBOOKS_DIR"]) / f"{match.group(1)}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        abort(404)
    return render_template("runbook.html", name=match.group(1), body=markdown.render(text))
