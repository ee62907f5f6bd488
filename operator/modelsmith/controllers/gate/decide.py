"""What a PromotionGate does next, from its spec, its stored status and its sign-offs. Pure.

`decide` reads the gate as it is and returns one `Decision`: nothing (a final state, or nothing
asked), write the chain's status, promote, or roll back (or refuse to). It never reads the
cluster or the object store; `act` carries a decision out and `outcomes` says what status each
result of that work leads to. The approver chain itself is judged in `approvals`.

The states only move forward: Pending/Blocked → Approved → Promoted → RolledBack, or
Pending/Blocked → Rejected. A rejection, a promotion and a rollback are final for the gate (a new
candidate gets a new gate), so a withdrawn or expired sign-off never reopens one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from modelsmith.api.common import Blocker
from modelsmith.api.gate import Approval, ApprovalDecision, GateDecision, GateState, PromotionGate
from modelsmith.api.gate_annotations import ROLLBACK_ANNOTATION
from modelsmith.controllers.gate.approvals import UNKNOWN_ROLE, ChainVerdict, evaluate_chain
from modelsmith.controllers.gate.outcomes import (
    APPROVED,
    AWAITING_APPROVAL,
    PROMOTED_CONDITION,
    PROMOTING,
    rollback_failed,
)
from modelsmith.runtime.conditions import set_condition

MAX_USER = 253
"""The longest user name a rollback annotation may carry (a Kubernetes name's limit)."""


class Step(StrEnum):
    NOTHING = "Nothing"
    """Final (Rejected, RolledBack), or Promoted with no rollback asked: nothing to do."""
    WRITE_CHAIN = "WriteChain"
    """Not approved: write what the chain says and look again when a sign-off expires."""
    PROMOTE = "Promote"
    """Approved: record the approval, then the promotion record, the pointer, Promoted."""
    ROLLBACK = "Rollback"
    """Promoted and a rollback is asked by a valid user: record it and restore the pointer."""
    REFUSE_ROLLBACK = "RefuseRollback"
    """A rollback is asked that cannot be done: say why (nothing is read or moved)."""


@dataclass(frozen=True)
class GateView:
    """The gate as the reconcile read it."""

    gate: PromotionGate
    status: dict[str, Any]
    """The stored status (its wire form): what the gate has already decided."""
    annotations: dict[str, str]
    generation: int | None
    now: datetime
    """Timezone-aware, whole seconds."""
    requeue_seconds: float
    """The operator's base requeue delay (settings)."""


@dataclass(frozen=True)
class Decision:
    step: Step
    status: dict[str, Any] = field(default_factory=dict)
    """The status to write before anything else is done."""
    requeue: float | None = None
    approvals: tuple[Approval, ...] = ()
    """PROMOTE: the sign-offs the promotion record names."""
    rejected: bool = False
    """WRITE_CHAIN: this write turns the gate Rejected (counted once)."""
    by: str = ""
    """ROLLBACK: who asked for it."""


def decide(view: GateView) -> Decision:
    state = view.status.get("state")
    if state == GateState.ROLLED_BACK:
        return Decision(Step.NOTHING)
    if state == GateState.PROMOTED:
        return _rollback_request(view)
    if state == GateState.REJECTED or view.status.get("decision") == GateDecision.REJECT:
        return Decision(Step.NOTHING)  # final: a new candidate gets a new gate

    verdict = chain_verdict(view)
    if verdict.approved:
        return _promote(view, chain_status(view, verdict), verdict.valid_approvals())
    if state == GateState.APPROVED:
        # Approval was recorded before promotion began: the decision stands even if a sign-off
        # is withdrawn or expires while promotion waits (the object store was down).
        return _promote(view, {}, recorded_approvals(view.status))

    status = chain_status(view, verdict)
    first = first_blocker(verdict)
    status["conditions"] = set_condition(
        status.get("conditions"),
        PROMOTED_CONDITION,
        False,
        first.reason if first else AWAITING_APPROVAL,
        first.message if first else f"{verdict.summary} approvals",
        view.generation,
    )
    return Decision(
        Step.WRITE_CHAIN,
        status,
        until_expiry(verdict, view.gate.spec.approval_ttl_hours, view.now),
        rejected=verdict.state == GateState.REJECTED and state != GateState.REJECTED,
    )


def chain_verdict(view: GateView) -> ChainVerdict:
    gate = view.gate
    return evaluate_chain(
        gate.spec.approvers,
        view.annotations,
        gate.spec.evidence.digest,
        [Approval.model_validate(a) for a in view.status.get("approvals") or []],
        view.now,
        # The TTL is the gate's own (staged from the policies and intake), never read live.
        gate.spec.approval_ttl_hours,
        gate.spec.requested_by,
    )


def _promote(view: GateView, chain: dict[str, Any], approvals: list[Approval]) -> Decision:
    """Approved: the status that records it (`chain` is the chain's status, {} to keep the
    one recorded when approval was reached)."""
    status = {
        **chain,
        "state": GateState.APPROVED.value,
        "decision": GateDecision.PROMOTE.value,
        "blockers": [],  # only UnknownRole could remain, and it stops nothing
    }
    signed = ", ".join(f"{a.role} ({a.user})" for a in approvals)
    status["conditions"] = set_condition(
        status.get("conditions", view.status.get("conditions")),
        PROMOTED_CONDITION,
        False,
        PROMOTING,
        f"approved by {signed}; updating the serving pointer",
        view.generation,
    )
    return Decision(Step.PROMOTE, status, approvals=tuple(approvals))


def _rollback_request(view: GateView) -> Decision:
    """A Promoted gate acts only on the rollback annotation, and only for a named user whose
    rollback contract kept the previous pointer."""
    requested = view.annotations.get(ROLLBACK_ANNOTATION)
    if requested is None:
        return Decision(Step.NOTHING)
    by = requested.strip()
    label = view.gate.spec.candidate.label
    if not by:
        why = "the rollback annotation must name who asks for the rollback"
    elif len(by) > MAX_USER:
        why = f"the rollback annotation names a user longer than {MAX_USER} characters"
    elif not view.gate.spec.rollback.retain_previous:
        why = (
            f"candidate {label} cannot be rolled back here: its rollback contract keeps no "
            "previous serving pointer"
        )
    else:
        return Decision(Step.ROLLBACK, by=by)
    status = rollback_failed(
        {"rollback": view.status.get("rollback") or {}},
        view.status.get("conditions"),
        by or None,
        why,
        view.generation,
    )
    return Decision(Step.REFUSE_ROLLBACK, status, view.requeue_seconds * 6, by=by)


def first_blocker(verdict: ChainVerdict) -> Blocker | None:
    """The blocker that explains the state (Rejected first; UnknownRole never)."""
    return next((b for b in verdict.blockers if b.reason != UNKNOWN_ROLE), None)


def recorded_approvals(status: dict[str, Any]) -> list[Approval]:
    approvals = [Approval.model_validate(a) for a in status.get("approvals") or []]
    return [a for a in approvals if a.valid and a.decision == ApprovalDecision.APPROVED]


def chain_status(view: GateView, verdict: ChainVerdict) -> dict[str, Any]:
    approved = verdict.approved
    first = first_blocker(verdict)
    if approved:
        reason, message = APPROVED, f"every role signed ({verdict.summary})"
    elif first is not None:
        reason, message = first.reason, first.message
    else:
        pending = [a.role for a in verdict.approvals if not a.valid]
        reason = AWAITING_APPROVAL
        message = f"awaiting {', '.join(pending)} ({verdict.summary})"
    return {
        "observedGeneration": view.generation,
        "state": verdict.state.value,
        "decision": verdict.decision.value,
        "approvals": [a.wire() for a in verdict.approvals],
        "approvalsSummary": verdict.summary,
        "blockers": [b.wire() for b in verdict.blockers],
        "conditions": set_condition(
            view.status.get("conditions"), "Approved", approved, reason, message, view.generation
        ),
    }


def until_expiry(verdict: ChainVerdict, ttl: int | None, now: datetime) -> float | None:
    """With a TTL, look again when the oldest counted approval expires (no watch event says
    so)."""
    if ttl is None:
        return None
    times = [a.at for a in verdict.valid_approvals() if a.at is not None]
    if not times:
        return None
    due = min(times) + timedelta(hours=ttl) - now
    return max(due.total_seconds() + 1, 1.0)
