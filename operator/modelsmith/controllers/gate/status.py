"""Writing a gate's status: one conditional merge patch (the status writer announces a
transition of its conditions), and the run requeued when what a reader follows changed."""

from __future__ import annotations

from typing import Any

from modelsmith.controllers.gate import PLURAL, RUNS
from modelsmith.controllers.gate.outcomes import (
    APPROVED,
    AWAITING_APPROVAL,
    PROMOTED,
    PROMOTED_CONDITION,
    PROMOTING,
    ROLLBACK_CONDITION,
    ROLLED_BACK,
)
from modelsmith.runtime.core import Runtime
from modelsmith.runtime.transitions import Transitions

NORMAL_REASONS = {AWAITING_APPROVAL, APPROVED, PROMOTING, PROMOTED, ROLLED_BACK}
"""The reasons of a gate on its way; any other (a blocker, a failed rollback) is a Warning."""
TRANSITIONS = Transitions(
    headline=PROMOTED_CONDITION,
    conditions=("Approved", PROMOTED_CONDITION, ROLLBACK_CONDITION),
    warning=lambda _, moved: moved.get("reason") not in NORMAL_REASONS,
    phase="state",
    # A new message under the same reason tells a sign-off (or its expiry) while the gate
    # waits for the rest of its approvers.
    messages=True,
)


def write(
    rt: Runtime,
    body: dict[str, Any],
    old: dict[str, Any],
    status: dict[str, Any],
) -> bool:
    """Patches status when it changed, and requeues the run when the state (or what blocks
    it) changed. True when the state changed.

    The patch is conditional on the resourceVersion read: the gate's state is a governance
    record, and a decision taken on a stale read (by a replica handing over) must not set a
    Promoted gate back to Approved. A refused patch (409) makes the reconciler read again."""
    meta = body["metadata"]
    written = rt.status.patch(PLURAL, body, status, old=old, transitions=TRANSITIONS)
    if written is None:
        return False
    meta["resourceVersion"] = written.stored["metadata"]["resourceVersion"]
    merged = {**old, **status}
    changed = headline(old) != headline(merged)
    if changed:
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
