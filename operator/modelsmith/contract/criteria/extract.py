"""Pulling a number or a JSON value out of a free-text answer."""

from __future__ import annotations

import json
import math
import re
from typing import Any

# JSON is looked for in this much of the answer, from this many opening braces at most: decoding
# from every brace of a long, brace-heavy answer would be quadratic.
MAX_JSON_INPUT = 65536
MAX_JSON_STARTS = 64

# A number that is not glued to a word before it ("COVID-19" holds 19, not -19; "A1" holds none);
# thousands separators only in groups of three ("1,234.5"), so "3,5" reads as 3.
_NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?"
    r"|(?<![\w.])[-+]?\.\d+"
)
_NOT_FOUND = object()


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are Python's extension, not JSON.
    raise ValueError(name)


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def first_number(answer: str) -> float | None:
    """The first number written in the answer, or None."""
    for match in _NUMBER.finditer(answer):
        try:
            value = float(match.group(0).replace(",", ""))
        except ValueError:  # pragma: no cover - the pattern only matches float syntax
            continue
        if math.isfinite(value):
            return value
    return None


def first_json(answer: str) -> tuple[bool, Any]:
    """(found, value): the whole answer if it is JSON, else the first JSON object in it."""
    text = answer[:MAX_JSON_INPUT]
    whole = _decode(text.strip())
    if whole is not _NOT_FOUND:
        return True, whole
    start = text.find("{")
    attempts = 0
    while start != -1 and attempts < MAX_JSON_STARTS:
        attempts += 1
        try:
            value, _end = _DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):
            value = _NOT_FOUND
        if isinstance(value, dict):
            return True, value
        start = text.find("{", start + 1)
    return False, None


def _decode(text: str) -> Any:
    if not text:
        return _NOT_FOUND
    try:
        value, end = _DECODER.raw_decode(text)
    except (ValueError, RecursionError):
        return _NOT_FOUND
    return value if end == len(text) else _NOT_FOUND
