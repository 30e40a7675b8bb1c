"""The Flask application factory: create_app(config) wires the Service, CSRF protection and the pages."""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect  # type: ignore[import-untyped]

from actions.config import ActionsConfig
from actions.service import Service

log = logging.getLogger(__name__)
_DEFAULT_RUNBOOKS = Path(__file__).resolve().parent.parent / "docs" / "runbooks"


def create_app(config: ActionsConfig, service: Service | None = None) -> Flask:
    """Build the app for `config` (one Service per app; pass one in to share it)."""
    from actions.web import bp, webhook

    app = Flask(__name__)
    svc = service or Service(config)
    app.extensions["ipp_actions"] = svc
    app.config.update(
        SECRET_KEY=config.actions.secret_key or os.urandom(32).hex(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.actions.external_url.startswith("https://"),
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,  # webhook payloads with many alerts; forms are tiny
        WTF_CSRF_TIME_LIMIT=8 * 3600,
        RUNBOOKS_DIR=config.actions.runbooks_dir or str(_DEFAULT_RUNBOOKS),
    )
    app.jinja_env.filters["utc"] = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    # links from Alertmanager annotations are shown only when they are plain http(s) or site-relative
    app.jinja_env.filters["safe_url"] = lambda u: isinstance(u, str) and u.startswith(("http://", "https://", "/"))
    csrf = CSRFProtect(app)
    app.register_blueprint(bp)
    csrf.exempt(webhook)  # Alertmanager authenticates with its bearer token; there is no browser session

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        svc.metrics.refuse("unknown", "csrf")
        return render_template("error.html", title="Refused", message=f"CSRF check failed: {error.description}"), 400

    @app.errorhandler(404)
    def _missing(error):
        return render_template("error.html", title="Not found", message="No such page."), 404

    @app.errorhandler(413)
    def _too_large(error):
        svc.metrics.refuse("unknown", "payload")
        return render_template("error.html", title="Refused", message="Request too large."), 413

    @app.errorhandler(503)
    def _unavailable(error):
        return render_template("error.html", title="Unavailable", message=str(error.description)), 503

    return app
