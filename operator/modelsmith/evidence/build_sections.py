"""Filling the evidence bundle's sections from checked scorecards and the run's records.

Each function here is pure and fills one section; `bundle.build_bundle` checks the inputs,
calls them and sanitises the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final, Literal

from modelsmith.contract.jobspec import DIMENSIONS
from modelsmith.contract.jobspec import Lineage as TrainedLineage
from modelsmith.contract.scorecard import Cost as ScoredCost
from modelsmith.contract.scorecard import Latency as ScoredLatency
from modelsmith.contract.scorecard import Scorecard
from modelsmith.evidence.sections import (
    BASELINE,
    PREVIOUS,
    Comparison,
    Cost,
    DimensionScore,
    HistoryPoint,
    Latency,
    Lineage,
    LineageStep,
    Regression,
    Regressions,
)

if TYPE_CHECKING:
    # For type annotations only: bundle.py imports this module, so importing it back at run
    # time would be circular.
    from modelsmith.evidence.bundle import IterationRecord

_PLACES: Final = 6
"""Scores are ratios of small integers; six places keep deltas like 0.7 - 0.6 readable and
the canonical JSON stable across platforms."""


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, _PLACES)


def delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, _PLACES)


def label_of(card: Scorecard) -> str:
    return card.model_label or f"iteration {card.iteration}"


def regressions(base: Scorecard, previous: Scorecard | None, candidate: Scorecard) -> Regressions:
    """Scenarios passing on any baseline and not on the candidate. A scenario missing from the
    candidate's scorecard counts: the benchmark is pinned by digest, so a vanished result is a
    failure to show, not a pass."""
    baselines = [(BASELINE, base)] + ([(PREVIOUS, previous)] if previous else [])
    now_passing = candidate.passing_ids()
    rows = {s.id: s for card in (c for _, c in baselines) for s in card.scenarios}
    rows.update({s.id: s for s in candidate.scenarios})
    passed_on: dict[str, list[Literal["baseline", "previous"]]] = {}
    for name, card in baselines:
        for scenario_id in sorted(card.passing_ids() - now_passing):
            passed_on.setdefault(scenario_id, []).append(
                "baseline" if name == BASELINE else "previous"
            )
    scenarios = [
        Regression(
            id=i,
            split=rows[i].split,
            capability=rows[i].capability,
            risk=rows[i].risk,
            passed_on=passed_on[i],
        )
        for i in sorted(passed_on)
    ]
    return Regressions(count=len(scenarios), scenarios=scenarios)


def by_dimension(
    base: Scorecard, previous: Scorecard | None, candidate: Scorecard
) -> dict[str, list[DimensionScore]]:
    out: dict[str, list[DimensionScore]] = {}
    for dim in DIMENSIONS:
        cells = [card.by_dimension.get(dim, {}) for card in (base, previous, candidate) if card]
        values = sorted({v for cell in cells for v in cell})
        if not values:
            continue
        rows = []
        for value in values:
            b = base.by_dimension.get(dim, {}).get(value)
            p = previous.by_dimension.get(dim, {}).get(value) if previous else None
            c = candidate.by_dimension.get(dim, {}).get(value)
            rows.append(
                DimensionScore(
                    value=value,
                    baseline=rounded(b.score) if b else None,
                    previous=rounded(p.score) if p else None,
                    candidate=rounded(c.score) if c else None,
                    delta=delta(c.score if c else None, b.score if b else None),
                    total=max(t.total for t in (b, p, c) if t is not None),
                )
            )
        out[dim] = rows
    return out


def cost(card: Scorecard) -> Cost:
    cost = card.cost or ScoredCost()
    if cost.note:
        note = cost.note
    elif cost.device == "gpu":
        note = "accelerator time of the candidate's assessment at the intake's GPU-hour price"
    else:
        note = "assessed on CPU: no accelerator price applies; serving on a GPU will cost more"
    return Cost(
        device=cost.device,
        per_decision=cost.per_decision,
        device_seconds=rounded(cost.device_seconds),
        gpu_hourly_price=cost.gpu_hourly_price,
        note=note,
    )


def _comparison(
    name: Literal["baseline", "previous"], card: Scorecard, label: str, candidate: Scorecard
) -> Comparison:
    return Comparison(
        baseline=name,
        label=label,
        iteration=card.iteration,
        score=rounded(card.overall.score) or 0.0,
        heldout_score=rounded(card.heldout_score),
        delta=delta(candidate.overall.score, card.overall.score) or 0.0,
        heldout_delta=delta(candidate.heldout_score, card.heldout_score),
    )


def comparisons(
    base: Scorecard, previous: Scorecard | None, candidate: Scorecard, base_label: str
) -> list[Comparison]:
    """The candidate against the base model, then against the previous accepted candidate."""
    out = [_comparison("baseline", base, base_label, candidate)]
    if previous is not None:
        out.append(_comparison("previous", previous, label_of(previous), candidate))
    return out


def latency(base: Scorecard, candidate: Scorecard) -> Latency:
    base_latency = base.latency_ms or ScoredLatency()
    measured = candidate.latency_ms or ScoredLatency()
    return Latency(
        p50_ms=rounded(measured.p50),
        p95_ms=rounded(measured.p95),
        baseline_p50_ms=rounded(base_latency.p50),
        baseline_p95_ms=rounded(base_latency.p95),
    )


def lineage(
    *,
    base_label: str,
    candidate_label: str,
    candidate_iteration: int,
    earlier: Sequence[int],
    cards: Mapping[int, Scorecard],
    records: Sequence[IterationRecord],
    trained: Mapping[int, TrainedLineage],
) -> Lineage:
    """The accepted iterations from the base model to the candidate. An earlier iteration's
    scorecard may be absent (only the candidate's and the previous one's are required), so its
    numbers fall back to its record."""
    by_iteration = {r.iteration: r for r in records}
    steps = []
    for i in [*earlier, candidate_iteration]:
        card = cards.get(i)
        record = by_iteration.get(i)
        digests = trained.get(i)
        steps.append(
            LineageStep(
                iteration=i,
                label=candidate_label
                if i == candidate_iteration
                else (label_of(card) if card else f"iteration {i}"),
                recipe=(record.recipe if record else "") or "recipe not recorded",
                score=rounded(card.overall.score if card else record.score if record else None),
                heldout_score=rounded(
                    card.heldout_score if card else record.heldout_score if record else None
                ),
                training_data_digest=digests.training_data.digest if digests else None,
                supplied_data_digest=digests.training_data.supplied_digest if digests else None,
                adapter_digest=digests.artefact_digest if digests else None,
                training_nodes=digests.nodes if digests else None,
            )
        )
    base_model = trained[candidate_iteration].base_model if candidate_iteration in trained else None
    return Lineage(
        base=base_label,
        base_digest=base_model.digest if base_model else None,
        steps=steps,
        candidate=candidate_label,
        path=" -> ".join([base_label, *(s.recipe for s in steps), candidate_label]),
    )


def history(
    records: Sequence[IterationRecord], base: Scorecard, candidate: Scorecard, candidate_recipe: str
) -> list[HistoryPoint]:
    """Every iteration, in order, from the run's records."""
    points = [
        HistoryPoint(
            iteration=r.iteration,
            score=rounded(r.score),
            heldout_score=rounded(r.heldout_score),
            accepted=r.accepted,
            decision=r.decision,
            reason=r.reason,
            recipe=r.recipe,
        )
        for r in records
    ]
    # The chart needs both ends even when the history given is bounded or not yet updated.
    recorded = {r.iteration for r in records}
    ends = (
        (base, "Baseline", "BaselineEvaluated", ""),
        (candidate, "Stage", "ThresholdCleared", candidate_recipe),
    )
    for card, decision, reason, recipe in ends:
        if card.iteration in recorded:
            continue
        points.append(
            HistoryPoint(
                iteration=card.iteration,
                score=rounded(card.overall.score),
                heldout_score=rounded(card.heldout_score),
                accepted=True,
                decision=decision,
                reason=reason,
                recipe=recipe,
            )
        )
    points.sort(key=lambda p: p.iteration)
    return points
