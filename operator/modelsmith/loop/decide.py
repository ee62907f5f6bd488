"""The loop's core: from the run's memory and what the handler observed, the next decision.

`decide` is pure. The handler performs the decision's actions in order (each is idempotent by
name), then persists `decision.state` into the run's status. If an action fails it persists
nothing: the next reconcile decides again from the old state and gets the same actions with the
same names, so a Job is never launched twice and a ledger entry never written twice.

Each call makes at most one phase transition; a transition asks for a prompt requeue so the
next step follows without waiting for an event.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from modelsmith.loop.actions import Action, DeleteJob, LaunchJob, StageGate, WriteLedger
from modelsmith.loop.advice import (
    AdviceContext,
    capacity_message,
    capacity_problem,
    next_action,
    sentence,
    work,
)
from modelsmith.loop.assessment import AcceptanceVerdict, accept_candidate, clears_threshold
from modelsmith.loop.clusters import strongest_failure_cluster
from modelsmith.loop.config import RunConfig
from modelsmith.loop.failures import EXIT_CONTAMINATION, FATAL_EXITS, failure_words
from modelsmith.loop.ledger import LedgerEntry, LedgerKind
from modelsmith.loop.limits import budget_exhausted, deadline_passed, plateau_near
from modelsmith.loop.model import LoopModel
from modelsmith.loop.naming import gate_name, job_kind, job_name
from modelsmith.loop.observation import GateOutcome, JobObservation, JobState, Observation
from modelsmith.loop.phases import (
    JOB_PHASES,
    NEEDS_OBJECT_STORE,
    SUSPENDABLE,
    Phase,
    can_transition,
    is_terminal,
)
from modelsmith.loop.reasons import Reason
from modelsmith.loop.recipe import Recipe, next_recipe
from modelsmith.loop.scorecard import Scorecard
from modelsmith.loop.state import (
    BlockedBy,
    BlockKind,
    HistoryEntry,
    JobRef,
    RunState,
    Scores,
    Transition,
    append_history,
    blocked_by,
)

REQUEUE_AFTER_TRANSITION = 1.0
REQUEUE_WHILE_WAITING = 30.0
REQUEUE_JOB_APPEARING = 10.0

_LIMITED = frozenset({Phase.PENDING, Phase.EVALUATING_BASELINE, Phase.TRAINING})
"""Limits (budget, deadline) are checked before starting work in these phases. An assessment
of a trained candidate always runs: its evidence is what the spent GPU time bought."""


class Decision(LoopModel):
    phase: Phase
    reason: Reason
    message: str
    """Operational words: no paths, hosts, Job names or prompts."""
    actions: tuple[Action, ...]
    state: RunState
    """The run's memory after the actions; the handler persists it into status."""
    blocked_by: BlockedBy | None
    next_action: str
    history_entry: HistoryEntry | None
    """Already appended (bounded) to state.history; here for Events and metrics."""
    verdict: AcceptanceVerdict | None
    transitioned: bool
    """The phase changed: emit an Event, count the transition."""
    requeue_after_seconds: float | None
    """Reconcile again this soon even without an event; None for final phases."""

    @property
    def launches(self) -> tuple[LaunchJob, ...]:
        return tuple(a for a in self.actions if isinstance(a, LaunchJob))

    @property
    def ledger_entries(self) -> tuple[LedgerEntry, ...]:
        return tuple(a.entry for a in self.actions if isinstance(a, WriteLedger))


# --- building a decision -------------------------------------------------------------------


@dataclass(frozen=True)
class _Record:
    kind: LedgerKind
    reason: Reason
    message: str
    iteration: int
    attempt: int = 0
    recipe: Recipe | None = None
    weights: dict[str, float] | None = None
    scores: Scores | None = None
    verdict: AcceptanceVerdict | None = None


@dataclass
class _Outcome:
    phase: Phase
    reason: Reason
    message: str
    updates: dict[str, Any] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    decisions: list[_Record] = field(default_factory=list)
    """Ledger entries that explain the transition: written before it."""
    records: list[_Record] = field(default_factory=list)
    """Ledger entries for what the transition starts (recipe, Job): written after it."""
    history_entry: HistoryEntry | None = None
    blocked: BlockedBy | None = None
    verdict: AcceptanceVerdict | None = None
    requeue_after: float | None = None


@dataclass(frozen=True)
class _Ctx:
    state: RunState
    obs: Observation
    config: RunConfig
    now: datetime

    @property
    def doing(self) -> str:
        return work(self.work_phase, self.state.iteration)

    @property
    def work_phase(self) -> Phase:
        s = self.state
        if s.phase not in (Phase.BLOCKED, Phase.SUSPENDED):
            return s.phase
        if s.resume_phase is not None:
            return s.resume_phase
        # A state edited by hand may lack it: the Job it names tells where the run was.
        return s.job.phase if s.job is not None else Phase.PENDING

    def observed_job(self) -> JobObservation | None:
        """The observation of the Job the state names; anything else is not ours to read."""
        ref, job = self.state.job, self.obs.job
        return job if ref is not None and job is not None and job.name == ref.name else None


def decide(state: RunState, observation: Observation, config: RunConfig, now: datetime) -> Decision:
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    ctx = _Ctx(state, observation, config, now)
    ctx, outcome = _route(ctx)
    return _finish(ctx, outcome)


def _finish(ctx: _Ctx, out: _Outcome) -> Decision:
    s = ctx.state
    if not can_transition(s.phase, out.phase):
        raise AssertionError(f"decide produced a forbidden transition {s.phase} -> {out.phase}")
    unknown = set(out.updates) - set(RunState.model_fields)
    if unknown:
        raise AssertionError(f"decide updated unknown state fields {sorted(unknown)}")
    changed = out.phase != s.phase
    updates = dict(out.updates)
    updates["phase"] = out.phase
    if out.phase is Phase.BLOCKED:
        updates["blocked_by"] = out.blocked
    else:
        updates["blocked_by"] = None
    if out.phase not in (Phase.BLOCKED, Phase.SUSPENDED):
        updates["resume_phase"] = None
    if out.history_entry is not None:
        updates["history"] = append_history(s.history, out.history_entry)
    if changed:
        updates["last_transition"] = Transition(
            from_phase=s.phase, to=out.phase, reason=out.reason, message=out.message, time=ctx.now
        )
    draft = s.model_copy(update=updates)

    records = list(out.decisions)
    if changed:
        records.append(
            _Record(LedgerKind.TRANSITION, out.reason, out.message, draft.iteration, draft.attempt)
        )
    records.extend(out.records)
    entries = [
        WriteLedger(
            entry=LedgerEntry(
                sequence=s.ledger_sequence + i,
                time=ctx.now,
                kind=r.kind,
                from_phase=s.phase if r.kind is LedgerKind.TRANSITION else None,
                to=out.phase if r.kind is LedgerKind.TRANSITION else None,
                reason=r.reason,
                message=r.message,
                iteration=r.iteration,
                attempt=r.attempt,
                recipe=r.recipe,
                weights=r.weights,
                scores=r.scores,
                verdict=r.verdict,
            )
        )
        for i, r in enumerate(records)
    ]
    new_state = draft.model_copy(update={"ledger_sequence": s.ledger_sequence + len(entries)})

    if is_terminal(out.phase):
        requeue = None
    elif out.requeue_after is not None:
        requeue = out.requeue_after
    else:
        requeue = REQUEUE_AFTER_TRANSITION if changed else REQUEUE_WHILE_WAITING
    job = ctx.observed_job()
    advice = AdviceContext(
        phase=out.phase,
        reason=out.reason,
        work_phase=(new_state.resume_phase or out.phase),
        iteration=new_state.iteration,
        attempt=new_state.attempt,
        max_attempts=ctx.config.max_attempts,
        max_iterations=ctx.config.max_iterations,
        cluster=new_state.strongest_failure_cluster,
        recipe=new_state.recipe,
        gpu_count=ctx.config.gpu_count,
        gpu_resource=ctx.config.gpu_resource,
        scheduler_message=job.scheduler_message if job else None,
        intake_reason=ctx.obs.intake.reason,
        gate=ctx.obs.gate,
        gate_name=new_state.gate_name,
        gpu_seconds_used=new_state.gpu_seconds_used,
        gpu_hour_budget=ctx.config.gpu_hour_budget,
    )
    return Decision(
        phase=out.phase,
        reason=out.reason,
        message=out.message,
        actions=(*entries, *out.actions),
        state=new_state,
        blocked_by=new_state.blocked_by,
        next_action=next_action(advice),
        history_entry=out.history_entry,
        verdict=out.verdict,
        transitioned=changed,
        requeue_after_seconds=requeue,
    )


# --- routing -------------------------------------------------------------------------------


def _route(ctx: _Ctx) -> tuple[_Ctx, _Outcome]:
    s, obs = ctx.state, ctx.obs
    if is_terminal(s.phase):
        return ctx, _settled(ctx)
    if s.phase is Phase.SUSPENDED:
        if obs.suspended:
            return ctx, _stay(ctx, Reason.SUSPENDED, _suspended_message(ctx))
        return ctx, _resume(ctx, f"Resumed on request; {ctx.doing} continues.")
    if obs.suspended and ctx.work_phase in SUSPENDABLE:
        return ctx, _suspend(ctx)
    if s.phase is Phase.BLOCKED:
        return ctx, _blocked(ctx)
    if s.phase is Phase.PENDING:
        return ctx, _pending(ctx)
    if not obs.object_store_reachable and s.phase in NEEDS_OBJECT_STORE:
        return ctx, _store_unavailable(ctx)
    if s.phase in JOB_PHASES:
        return _job_phase(ctx)
    if s.phase is Phase.PROMOTION_STAGING:
        return ctx, _promotion_staging(ctx)
    return ctx, _staged(ctx)


def _stay(ctx: _Ctx, reason: Reason, message: str, requeue: float | None = None) -> _Outcome:
    return _Outcome(
        ctx.state.phase, reason, message, blocked=ctx.state.blocked_by, requeue_after=requeue
    )


def _settled(ctx: _Ctx) -> _Outcome:
    last = ctx.state.last_transition
    if last is not None:
        return _stay(ctx, last.reason, last.message)
    fallback = {
        Phase.PLATEAUED: Reason.PLATEAU,
        Phase.STOPPED: Reason.MAX_ITERATIONS_REACHED,
        Phase.FAILED: Reason.BAD_SPEC,
    }
    return _stay(ctx, fallback[ctx.state.phase], f"The run is {ctx.state.phase.value}.")


def _suspended_message(ctx: _Ctx) -> str:
    job = ctx.observed_job()
    running = job is not None and job.state not in (JobState.SUCCEEDED, JobState.FAILED)
    tail = f" {sentence(ctx.doing)} runs to its end and is read on resume." if running else ""
    return f"Suspended on request; no new Job starts.{tail}"


def _suspend(ctx: _Ctx) -> _Outcome:
    # A Blocked run is suspended to the phase it waits in; on resume the observation that
    # blocked it (a failed Job, a rejected gate) blocks it again, so nothing is forgotten.
    return _Outcome(
        Phase.SUSPENDED,
        Reason.SUSPENDED,
        _suspended_message(ctx),
        updates={"resume_phase": ctx.work_phase},
    )


def _resume(ctx: _Ctx, message: str) -> _Outcome:
    return _Outcome(ctx.work_phase, Reason.RESUMED, message)


def _block(ctx: _Ctx, reason: Reason, message: str) -> _Outcome:
    return _Outcome(
        Phase.BLOCKED,
        reason,
        message,
        updates={"resume_phase": ctx.work_phase},
        blocked=blocked_by(reason, message),
    )


def _stop(ctx: _Ctx, reason: Reason, message: str) -> _Outcome:
    return _Outcome(Phase.STOPPED, reason, message)


def _limit(ctx: _Ctx, gpu_seconds_used: float) -> tuple[Reason, str] | None:
    c = ctx.config
    if budget_exhausted(gpu_seconds_used, c.gpu_hour_budget):
        used = gpu_seconds_used / 3600.0
        return (
            Reason.BUDGET_EXHAUSTED,
            f"The GPU-hour budget is spent ({used:.2f} of {c.gpu_hour_budget:g}); "
            "no new Job starts.",
        )
    if deadline_passed(ctx.now, c.deadline):
        return Reason.DEADLINE_PASSED, "The run's deadline has passed; no new Job starts."
    return None


# --- Blocked -------------------------------------------------------------------------------


def _blocked(ctx: _Ctx) -> _Outcome:
    s, obs = ctx.state, ctx.obs
    b = s.blocked_by
    if b is None:
        return _resume(ctx, f"Resumed; {ctx.doing} continues.")
    job = ctx.observed_job()
    if (
        b.kind is BlockKind.INFRASTRUCTURE
        and ctx.work_phase in _LIMITED
        and deadline_passed(ctx.now, ctx.config.deadline)
    ):
        out = _stop(
            ctx,
            Reason.DEADLINE_PASSED,
            f"The run's deadline passed while {ctx.doing} was blocked ({b.reason.value}).",
        )
        if job is not None and job.state in (JobState.PENDING, JobState.UNSCHEDULABLE):
            out.actions.append(DeleteJob(name=job.name))
        return out
    match b.reason:
        case Reason.OBJECT_STORE_UNAVAILABLE if obs.object_store_reachable:
            return _resume(ctx, f"The object store is reachable again; {ctx.doing} continues.")
        case Reason.UNSCHEDULABLE if job is None or job.state is not JobState.UNSCHEDULABLE:
            return _resume(ctx, f"{sentence(ctx.doing)} was scheduled.")
        case Reason.RETRY_BUDGET_EXHAUSTED if obs.retry_request not in (None, s.retry_token):
            return _retry_on_request(ctx)
        case Reason.GATE_REJECTED | Reason.GATE_BLOCKED if obs.gate is not None and (
            obs.gate.outcome not in (GateOutcome.REJECTED, GateOutcome.BLOCKED)
        ):
            return _resume(ctx, f"The PromotionGate {obs.gate.name} is no longer blocked.")
    return _stay(ctx, b.reason, b.message)


def _retry_on_request(ctx: _Ctx) -> _Outcome:
    s = ctx.state
    phase = ctx.work_phase
    if phase in _LIMITED and (stop := _limit(ctx, s.gpu_seconds_used)):
        return _stop(ctx, *stop)
    attempt = s.attempt + 1
    out = _Outcome(
        phase,
        Reason.RESUMED,
        f"Retrying {ctx.doing} on request as attempt {attempt}.",
        updates={"retry_token": ctx.obs.retry_request},
    )
    return _relaunch(ctx, out, phase, attempt)


def _store_unavailable(ctx: _Ctx) -> _Outcome:
    return _block(
        ctx,
        Reason.OBJECT_STORE_UNAVAILABLE,
        f"The operator cannot reach the object store; {ctx.doing} waits for it.",
    )


# --- Pending -------------------------------------------------------------------------------


def _pending(ctx: _Ctx) -> _Outcome:
    s, obs, c = ctx.state, ctx.obs, ctx.config
    if not obs.intake.ready:
        if deadline_passed(ctx.now, c.deadline):
            return _stop(
                ctx,
                Reason.DEADLINE_PASSED,
                "The run's deadline passed before the intake was ready.",
            )
        why = f" ({obs.intake.reason})" if obs.intake.reason else ""
        return _stay(
            ctx, Reason.INTAKE_NOT_READY, f"Waiting for the ModelIntake to become ready{why}."
        )
    if not obs.object_store_reachable:
        return _store_unavailable(ctx)
    if stop := _limit(ctx, s.gpu_seconds_used):
        return _stop(ctx, *stop)
    out = _Outcome(
        Phase.EVALUATING_BASELINE,
        Reason.INTAKE_READY,
        "The ModelIntake is ready; evaluating the base model as iteration 0.",
        updates={
            "started_at": s.started_at or ctx.now,
            "scores": s.scores.model_copy(update={"target": c.threshold}),
        },
    )
    return _add_launch(ctx, out, Phase.EVALUATING_BASELINE, iteration=0, attempt=1)


# --- phases that wait on a Job -------------------------------------------------------------


def _job_phase(ctx: _Ctx) -> tuple[_Ctx, _Outcome]:
    s, c = ctx.state, ctx.config
    ref = s.job
    if ref is None or ref.phase is not s.phase or ref.iteration != s.iteration:
        # The state names no Job for this phase (written by an older operator, or edited):
        # start the current attempt; its deterministic name makes this safe if it exists.
        out = _Outcome(s.phase, Reason.AWAITING_JOB, f"Starting {ctx.doing}.")
        return ctx, _relaunch(ctx, out, s.phase, max(1, s.attempt))
    job = ctx.observed_job()
    state = job.state if job is not None else JobState.NONE
    attempt = f"attempt {s.attempt} of {c.max_attempts}"
    if state is JobState.NONE:
        if (ctx.now - ref.launched_at).total_seconds() >= c.job_lost_after_seconds:
            return ctx, _retry(ctx, "disappeared before finishing")
        return ctx, _stay(
            ctx,
            Reason.AWAITING_JOB,
            f"{sentence(ctx.doing)} was started ({attempt}); waiting for its Job to appear.",
            REQUEUE_JOB_APPEARING,
        )
    if state is JobState.PENDING:
        return ctx, _stay(ctx, Reason.JOB_PENDING, f"{sentence(ctx.doing)} waits to start.")
    if state is JobState.UNSCHEDULABLE:
        assert job is not None
        problem = capacity_problem(job.scheduler_message, c.gpu_resource)
        why = capacity_message(problem, c.gpu_count, c.gpu_resource)
        return ctx, _block(
            ctx, Reason.UNSCHEDULABLE, f"{sentence(ctx.doing)} cannot be scheduled: {why}."
        )
    assert job is not None
    if state is JobState.RUNNING or (state is JobState.FAILED and not job.attempts_exhausted):
        return ctx, _stay(ctx, Reason.JOB_RUNNING, f"{sentence(ctx.doing)} is running ({attempt}).")

    ctx = _account(ctx, job)
    if job.summary is not None and job.summary.contaminated:
        return ctx, _contaminated(ctx)
    if state is JobState.FAILED:
        return ctx, _job_failed(ctx, job)
    finish = {
        Phase.EVALUATING_BASELINE: _baseline_done,
        Phase.TRAINING: _training_done,
        Phase.ASSESSING: _assessment_done,
    }[s.phase]
    return ctx, finish(ctx)


def _account(ctx: _Ctx, job: JobObservation) -> _Ctx:
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


def _contaminated(ctx: _Ctx) -> _Outcome:
    return _block(
        ctx,
        Reason.CONTAMINATION,
        f"{sentence(ctx.doing)} found held-out material in the training data; no candidate "
        "from it can be promoted.",
    )


def _job_failed(ctx: _Ctx, job: JobObservation) -> _Outcome:
    if job.exit_code == EXIT_CONTAMINATION:
        return _contaminated(ctx)
    if job.exit_code in FATAL_EXITS:
        reason, what = FATAL_EXITS[job.exit_code]
        return _Outcome(
            Phase.FAILED, reason, f"{sentence(ctx.doing)} failed: {what}. Retrying cannot help."
        )
    return _retry(ctx, f"failed ({failure_words(job)})")


def _retry(ctx: _Ctx, why: str) -> _Outcome:
    s, c = ctx.state, ctx.config
    phase = ctx.work_phase
    if s.attempt >= c.max_attempts:
        return _block(
            ctx,
            Reason.RETRY_BUDGET_EXHAUSTED,
            f"{sentence(ctx.doing)} {why} on attempt {s.attempt} of {c.max_attempts}; "
            "no attempts are left.",
        )
    if phase in _LIMITED and (stop := _limit(ctx, s.gpu_seconds_used)):
        return _stop(ctx, *stop)
    attempt = s.attempt + 1
    out = _Outcome(
        phase,
        Reason.JOB_FAILED_RETRYING,
        f"{sentence(ctx.doing)} {why}; retrying as attempt {attempt} of {c.max_attempts}.",
    )
    return _relaunch(ctx, out, phase, attempt)


def _relaunch(ctx: _Ctx, out: _Outcome, phase: Phase, attempt: int) -> _Outcome:
    """Launch `phase`'s Job again for the current iteration. Training rebuilds its plan from
    the same inputs as the first attempt (accepted scorecard, accepted recipe, count without
    improvement), so every attempt trains on the same recipe and weights."""
    s = ctx.state
    if phase is not Phase.TRAINING:
        return _add_launch(ctx, out, phase, iteration=s.iteration, attempt=attempt)
    scorecard = _accepted_scorecard(ctx)
    if scorecard is None:
        return _evidence_unavailable(ctx, "the accepted candidate's scorecard")
    return _launch_training(
        ctx,
        out,
        iteration=s.iteration,
        attempt=attempt,
        scorecard=scorecard,
        accepted_iteration=s.accepted_iteration,
        accepted_recipe=s.accepted_recipe,
        without_improvement=s.iterations_without_improvement,
    )


def _evidence_unavailable(ctx: _Ctx, what: str) -> _Outcome:
    return _Outcome(
        ctx.state.phase,
        Reason.EVIDENCE_UNAVAILABLE,
        f"Waiting to read {what} from the object store before {ctx.doing} can go on.",
        blocked=ctx.state.blocked_by,
    )


def _own_scorecard(ctx: _Ctx) -> Scorecard | None:
    card = ctx.obs.scorecard
    return card if card is not None and card.iteration == ctx.state.iteration else None


def _accepted_scorecard(ctx: _Ctx) -> Scorecard | None:
    card, wanted = ctx.obs.accepted_scorecard, ctx.state.accepted_iteration
    return card if card is not None and card.iteration == wanted else None


def _add_launch(
    ctx: _Ctx,
    out: _Outcome,
    phase: Phase,
    *,
    iteration: int,
    attempt: int,
    recipe: Recipe | None = None,
    weights: dict[str, float] | None = None,
    init_from: int | None = None,
) -> _Outcome:
    if out.phase is not phase:
        # Launching and moving elsewhere in one decision would leave a Job nobody waits for.
        raise AssertionError(f"launch for {phase} in a decision that moves to {out.phase}")
    name = job_name(ctx.config.run_name, iteration, phase, attempt)
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
        _Record(
            LedgerKind.JOB,
            out.reason,
            f"Started {work(phase, iteration)}, attempt {attempt}.",
            iteration,
            attempt,
        )
    )
    return out


def _launch_training(
    ctx: _Ctx,
    out: _Outcome,
    *,
    iteration: int,
    attempt: int,
    scorecard: Scorecard,
    accepted_iteration: int | None,
    accepted_recipe: Recipe | None,
    without_improvement: int,
) -> _Outcome:
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
        _Record(
            LedgerKind.RECIPE,
            out.reason,
            f"Recipe for iteration {iteration}: {plan.recipe.summary()}; {plan.rationale}.",
            iteration,
            attempt,
            recipe=plan.recipe,
            weights=plan.weights,
        )
    )
    return _add_launch(
        ctx,
        out,
        Phase.TRAINING,
        iteration=iteration,
        attempt=attempt,
        recipe=plan.recipe,
        weights=plan.weights,
        init_from=continue_from,
    )


# --- a Job's result ------------------------------------------------------------------------


def _baseline_done(ctx: _Ctx) -> _Outcome:
    s, c = ctx.state, ctx.config
    card = _own_scorecard(ctx)
    if card is None:
        return _retry(ctx, "finished without a readable scorecard")
    heldout = card.heldout_score
    scores = Scores(
        current=card.score,
        previous_accepted=card.score,
        baseline=card.score,
        target=c.threshold,
        heldout=heldout,
    )
    shown = "absent" if heldout is None else f"{heldout:.3f}"
    message = (
        f"The base model scored {card.score:.3f} ({card.overall.passed} of "
        f"{card.overall.total} scenarios), held-out {shown}, against a target of "
        f"{c.threshold:.3f}."
    )
    if clears_threshold(card, threshold=c.threshold).accepted:
        message += (
            " It already clears the target; only trained candidates are staged, so "
            "training goes on."
        )
    updates: dict[str, Any] = {
        "scores": scores,
        "accepted_iteration": 0,
        "accepted_recipe": None,
        "iterations_without_improvement": 0,
        "regression_count": 0,
        "regressions": (),
        "strongest_failure_cluster": strongest_failure_cluster(card, c.cluster_dimensions),
    }
    entry = HistoryEntry(
        iteration=0,
        score=card.score,
        heldout_score=heldout,
        accepted=False,
        decision="Baseline",
        reason=message,
        finished_at=ctx.now,
    )
    record = _Record(
        LedgerKind.DECISION, Reason.BASELINE_EVALUATED, message, 0, s.attempt, scores=scores
    )
    if stop := _limit(ctx, s.gpu_seconds_used):
        out = _stop(ctx, *stop)
    else:
        out = _Outcome(
            Phase.TRAINING, Reason.BASELINE_EVALUATED, f"{message} Training iteration 1 starts."
        )
        _launch_training(
            ctx,
            out,
            iteration=1,
            attempt=1,
            scorecard=card,
            accepted_iteration=0,
            accepted_recipe=None,
            without_improvement=0,
        )
    out.updates = {**updates, **out.updates}
    out.decisions.insert(0, record)
    out.history_entry = entry
    return out


def _training_done(ctx: _Ctx) -> _Outcome:
    n = ctx.state.iteration
    out = _Outcome(
        Phase.ASSESSING,
        Reason.TRAINING_COMPLETED,
        f"Training of iteration {n} finished; assessing its candidate.",
    )
    return _add_launch(ctx, out, Phase.ASSESSING, iteration=n, attempt=1)


def _assessment_done(ctx: _Ctx) -> _Outcome:
    s, c = ctx.state, ctx.config
    n = s.iteration
    card = _own_scorecard(ctx)
    if card is None:
        return _retry(ctx, "finished without a readable scorecard")
    previous = _accepted_scorecard(ctx)
    if previous is None:
        return _evidence_unavailable(ctx, "the accepted candidate's scorecard")

    verdict = accept_candidate(
        previous, card, min_improvement=c.min_improvement, max_regressions=c.max_regressions
    )
    accepted_iteration: int | None
    if verdict.accepted:
        best, accepted_iteration, accepted_recipe, without = card, n, s.recipe, 0
    else:
        best, accepted_iteration = previous, s.accepted_iteration
        accepted_recipe, without = s.accepted_recipe, s.iterations_without_improvement + 1
    scores = s.scores.model_copy(
        update={
            "current": card.score,
            "heldout": card.heldout_score,
            "previous_accepted": best.score,
            "target": c.threshold,
        }
    )
    staging = clears_threshold(card, threshold=c.threshold) if verdict.accepted else None
    staged = staging is not None and staging.accepted
    updates: dict[str, Any] = {
        "scores": scores,
        "accepted_iteration": accepted_iteration,
        "accepted_recipe": accepted_recipe,
        "iterations_without_improvement": without,
        "regression_count": len(verdict.regressions),
        "regressions": verdict.regressions,
        "strongest_failure_cluster": strongest_failure_cluster(best, c.cluster_dimensions),
    }
    message = f"Candidate of iteration {n}: {verdict.message}"
    if staging is not None:
        message += f" {staging.message}"
    entry = HistoryEntry(
        iteration=n,
        score=card.score,
        heldout_score=card.heldout_score,
        accepted=verdict.accepted,
        decision="Stage" if staged else ("Accept" if verdict.accepted else "Reject"),
        reason=message,
        regression_count=len(verdict.regressions),
        recipe=s.recipe.summary() if s.recipe is not None else "",
        finished_at=ctx.now,
    )
    record = _Record(
        LedgerKind.DECISION, verdict.reason, message, n, s.attempt, scores=scores, verdict=verdict
    )

    if staged:
        name = gate_name(c.run_name)
        updates["gate_name"] = name
        out = _Outcome(
            Phase.PROMOTION_STAGING,
            Reason.THRESHOLD_CLEARED,
            f"{message} Staging it for promotion.",
            actions=[_stage_gate(name, n, scores, len(verdict.regressions))],
        )
    elif without >= c.plateau_patience:
        out = _Outcome(
            Phase.PLATEAUED,
            Reason.PLATEAU,
            f"{message} No accepted improvement in {without} iteration(s) (patience "
            f"{c.plateau_patience}); the run plateaued at {best.score:.3f}.",
        )
    elif n >= c.max_iterations:
        out = _stop(
            ctx,
            Reason.MAX_ITERATIONS_REACHED,
            f"{message} Iteration {n} was the last of {c.max_iterations}.",
        )
    elif stop := _limit(ctx, s.gpu_seconds_used):
        reason, why = stop
        out = _stop(ctx, reason, f"{message} {why}")
    else:
        out = _Outcome(
            Phase.TRAINING, verdict.reason, f"{message} Training iteration {n + 1} starts."
        )
        _launch_training(
            ctx,
            out,
            iteration=n + 1,
            attempt=1,
            scorecard=best,
            accepted_iteration=accepted_iteration,
            accepted_recipe=accepted_recipe,
            without_improvement=without,
        )
    out.updates = {**updates, **out.updates}
    out.decisions.insert(0, record)
    out.history_entry = entry
    out.verdict = verdict
    return out


def _stage_gate(name: str, iteration: int, scores: Scores, regression_count: int) -> StageGate:
    return StageGate(
        name=name,
        iteration=iteration,
        score=scores.previous_accepted if scores.previous_accepted is not None else 0.0,
        heldout_score=scores.heldout,
        baseline_score=scores.baseline,
        regression_count=regression_count,
    )


# --- promotion -----------------------------------------------------------------------------


def _promotion_staging(ctx: _Ctx) -> _Outcome:
    s, c, gate = ctx.state, ctx.config, ctx.obs.gate
    n = s.accepted_iteration or s.iteration
    name = s.gate_name or gate_name(c.run_name)
    if gate is not None:
        return _Outcome(
            Phase.STAGED,
            Reason.GATE_CREATED,
            f"The candidate of iteration {n} is staged on the PromotionGate {gate.name}.",
        )
    out = _stay(
        ctx,
        Reason.AWAITING_GATE,
        f"Building the evidence bundle and the PromotionGate {name} for the candidate of "
        f"iteration {n}.",
    )
    since = s.last_transition.time if s.last_transition is not None else ctx.now
    if (ctx.now - since).total_seconds() >= c.job_lost_after_seconds:
        # The gate never appeared (its creation failed after status was written): ask again.
        out.actions.append(_stage_gate(name, n, s.scores, s.regression_count))
    return out


def _staged(ctx: _Ctx) -> _Outcome:
    s, gate = ctx.state, ctx.obs.gate
    n = s.accepted_iteration or s.iteration
    if gate is None:
        return _stay(
            ctx, Reason.GATE_PENDING, f"Waiting to see the PromotionGate {s.gate_name or ''}."
        )
    match gate.outcome:
        case GateOutcome.REJECTED:
            return _block(
                ctx,
                Reason.GATE_REJECTED,
                f"An approver rejected the candidate of iteration {n} on the PromotionGate "
                f"{gate.name}.",
            )
        case GateOutcome.BLOCKED:
            why = f" ({gate.blocker_reason})" if gate.blocker_reason else ""
            return _block(
                ctx, Reason.GATE_BLOCKED, f"The PromotionGate {gate.name} is blocked{why}."
            )
        case GateOutcome.APPROVED:
            return _stay(ctx, Reason.GATE_APPROVED, f"The candidate of iteration {n} is approved.")
        case GateOutcome.PROMOTED:
            return _stay(ctx, Reason.PROMOTED, f"The candidate of iteration {n} is promoted.")
        case GateOutcome.ROLLED_BACK:
            return _stay(
                ctx,
                Reason.ROLLED_BACK,
                f"The candidate of iteration {n} was promoted, then rolled back.",
            )
    role = f"; next sign-off: {gate.awaiting_role}" if gate.awaiting_role else ""
    return _stay(
        ctx,
        Reason.GATE_PENDING,
        f"The candidate of iteration {n} awaits approval on the PromotionGate {gate.name}{role}.",
    )
