"""Conditions as the Kubernetes API conventions describe them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def set_condition(
    existing: list[dict[str, Any]] | None,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None,
) -> list[dict[str, Any]]:
    """Returns the condition list with `type_` set; lastTransitionTime moves only when the status
    flips, so an unchanged reconcile produces an identical list (and no write)."""
    conditions = [dict(c) for c in existing or []]
    value = "True" if status else "False"
    for cond in conditions:
        if cond.get("type") == type_:
            if cond.get("status") != value:
                cond["lastTransitionTime"] = now_iso()
            cond.update(status=value, reason=reason, message=message)
            if generation is not None:
                cond["observedGeneration"] = generation
            return conditions
    new: dict[str, Any] = {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now_iso(),
    }
    if generation is not None:
        new["observedGeneration"] = generation
    conditions.append(new)
    return conditions


def condition(status: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for cond in (status or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def ready_news(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether status `new` tells an object's dependents something `old` did not: it is the
    first, its Ready verdict (status and reason) moved, or it answers a newer generation. A new
    message under the same verdict, and the watch echo of a status write, tell them nothing."""
    before, after = condition(old, "Ready") or {}, condition(new, "Ready") or {}
    return (
        not old
        or (before.get("status"), before.get("reason"))
        != (after.get("status"), after.get("reason"))
        or old.get("observedGeneration") != new.get("observedGeneration")
    )
