"""The loop's core: from the run's memory and what the run controller observed, the next
decision.

`decide` is pure. The run controller performs the decision's actions in order (each is idempotent
by name), then persists `decision.state` into the run's status. If an action fails it persists
nothing: the next reconcile decides again from the old state and gets the same actions with the
same names, so a Job is never launched twice and a ledger entry never written twice.

Each call makes at most one phase transition; a transition asks for a prompt requeue so the
next step follows without waiting for an event.
"""

from __future__ import annotations

from datetime import datetime

from modelsmith.loop.actions import Action, LaunchJob, WriteLedger
from modelsmith.loop.advice import AdviceContext, next_action, sentence, work
from modelsmith.loop.assessment import AcceptanceVerdict
from modelsmith.loop.blocked import blocked, blocked_recheck
from modelsmith.loop.config import RunConfig
from modelsmith.loop.jobs import add_launch, watch_job
from modelsmith.loop.ledger import LedgerEntry, LedgerKind
from modelsmith.loop.limits import deadline_passed
from modelsmith.loop.model import LoopModel
from modelsmith.loop.observation import JobState, Observation
from modelsmith.loop.phases import (
    JOB_PHASES,
    NEEDS_OBJECT_STORE,
    SUSPENDABLE,
    Phase,
    can_transition,
    is_terminal,
)
from modelsmith.loop.pinning import INPUT_REASONS, block_on_inputs, inputs_blocked
from modelsmith.loop.promotion import await_gate, follow_gate
from modelsmith.loop.reasons import Reason
from modelsmith.loop.results import assessment_done, baseline_done, training_done
from modelsmith.loop.state import (
    RECONCILE_ERRORS,
    BlockedBy,
    HistoryEntry,
    RunState,
    Transition,
    append_history,
)
from modelsmith.loop.step import (
    REQUEUE_WHILE_WAITING,
    Context,
    Outcome,
    Record,
    block_run,
    limit_reached,
    resume,
    stay,
    stop_run,
)
from modelsmith.loop.targets import refuse_launch

REQUEUE_AFTER_TRANSITION = 0.0
"""A transition's next step is decided straight away: the status write that records it starts
no reconcile of its own (the reconciler ignores the watch events of its own writes). A
transition that launched a Job waits for that Job's events instead (REQUEUE_WHILE_WAITING is the
safety net), and one into Blocked waits as a blocked run does."""


class Decision(LoopModel):
    phase: Phase
    reason: Reason
    message: str
    """Operational words: no paths, hosts, Job names or prompts."""
    actions: tuple[Action, ...]
    state: RunState
    """The run's memory after the actions; the run controller persists it into status."""
    blocked_by: BlockedBy | None
    next_action: str
    history_entry: HistoryEntry | None
    """Already appended (bounded) to state.history; here for Events and metrics."""
    verdict: AcceptanceVerdict | None
    transitioned: bool
    """The phase changed: the run controller counts the transition (the status writer records
    its Event from the new phase)."""
    requeue_after_seconds: float | None
    """Reconcile again this soon even without an event; None for final phases."""

    @property
    def launches(self) -> tuple[LaunchJob, ...]:
        return tuple(a for a in self.actions if isinstance(a, LaunchJob))

    @property
    def ledger_entries(self) -> tuple[LedgerEntry, ...]:
        return tuple(a.entry for a in self.actions if isinstance(a, WriteLedger))


def decide(state: RunState, observation: Observation, config: RunConfig, now: datetime) -> Decision:
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    ctx = Context(_unwrapped(state), observation, config, now)
    ctx, outcome = _route(ctx)
    if observation.rbac_refusal and any(isinstance(a, LaunchJob) for a in outcome.actions):
        outcome = _rbac_refused(ctx, observation.rbac_refusal)
    if observation.launch_refusal is not None and any(
        isinstance(a, LaunchJob) for a in outcome.actions
    ):
        outcome = refuse_launch(ctx, outcome)
    return _finish(ctx, outcome)


def _unwrapped(state: RunState) -> RunState:
    """A run the operator blocked because a reconcile raised (RECONCILE_ERRORS) decides again
    from where it was: that block is no decision of the loop, so it has no transition and no
    ledger entry, and the failed step is simply tried again. If it raises again, the operator
    blocks the run again; if it succeeds, the run goes on from there."""
    blocked = state.blocked_by
    if (
        state.phase is not Phase.BLOCKED
        or blocked is None
        or blocked.reason not in RECONCILE_ERRORS
    ):
        return state
    phase = state.resume_phase or (state.job.phase if state.job is not None else Phase.PENDING)
    return state.model_copy(update={"phase": phase, "blocked_by": None, "resume_phase": None})


def _rbac_refused(ctx: Context, why: str) -> Outcome:
    """The operator may not create the Job where it would run: the run blocks from where it
    was, saying so, instead of failing out of sight on every reconcile. Resuming replays the step
    that would have launched it."""
    return block_run(
        ctx,
        Reason.OPERATOR_NOT_PERMITTED,
        f"{sentence(work(ctx.work_phase, ctx.state.iteration))} cannot go on: {why}",
    )


def _finish(ctx: Context, out: Outcome) -> Decision:
    s = ctx.state
    if not can_transition(s.phase, out.phase):
        raise AssertionError(f"decide produced a forbidden transition {s.phase} -> {out.phase}")
    unknown = set(out.updates) - set(RunState.model_fields)
    if unknown:
        raise AssertionError(f"decide updated unknown state fields {sorted(unknown)}")
    changed = out.phase != s.phase
    draft = _next_state(ctx, out, changed)
    entries = _ledger_writes(ctx, out, draft, changed)
    new_state = draft.model_copy(update={"ledger_sequence": s.ledger_sequence + len(entries)})
    return Decision(
        phase=out.phase,
        reason=out.reason,
        message=out.message,
        actions=(*entries, *out.actions),
        state=new_state,
        blocked_by=new_state.blocked_by,
        next_action=next_action(_advice_context(ctx, out, new_state)),
        history_entry=out.history_entry,
        verdict=out.verdict,
        transitioned=changed,
        requeue_after_seconds=_requeue_after(ctx, out, changed),
    )


def _next_state(ctx: Context, out: Outcome, changed: bool) -> RunState:
    """The run's memory after the outcome, before its ledger entries are counted."""
    s = ctx.state
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
    return s.model_copy(update=updates)


def _ledger_writes(ctx: Context, out: Outcome, draft: RunState, changed: bool) -> list[WriteLedger]:
    """The outcome's decisions, its transition and its other records as numbered ledger
    entries, in that order."""
    s = ctx.state
    records = list(out.decisions)
    if changed:
        records.append(
            Record(LedgerKind.TRANSITION, out.reason, out.message, draft.iteration, draft.attempt)
        )
    records.extend(out.records)
    return [
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


def _requeue_after(ctx: Context, out: Outcome, changed: bool) -> float | None:
    if is_terminal(out.phase):
        return None
    if out.requeue_after is not None:
        return out.requeue_after
    if changed and any(isinstance(a, LaunchJob) for a in out.actions):
        # Nothing to check before the launched Job's own events, which requeue the run.
        return REQUEUE_WHILE_WAITING
    if changed and out.phase is Phase.BLOCKED and out.blocked is not None:
        # Blocked on what was just observed: checking again at once would find the same. It
        # waits as a blocked run does, for its event or its poll.
        return blocked_recheck(ctx, out.blocked)
    return REQUEUE_AFTER_TRANSITION if changed else REQUEUE_WHILE_WAITING


def _advice_context(ctx: Context, out: Outcome, new_state: RunState) -> AdviceContext:
    job = ctx.observed_job()
    return AdviceContext(
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
        nodes_not_ready=job.nodes_not_ready if job else 0,
        queue=job.queue if job else None,
        intake_reason=ctx.obs.intake.reason,
        gate=ctx.obs.gate,
        gate_name=new_state.gate_name,
        gpu_seconds_used=new_state.gpu_seconds_used,
        gpu_hour_budget=ctx.config.gpu_hour_budget,
        store_refusal=ctx.obs.object_store_refusal is not None,
    )


def _route(ctx: Context) -> tuple[Context, Outcome]:
    s, obs = ctx.state, ctx.obs
    if is_terminal(s.phase):
        return ctx, _final(ctx)
    if s.phase is Phase.SUSPENDED:
        if obs.suspended:
            return ctx, stay(ctx, Reason.SUSPENDED, _suspended_message(ctx))
        return ctx, resume(ctx, f"Resumed on request; {ctx.doing} continues.")
    if obs.suspended and ctx.work_phase in SUSPENDABLE:
        return ctx, _suspend(ctx)
    if s.phase is Phase.BLOCKED:
        if s.blocked_by is not None and s.blocked_by.reason in INPUT_REASONS:
            return inputs_blocked(ctx)
        return ctx, blocked(ctx)
    if obs.tampered is not None:
        return ctx, block_run(ctx, Reason.EVIDENCE_TAMPERED, sentence(obs.tampered) + ".")
    if (on_inputs := block_on_inputs(ctx)) is not None:
        return ctx, on_inputs
    if s.phase is Phase.PENDING:
        return ctx, _pending(ctx)
    if not obs.object_store_reachable and s.phase in NEEDS_OBJECT_STORE:
        return ctx, _store_unavailable(ctx)
    if s.phase in JOB_PHASES:
        ctx, waiting = watch_job(ctx)
        if waiting is not None:
            return ctx, waiting
        done = {
            Phase.EVALUATING_BASELINE: baseline_done,
            Phase.TRAINING: training_done,
            Phase.ASSESSING: assessment_done,
        }[s.phase]
        return ctx, done(ctx)
    if s.phase is Phase.PROMOTION_STAGING:
        return ctx, await_gate(ctx)
    return ctx, follow_gate(ctx)


def _final(ctx: Context) -> Outcome:
    last = ctx.state.last_transition
    if last is not None:
        return stay(ctx, last.reason, last.message)
    fallback = {
        Phase.PLATEAUED: Reason.PLATEAU,
        Phase.STOPPED: Reason.MAX_ITERATIONS_REACHED,
        Phase.FAILED: Reason.BAD_SPEC,
    }
    return stay(ctx, fallback[ctx.state.phase], f"The run is {ctx.state.phase.value}.")


def _suspended_message(ctx: Context) -> str:
    job = ctx.observed_job()
    running = job is not None and job.state not in (JobState.SUCCEEDED, JobState.FAILED)
    tail = f" {sentence(ctx.doing)} runs to its end and is read on resume." if running else ""
    return f"Suspended on request; no new Job starts.{tail}"


def _suspend(ctx: Context) -> Outcome:
    # A Blocked run is suspended to the phase it waits in; on resume the observation that
    # blocked it (a failed Job, a rejected gate) blocks it again, so nothing is forgotten.
    return Outcome(
        Phase.SUSPENDED,
        Reason.SUSPENDED,
        _suspended_message(ctx),
        updates={"resume_phase": ctx.work_phase},
    )


def _store_unavailable(ctx: Context) -> Outcome:
    refusal = ctx.obs.object_store_refusal
    if refusal is not None:
        # Reachable, but what it holds is refused (e.g. over a read limit): say what and why.
        message = f"The operator refused an object in the store: {refusal}; {ctx.doing} waits."
    else:
        message = f"The operator cannot reach the object store; {ctx.doing} waits for it."
    return block_run(ctx, Reason.OBJECT_STORE_UNAVAILABLE, message)


def _pending(ctx: Context) -> Outcome:
    s, obs, c = ctx.state, ctx.obs, ctx.config
    if not obs.intake.ready:
        if deadline_passed(ctx.now, c.deadline):
            return stop_run(
                ctx,
                Reason.DEADLINE_PASSED,
                "The run's deadline passed before the intake was ready.",
            )
        why = f" ({obs.intake.reason})" if obs.intake.reason else ""
        return stay(
            ctx, Reason.INTAKE_NOT_READY, f"Waiting for the ModelIntake to become ready{why}."
        )
    if not obs.object_store_reachable:
        return _store_unavailable(ctx)
    if stop := limit_reached(ctx, s.gpu_seconds_used):
        return stop_run(ctx, *stop)
    out = Outcome(
        Phase.EVALUATING_BASELINE,
        Reason.INTAKE_READY,
        "The ModelIntake is ready; evaluating the base model as iteration 0.",
        updates={
            "started_at": s.started_at or ctx.now,
            "scores": s.scores.model_copy(update={"target": c.threshold}),
        },
    )
    return add_launch(ctx, out, Phase.EVALUATING_BASELINE, iteration=0, attempt=1)
