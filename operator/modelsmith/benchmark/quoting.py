"""Values shown in messages, quoted so that what cannot be seen still can.

A dimension value "route " and "route" are two classes; written bare in a condition message the
difference is invisible. Quoting marks where the value ends, and escaping turns whitespace other
than a plain space, control and format characters into visible escapes (\\t, \\u00a0, \\u200b)."""

from __future__ import annotations

import unicodedata

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def quoted(value: str) -> str:
    """The value in double quotes with anything invisible or ambiguous escaped."""
    return '"' + "".join(_shown(ch) for ch in value) + '"'


def _shown(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    if ch == " ":
        return ch
    # Separators other than a plain space (no-break, ideographic...), control, format (zero
    # width, direction marks), unassigned and private-use characters all read as nothing or as
    # a space; the escape names them.
    if unicodedata.category(ch)[0] in "ZC":
        code = ord(ch)
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return ch
