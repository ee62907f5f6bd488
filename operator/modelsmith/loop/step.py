"""A decision under construction: what one `decide` call knows and what it has chosen so far,
with the small outcomes every phase uses. Internal to the loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelsmith.contract.scorecard import Scorecard
from modelsmith.loop.actions import Action
from modelsmith.loop.advice import work
from modelsmith.loop.assessment import AcceptanceVerdict
from modelsmith.loop.config import RunConfig
from modelsmith.loop.ledger import LedgerKind
from modelsmith.loop.limits import budget_exhausted, deadline_passed
from modelsmith.loop.observation import JobObservation, Observation
from modelsmith.loop.phases import Phase
from modelsmith.loop.reasons import Reason
from modelsmith.loop.recipe import Recipe
from modelsmith.loop.state import BlockedBy, HistoryEntry, RunState, Scores, blocked_by

REQUEUE_WHILE_WAITING = 30.0
"""How often a run waiting on something with no event of its own is checked again."""

REQUEUE_WHILE_BLOCKED = 300.0
"""A wait that only a watched change can end (a retry request, a pod scheduled, a gate decided
or signed: the gate's reconcile requeues its run) is ended through that change; this slower
recheck is a safety net only."""

LIMITED = frozenset({Phase.PENDING, Phase.EVALUATING_BASELINE, Phase.TRAINING})
"""Limits (budget, deadline) are checked before starting work in these phases. An assessment
of a trained candidate always runs: its evidence is what the spent GPU time bought."""


@dataclass(frozen=True)
class Record:
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
class Outcome:
    phase: Phase
    reason: Reason
    message: str
    updates: dict[str, Any] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    decisions: list[Record] = field(default_factory=list)
    """Ledger entries that explain the transition: written before it."""
    records: list[Record] = field(default_factory=list)
    """Ledger entries for what the transition starts (recipe, Job): written after it."""
    history_entry: HistoryEntry | None = None
    blocked: BlockedBy | None = None
    verdict: AcceptanceVerdict | None = None
    requeue_after: float | None = None


@dataclass(frozen=True)
class Context:
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


def stay(ctx: Context, reason: Reason, message: str, requeue: float | None = None) -> Outcome:
    return Outcome(
        ctx.state.phase, reason, message, blocked=ctx.state.blocked_by, requeue_after=requeue
    )


def block_run(ctx: Context, reason: Reason, message: str) -> Outcome:
    return Outcome(
        Phase.BLOCKED,
        reason,
        message,
        updates={"resume_phase": ctx.work_phase},
        blocked=blocked_by(reason, message),
    )


def stop_run(ctx: Context, reason: Reason, message: str) -> Outcome:
    return Outcome(Phase.STOPPED, reason, message)


def resume(ctx: Context, message: str) -> Outcome:
    return Outcome(ctx.work_phase, Reason.RESUMED, message)


def limit_reached(ctx: Context, gpu_seconds_used: float) -> tuple[Reason, str] | None:
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


def evidence_unavailable(ctx: Context, what: str) -> Outcome:
    return Outcome(
        ctx.state.phase,
        Reason.EVIDENCE_UNAVAILABLE,
        f"Waiting to read {what} from the object store before {ctx.doing} can go on.",
        blocked=ctx.state.blocked_by,
    )


def own_scorecard(ctx: Context) -> Scorecard | None:
    card = ctx.obs.scorecard
    return card if card is not None and card.iteration == ctx.state.iteration else None


SCORED_AGAINST_ACCEPTED = frozenset({Phase.TRAINING, Phase.ASSESSING})
"""The work phases whose decisions read the accepted candidate's scorecard: training plans (and
relaunches) from it, an assessment compares against it."""


def accepted_scorecard_wanted(state: RunState) -> int | None:
    """The iteration whose scorecard `decide` may read as the accepted one in this state, or
    None when it reads none; then the observation leaves it out (a staged run would otherwise
    fetch it from the object store on every reconcile)."""
    if (state.resume_phase or state.phase) in SCORED_AGAINST_ACCEPTED:
        return state.accepted_iteration
    return None


def accepted_scorecard(ctx: Context) -> Scorecard | None:
    card, wanted = ctx.obs.accepted_scorecard, ctx.state.accepted_iteration
    return card if card is not None and card.iteration == wanted else None
