"""The evidence bundle: the review packet a PromotionGate is judged on.

Built once, at PromotionStaging, by a pure function from what the run already holds: the
benchmark's identity and coverage, the scorecards of the baseline (iteration 0, the base model)
and of the accepted iterations, the run's history, and the intake's policy. It carries numbers,
scenario ids and readable labels only; the sanitiser refuses anything else before the bundle
leaves `build_bundle`. Its canonical JSON (sorted keys, compact) is what the digest covers and
what the operator stores at `evidence/bundle.json`; approvals name that digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from modelsmith.api.base import ApiModel
from modelsmith.api.common import Approver, RollbackContract
from modelsmith.api.gate import EvidenceSummary
from modelsmith.contract.jobspec import DIMENSIONS
from modelsmith.contract.jobspec import Lineage as TrainedLineage
from modelsmith.contract.scorecard import SCORECARD_SCHEMA, Scorecard
from modelsmith.contract.scorecard import Cost as ScoredCost
from modelsmith.contract.scorecard import Latency as ScoredLatency
from modelsmith.evidence.sanitiser import Sanitiser

EVIDENCE_SCHEMA: Final = "modelsmith.io/evidence/v1"
BASELINE: Final = "baseline"
PREVIOUS: Final = "previous"
_PLACES: Final = 6
"""Scores are ratios of small integers; six places keep deltas like 0.7 - 0.6 readable and
the canonical JSON stable across platforms."""


class EvidenceError(ValueError):
    """The inputs cannot make a bundle (a scorecard is missing or names the wrong iteration)."""


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, _PLACES)


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, _PLACES)


# --- reading the inputs ---------------------------------------------------------------------


class IterationRecord(BaseModel):
    """One finished iteration as the run's ledger (or status history) records it. Reads the
    loop's HistoryEntry in either wire (camelCase) or Python (snake_case) form."""

    model_config = ConfigDict(
        extra="ignore", populate_by_name=True, frozen=True, alias_generator=to_camel
    )

    iteration: int = Field(ge=0)
    score: float | None = None
    heldout_score: float | None = None
    accepted: bool = False
    decision: str = ""
    reason: str = ""
    recipe: str = ""


@dataclass(frozen=True)
class BenchmarkFacts:
    """The benchmark the candidate was judged on, as the run pinned it at its start."""

    name: str
    version: str
    digest: str
    coverage: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Scenario counts by dimension, e.g. {"capability": {"routing": 8}}."""
    scenario_count: int = 0
    heldout_count: int = 0


@dataclass(frozen=True)
class IntakeFacts:
    """The policy the candidate is judged against (from the ModelIntake)."""

    owner: str
    base_model_label: str
    threshold: float
    approvers: Sequence[Approver]
    rollback: RollbackContract
    min_improvement: float | None = None
    max_regressions: int | None = None


# --- the bundle -----------------------------------------------------------------------------


class BenchmarkEvidence(ApiModel):
    name: str = Field(description="The Benchmark's name.")
    version: str = Field(description="The Benchmark version judged against.")
    digest: str = Field(description="The Benchmark's content digest (sha256:...).")
    scenario_count: int = Field(ge=0, description="Scenarios in the benchmark.")
    heldout_count: int = Field(ge=0, description="Held-out scenarios (never trained on).")
    coverage: dict[str, dict[str, int]] = Field(
        description="Scenario counts by dimension and value."
    )


class PolicyEvidence(ApiModel):
    threshold: float = Field(ge=0, le=1, description="Held-out score the candidate must reach.")
    min_improvement: float | None = Field(
        default=None, description="Improvement each accepted iteration needed."
    )
    max_regressions: int | None = Field(
        default=None, ge=0, description="Regressions an accepted iteration could carry."
    )


class CandidateEvidence(ApiModel):
    label: str = Field(description="The candidate's readable label.")
    iteration: int = Field(ge=1, description="The iteration that produced it.")
    score: float = Field(ge=0, le=1, description="Overall score.")
    passed: int = Field(ge=0, description="Scenarios passed.")
    total: int = Field(ge=0, description="Scenarios evaluated.")
    heldout_score: float | None = Field(default=None, description="Held-out score.")
    clears_threshold: bool = Field(description="Whether the held-out score reaches threshold.")


class Comparison(ApiModel):
    """The candidate against one baseline."""

    baseline: Literal["baseline", "previous"] = Field(
        description="baseline: the base model (iteration 0); previous: the previous accepted "
        "candidate."
    )
    label: str = Field(description="The baseline model's readable label.")
    iteration: int = Field(ge=0, description="Its iteration.")
    score: float = Field(ge=0, le=1, description="Its overall score.")
    heldout_score: float | None = Field(default=None, description="Its held-out score.")
    delta: float = Field(description="Candidate score minus this score.")
    heldout_delta: float | None = Field(
        default=None, description="Candidate held-out score minus this held-out score."
    )


class Regression(ApiModel):
    """A scenario that passed before and fails on the candidate."""

    id: str = Field(description="Scenario id.")
    split: str = Field(description="train or heldout.")
    capability: str = Field(default="", description="The scenario's capability.")
    risk: str = Field(default="", description="The scenario's risk.")
    passed_on: list[Literal["baseline", "previous"]] = Field(
        description="The baselines it passed on."
    )


class Regressions(ApiModel):
    count: int = Field(ge=0, description="Number of regressed scenarios.")
    scenarios: list[Regression] = Field(description="The regressed scenarios, by id.")


class DimensionScore(ApiModel):
    value: str = Field(description="The dimension's value (e.g. routing).")
    baseline: float | None = Field(default=None, description="Base model score.")
    previous: float | None = Field(default=None, description="Previous accepted score.")
    candidate: float | None = Field(default=None, description="Candidate score.")
    delta: float | None = Field(default=None, description="Candidate minus base model.")
    total: int = Field(ge=0, description="Scenarios with this value.")


class Latency(ApiModel):
    p50_ms: float | None = Field(default=None, description="Candidate median latency (ms).")
    p95_ms: float | None = Field(default=None, description="Candidate p95 latency (ms).")
    baseline_p50_ms: float | None = Field(default=None, description="Base model median (ms).")
    baseline_p95_ms: float | None = Field(default=None, description="Base model p95 (ms).")


class Cost(ApiModel):
    device: str = Field(description="cpu or gpu: what the assessment ran on.")
    per_decision: float | None = Field(default=None, description="Cost per decision.")
    device_seconds: float | None = Field(default=None, description="Device time of the run.")
    gpu_hourly_price: float | None = Field(default=None, description="Price per GPU-hour.")
    note: str = Field(description="How to read the cost.")


class LineageStep(ApiModel):
    iteration: int = Field(ge=1, description="An accepted iteration.")
    label: str = Field(description="Its model's readable label.")
    recipe: str = Field(description="The recipe that trained it, in one line.")
    score: float | None = Field(default=None, description="Its overall score.")
    heldout_score: float | None = Field(default=None, description="Its held-out score.")
    training_data_digest: str | None = Field(
        default=None, description="sha256 of the training material it was trained on."
    )
    adapter_digest: str | None = Field(
        default=None, description="sha256 of the weights it produced (its adapter)."
    )


class Lineage(ApiModel):
    base: str = Field(description="The base model's readable label.")
    base_digest: str | None = Field(
        default=None,
        description="sha256 of the base model's weights as the trainer loaded them: for a hub "
        "model, of the revision it resolved to (lineage.json in the store names its commit, an "
        "opaque identifier kept off shared surfaces).",
    )
    steps: list[LineageStep] = Field(description="Accepted iterations, in order.")
    candidate: str = Field(description="The candidate's readable label.")
    path: str = Field(description="The whole lineage on one line.")


class HistoryPoint(ApiModel):
    iteration: int = Field(ge=0, description="Iteration (0: baseline).")
    score: float | None = Field(default=None, description="Overall score.")
    heldout_score: float | None = Field(default=None, description="Held-out score.")
    accepted: bool = Field(description="Whether the iteration was accepted.")
    decision: str = Field(description="Baseline, Accept, Reject or Stage.")
    reason: str = Field(default="", description="Why.")
    recipe: str = Field(default="", description="The recipe, in one line.")


class ApproverEvidence(ApiModel):
    role: str = Field(description="The role; its annotation is approval.modelsmith.io/<role>.")
    users: list[str] = Field(description="Users who may sign off.")
    groups: list[str] = Field(description="Groups whose members may sign off.")


class RollbackEvidence(ApiModel):
    expectation: str = Field(description="What rolling back means for this domain.")
    retain_previous: bool = Field(description="Whether the previous serving pointer is kept.")


class EvidenceBundle(ApiModel):
    """modelsmith.io/evidence/v1: what approvers sign off, by digest."""

    schema_id: Literal["modelsmith.io/evidence/v1"] = Field(
        default=EVIDENCE_SCHEMA, alias="schema", description="modelsmith.io/evidence/v1."
    )
    generated_at: datetime = Field(description="When the bundle was built (UTC).")
    run: str = Field(description="The IterationRun's name.")
    owner: str = Field(description="The intake's owner.")
    benchmark: BenchmarkEvidence
    policy: PolicyEvidence
    candidate: CandidateEvidence
    comparisons: list[Comparison] = Field(
        description="The candidate against the base model and the previous accepted candidate."
    )
    regressions: Regressions
    by_dimension: dict[str, list[DimensionScore]] = Field(
        description="Scores by dimension value: base model, previous accepted, candidate."
    )
    latency: Latency
    cost: Cost
    lineage: Lineage
    history: list[HistoryPoint] = Field(description="Every iteration, in order.")
    approvers: list[ApproverEvidence] = Field(description="The approver chain, in order.")
    rollback: RollbackEvidence
    notes: list[str] = Field(description="Operational notes.")

    @field_validator("generated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("generatedAt must carry a time zone")
        return value.astimezone(UTC)

    def comparison(self, baseline: str) -> Comparison | None:
        return next((c for c in self.comparisons if c.baseline == baseline), None)


# --- serialisation --------------------------------------------------------------------------


def canonical_json(bundle: EvidenceBundle) -> bytes:
    """The bytes the digest covers: sorted keys, no whitespace, UTF-8, absent fields omitted."""
    return json.dumps(
        bundle.wire(), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def digest(bundle: EvidenceBundle) -> str:
    """`sha256:<hex>` of the canonical JSON."""
    return "sha256:" + hashlib.sha256(canonical_json(bundle)).hexdigest()


def parse_bundle(data: bytes | str) -> EvidenceBundle:
    """A bundle read back from its JSON."""
    return EvidenceBundle.model_validate_json(data)


def bundle_json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of modelsmith.io/evidence/v1, in wire (camelCase) names."""
    schema = EvidenceBundle.model_json_schema(by_alias=True, mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": EVIDENCE_SCHEMA,
        **schema,
        "title": "Modelsmith evidence bundle",
    }


def gate_evidence(bundle: EvidenceBundle) -> EvidenceSummary:
    """The digest and headline numbers the PromotionGate's spec.evidence carries."""
    base = bundle.comparison(BASELINE)
    return EvidenceSummary(
        digest=digest(bundle),
        schema_version=EVIDENCE_SCHEMA,
        score=bundle.candidate.score,
        heldout_score=bundle.candidate.heldout_score,
        baseline_score=base.score if base else None,
        regression_count=bundle.regressions.count,
        latency_p95_ms=bundle.latency.p95_ms,
        cost_per_decision=bundle.cost.per_decision,
    )


# --- building -------------------------------------------------------------------------------


def _scorecard(raw: Mapping[str, Any], iteration: int) -> Scorecard:
    try:
        card = Scorecard.model_validate(raw)
    except ValidationError as exc:
        # Name the fields only: pydantic's message quotes the input, which may carry anything.
        where = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        raise EvidenceError(
            f"the scorecard of iteration {iteration} is malformed at {where}"
        ) from None
    if card.iteration != iteration:
        raise EvidenceError(
            f"the scorecard given for iteration {iteration} is iteration {card.iteration}'s"
        )
    if card.schema_id != SCORECARD_SCHEMA:
        raise EvidenceError(
            f"the scorecard of iteration {iteration} has schema {card.schema_id!r}; "
            f"expected {SCORECARD_SCHEMA}"
        )
    return card


def _scorecards(
    raw: Mapping[int, Mapping[str, Any]], wanted: Iterable[int]
) -> dict[int, Scorecard]:
    """The scorecards the bundle reads, checked; others (rejected iterations) are not opened,
    so a malformed one that decides nothing cannot block staging."""
    return {i: _scorecard(raw[i], i) for i in sorted(set(wanted)) if i in raw}


def _records(history: Iterable[IterationRecord | Mapping[str, Any]]) -> list[IterationRecord]:
    records = [
        h if isinstance(h, IterationRecord) else IterationRecord.model_validate(h) for h in history
    ]
    # A retried iteration may appear more than once; its last record is the one that stands.
    latest = {r.iteration: r for r in records}
    return [latest[i] for i in sorted(latest)]


def _card(cards: Mapping[int, Scorecard], iteration: int, what: str) -> Scorecard:
    try:
        return cards[iteration]
    except KeyError:
        raise EvidenceError(f"the scorecard of {what} (iteration {iteration}) is missing") from None


def _regressions(candidate: Scorecard, baselines: Sequence[tuple[str, Scorecard]]) -> Regressions:
    """Scenarios passing on any baseline and not on the candidate. A scenario missing from the
    candidate's scorecard counts: the benchmark is pinned by digest, so a vanished result is a
    failure to show, not a pass."""
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


def _by_dimension(
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
                    baseline=_round(b.score) if b else None,
                    previous=_round(p.score) if p else None,
                    candidate=_round(c.score) if c else None,
                    delta=_delta(c.score if c else None, b.score if b else None),
                    total=max(t.total for t in (b, p, c) if t is not None),
                )
            )
        out[dim] = rows
    return out


def _cost(card: Scorecard) -> Cost:
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
        device_seconds=_round(cost.device_seconds),
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
        score=_round(card.overall.score) or 0.0,
        heldout_score=_round(card.heldout_score),
        delta=_delta(candidate.overall.score, card.overall.score) or 0.0,
        heldout_delta=_delta(candidate.heldout_score, card.heldout_score),
    )


def build_bundle(
    *,
    run: str,
    candidate_label: str,
    benchmark: BenchmarkFacts,
    intake: IntakeFacts,
    scorecards: Mapping[int, Mapping[str, Any]],
    history: Iterable[IterationRecord | Mapping[str, Any]],
    generated_at: datetime,
    sanitiser: Sanitiser,
    notes: Sequence[str] = (),
    candidate_iteration: int | None = None,
    lineages: Mapping[int, TrainedLineage] | None = None,
) -> EvidenceBundle:
    """The evidence bundle for a run's candidate.

    - `scorecards`: scorecard.json documents by iteration; iteration 0 (the base model), the
      candidate's and the previous accepted candidate's are required.
    - `history`: one record per finished iteration, every one of them: the operator passes
      `history.history_from_ledger` (the status history is bounded and would drop the
      earliest); the candidate is the last accepted iteration unless `candidate_iteration`
      says otherwise.
    - `sanitiser`: built for the run's benchmark (`Sanitiser.for_scenarios`); the bundle is
      refused with LeakError if anything in it leaks, notes included (the run, candidate, base
      model and benchmark names themselves always pass).
    - `lineages`: the trainer's lineage.json by iteration, where known: their digests (base
      weights, training material, adapter) go into the bundle's lineage.
    """
    records = _records(history)
    accepted = [r.iteration for r in records if r.accepted and r.iteration >= 1]
    if candidate_iteration is None:
        if not accepted:
            raise EvidenceError("no iteration was accepted: there is no candidate")
        candidate_iteration = accepted[-1]
    if candidate_iteration < 1:
        raise EvidenceError("the candidate must be a trained iteration (>= 1)")
    earlier = [i for i in accepted if i < candidate_iteration]
    cards = _scorecards(scorecards, [0, *earlier, candidate_iteration])
    base = _card(cards, 0, "the base model")
    candidate = _card(cards, candidate_iteration, "the candidate")
    previous = _card(cards, earlier[-1], "the previous accepted candidate") if earlier else None

    by_iteration = {r.iteration: r for r in records}

    def label_of(card: Scorecard) -> str:
        return card.model_label or f"iteration {card.iteration}"

    baselines: list[tuple[str, Scorecard]] = [(BASELINE, base)]
    comparisons = [_comparison("baseline", base, intake.base_model_label, candidate)]
    if previous is not None:
        baselines.append((PREVIOUS, previous))
        comparisons.append(_comparison("previous", previous, label_of(previous), candidate))

    steps = []
    trained = dict(lineages or {})
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
                score=_round(card.overall.score if card else record.score if record else None),
                heldout_score=_round(
                    card.heldout_score if card else record.heldout_score if record else None
                ),
                training_data_digest=digests.training_data.digest if digests else None,
                adapter_digest=digests.artefact_digest if digests else None,
            )
        )
    base_model = trained[candidate_iteration].base_model if candidate_iteration in trained else None
    path = " -> ".join([intake.base_model_label, *(s.recipe for s in steps), candidate_label])

    points = [
        HistoryPoint(
            iteration=r.iteration,
            score=_round(r.score),
            heldout_score=_round(r.heldout_score),
            accepted=r.accepted,
            decision=r.decision,
            reason=r.reason,
            recipe=r.recipe,
        )
        for r in records
    ]
    # The chart needs both ends even when the history given is bounded or not yet updated.
    missing = [
        (card, decision, reason)
        for card, decision, reason in (
            (base, "Baseline", "BaselineEvaluated"),
            (candidate, "Stage", "ThresholdCleared"),
        )
        if card.iteration not in by_iteration
    ]
    for card, decision, reason in missing:
        points.append(
            HistoryPoint(
                iteration=card.iteration,
                score=_round(card.overall.score),
                heldout_score=_round(card.heldout_score),
                accepted=True,
                decision=decision,
                reason=reason,
                recipe="" if card is base else steps[-1].recipe,
            )
        )
    points.sort(key=lambda p: p.iteration)

    base_latency = base.latency_ms or ScoredLatency()
    latency = candidate.latency_ms or ScoredLatency()
    heldout = candidate.heldout_score
    bundle = EvidenceBundle(
        generated_at=generated_at,
        run=run,
        owner=intake.owner,
        benchmark=BenchmarkEvidence(
            name=benchmark.name,
            version=benchmark.version,
            digest=benchmark.digest,
            scenario_count=benchmark.scenario_count or candidate.overall.total,
            heldout_count=benchmark.heldout_count,
            coverage={d: dict(sorted(v.items())) for d, v in sorted(benchmark.coverage.items())},
        ),
        policy=PolicyEvidence(
            threshold=intake.threshold,
            min_improvement=intake.min_improvement,
            max_regressions=intake.max_regressions,
        ),
        candidate=CandidateEvidence(
            label=candidate_label,
            iteration=candidate_iteration,
            score=_round(candidate.overall.score) or 0.0,
            passed=candidate.overall.passed,
            total=candidate.overall.total,
            heldout_score=_round(heldout),
            clears_threshold=heldout is not None and heldout >= intake.threshold - 1e-9,
        ),
        comparisons=comparisons,
        regressions=_regressions(candidate, baselines),
        by_dimension=_by_dimension(base, previous, candidate),
        latency=Latency(
            p50_ms=_round(latency.p50),
            p95_ms=_round(latency.p95),
            baseline_p50_ms=_round(base_latency.p50),
            baseline_p95_ms=_round(base_latency.p95),
        ),
        cost=_cost(candidate),
        lineage=Lineage(
            base=intake.base_model_label,
            base_digest=base_model.digest if base_model else None,
            steps=steps,
            candidate=candidate_label,
            path=path,
        ),
        history=points,
        approvers=[
            ApproverEvidence(role=a.role, users=list(a.users), groups=list(a.groups))
            for a in intake.approvers
        ],
        rollback=RollbackEvidence(
            expectation=intake.rollback.expectation,
            retain_previous=intake.rollback.retain_previous,
        ),
        notes=list(notes),
    )
    # The run's, benchmark's and models' own names are readable labels by the API's contract,
    # even when generateName gave them a suffix that reads like a pod's.
    # Approvers are named on purpose (their user names are often e-mail addresses).
    identities = [p for a in intake.approvers for p in (*a.users, *a.groups)]
    allowed = sanitiser.allowing(
        run, candidate_label, intake.base_model_label, benchmark.name, *identities
    )
    allowed.assert_clean(bundle.wire(), surface="evidence bundle")
    return bundle
