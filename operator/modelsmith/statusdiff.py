"""The smallest JSON merge patch (RFC 7386) that turns an observed status into the desired one.
An empty patch means nothing changed, and the operator then writes nothing: an idle cluster sees
no API writes from it.

The desired status is sanitised first (`statusguard`): what was stored is the sanitised form, so
a status whose text needed redacting compares equal to it and is not written again."""

from __future__ import annotations

from typing import Any

from modelsmith.statusguard import CleanStatus, clean_status


def merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The patch from `old` to the sanitised `new`, itself marked as sanitised."""
    return CleanStatus(_diff(old, clean_status(new)))


def _diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key, value in new.items():
        current = old.get(key)
        if value is None:
            if current is not None:
                patch[key] = None
        elif isinstance(value, dict) and isinstance(current, dict):
            nested = _diff(current, value)
            if nested:
                patch[key] = nested
        elif _normal(value) != _normal(current):
            patch[key] = value
    return patch


def _normal(value: Any) -> Any:
    """Numbers compare by value (1 and 1.0 are the same score), and nulls inside lists and
    objects are dropped, as the API server stores them."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value
