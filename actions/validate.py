"""Syntactic checks for every value an action takes (pure): a refusal names the field and never echoes raw bytes."""

from __future__ import annotations

import re
from typing import Iterable

# Labels, hosts, servers and dbnames in IPP are words of letters, digits, '_', '.', '-' (M31.Run5.20100408,
# ps_ud_A, ipp016). No leading '-' (option injection), no spaces, quotes, '%', ';', '$', backslash or control bytes.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
MAX_RAW = 256  # longer input is refused before any other work

STAGES = ("chip", "camera", "fake", "warp", "stack", "diff", "dist", "registration", "destreak")
REVERT_STAGES = ("chip", "camera", "fake", "warp", "stack", "diff", "dist", "registration")
FAULT_CODES = (1, 2, 3, 4, 5, 6, 26, 256)  # psExit.h 1-6, PXTOOL_DO_NOT_REVERT_FAULT 26, EXIT_CRASH_ERR 256
SUMMIT_FAULT_CODES = (104, 110, 115, 200, 202, 203, 255)  # summit copy's HTTP-like codes (ipp-facts §5)
SWITCH = ("on", "off")


class Refused(Exception):
    """A value was refused; `field` says which, the message is safe to show (HTML-escaped by the templates)."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        self.field, self.message, self.status = field, message, status
        super().__init__(f"{field}: {message}")


def describe(value: object) -> str:
    """A short, printable description of a refused value (never the raw bytes)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def name(field: str, value: object) -> str:
    """Return `value` if it is an IPP-style name; refuse anything else."""
    if not isinstance(value, str) or not value:
        raise Refused(field, "is required")
    if len(value) > MAX_RAW or not NAME.fullmatch(value):
        raise Refused(field, f"{describe(value)} is not a valid name: letters, digits, '_', '.', '-' only, "
                             "not starting with '-', at most 64 characters")
    return value


def choice(field: str, value: object, allowed: Iterable[str]) -> str:
    """Return `value` if it is one of `allowed`."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise Refused(field, f"{describe(value)} is not one of: {', '.join(allowed) or '(none configured)'}")
    return value


def fault(field: str, value: object, extra: tuple[int, ...] = ()) -> int:
    """Return a known fault code (as an int) from its decimal text (`extra`: codes of one stage, e.g. summit copy)."""
    codes = FAULT_CODES + extra
    if isinstance(value, str) and value.isdigit() and len(value) <= 3 and int(value) in codes:
        return int(value)
    raise Refused(field, f"{describe(value)} is not a known fault code ({', '.join(map(str, codes))})")


def member(field: str, value: str, known: Iterable[str], what: str) -> str:
    """Refuse a well-formed value that does not exist (not a label the DB knows, not a host nebulous knows...)."""
    if value not in set(known):
        raise Refused(field, f"{value!r} is not a known {what}", status=404)
    return value


def like_escape(label: str) -> str:
    """Escape LIKE wildcards: chiptool -updaterun compares -label with LIKE; '_' in a real label must match only '_'."""
    return label.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
