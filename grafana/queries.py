"""Read the generated dashboards back as the PromQL Grafana would send (for the tests and the benchmark)."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

DASHBOARDS = Path(__file__).resolve().parent / "dashboards"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True)
class Target:
    """One query of one panel: where it is, its expression and whether Grafana sends it as an instant query."""

    uid: str
    panel_id: int
    title: str
    ref_id: str
    expr: str
    instant: bool
    repeat: str | None


def load_dashboards(directory: Path = DASHBOARDS) -> dict[str, dict]:
    """uid (= file stem) -> dashboard JSON of every ipp-*.json."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("ipp-*.json"))}


def panels(board: dict) -> Iterator[dict]:
    """Every panel including rows and panels nested in collapsed rows."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def targets(board: dict) -> list[Target]:
    """Every query target of a dashboard, in panel order."""
    return [Target(board["uid"], panel["id"], panel.get("title", ""), target.get("refId", ""), target["expr"],
                   bool(target.get("instant")), panel.get("repeat"))
            for panel in panels(board) for target in panel.get("targets", [])]


def seconds(duration: str) -> float:
    """Seconds of a Grafana/Prometheus duration such as 6h, 30s or 1h30m."""
    parts = re.findall(r"(\d+)([smhdw])", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a duration: {duration!r}")
    return float(sum(int(n) * _UNITS[u] for n, u in parts))


def default_range(board: dict) -> float:
    """Seconds of the dashboard's default time range (time.from = now-<duration>, time.to = now)."""
    start = board["time"]["from"]
    if not start.startswith("now-") or board["time"]["to"] != "now":
        raise ValueError(f"{board['uid']}: default range must be now-<duration> .. now")
    return seconds(start[len("now-"):])


def duration_text(value: float) -> str:
    """A whole-second Prometheus duration."""
    return f"{max(1, round(value))}s"


@dataclass(frozen=True)
class Interval:
    """What Grafana substitutes for $__interval, $__rate_interval and $__range on one query."""

    step: float
    rate_window: float
    range_seconds: float

    @classmethod
    def for_range(cls, range_seconds: float, scrape_interval: float, points: int = 1000) -> "Interval":
        """Grafana's rules: step = range / max data points (at least the scrape interval);
        $__rate_interval = max($__interval + scrape interval, 4 x scrape interval)."""
        step = max(scrape_interval, range_seconds / points)
        return cls(step, max(step + scrape_interval, 4 * scrape_interval), range_seconds)


def expand(expr: str, values: dict[str, str], interval: Interval) -> str:
    """The expression with built-in and dashboard variables replaced as Grafana would."""
    builtins = {"__rate_interval": duration_text(interval.rate_window), "__interval": duration_text(interval.step),
                "__range": duration_text(interval.range_seconds)}

    def substitute(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name in builtins:
            return builtins[name]
        if name.isdigit():  # label_replace's "$1": Grafana leaves names it does not know alone
            return match.group(0)
        if name not in values:
            raise KeyError(f"variable ${name} has no value")
        return values[name]

    return _VARIABLE.sub(substitute, expr)


class PrometheusApi:
    """The few HTTP API calls the checks need, with a deadline on each."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url, self.timeout = base_url.rstrip("/"), timeout

    def get(self, path: str, **params: object) -> dict:
        """GET an API path; return `data`, or raise RuntimeError with Prometheus's error."""
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params, doseq=True)}"
        with urllib.request.urlopen(url, timeout=self.timeout) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body.get('error')}")
        return body["data"]

    def run(self, expr: str, instant: bool, end: float, interval: Interval) -> list:
        """The result of a panel query: instant at `end`, or a range over the interval ending at `end`."""
        if instant:
            return self.get("/api/v1/query", query=expr, time=end)["result"]
        return self.get("/api/v1/query_range", query=expr, start=end - interval.range_seconds, end=end,
                        step=interval.step)["result"]

    def label_values(self, selector: str, label: str, start: float, end: float) -> list[str]:
        """Values of `label` on the series `selector` matches in [start, end], sorted."""
        series = self.get("/api/v1/series", **{"match[]": selector, "start": start, "end": end})
        return sorted({item[label] for item in series if label in item})


def variable_values(board: dict, lookup: Callable[[str, str], list[str]]) -> tuple[dict[str, str], dict[str, str]]:
    """(value each variable takes by default, first single value of each query variable).

    A multi-value variable with "All" defaults to its allValue (.*); a single-value one to its first option;
    a text box to its default. Repeated panels take one value each: the second map gives the first of them."""
    values: dict[str, str] = {}
    firsts: dict[str, str] = {}
    for variable in board.get("templating", {}).get("list", []):
        name, kind = variable["name"], variable["type"]
        if kind == "datasource":
            continue
        if kind == "textbox":
            values[name] = variable.get("query", "")
            continue
        match = _LABEL_VALUES.match(variable["query"])
        if kind != "query" or not match:
            raise ValueError(f"{board['uid']}: variable {name}: only label_values(...) queries are supported")
        options = lookup(expand(match["selector"], values, Interval(1, 1, 1)), match["label"])
        firsts[name] = options[0] if options else ""
        values[name] = variable.get("allValue", ".*") if variable.get("includeAll") else firsts[name]
    return values, firsts
