"""Rendered exposition: text pieces with a gzip copy made once, joined per scrape (gzip members concatenate)."""

from __future__ import annotations

import gzip
from typing import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.utils import floatToGoString

# Level 1: the exposition is repetitive text, so it still shrinks ~10x, at a fraction of the default level's cost.
GZIP_LEVEL = 1


class _Families:
    """A registry-like view of a fixed list of families, for generate_latest()."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


class Piece:
    """One part of an exposition (a collector's families, or a scrape's self-metrics) as text and as one gzip member."""

    def __init__(self, text: bytes, gzipped: bytes | None = None) -> None:
        self.text, self._gzipped = text, gzipped

    @classmethod
    def render(cls, families: Iterable[Metric], compress: bool = False) -> "Piece":
        """Render families to text; with `compress`, make the gzip copy now rather than on first use."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(families))
        piece = cls(generate_latest(registry))
        if compress:
            piece.gzipped()
        return piece

    def gzipped(self) -> bytes:
        """The text as one gzip member (made once; a race makes it twice, harmlessly)."""
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.text, compresslevel=GZIP_LEVEL, mtime=0)
        return self._gzipped


def _escape(text: str, quote: bool) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if quote else text


def render_small(families: Iterable[Metric]) -> Piece:
    """Render a few families (a scrape's self-metrics) as generate_latest() does, without its per-sample overhead.

    Gauges and counters with plain samples (no timestamps, _created or exemplars), else generate_latest() itself;
    tests compare the two byte for byte.
    """
    families = list(families)
    if any(f.type not in ("gauge", "counter") for f in families):
        return Piece.render(families)
    lines = []
    for family in families:
        name = family.name + "_total" if family.type == "counter" else family.name
        lines.append(f"# HELP {name} {_escape(family.documentation, quote=False)}\n# TYPE {name} {family.type}\n")
        for sample in family.samples:
            labels = ",".join(f'{k}="{_escape(str(v), quote=True)}"' for k, v in sorted(sample.labels.items()))
            lines.append(f"{sample.name}{{{labels}}} {floatToGoString(sample.value)}\n" if labels
                         else f"{sample.name} {floatToGoString(sample.value)}\n")
    return Piece("".join(lines).encode())


class Exposition:
    """A whole scrape's answer: the pieces in order."""

    def __init__(self, pieces: list[Piece]) -> None:
        self.pieces = pieces

    def text(self) -> bytes:
        """The plain text exposition."""
        return b"".join(piece.text for piece in self.pieces)

    def gzipped(self) -> bytes:
        """The exposition gzip-encoded: concatenated members decode to the joined text (RFC 1952 §2.2)."""
        return b"".join(piece.gzipped() for piece in self.pieces)


def accepts_gzip(header: str | None) -> bool:
    """True when an Accept-Encoding header allows gzip (a q=0 refuses it)."""
    for item in (header or "").split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().lower()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False
