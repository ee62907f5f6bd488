"""Waiting on a phase's Job, launching it, and what its failures mean. Internal to the loop."""

from __future__ import annotations

from dataclasses import replace

from modelsmith.contract.scorecard import Scorecard
from modelsmith.loop.actions import DeleteJob, LaunchJob
from modelsmith.loop.advice import capacity_message, capacity_problem, sentence, work
from modelsmith.loop.clusters import strongest_failure_cluster
from modelsmith.loop.failures import (
    EXIT_CONTAMINATION,
    EXIT_FOREIGN_CREDENTIAL,
    FATAL_EXITS,
    MAX_OVERLAPPING,
    container_start_wait,
    failure_words,
    start_failure_words,
)
from modelsmith.loop.ledger import LedgerKind
from modelsmith.loop.limits import plateau_near
from modelsmith.loop.naming import job_kind, job_name
from modelsmith.loop.observation import JobObservation, JobState
from modelsmith.loop.phases import Phase
from modelsmith.loop.queue import QueueObservation, QueueState
from modelsmith.loop.reasons import Reason
from modelsmith.loop.recipe import Recipe, next_recipe
from modelsmith.loop.state import JobRef
from modelsmith.loop.step import (
    LIMITED,
    Context,
    Outcome,
    Record,
    accepted_scorecard,
    block_run,
    evidence_unavailable,
    limit_reached,
    stay,
    stop_run,
)

REQUEUE_JOB_APPEARING = 10.0
REQUEUE_WHILE_QUEUED = 15.0
"""Kueue's admission unsuspends the Job, whose event requeues the run; a position in the queue
changes without one, so a queued run is checked again this often."""


def watch_job(ctx: Context) -> tuple[Context, Outcome | None]:
    """Waits on the current phase's Job and handles every way it can go wrong. Returns no
    outcome when the Job succeeded: the caller reads its result (with its GPU time counted)."""
    s, c = ctx.state, ctx.config
    ref = s.job
    if ref is None or ref.phase is not s.phase or ref.iteration != s.iteration:
        # The state names no Job for this phase (written by an older operator, or edited):
        # start the current attempt; its deterministic name makes this safe if it exists.
        out = Outcome(s.phase, Reason.AWAITING_JOB, f"Starting {ctx.doing}.")
        return ctx, relaunch(ctx, out, s.phase, max(1, s.attempt))
    job = ctx.observed_job()
    if job is None or job.state is JobState.NONE:
        return ctx, _job_not_seen(ctx, ref)
    state = job.state
    if state is JobState.FOREIGN:
        return ctx, job_name_taken(ctx, job)
    left = container_start_wait(job, ctx.now, c.container_start_grace_seconds)
    if left == 0 and state in (JobState.PENDING, JobState.RUNNING):
        # The pod would hold its GPUs until the Job's deadline: delete the Job first, whatever
        # the retry budget says.
        ctx = account_gpu_time(ctx, job)
        out = retry_job(ctx, start_failure_words(job, c.container_start_grace_seconds))
        out.actions.insert(0, DeleteJob(name=job.name))
        return ctx, out
    if (not_started := _not_started(ctx, job, left)) is not None:
        return ctx, not_started
    if state is JobState.RUNNING or (state is JobState.FAILED and not job.attempts_exhausted):
        attempt = f"attempt {s.attempt} of {c.max_attempts}"
        return ctx, stay(ctx, Reason.JOB_RUNNING, f"{sentence(ctx.doing)} is running ({attempt}).")

    ctx = account_gpu_time(ctx, job)
    if job.summary is not None and job.summary.contaminated:
        return ctx, block_contaminated(ctx, job)
    if state is JobState.FAILED:
        return ctx, job_failed(ctx, job)
    return ctx, None


def _job_not_seen(ctx: Context, ref: JobRef) -> Outcome:
    """The launched Job is not observed: retried once it has been missing too long."""
    c = ctx.config
    if (ctx.now - ref.launched_at).total_seconds() >= c.job_lost_after_seconds:
        out = retry_job(ctx, "disappeared before finishing")
        # It may only be missing from this observation: make sure that it cannot run
        # beside its successor.
        out.actions.insert(0, DeleteJob(name=ref.name))
        return out
    attempt = f"attempt {ctx.state.attempt} of {c.max_attempts}"
    return stay(
        ctx,
        Reason.AWAITING_JOB,
        f"{sentence(ctx.doing)} was started ({attempt}); waiting for its Job to appear.",
        REQUEUE_JOB_APPEARING,
    )


def _not_started(ctx: Context, job: JobObservation, left: float | None) -> Outcome | None:
    """A Job waiting in its Kueue queue, for its container to start, or for a node; None once
    it runs or ended. `left` is what remains of the container-start grace."""
    c = ctx.config
    queue = job.queue if job.state is JobState.PENDING else None
    if queue is not None and (queued := waiting_in_queue(ctx, queue)) is not None:
        return queued
    if job.state is JobState.PENDING:
        if left is not None:
            return stay(
                ctx,
                Reason.JOB_PENDING,
                # The same words every time, so waiting writes no status: the deadline is
                # stated from the pod's scheduling, not counted down.
                f"{sentence(ctx.doing)} waits to start: its container cannot start yet "
                f"({job.waiting_reason}); the attempt counts as failed "
                f"{c.container_start_grace_seconds:g} s after its pod was scheduled.",
                max(left, 1.0),
            )
        return waiting_to_start(ctx)
    if job.state is JobState.UNSCHEDULABLE:
        problem = capacity_problem(job.scheduler_message, c.gpu_resource, job.nodes_not_ready)
        why = capacity_message(problem, c.gpu_count, c.gpu_resource)
        return block_run(
            ctx, Reason.UNSCHEDULABLE, f"{sentence(ctx.doing)} cannot be scheduled: {why}."
        )
    return None


def waiting_in_queue(ctx: Context, queue: QueueObservation) -> Outcome | None:
    """A Job Kueue has not admitted (or took back) waits in its queue: no failed attempt, and
    no container-start grace (it has no pod); a queue that cannot admit it at all blocks the run
    until it is fixed.
    None once admitted: the Job then waits for its pod like any other."""
    doing = sentence(ctx.doing)
    match queue.state:
        case QueueState.ADMITTED:
            return None
        case QueueState.INADMISSIBLE:
            return block_run(
                ctx,
                Reason.QUEUE_INADMISSIBLE,
                f"{doing} cannot be admitted by Kueue: {queue.summary()}.",
            )
        case QueueState.PREEMPTED:
            return stay(
                ctx,
                Reason.PREEMPTED,
                f"{doing} waits for Kueue to admit it again ({queue.summary()}); the attempt "
                "does not count as failed.",
                REQUEUE_WHILE_QUEUED,
            )
    return stay(
        ctx, Reason.QUEUED, f"{doing} waits in Kueue: {queue.summary()}.", REQUEUE_WHILE_QUEUED
    )


def inadmissible(job: JobObservation | None) -> bool:
    return bool(job and job.queue and job.queue.state is QueueState.INADMISSIBLE)


def job_name_taken(ctx: Context, job: JobObservation) -> Outcome:
    """Someone else's Job holds the name of this run's Job: it is never adopted (its results
    would become this run's evidence), watched or deleted."""
    return block_run(
        ctx,
        Reason.JOB_NAME_TAKEN,
        f"A Job that is not this run's holds the name of the Job for {ctx.doing} "
        f"({job.reason or 'its labels and owner name another run'}); the run does not adopt "
        "it. Remove that Job and the run starts its own.",
    )


def waiting_to_start(ctx: Context) -> Outcome:
    """A Job waiting for its pod shows as Pending in `status.capacity` from its launch on. The
    transition that launched it keeps its words until the Job runs: replacing them with "waits
    to start" would cost a status write per Job that tells nothing capacity does not."""
    last, ref = ctx.state.last_transition, ctx.state.job
    if last is not None and ref is not None and last.time == ref.launched_at:
        return stay(ctx, last.reason, last.message)
    return stay(ctx, Reason.JOB_PENDING, f"{sentence(ctx.doing)} waits to start.")


def account_gpu_time(ctx: Context, job: JobObservation) -> Context:
    """The state with the finished Job's GPU time counted, once."""
    ref = ctx.state.job
    assert ref is not None
    if ref.accounted:
        return ctx
    spent = job.summary.gpu_seconds if job.summary is not None else 0.0
    state = ctx.state.model_copy(
        update={
            "gpu_seconds_used": ctx.state.gpu_seconds_used + spent,
            "job": ref.model_copy(update={"accounted": True}),
        }
    )
    return replace(ctx, state=state)


def block_contaminated(ctx: Context, job: JobObservation) -> Outcome:
    ids = job.summary.overlapping if job.summary is not None else ()
    named = ""
    if ids:
        shown = ", ".join(ids[:MAX_OVERLAPPING])
        more = f" and {len(ids) - MAX_OVERLAPPING} more" if len(ids) > MAX_OVERLAPPING else ""
        noun = "scenario" if len(ids) == 1 else "scenarios"
        named = f" (it reproduces held-out {noun} {shown}{more})"
    return block_run(
        ctx,
        Reason.CONTAMINATION,
        f"{sentence(ctx.doing)} found held-out material in the training data{named}; no "
        "candidate from it can be promoted.",
    )


def job_failed(ctx: Context, job: JobObservation) -> Outcome:
    if job.exit_code == EXIT_CONTAMINATION:
        return block_contaminated(ctx, job)
    if job.exit_code == EXIT_FOREIGN_CREDENTIAL:
        # Retrying on its own would let whoever swaps the Secret spend the retry budget
        # unseen; a person decides when to go on, as for any other tamper.
        return block_run(
            ctx,
            Reason.CREDENTIAL_REPLACED,
            f"{sentence(ctx.doing)} refused its object-store credential: the Secret it read "
            "is not the one the operator minted for it, so someone who may write Secrets in "
            "the namespace replaced it. The Job wrote nothing.",
        )
    if job.exit_code in FATAL_EXITS:
        reason, what = FATAL_EXITS[job.exit_code]
        return Outcome(
            Phase.FAILED, reason, f"{sentence(ctx.doing)} failed: {what}. Retrying cannot help."
        )
    return retry_job(ctx, f"failed ({failure_words(job)})")


def retry_job(ctx: Context, why: str) -> Outcome:
    s, c = ctx.state, ctx.config
    phase = ctx.work_phase
    if s.attempt >= c.max_attempts:
        return block_run(
            ctx,
            Reason.RETRY_BUDGET_EXHAUSTED,
            f"{sentence(ctx.doing)} {why} on attempt {s.attempt} of {c.max_attempts}; "
            "no attempts are left.",
        )
    if phase in LIMITED and (stop := limit_reached(ctx, s.gpu_seconds_used)):
        return stop_run(ctx, *stop)
    attempt = s.attempt + 1
    message = f"{sentence(ctx.doing)} {why}; retrying as attempt {attempt} of {c.max_attempts}."
    out = Outcome(phase, Reason.JOB_FAILED_RETRYING, message)
    # A retry stays in its phase, so no transition entry records why: this one does.
    out.decisions.append(
        Record(LedgerKind.DECISION, Reason.JOB_FAILED_RETRYING, message, s.iteration, s.attempt)
    )
    return relaunch(ctx, out, phase, attempt)


def relaunch(ctx: Context, out: Outcome, phase: Phase, attempt: int) -> Outcome:
    """Launch `phase`'s Job again for the current iteration. Training rebuilds its plan from
    the same inputs as the first attempt (accepted scorecard, accepted recipe, count without
    improvement), so every attempt trains on the same recipe and weights."""
    s = ctx.state
    if phase is not Phase.TRAINING:
        return add_launch(ctx, out, phase, iteration=s.iteration, attempt=attempt)
    scorecard = accepted_scorecard(ctx)
    if scorecard is None:
        return evidence_unavailable(ctx, "the accepted candidate's scorecard")
    return launch_training(
        ctx,
        out,
        iteration=s.iteration,
        attempt=attempt,
        scorecard=scorecard,
        accepted_iteration=s.accepted_iteration,
        accepted_recipe=s.accepted_recipe,
        without_improvement=s.iterations_without_improvement,
    )


def add_launch(
    ctx: Context,
    out: Outcome,
    phase: Phase,
    *,
    iteration: int,
    attempt: int,
    recipe: Recipe | None = None,
    weights: dict[str, float] | None = None,
    init_from: int | None = None,
) -> Outcome:
    if out.phase is not phase:
        # Launching and moving elsewhere in one decision would leave a Job nobody waits for.
        raise AssertionError(f"launch for {phase} in a decision that moves to {out.phase}")
    name = job_name(ctx.config.run_name, ctx.config.run_key, iteration, phase, attempt)
    kind = "train" if job_kind(phase) == "train" else "eval"
    out.actions.append(
        LaunchJob(
            name=name,
            kind=kind,
            phase=phase,
            iteration=iteration,
            attempt=attempt,
            model_iteration=iteration if phase is Phase.ASSESSING else None,
            init_from_iteration=init_from,
            recipe=recipe,
            weights=weights,
        )
    )
    out.updates.update(
        job=JobRef(
            name=name, phase=phase, iteration=iteration, attempt=attempt, launched_at=ctx.now
        ),
        iteration=iteration,
        attempt=attempt,
    )
    out.records.append(
        Record(
            LedgerKind.JOB,
            out.reason,
            f"Started {work(phase, iteration)}, attempt {attempt}.",
            iteration,
            attempt,
        )
    )
    return out


def launch_training(
    ctx: Context,
    out: Outcome,
    *,
    iteration: int,
    attempt: int,
    scorecard: Scorecard,
    accepted_iteration: int | None,
    accepted_recipe: Recipe | None,
    without_improvement: int,
) -> Outcome:
    c = ctx.config
    cluster = strongest_failure_cluster(scorecard, c.cluster_dimensions)
    plan = next_recipe(
        c.base_recipe,
        scorecard,
        cluster,
        c.failing_weight,
        iteration=iteration,
        start_rank=accepted_recipe.rank if accepted_recipe is not None else None,
        raise_rank=plateau_near(without_improvement, c.plateau_patience),
    )
    # A trained candidate is continued; a raised rank cannot load the smaller adapter, so
    # that iteration starts from the base model with the same weighted data.
    continue_from = (
        accepted_iteration
        if accepted_iteration is not None and accepted_iteration >= 1 and not plan.rank_raised
        else None
    )
    out.updates["recipe"] = plan.recipe
    out.records.append(
        Record(
            LedgerKind.RECIPE,
            out.reason,
            f"Recipe for iteration {iteration}: {plan.recipe.summary()}; {plan.rationale}.",
            iteration,
            attempt,
            recipe=plan.recipe,
            weights=plan.weights,
        )
    )
    return add_launch(
        ctx,
        out,
        Phase.TRAINING,
        iteration=iteration,
        attempt=attempt,
        recipe=plan.recipe,
        weights=plan.weights,
        init_from=continue_from,
    )
