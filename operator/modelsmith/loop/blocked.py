"""A Blocked run: whether what blocked it has ended, and when to check again. Internal to the
loop."""

from __future__ import annotations

from modelsmith.loop.actions import DeleteJob
from modelsmith.loop.advice import sentence
from modelsmith.loop.jobs import inadmissible, relaunch
from modelsmith.loop.limits import deadline_passed
from modelsmith.loop.observation import GateOutcome, JobState
from modelsmith.loop.reasons import Reason
from modelsmith.loop.state import BlockedBy, BlockKind
from modelsmith.loop.step import (
    LIMITED,
    REQUEUE_WHILE_BLOCKED,
    REQUEUE_WHILE_WAITING,
    Context,
    Outcome,
    limit_reached,
    resume,
    stay,
    stop_run,
)
from modelsmith.loop.targets import target_block

SOONEST_RECHECK = 1.0
_POLLED = frozenset(
    {Reason.OBJECT_STORE_UNAVAILABLE, Reason.JOB_NAME_TAKEN, Reason.OPERATOR_NOT_PERMITTED}
)
"""Blocks whose end no watch reports (the store answering again, a RoleBinding made, a Job
the operator does not watch removed): checked again every REQUEUE_WHILE_WAITING."""


def blocked(ctx: Context) -> Outcome:
    s, obs = ctx.state, ctx.obs
    b = s.blocked_by
    if b is None:
        return resume(ctx, f"Resumed; {ctx.doing} continues.")
    job = ctx.observed_job()
    if (
        b.kind is BlockKind.INFRASTRUCTURE
        and ctx.work_phase in LIMITED
        and deadline_passed(ctx.now, ctx.config.deadline)
    ):
        out = stop_run(
            ctx,
            Reason.DEADLINE_PASSED,
            f"The run's deadline passed while {ctx.doing} was blocked ({b.reason.value}).",
        )
        if job is not None and job.state in (JobState.PENDING, JobState.UNSCHEDULABLE):
            out.actions.append(DeleteJob(name=job.name))
        return out
    retry_requested = obs.retry_request not in (None, s.retry_token)
    match b.reason:
        case Reason.OBJECT_STORE_UNAVAILABLE if obs.object_store_reachable:
            return resume(ctx, f"The object store is reachable again; {ctx.doing} continues.")
        case Reason.UNSCHEDULABLE if job is None or job.state is not JobState.UNSCHEDULABLE:
            # Kueue may take the quota back from a Job whose pod waited for a node: its pod is
            # gone because it is queued again, not because it was placed.
            back = job is not None and job.queue is not None
            return resume(
                ctx,
                f"{sentence(ctx.doing)} "
                f"{'is back in its Kueue queue' if back else 'was scheduled'}.",
            )
        case Reason.QUEUE_INADMISSIBLE if not inadmissible(job):
            return resume(ctx, f"Kueue can admit {ctx.doing} again.")
        case Reason.RETRY_BUDGET_EXHAUSTED | Reason.CREDENTIAL_REPLACED if retry_requested:
            return _retry_on_request(ctx)
        case Reason.JOB_NAME_TAKEN if job is None or job.state is not JobState.FOREIGN:
            out = Outcome(
                ctx.work_phase,
                Reason.RESUMED,
                f"The Job name is free again; starting {ctx.doing} (attempt {s.attempt}).",
            )
            return relaunch(ctx, out, ctx.work_phase, max(1, s.attempt))
        case Reason.OPERATOR_NOT_PERMITTED if not obs.rbac_refusal:
            return resume(ctx, f"The operator may launch Jobs again; {ctx.doing} continues.")
        case Reason.EXECUTION_TARGET_NOT_ALLOWED | Reason.EXECUTION_TARGET_MISSING:
            return target_block(ctx)
        case Reason.GATE_REJECTED | Reason.GATE_BLOCKED if obs.gate is not None and (
            obs.gate.outcome not in (GateOutcome.REJECTED, GateOutcome.BLOCKED)
        ):
            return resume(ctx, f"The PromotionGate {obs.gate.name} is no longer blocked.")
    return stay(ctx, b.reason, b.message, requeue=blocked_recheck(ctx, b))


def blocked_recheck(ctx: Context, b: BlockedBy) -> float:
    """When a blocked run is checked again without an event. Only the object store's return
    goes unseen by any watch, so that block is polled; the others wait for their event, or the
    deadline."""
    if b.reason in _POLLED or b.reason in (
        Reason.EXECUTION_TARGET_NOT_ALLOWED,
        Reason.EXECUTION_TARGET_MISSING,
    ):
        # Nor is an ExecutionTarget (cluster-scoped, unwatched) being restored.
        return REQUEUE_WHILE_WAITING
    deadline = ctx.config.deadline
    if b.kind is BlockKind.INFRASTRUCTURE and ctx.work_phase in LIMITED and deadline is not None:
        until = (deadline - ctx.now).total_seconds()
        return max(SOONEST_RECHECK, min(REQUEUE_WHILE_BLOCKED, until))
    return REQUEUE_WHILE_BLOCKED


def _retry_on_request(ctx: Context) -> Outcome:
    s = ctx.state
    phase = ctx.work_phase
    if phase in LIMITED and (stop := limit_reached(ctx, s.gpu_seconds_used)):
        return stop_run(ctx, *stop)
    attempt = s.attempt + 1
    out = Outcome(
        phase,
        Reason.RESUMED,
        f"Retrying {ctx.doing} on request as attempt {attempt}.",
        updates={"retry_token": ctx.obs.retry_request},
    )
    return relaunch(ctx, out, phase, attempt)
