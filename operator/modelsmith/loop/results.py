"""What the loop decides from a finished Job: the baseline, a trained candidate, an
assessment. Internal to the loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelsmith.contract.scorecard import Scorecard
from modelsmith.loop.assessment import AcceptanceVerdict, accept_candidate, clears_threshold
from modelsmith.loop.clusters import strongest_failure_cluster
from modelsmith.loop.jobs import add_launch, launch_training, retry_job
from modelsmith.loop.ledger import LedgerKind
from modelsmith.loop.naming import gate_name
from modelsmith.loop.phases import Phase
from modelsmith.loop.promotion import stage_gate
from modelsmith.loop.reasons import Reason
from modelsmith.loop.recipe import Recipe
from modelsmith.loop.state import HistoryEntry, Scores
from modelsmith.loop.step import (
    Context,
    Outcome,
    Record,
    accepted_scorecard,
    evidence_unavailable,
    limit_reached,
    own_scorecard,
    stop_run,
)


def baseline_done(ctx: Context) -> Outcome:
    s, c = ctx.state, ctx.config
    card = own_scorecard(ctx)
    if card is None:
        return retry_job(ctx, "finished without a readable scorecard")
    scores = Scores(
        current=card.score,
        previous_accepted=card.score,
        baseline=card.score,
        target=c.threshold,
        heldout=card.heldout_score,
    )
    message = _baseline_message(card, c.threshold)
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
        heldout_score=card.heldout_score,
        accepted=False,
        decision="Baseline",
        reason=message,
        finished_at=ctx.now,
    )
    record = Record(
        LedgerKind.DECISION, Reason.BASELINE_EVALUATED, message, 0, s.attempt, scores=scores
    )
    return _recorded(_after_baseline(ctx, card, message), updates, record, entry)


def _baseline_message(card: Scorecard, threshold: float) -> str:
    heldout = card.heldout_score
    shown = "absent" if heldout is None else f"{heldout:.3f}"
    message = (
        f"The base model scored {card.score:.3f} ({card.overall.passed} of "
        f"{card.overall.total} scenarios), held-out {shown}, against a target of "
        f"{threshold:.3f}."
    )
    if clears_threshold(card, threshold=threshold).accepted:
        message += (
            " It already clears the target; only trained candidates are staged, so "
            "training goes on."
        )
    return message


def _after_baseline(ctx: Context, card: Scorecard, message: str) -> Outcome:
    """The run stops if a limit is reached already; otherwise iteration 1 trains."""
    if stop := limit_reached(ctx, ctx.state.gpu_seconds_used):
        return stop_run(ctx, *stop)
    out = Outcome(
        Phase.TRAINING, Reason.BASELINE_EVALUATED, f"{message} Training iteration 1 starts."
    )
    launch_training(
        ctx,
        out,
        iteration=1,
        attempt=1,
        scorecard=card,
        accepted_iteration=0,
        accepted_recipe=None,
        without_improvement=0,
    )
    return out


def _recorded(
    out: Outcome, updates: dict[str, Any], record: Record, entry: HistoryEntry
) -> Outcome:
    """The outcome with the finished Job's result in the run's memory, its decision first in
    the ledger and its line in the history. The outcome's own updates win."""
    out.updates = {**updates, **out.updates}
    out.decisions.insert(0, record)
    out.history_entry = entry
    return out


def training_done(ctx: Context) -> Outcome:
    s = ctx.state
    n = s.iteration
    out = Outcome(
        Phase.ASSESSING,
        Reason.TRAINING_COMPLETED,
        f"Training of iteration {n} finished; assessing its candidate.",
    )
    job = ctx.observed_job()
    step = None if job is None or job.summary is None else job.summary.resumed_from_step
    if step is not None:
        total = "" if s.recipe is None else f" of {s.recipe.steps}"
        message = (
            f"Training of iteration {n} (attempt {s.attempt}) continued from its checkpoint at "
            f"step {step}{total} instead of starting over."
        )
        resumed = Record(LedgerKind.DECISION, Reason.TRAINING_RESUMED, message, n, s.attempt)
        out.decisions.append(resumed)
    return add_launch(ctx, out, Phase.ASSESSING, iteration=n, attempt=1)


@dataclass(frozen=True)
class _Judged:
    """A candidate's assessment against the accepted one: what the run keeps from here."""

    card: Scorecard
    verdict: AcceptanceVerdict
    best: Scorecard
    accepted_iteration: int | None
    accepted_recipe: Recipe | None
    without: int
    """Iterations without an accepted improvement, this one included."""
    staged: bool
    message: str


def assessment_done(ctx: Context) -> Outcome:
    s, c = ctx.state, ctx.config
    card = own_scorecard(ctx)
    if card is None:
        return retry_job(ctx, "finished without a readable scorecard")
    previous = accepted_scorecard(ctx)
    if previous is None:
        return evidence_unavailable(ctx, "the accepted candidate's scorecard")
    j = _judge(ctx, card, previous)
    scores = s.scores.model_copy(
        update={
            "current": card.score,
            "heldout": card.heldout_score,
            "previous_accepted": j.best.score,
            "target": c.threshold,
        }
    )
    updates: dict[str, Any] = {
        "scores": scores,
        "accepted_iteration": j.accepted_iteration,
        "accepted_recipe": j.accepted_recipe,
        "iterations_without_improvement": j.without,
        "regression_count": len(j.verdict.regressions),
        "regressions": j.verdict.regressions,
        "strongest_failure_cluster": strongest_failure_cluster(j.best, c.cluster_dimensions),
    }
    record = Record(
        LedgerKind.DECISION,
        j.verdict.reason,
        j.message,
        s.iteration,
        s.attempt,
        scores=scores,
        verdict=j.verdict,
    )
    out = _after_assessment(ctx, j, scores, updates)
    out = _recorded(out, updates, record, _assessment_entry(ctx, j))
    out.verdict = j.verdict
    return out


def _judge(ctx: Context, card: Scorecard, previous: Scorecard) -> _Judged:
    s, c = ctx.state, ctx.config
    verdict = accept_candidate(
        previous, card, min_improvement=c.min_improvement, max_regressions=c.max_regressions
    )
    staging = clears_threshold(card, threshold=c.threshold) if verdict.accepted else None
    verdict_text = verdict.message[:1].lower() + verdict.message[1:]
    message = f"The candidate of iteration {s.iteration} was {verdict_text}"
    if staging is not None:
        message += f" {staging.message}"
    staged = staging is not None and staging.accepted
    if verdict.accepted:
        return _Judged(card, verdict, card, s.iteration, s.recipe, 0, staged, message)
    return _Judged(
        card,
        verdict,
        previous,
        s.accepted_iteration,
        s.accepted_recipe,
        s.iterations_without_improvement + 1,
        staged,
        message,
    )


def _assessment_entry(ctx: Context, j: _Judged) -> HistoryEntry:
    s = ctx.state
    return HistoryEntry(
        iteration=s.iteration,
        score=j.card.score,
        heldout_score=j.card.heldout_score,
        accepted=j.verdict.accepted,
        decision="Stage" if j.staged else ("Accept" if j.verdict.accepted else "Reject"),
        reason=j.message,
        regression_count=len(j.verdict.regressions),
        recipe=s.recipe.summary() if s.recipe is not None else "",
        finished_at=ctx.now,
    )


def _after_assessment(ctx: Context, j: _Judged, scores: Scores, updates: dict[str, Any]) -> Outcome:
    """Stage the candidate, stop the run (plateau, last iteration, a limit) or train the next
    iteration. Staging names the gate in `updates`."""
    c, n, message = ctx.config, ctx.state.iteration, j.message
    if j.staged:
        name = gate_name(c.run_name)
        updates["gate_name"] = name
        return Outcome(
            Phase.PROMOTION_STAGING,
            Reason.THRESHOLD_CLEARED,
            f"{message} Staging it for promotion.",
            actions=[stage_gate(name, n, scores, len(j.verdict.regressions))],
        )
    if j.without >= c.plateau_patience:
        return Outcome(
            Phase.PLATEAUED,
            Reason.PLATEAU,
            f"{message} No accepted improvement in {j.without} iteration(s) (patience "
            f"{c.plateau_patience}); the run plateaued at {j.best.score:.3f}.",
        )
    if n >= c.max_iterations:
        return stop_run(
            ctx,
            Reason.MAX_ITERATIONS_REACHED,
            f"{message} Iteration {n} was the last of {c.max_iterations}.",
        )
    if stop := limit_reached(ctx, ctx.state.gpu_seconds_used):
        reason, why = stop
        return stop_run(ctx, reason, f"{message} {why}")
    out = Outcome(Phase.TRAINING, j.verdict.reason, f"{message} Training iteration {n + 1} starts.")
    launch_training(
        ctx,
        out,
        iteration=n + 1,
        attempt=1,
        scorecard=j.best,
        accepted_iteration=j.accepted_iteration,
        accepted_recipe=j.accepted_recipe,
        without_improvement=j.without,
    )
    return out
