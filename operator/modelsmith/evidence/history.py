"""The run's history for the evidence bundle, read from its ledger.

The IterationRun status keeps only the latest HISTORY_LIMIT iterations while a run may take
many more, so evidence built from status would silently lose the early iterations and the
lineage through them. The ledger is append-only and complete: every finished iteration has its
decision entry there, written before status claims it.
"""

from __future__ import annotations

from collections.abc import Iterable

from modelsmith.evidence.bundle import EvidenceError, IterationRecord
from modelsmith.loop.ledger import LedgerEntry, LedgerKind
from modelsmith.loop.phases import Phase
from modelsmith.loop.reasons import Reason


def _finished(entry: LedgerEntry) -> bool:
    """A decision that closes an iteration: the baseline's evaluation or a candidate's verdict.
    Other decisions (a Job retried) leave their iteration open."""
    return entry.kind is LedgerKind.DECISION and (
        entry.verdict is not None or entry.reason is Reason.BASELINE_EVALUATED
    )


def _decision(entry: LedgerEntry, staged: bool) -> str:
    # The words of the status history (HistoryEntry.decision), so both read the same.
    if entry.verdict is None:
        return "Baseline"
    if not entry.verdict.accepted:
        return "Reject"
    return "Stage" if staged else "Accept"


def history_from_ledger(entries: Iterable[LedgerEntry]) -> list[IterationRecord]:
    """One record per finished iteration, in iteration order, from the run's ledger entries
    (in any order).

    A decision replayed after a restart may appear twice; the later one (by sequence) stands.
    An iteration is "Stage" when the ledger records the run moving to PromotionStaging at it,
    and its recipe is the one its latest recipe entry names. Only the recipe's one-line summary
    is taken: a recipe entry's per-scenario weights stay in the ledger, inside the customer
    boundary.

    Raises EvidenceError when an iteration between the baseline and the last one is missing:
    the loop finishes iterations in order, so a gap means the ledger is incomplete, and
    evidence from it would hide iterations as the bounded status history did.
    """
    ordered = sorted(entries, key=lambda e: e.sequence)
    decisions = {e.iteration: e for e in ordered if _finished(e)}
    recipes = {e.iteration: e.recipe for e in ordered if e.kind is LedgerKind.RECIPE and e.recipe}
    staged = {
        e.iteration
        for e in ordered
        if e.kind is LedgerKind.TRANSITION and e.to is Phase.PROMOTION_STAGING
    }
    missing = sorted(set(range(max(decisions, default=-1) + 1)) - set(decisions))
    if missing:
        raise EvidenceError(
            f"the run's ledger has no decision for iteration(s) {missing}: it is incomplete"
        )
    records = []
    for iteration in sorted(decisions):
        entry = decisions[iteration]
        scores = entry.scores
        recipe = recipes.get(iteration)
        records.append(
            IterationRecord(
                iteration=iteration,
                score=scores.current if scores else None,
                heldout_score=scores.heldout if scores else None,
                accepted=entry.verdict is not None and entry.verdict.accepted,
                decision=_decision(entry, iteration in staged),
                reason=entry.message,
                recipe=recipe.summary() if recipe else "",
            )
        )
    return records
