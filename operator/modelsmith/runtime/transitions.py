"""Which status change is a transition worth an Event, chosen by the status writer from the
stored status and the status it just wrote. Pure: unit-tested without a cluster.

The writer compares with the status the object held before its write, so a transition is
announced once: a reconcile that finds it already written (after a restart, or on the watch echo
of its own write) writes nothing and announces nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelsmith.runtime.conditions import condition
from modelsmith.runtime.events import Event


@dataclass(frozen=True)
class Transitions:
    """What, in one kind's status, is a transition."""

    headline: str
    """The condition whose reason and message an Event carries when only the phase moved."""
    conditions: tuple[str, ...]
    """Condition types whose status or reason moving is a transition; the Event carries the
    first of them that moved."""
    warning: Callable[[dict[str, Any], dict[str, Any]], bool]
    """(the new status, the announced condition) -> whether the Event is a Warning."""
    phase: str | None = None
    """The status field holding the phase (or state): a new value is a transition."""
    messages: bool = False
    """A new message under the same status and reason is a transition too: for kinds whose
    message names a cause the owner acts on (an intake's failing check, a gate's sign-offs)."""
    record: str | None = None
    """The status field recording the last phase transition with its own reason and message
    (a run's lastTransition: the reason the ledger gives it): when it names the phase entered,
    a new phase is announced with it rather than with the headline condition, whose reason may
    already describe what happens within the new phase."""


def announcement(
    old: dict[str, Any], new: dict[str, Any], transitions: Transitions
) -> Event | None:
    """The one Event that the move from status `old` to `new` deserves; None when it is no
    transition."""
    fields = ("status", "reason", "message") if transitions.messages else ("status", "reason")
    moved = None
    for type_ in transitions.conditions:
        before, after = condition(old, type_) or {}, condition(new, type_)
        if after is not None and any(before.get(f) != after.get(f) for f in fields):
            moved = after
            break
    phase = transitions.phase
    if moved is None and phase is not None and old.get(phase) != new.get(phase):
        moved = _recorded(new, transitions.record, new.get(phase)) or condition(
            new, transitions.headline
        )
    if moved is None:
        return None
    kind = "Warning" if transitions.warning(new, moved) else "Normal"
    return Event(kind, str(moved.get("reason") or ""), str(moved.get("message") or ""))


def _recorded(status: dict[str, Any], field: str | None, entered: Any) -> dict[str, Any] | None:
    record = status.get(field) if field else None
    return record if isinstance(record, dict) and record.get("to") == entered else None


def merged(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`old` with the JSON merge patch `patch` (RFC 7386) applied: what the API server stores."""
    out = dict(old)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out
