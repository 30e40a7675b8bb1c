"""Demo-only copies of the shipped alert rules with time compressed by `--speed` (the shipped files are never changed)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_DURATION_TEXT = r"(?:\d+(?:ms|s|m|h|d|w|y))+"
# a range selector or subquery `[5m]`, `[1h:1m]`, and `offset 1d`
_RANGE = re.compile(rf"\[({_DURATION_TEXT})(?::({_DURATION_TEXT})?)?\]")
_OFFSET = re.compile(rf"\boffset\s+({_DURATION_TEXT})")
# predict_linear(v[window], horizon): the horizon is in seconds of (simulated) time too
_PREDICT = re.compile(r"(predict_linear\([^\[]*\[[^\]]*\]\s*,\s*)([^()]+)\)")


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as `1h30m`; ValueError for anything else."""
    text = str(text).strip()
    if not text or _DURATION.sub("", text):
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(text))


def format_duration(seconds: float) -> str:
    """A Prometheus duration for whole seconds (at least 1s)."""
    seconds = max(1, round(seconds))
    for unit in ("h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def scale(text: str, speed: float, floor: float) -> str:
    """`text` divided by `speed`, never below `floor` seconds (nor above the original)."""
    original = parse_duration(text)
    return format_duration(min(original, max(floor, original / speed)))


def scale_expr(expr: str, speed: float, min_window: float) -> str:
    """Every range window, subquery step, offset and predict_linear horizon in a PromQL expression divided by `speed`."""
    def window(match: re.Match) -> str:
        step = match.group(2)
        scaled = scale(match.group(1), speed, min_window)
        if step is None:
            return f"[{scaled}]" if ":" not in match.group(0) else f"[{scaled}:]"
        return f"[{scaled}:{scale(step, speed, min_window / 4)}]"
    if speed != 1:
        expr = _PREDICT.sub(lambda m: f"{m.group(1)}({m.group(2).strip()}) / {speed:g})", expr)
    expr = _RANGE.sub(window, expr)
    return _OFFSET.sub(lambda m: f"offset {scale(m.group(1), speed, min_window)}", expr)


def scale_rules(data: dict, speed: float, min_window: float, min_for: float) -> dict:
    """A rule-file document with `for`, `keep_firing_for` and every expression window compressed."""
    for group in data.get("groups") or []:
        if group.get("interval"):
            group["interval"] = scale(group["interval"], speed, min_for)
        for rule in group.get("rules") or []:
            rule["expr"] = scale_expr(str(rule["expr"]), speed, min_window)
            for key in ("for", "keep_firing_for"):
                if rule.get(key):
                    rule[key] = scale(rule[key], speed, min_for)
    return data


def write_scaled_rules(sources: list[Path], out_dir: Path, speed: float, min_window: float,
                       min_for: float) -> list[Path]:
    """Copies of `sources` under `out_dir`, compressed by `speed` (1 = plain copies); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        data = yaml.safe_load(source.read_text()) or {}
        if speed != 1:
            data = scale_rules(data, speed, min_window, min_for)
        target = out_dir / source.name
        target.write_text(f"# demo copy of {source.name}, time compressed {speed:g}x; the shipped file is unchanged\n"
                          + yaml.safe_dump(data, sort_keys=False, width=1000))
        written.append(target)
    return written
