"""Rendered exposition: a direct text renderer, and pieces with a gzip copy made once, joined per scrape."""

from __future__ import annotations

import gzip
import math
import threading
from typing import Callable, Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.utils import floatToGoString

from exporter.metrics import Families, LabelValues, MetricSpec, Sample

# Level 1: the exposition is repetitive text, so it still shrinks ~10x, at a fraction of the default level's cost.
GZIP_LEVEL = 1


class _Families:
    """A registry-like view of a fixed list of families, for generate_latest()."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


class Chunk:
    """Rendered text and its gzip member, made on first use; concurrent first users share one compression."""

    __slots__ = ("text", "_gzipped", "_lock")

    def __init__(self, text: bytes) -> None:
        self.text: bytes = text
        self._gzipped: bytes | None = None
        self._lock = threading.Lock()

    def gzipped(self) -> bytes:
        """The text as one gzip member."""
        return self._once(lambda: gzip.compress(self.text, compresslevel=GZIP_LEVEL, mtime=0))

    def _once(self, make: Callable[[], bytes]) -> bytes:
        made = self._gzipped
        if made is None:
            with self._lock:
                made = self._gzipped
                if made is None:
                    made = self._gzipped = make()
        return made


class Piece(Chunk):
    """One part of an exposition (a collector's families, or a scrape's self-metrics).

    Made of one chunk per family when rendered with a LineMemo: a family whose samples did not change since the
    last fetch brings its text and its gzip member along, so neither is made again (gzip members concatenate).
    """

    __slots__ = ("chunks",)

    def __init__(self, chunks: list[Chunk]) -> None:
        super().__init__(chunks[0].text if len(chunks) == 1 else b"".join([chunk.text for chunk in chunks]))
        self.chunks = chunks

    def gzipped(self) -> bytes:
        """The text gzip-encoded: the chunks' members, joined once."""
        return self._once(lambda: b"".join([chunk.gzipped() for chunk in self.chunks]))

    @classmethod
    def render(cls, families: Families | Iterable[Metric], memo: LineMemo | None = None) -> "Piece":
        """Render families to text (each gzip member is made when a scraper first asks for gzip)."""
        if not isinstance(families, Families):  # prometheus_client families from a collector that builds its own
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_Families(families))
            return cls([Chunk(generate_latest(registry))])
        if memo is None:  # nothing to reuse later (a scrape's self-metrics): one chunk
            return cls([Chunk(b"".join([chunk.text for chunk in render_families(families, LineMemo())]))])
        return cls(render_families(families, memo))


def _escape(text: str, quote: bool) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if quote else text


def _label_value(value: object) -> str:
    text = str(value)
    if "\\" in text or "\n" in text or '"' in text:  # rare: most values need no escaping, and `in` is cheap
        return _escape(text, quote=True)
    return text


def go_float(value: float) -> str:
    """floatToGoString() with fast paths for the common cases (ints, plain floats); the same text (tested)."""
    if type(value) is int:
        if -10**15 < value < 1_000_000:  # repr(float(v)) is "v.0" here, and Go keeps the plain form below 1e6
            return f"{value}.0"
        if 1_000_000 <= value < 2**53:  # exact as a float; Go writes d.ddde+XX (as floatToGoString does)
            digits = str(value)
            rest = digits[1:].rstrip("0")
            return f"{digits[0]}.{rest}e+{len(digits) - 1:02d}" if rest else f"{digits[0]}e+{len(digits) - 1:02d}"
    elif type(value) is float and -math.inf < value < 1_000_000:  # finite, below Go's exponent switch
        return repr(value)
    return floatToGoString(value)


class _Remembered:
    """What a LineMemo keeps for one metric: its line prefixes, and its last samples with their text."""

    def __init__(self) -> None:
        self.prefixes: dict[LabelValues, str] = {}
        self.samples: list[Sample] | None = None
        self.chunk = Chunk(b"")


class LineMemo:
    """Per metric, remembered across renders of one collector: line prefixes, and the last samples' text.

    Between fetches most families do not change at all (volume states, label priorities) and the others keep
    their labels, so a render reuses a family's text when its samples are equal, and otherwise looks the line
    prefixes (`name{labels}`) up instead of escaping and formatting them. Bounded: a metric's prefixes are
    forgotten when they far outnumber its samples, and only families that changed once keep any.
    """

    def __init__(self) -> None:
        self._metrics: dict[str, _Remembered] = {}

    def of(self, name: str, used: int) -> _Remembered:
        """What is remembered of metric `name`; its prefixes emptied first when they outgrew `used` by far."""
        known = self._metrics.get(name)
        if known is None:
            known = self._metrics[name] = _Remembered()
        elif len(known.prefixes) > 2 * used + 256:
            known.prefixes = {}
        return known


def _family_chunk(spec: MetricSpec, samples: list[Sample], memo: LineMemo) -> Chunk:
    name = spec.name
    if spec.kind == "counter":  # as prometheus_client: one trailing _total, whether the spec wrote it or not
        name = name.removesuffix("_total") + "_total"
    known = memo.of(name, len(samples))
    if known.samples is not None and known.samples == samples:  # a C-level compare, far cheaper than rendering
        return known.chunk
    out = [f"# HELP {name} {_escape(spec.help, quote=False)}\n# TYPE {name} {spec.kind}\n"]
    if not spec.labels:
        out.extend(f"{name} {go_float(value)}\n" for _labels, value in samples)
    else:
        order = sorted(range(len(spec.labels)), key=lambda i: spec.labels[i])  # the text format sorts label names
        template = name + "{" + ",".join(f'{spec.labels[i]}="%s"' for i in order) + "}"
        # prefixes are remembered from a family's second render on: a family rendered once (data that never
        # changes, a long cache TTL) keeps no prefixes in memory
        prefixes = known.prefixes if known.samples is not None else {}
        for labels, value in samples:
            prefix = prefixes.get(labels)
            if prefix is None:
                prefix = prefixes[labels] = template % tuple(_label_value(labels[i]) for i in order)
            if type(value) is int and -10**15 < value < 1_000_000:  # inline go_float's commonest case: counts
                out.append(f"{prefix} {value}.0\n")
            else:
                out.append(f"{prefix} {go_float(value)}\n")
    known.samples, known.chunk = samples, Chunk("".join(out).encode())  # a new chunk: older pieces keep theirs
    return known.chunk


def render_families(families: Families, memo: LineMemo) -> list[Chunk]:
    """One chunk per family; their texts joined are byte for byte what generate_latest() makes of the families."""
    return [_family_chunk(spec, samples, memo) for spec, samples in families.items()]


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
