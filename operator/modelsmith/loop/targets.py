"""A launch the ExecutionTarget refuses: the run blocks (governance) instead of launching, and
resumes, launching, once the target admits it again. Internal to the loop."""

from __future__ import annotations

from modelsmith.loop.actions import LaunchJob
from modelsmith.loop.advice import sentence
from modelsmith.loop.jobs import relaunch
from modelsmith.loop.ledger import LedgerKind
from modelsmith.loop.phases import JOB_PHASES, Phase
from modelsmith.loop.reasons import Reason
from modelsmith.loop.state import blocked_by
from modelsmith.loop.step import Context, Outcome, resume, stay

# What a launch adds to the state and the ledger; a refused launch adds none of it, so the
# resumed run launches the same Job (same name, same recipe) as if nothing had happened.
_LAUNCH_UPDATES = frozenset({"job"})
_LAUNCH_RECORDS = frozenset({LedgerKind.JOB, LedgerKind.RECIPE})


def refuse_launch(ctx: Context, out: Outcome) -> Outcome:
    """`out` without its launch, as a block: what it decided before launching (an iteration's
    verdict, its history, the next iteration number) stands; the Job waits for the target."""
    refusal = ctx.obs.launch_refusal
    assert refusal is not None
    launch = next(a for a in out.actions if isinstance(a, LaunchJob))
    message = f"{refusal.message}; no Job starts until it does ({launch.phase.value} waits)."
    updates = {k: v for k, v in out.updates.items() if k not in _LAUNCH_UPDATES}
    updates["resume_phase"] = launch.phase
    return Outcome(
        Phase.BLOCKED,
        refusal.reason,
        message,
        updates=updates,
        actions=[a for a in out.actions if not isinstance(a, LaunchJob)],
        decisions=out.decisions,
        records=[r for r in out.records if r.kind not in _LAUNCH_RECORDS],
        history_entry=out.history_entry,
        blocked=blocked_by(refusal.reason, message),
        verdict=out.verdict,
    )


def target_block(ctx: Context) -> Outcome:
    """A run blocked by its ExecutionTarget: still refused, it stays (with the latest words);
    admitted again, it resumes and launches the Job it was about to."""
    s, refusal = ctx.state, ctx.obs.launch_refusal
    b = s.blocked_by
    assert b is not None
    if refusal is not None:
        if refusal.reason == b.reason and b.message.startswith(refusal.message):
            return stay(ctx, b.reason, b.message)
        out = Outcome(Phase.BLOCKED, refusal.reason, refusal.message)
        message = f"{refusal.message}; no Job starts until it does ({ctx.work_phase.value} waits)."
        out.message, out.blocked = message, blocked_by(refusal.reason, message)
        return out
    phase = ctx.work_phase
    words = "The ExecutionTarget admits the intake again"
    if phase not in JOB_PHASES:
        return resume(ctx, f"{words}; {ctx.doing} continues.")
    out = Outcome(phase, Reason.RESUMED, f"{words}; {sentence(ctx.doing).lower()} starts.")
    return relaunch(ctx, out, phase, max(1, s.attempt))
