"""The incident loop against a running demo: what Prometheus and Alertmanager hold over time, the action pages a
person uses, and incidents driven from injection to resolution concurrently."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

import requests
from demo_stack import DemoStack

NOTIFYING = ("warning", "critical")
# Alerts on node_exporter's figures of the machine the test runs on (job "node", host 127.0.0.1): its load, memory
# and system disks belong to whatever else runs here (six other engineers' tests), not to the simulated site.
THIS_MACHINE_ALERTS = ("IppHostLoadHigh", "IppHostMemoryLow", "IppHostFilesystemAlmostFull")

REPORT: list[dict] = []  # rows of the table conftest.py prints at the end of the run


def _matches(labels: dict, wanted: dict) -> bool:
    return all(labels.get(key) == value for key, value in wanted.items())


@dataclass
class Episode:
    """One alert (one label set) from first seen pending to gone."""

    labels: dict
    annotations: dict
    seen: float
    firing: float | None = None
    gone: float | None = None


class Recorder:
    """Polls Prometheus's and Alertmanager's alert APIs every `interval` seconds in a thread."""

    def __init__(self, stack: DemoStack, interval: float = 1.0) -> None:
        self.stack, self.interval = stack, interval
        self.episodes: list[Episode] = []
        self.routed: list[tuple[float, dict, tuple[str, ...], str]] = []  # (time, labels, receivers, state)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="alert-recorder")

    def start(self) -> "Recorder":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        while not self.stopping.is_set():
            self.poll()
            self.stopping.wait(self.interval)

    def poll(self) -> None:
        """One look at both APIs."""
        alerts = self.stack.prometheus_alerts()
        routed = self.stack.alertmanager_alerts()
        now = time.monotonic()
        with self.lock:
            open_ = {_key(e.labels): e for e in self.episodes if e.gone is None}
            present = set()
            for alert in alerts:
                key = _key(alert["labels"])
                present.add(key)
                episode = open_.get(key)
                if episode is None:
                    episode = Episode(dict(alert["labels"]), dict(alert.get("annotations") or {}), now)
                    self.episodes.append(episode)
                    open_[key] = episode
                if alert.get("state") == "firing" and episode.firing is None:
                    episode.firing = now
            for key, episode in open_.items():
                if key not in present:
                    episode.gone = now
            for alert in routed:
                receivers = tuple(sorted(r["name"] for r in alert.get("receivers", [])))
                self.routed.append((now, dict(alert["labels"]), receivers, alert.get("status", {}).get("state", "")))
            del self.routed[:-5000]  # bounded

    def find(self, alertname: str, match: dict, since: float, firing: bool = True) -> Episode | None:
        """The first episode of `alertname` with labels `match` seen after `since` (firing ones only if asked)."""
        with self.lock:
            for episode in self.episodes:
                if (episode.labels.get("alertname") == alertname and _matches(episode.labels, match)
                        and (episode.gone or time.monotonic()) >= since and (not firing or episode.firing)):
                    return episode
        return None

    def receivers(self, alertname: str, match: dict, since: float) -> tuple[str, ...] | None:
        """The receivers Alertmanager routed a matching alert to while it was active (not inhibited nor silenced:
        only then does it notify), any time after `since`."""
        with self.lock:
            for at, labels, receivers, state in self.routed:
                if (at >= since and state == "active" and labels.get("alertname") == alertname
                        and _matches(labels, match)):
                    return receivers
        return None

    def active(self, alertname: str, match: dict) -> bool:
        """Prometheus holds a matching alert (pending or firing) right now."""
        with self.lock:
            return any(e.gone is None and e.labels.get("alertname") == alertname and _matches(e.labels, match)
                       for e in self.episodes)

    def notifying_between(self, start: float, end: float, excluded: tuple[str, ...]) -> list[Episode]:
        """Warning/critical episodes (pending or firing) alive at any time in [start, end]."""
        with self.lock:
            return [e for e in self.episodes
                    if e.labels.get("severity") in NOTIFYING and e.labels.get("alertname") not in excluded
                    and e.seen <= end and (e.gone is None or e.gone >= start)]


def _key(labels: dict) -> tuple:
    return tuple(sorted(labels.items()))


class Operator:
    """A person at the action service: logs in through the form, opens pages, confirms with the page's CSRF token."""

    def __init__(self, stack: DemoStack) -> None:
        self.base = stack.url("actions", "")
        self.session = requests.Session()
        self.user = stack.info["operator"]["user"]
        self.password = stack.info["operator"]["password"]

    def _token(self, path: str) -> str:
        page = self.session.get(self.base + path, timeout=20)
        page.raise_for_status()
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, f"{path} carries no CSRF token"
        return found.group(1)

    def login(self) -> None:
        response = self.session.post(self.base + "/login", timeout=20, allow_redirects=False, data={
            "username": self.user, "password": self.password, "csrf_token": self._token("/login")})
        assert response.status_code == 302, response.text[:500]

    def open(self, url: str) -> str:
        """GET a page by the URL an alert links (only its path and query: the service is this demo's)."""
        parts = urlsplit(url)
        response = self.session.get(self.base + parts.path + (f"?{parts.query}" if parts.query else ""), timeout=20)
        assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:300]}"
        return response.text

    def confirm(self, url: str) -> str:
        """Open an action's preview page (the alert's action link) and press its confirm button."""
        parts = urlsplit(url)
        params = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
        params = {key: requests.utils.unquote(value) for key, value in params.items()}
        token = self._token(parts.path + f"?{parts.query}")
        response = self.session.post(self.base + parts.path, data={**params, "csrf_token": token}, timeout=60)
        assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:500]}"
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))

    def audit(self) -> str:
        """The audit page as text."""
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", self.session.get(self.base + "/audit", timeout=20).text))


@dataclass
class Expect:
    """An alert an incident must raise: where Alertmanager must route it, and where its action link points."""

    alert: str
    match: dict
    receivers: tuple[str, ...]
    action_path: str | None = None  # path (and query start) of the action_url annotation, None: no link


@dataclass
class Incident:
    """Inject → alerts fire and are routed → respond (policy or person) → recover → alerts resolve."""

    name: str
    inject: list[tuple[str, dict]]
    expects: list[Expect]
    action: str  # what runs: the policy's automatic action, a page a person confirms, a link only, or nothing
    respond: Callable[["Incident"], str | None] | None = None  # once every alert fired and was routed: what was
    # done, or None while it waits for something (it is called again on the next round)
    recover: list[tuple[str, dict]] = field(default_factory=list)  # ipp-sim inject events after respond
    after: Callable[["Incident"], str] | None = None  # once resolved (e.g. host-in), returns what was done
    gate: Callable[[], bool] | None = None  # injected only once this is true (an incident it would disturb is over)
    started: float = 0.0
    fired: dict = field(default_factory=dict)  # alert -> Episode
    routed: dict = field(default_factory=dict)  # alert -> receivers
    responded: float | None = None
    resolved: float | None = None
    done: str = ""
    problems: list[str] = field(default_factory=list)


def drive(stack: DemoStack, recorder: Recorder, incidents: list[Incident], timeout: float) -> None:
    """Move every incident through its loop concurrently until all resolved or `timeout` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(i.resolved is None and not i.problems for i in incidents):
        for incident in incidents:
            if not incident.started:
                if incident.gate and not incident.gate():
                    continue
                for event, params in incident.inject:
                    stack.inject(event, **params)
                incident.started = time.monotonic()
            if incident.resolved is None and not incident.problems:
                _advance(stack, recorder, incident)
        time.sleep(1.0)
    for incident in incidents:
        if incident.resolved is None and not incident.problems:
            missing = [e.alert for e in incident.expects if e.alert not in incident.fired]
            incident.problems.append("never injected: its gate stayed closed" if not incident.started else
                                     f"not fired within {timeout:.0f}s: {missing}" if missing
                                     else f"not resolved within {timeout:.0f}s")


def _advance(stack: DemoStack, recorder: Recorder, incident: Incident) -> None:
    for expect in incident.expects:
        if expect.alert not in incident.fired:
            episode = recorder.find(expect.alert, expect.match, incident.started)
            if episode:
                incident.fired[expect.alert] = episode
                _check_link(stack, incident, expect, episode)
        if expect.alert in incident.fired and expect.alert not in incident.routed:
            receivers = recorder.receivers(expect.alert, expect.match, incident.started)
            if receivers:
                incident.routed[expect.alert] = receivers
                if set(receivers) != set(expect.receivers):
                    incident.problems.append(f"{expect.alert} routed to {receivers}, expected {expect.receivers}")
    if incident.responded is None:
        if len(incident.routed) < len(incident.expects):
            return
        try:
            done = incident.respond(incident) if incident.respond else ""
        except AssertionError as exc:
            incident.problems.append(f"response failed: {exc}")
            return
        if done is None:
            return
        incident.done = done
        for event, params in incident.recover:
            stack.inject(event, **params)
        incident.responded = time.monotonic()
        return
    if not any(recorder.active(e.alert, e.match) for e in incident.expects):
        incident.resolved = time.monotonic()
        if incident.after:
            try:
                incident.done += "; " + incident.after(incident)
            except AssertionError as exc:
                incident.problems.append(f"after resolving: {exc}")


def _check_link(stack: DemoStack, incident: Incident, expect: Expect, episode: Episode) -> None:
    url = episode.annotations.get("action_url")
    if expect.action_path is None:
        if url:
            incident.problems.append(f"{expect.alert} links {url}, expected no action link")
        return
    if not url or not urlsplit(url).netloc.endswith(f":{stack.ports['actions']}"):
        incident.problems.append(f"{expect.alert} action_url {url!r} does not point at this action service")
    elif not (urlsplit(url).path + "?" + urlsplit(url).query).startswith(expect.action_path):
        incident.problems.append(f"{expect.alert} action_url {url!r}, expected {expect.action_path}...")


def report(incidents: list[Incident], phase: str) -> None:
    """Rows for the end-of-run table: one per expected alert."""
    for incident in incidents:
        for expect in incident.expects:
            episode = incident.fired.get(expect.alert)
            REPORT.append({
                "phase": phase, "incident": incident.name, "alert": expect.alert,
                "fire": f"{episode.firing - incident.started:.0f}s" if episode else "never",
                "receiver": ",".join(incident.routed.get(expect.alert, ())) or "-",
                "action": incident.action,
                "resolve": (f"{incident.resolved - incident.started:.0f}s" if incident.resolved else "never"),
                "notes": "; ".join(incident.problems) or incident.done,
            })
