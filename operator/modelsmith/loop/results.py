"""What the loop decides from a finished Job: the baseline, a trained candidate, an
assessment. Internal to the loop."""

from __future__ import annotations

from typing import Any

from modelsmith.loop.assessment import accept_candidate, clears_threshold
from modelsmith.loop.clusters import strongest_failure_cluster
from modelsmith.loop.jobs import add_launch, launch_training, retry_job
from modelsmith.loop.ledger import LedgerKind
from modelsmith.loop.naming import gate_name
from modelsmith.loop.phases import Phase
from modelsmith.loop.promotion import stage_gate
from modelsmith.loop.reasons import Reason
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
    record = Record(
        LedgerKind.DECISION, Reason.BASELINE_EVALUATED, message, 0, s.attempt, scores=scores
    )
    if stop := limit_reached(ctx, s.gpu_seconds_used):
        out = stop_run(ctx, *stop)
    else:
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
    out.updates = {**updates, **out.updates}
    out.decisions.insert(0, record)
    out.history_entry = entry
    return out


def training_done(ctx: Context) -> Outcome:
    n = ctx.state.iteration
    out = Outcome(
        Phase.ASSESSING,
        Reason.TRAINING_COMPLETED,
        f"Training of iteration {n} finished; assessing its candidate.",
    )
    return add_launch(ctx, out, Phase.ASSESSING, iteration=n, attempt=1)


def assessment_done(ctx: Context) -> Outcome:
    s, c = ctx.state, ctx.config
    n = s.iteration
    card = own_scorecard(ctx)
    if card is None:
        return retry_job(ctx, "finished without a readable scorecard")
    previous = accepted_scorecard(ctx)
    if previous is None:
        return evidence_unavailable(ctx, "the accepted candidate's scorecard")

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
    verdict_text = verdict.message[:1].lower() + verdict.message[1:]
    message = f"The candidate of iteration {n} was {verdict_text}"
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
    record = Record(
        LedgerKind.DECISION, verdict.reason, message, n, s.attempt, scores=scores, verdict=verdict
    )

    if staged:
        name = gate_name(c.run_name)
        updates["gate_name"] = name
        out = Outcome(
            Phase.PROMOTION_STAGING,
            Reason.THRESHOLD_CLEARED,
            f"{message} Staging it for promotion.",
            actions=[stage_gate(name, n, scores, len(verdict.regressions))],
        )
    elif without >= c.plateau_patience:
        out = Outcome(
            Phase.PLATEAUED,
            Reason.PLATEAU,
            f"{message} No accepted improvement in {without} iteration(s) (patience "
            f"{c.plateau_patience}); the run plateaued at {best.score:.3f}.",
        )
    elif n >= c.max_iterations:
        out = stop_run(
            ctx,
            Reason.MAX_ITERATIONS_REACHED,
            f"{message} Iteration {n} was the last of {c.max_iterations}.",
        )
    elif stop := limit_reached(ctx, s.gpu_seconds_used):
        reason, why = stop
        out = stop_run(ctx, reason, f"{message} {why}")
    else:
        out = Outcome(
            Phase.TRAINING, verdict.reason, f"{message} Training iteration {n + 1} starts."
        )
        launch_training(
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
