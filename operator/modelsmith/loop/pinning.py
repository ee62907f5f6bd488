"""A run's inputs, pinned at its start, and what the run does when they go missing or change.

A run starts on one intake spec and one Benchmark content. The run controller records both
(digests in status.pinned, snapshots in the object store) when the run leaves Pending; from then
on every reconcile compares the live intake's spec digest with the pinned one. The run never goes
on with another spec: an intake deleted mid-run blocks it (IntakeMissing), one re-created or
edited to another spec blocks it (IntakeChanged), a deleted Benchmark blocks it
(BenchmarkMissing; the run's Jobs read the pinned scenario snapshot, but a Benchmark gone mid-run
is a mistake its owner should hear about). The Job the run holds is stopped once the block has
lasted `RunConfig.input_grace_seconds`; the same spec back resumes the run, starting the stopped
Job again as a new attempt. Internal to the loop; `decide` calls it."""

from __future__ import annotations

from datetime import datetime

from modelsmith.loop.actions import DeleteJob
from modelsmith.loop.advice import sentence
from modelsmith.loop.jobs import account_gpu_time, relaunch
from modelsmith.loop.ledger import LedgerKind
from modelsmith.loop.observation import InputProblem, JobState
from modelsmith.loop.phases import JOB_PHASES, Phase
from modelsmith.loop.reasons import Reason
from modelsmith.loop.state import RunState, blocked_by
from modelsmith.loop.step import Context, Outcome, Record, resume

INPUT_REASONS = frozenset({Reason.INTAKE_MISSING, Reason.INTAKE_CHANGED, Reason.BENCHMARK_MISSING})
PINNED_PHASES = JOB_PHASES | {Phase.PROMOTION_STAGING}
"""Phases whose work reads the run's inputs (Jobs, the evidence bundle). After staging, the
gate carries its own evidence and the run only follows it."""
_HELD = frozenset({JobState.PENDING, JobState.RUNNING, JobState.UNSCHEDULABLE})


def input_problem(
    intake: str,
    pinned_digest: str,
    live_digest: str | None,
    benchmark: str,
    benchmark_present: bool,
) -> InputProblem | None:
    """What is wrong with a started run's inputs as they are now, or None. `live_digest` is the
    spec digest of the intake the run names (None: there is none)."""
    if live_digest is None:
        return InputProblem(
            reason=Reason.INTAKE_MISSING, message=f"its ModelIntake {intake} was deleted"
        )
    if live_digest != pinned_digest:
        return InputProblem(
            reason=Reason.INTAKE_CHANGED,
            message=f"its ModelIntake {intake} now has another spec than the one the run "
            "started on",
        )
    if not benchmark_present:
        return InputProblem(
            reason=Reason.BENCHMARK_MISSING, message=f"its Benchmark {benchmark} was deleted"
        )
    return None


def block_on_inputs(ctx: Context) -> Outcome | None:
    """The run blocks when a phase that reads its inputs finds them missing or changed."""
    problem = ctx.obs.input_problem
    if problem is None or ctx.state.phase not in PINNED_PHASES:
        return None
    out = _blocked(ctx, problem, stopped=False)
    out.updates["resume_phase"] = ctx.work_phase
    return out


def inputs_blocked(ctx: Context) -> tuple[Context, Outcome]:
    """A run blocked on its inputs: still blocked (its Job stopped once the grace is over),
    blocked on another input problem, or resumed once the intake has the pinned spec again."""
    s, problem = ctx.state, ctx.obs.input_problem
    job = ctx.observed_job()
    if problem is None:
        if ctx.work_phase in JOB_PHASES and (job is None or job.state is JobState.NONE):
            # Its Job was stopped while blocked (or went): the step starts again, as a new
            # attempt so that the name is not the one still being deleted.
            message = f"The run's inputs are back as pinned; starting {ctx.doing} again."
            out = Outcome(ctx.work_phase, Reason.RESUMED, message)
            out.decisions.append(
                Record(LedgerKind.DECISION, Reason.RESUMED, message, s.iteration, s.attempt)
            )
            return ctx, relaunch(ctx, out, ctx.work_phase, s.attempt + 1)
        return ctx, resume(ctx, f"The run's inputs are back as pinned; {ctx.doing} continues.")
    if job is not None and job.state in _HELD and _grace_left(ctx) <= 0:
        ctx = account_gpu_time(ctx, job)
        out = _blocked(ctx, problem, stopped=True)
        out.actions.append(DeleteJob(name=job.name))
        return ctx, out
    gone = s.job is not None and (job is None or job.state is JobState.NONE)
    return ctx, _blocked(ctx, problem, stopped=gone and _grace_left(ctx) <= 0)


def _blocked(ctx: Context, problem: InputProblem, stopped: bool) -> Outcome:
    grace = ctx.config.input_grace_seconds
    job = ctx.observed_job()
    if stopped:
        tail = "its Job was stopped"
    elif ctx.work_phase not in JOB_PHASES:
        tail = "nothing more starts"
    elif job is not None and job.state not in _HELD | {JobState.NONE}:
        tail = "its finished Job is read once they come back"
    else:
        tail = f"its Job is stopped {grace:g} s after the run blocked unless they come back"
    message = (
        f"{sentence(ctx.doing)} cannot go on: {problem.message}; the run never continues on "
        f"other inputs than it started with, and {tail}."
    )
    left = _grace_left(ctx)
    return Outcome(
        Phase.BLOCKED,
        problem.reason,
        message,
        blocked=blocked_by(problem.reason, message),
        requeue_after=max(left, 1.0) if left > 0 and ctx.work_phase in JOB_PHASES else None,
    )


def _grace_left(ctx: Context) -> float:
    since = _blocked_since(ctx.state)
    if since is None:
        return ctx.config.input_grace_seconds
    return ctx.config.input_grace_seconds - (ctx.now - since).total_seconds()


def _blocked_since(state: RunState) -> datetime | None:
    last = state.last_transition
    if state.phase is Phase.BLOCKED and last is not None and last.to is Phase.BLOCKED:
        return last.time
    return None
