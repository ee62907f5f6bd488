"""Staging a candidate and following its PromotionGate. Internal to the loop."""

from __future__ import annotations

from modelsmith.loop.actions import StageGate
from modelsmith.loop.naming import gate_name
from modelsmith.loop.observation import GateOutcome
from modelsmith.loop.phases import Phase
from modelsmith.loop.reasons import Reason
from modelsmith.loop.state import Scores
from modelsmith.loop.step import REQUEUE_WHILE_BLOCKED, Context, Outcome, block_run, stay


def stage_gate(name: str, iteration: int, scores: Scores, regression_count: int) -> StageGate:
    return StageGate(
        name=name,
        iteration=iteration,
        score=scores.previous_accepted if scores.previous_accepted is not None else 0.0,
        heldout_score=scores.heldout,
        baseline_score=scores.baseline,
        regression_count=regression_count,
    )


def await_gate(ctx: Context) -> Outcome:
    s, c, gate = ctx.state, ctx.config, ctx.obs.gate
    n = s.accepted_iteration or s.iteration
    name = s.gate_name or gate_name(c.run_name)
    if gate is not None:
        return Outcome(
            Phase.STAGED,
            Reason.GATE_CREATED,
            f"The candidate of iteration {n} is staged on the PromotionGate {gate.name}.",
        )
    out = stay(
        ctx,
        Reason.AWAITING_GATE,
        f"Building the evidence bundle and the PromotionGate {name} for the candidate of "
        f"iteration {n}.",
    )
    since = s.last_transition.time if s.last_transition is not None else ctx.now
    if (ctx.now - since).total_seconds() >= c.job_lost_after_seconds:
        # The gate never appeared (its creation failed after status was written): ask again.
        out.actions.append(stage_gate(name, n, s.scores, s.regression_count))
    return out


def follow_gate(ctx: Context) -> Outcome:
    s, gate = ctx.state, ctx.obs.gate
    n = s.accepted_iteration or s.iteration
    if gate is None:
        return stay(
            ctx, Reason.GATE_PENDING, f"Waiting to see the PromotionGate {s.gate_name or ''}."
        )
    match gate.outcome:
        case GateOutcome.REJECTED:
            return block_run(
                ctx,
                Reason.GATE_REJECTED,
                f"An approver rejected the candidate of iteration {n} on the PromotionGate "
                f"{gate.name}.",
            )
        case GateOutcome.BLOCKED:
            why = f" ({gate.blocker_reason})" if gate.blocker_reason else ""
            return block_run(
                ctx, Reason.GATE_BLOCKED, f"The PromotionGate {gate.name} is blocked{why}."
            )
        case GateOutcome.APPROVED:
            reason, message = Reason.GATE_APPROVED, f"The candidate of iteration {n} is approved."
        case GateOutcome.PROMOTED:
            reason, message = Reason.PROMOTED, f"The candidate of iteration {n} is promoted."
        case GateOutcome.ROLLED_BACK:
            reason = Reason.ROLLED_BACK
            message = f"The candidate of iteration {n} was promoted, then rolled back."
        case _:
            role = f"; next sign-off: {gate.awaiting_role}" if gate.awaiting_role else ""
            reason = Reason.GATE_PENDING
            message = (
                f"The candidate of iteration {n} awaits approval on the PromotionGate "
                f"{gate.name}{role}."
            )
    # Whatever the gate does next, its reconcile requeues this run.
    return stay(ctx, reason, message, requeue=REQUEUE_WHILE_BLOCKED)
