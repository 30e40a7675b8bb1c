"""Pure parsers: text in, frozen records out; stdlib only, no I/O (tests/test_layering.py enforces it)."""


class ParseError(ValueError):
    """The input is clearly not the expected output (wrong structure), as opposed to a skipped line."""
