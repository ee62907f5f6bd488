"""Writing a gate's status: one conditional merge patch, an Event and the run requeued when
what a reader follows changed."""

from __future__ import annotations

from typing import Any

from modelsmith.controllers.gate import PLURAL, RUNS
from modelsmith.runtime.core import Runtime
from modelsmith.runtime.events import Event


def write(
    rt: Runtime,
    body: dict[str, Any],
    old: dict[str, Any],
    status: dict[str, Any],
    event: Event | None,
) -> bool:
    """Patches status when it changed; emits `event` and requeues the run when the state (or
    what blocks it) changed. True when the state changed.

    The patch is conditional on the resourceVersion read: the gate's state is a governance
    record, and a decision taken on a stale read (by a replica handing over) must not set a
    Promoted gate back to Approved. A refused patch (409) makes the reconciler read again."""
    meta = body["metadata"]
    written = rt.status.patch(PLURAL, body, status, old=old)
    if written is None:
        return False
    meta["resourceVersion"] = written.stored["metadata"]["resourceVersion"]
    merged = {**old, **status}
    changed = headline(old) != headline(merged)
    if changed:
        if event is not None:
            rt.events.emit(body, event.type, event.reason, event.message)
        run = ((body.get("spec") or {}).get("runRef") or {}).get("name")
        if run:
            rt.queue.requeue((RUNS, meta["namespace"], run), 0)
    return changed


def headline(status: dict[str, Any]) -> tuple[Any, ...]:
    """What a reader (and the run) follows: state, summary, blockers, rollback state."""
    return (
        status.get("state"),
        status.get("approvalsSummary"),
        tuple(b.get("reason") for b in status.get("blockers") or []),
        (status.get("rollback") or {}).get("state"),
    )
