"""Pure parsers: text in, frozen records out; stdlib only, no I/O (tests/test_layering.py enforces it)."""


from __future__ import annotations


def column_text(value: object) -> str:
    """A database column as text: bytes decoded as latin-1 (byte for byte), NULL as the empty string."""
    if type(value) is str:  # the common case, first: parsers call this for every column of thousands of rows
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    return "" if value is None else str(value)
