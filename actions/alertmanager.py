"""Alertmanager API v2 over HTTP with a deadline: silences for excluded hosts, firing alerts for the board."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any

log = logging.getLogger(__name__)


class AlertmanagerError(Exception):
    """Alertmanager could not be reached or refused a request."""


class Alertmanager:
    """A small client for /api/v2/silences and /api/v2/alerts."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            raise AlertmanagerError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise AlertmanagerError(f"{method} {path}: {getattr(exc, 'reason', exc)}") from None
        return json.loads(text) if text.strip() else None

    def create_host_silence(self, host: str, seconds: float, created_by: str, comment: str) -> str:
        """Silence every alert with label host=<host> for `seconds`; return the silence id."""
        now = datetime.now(timezone.utc)
        body = {"matchers": [{"name": "host", "value": host, "isRegex": False, "isEqual": True}],
                "startsAt": now.isoformat(), "endsAt": (now + timedelta(seconds=seconds)).isoformat(),
                "createdBy": created_by, "comment": comment}
        answer = self._call("POST", "/api/v2/silences", body)
        if not isinstance(answer, dict) or not isinstance(answer.get("silenceID"), str):
            raise AlertmanagerError(f"POST /api/v2/silences: unexpected answer {answer!r:.200}")
        return answer["silenceID"]

    def expire_silence(self, silence_id: str) -> str:
        """Expire a silence; one that is already gone or expired is not an error (Alertmanager answers 500/404)."""
        try:
            self._call("DELETE", f"/api/v2/silence/{urllib.parse.quote(silence_id, safe='')}")
        except AlertmanagerError as exc:
            if "HTTP 500" in str(exc) or "HTTP 404" in str(exc):
                log.info("silence %s: %s", silence_id, exc)
                return "already expired or gone"
            raise
        return "expired"

    def silence(self, silence_id: str) -> dict:
        """One silence (tests and the host pages read its state)."""
        return self._call("GET", f"/api/v2/silence/{urllib.parse.quote(silence_id, safe='')}")

    def firing_alerts(self) -> list[dict]:
        """Active alerts (silenced and inhibited ones included, with their status)."""
        answer = self._call("GET", "/api/v2/alerts?active=true")
        return answer if isinstance(answer, list) else []
