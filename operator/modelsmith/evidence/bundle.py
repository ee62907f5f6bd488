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

from modelsmith.api.approvers import Approver
from modelsmith.api.base import ApiModel
from modelsmith.api.common import RollbackContract
from modelsmith.api.gate import EvidenceSummary
from modelsmith.contract.jobspec import Lineage as TrainedLineage
from modelsmith.contract.scorecard import SCORECARD_SCHEMA, Scorecard
from modelsmith.evidence import build_sections
from modelsmith.evidence.build_sections import rounded
from modelsmith.evidence.sanitiser import Sanitiser
from modelsmith.evidence.sections import (
    BASELINE,
    ApproverEvidence,
    BenchmarkEvidence,
    CandidateEvidence,
    Comparison,
    Cost,
    DimensionScore,
    HistoryPoint,
    Latency,
    Lineage,
    PolicyEvidence,
    Regressions,
    RollbackEvidence,
)

EVIDENCE_SCHEMA: Final = "modelsmith.io/evidence/v1"


class EvidenceError(ValueError):
    """The inputs cannot make a bundle (a scorecard is missing or names the wrong iteration)."""


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


# --- checking the inputs --------------------------------------------------------------------


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


# --- building -------------------------------------------------------------------------------


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
    candidate_iteration, earlier = _candidate(records, candidate_iteration)
    cards, base, candidate, previous = _compared(scorecards, candidate_iteration, earlier)
    lineage = build_sections.lineage(
        base_label=intake.base_model_label,
        candidate_label=candidate_label,
        candidate_iteration=candidate_iteration,
        earlier=earlier,
        cards=cards,
        records=records,
        trained=dict(lineages or {}),
    )
    bundle = EvidenceBundle(
        generated_at=generated_at,
        run=run,
        owner=intake.owner,
        benchmark=_benchmark(benchmark, candidate),
        policy=_policy(intake),
        candidate=_candidate_evidence(candidate_label, candidate, intake.threshold),
        comparisons=build_sections.comparisons(base, previous, candidate, intake.base_model_label),
        regressions=build_sections.regressions(base, previous, candidate),
        by_dimension=build_sections.by_dimension(base, previous, candidate),
        latency=build_sections.latency(base, candidate),
        cost=build_sections.cost(candidate),
        lineage=lineage,
        history=build_sections.history(records, base, candidate, lineage.steps[-1].recipe),
        approvers=_approvers(intake),
        rollback=_rollback(intake),
        notes=list(notes),
    )
    _assert_clean(bundle, sanitiser, run, candidate_label, intake, benchmark.name)
    return bundle


def _candidate(records: Sequence[IterationRecord], chosen: int | None) -> tuple[int, list[int]]:
    """The candidate's iteration (the last accepted one unless `chosen` names it) and the
    accepted iterations before it."""
    accepted = [r.iteration for r in records if r.accepted and r.iteration >= 1]
    if chosen is None:
        if not accepted:
            raise EvidenceError("no iteration was accepted: there is no candidate")
        chosen = accepted[-1]
    if chosen < 1:
        raise EvidenceError("the candidate must be a trained iteration (>= 1)")
    return chosen, [i for i in accepted if i < chosen]


def _compared(
    raw: Mapping[int, Mapping[str, Any]], candidate_iteration: int, earlier: Sequence[int]
) -> tuple[dict[int, Scorecard], Scorecard, Scorecard, Scorecard | None]:
    """The checked scorecards of the accepted iterations, then the three the candidate is
    compared on: the base model's, the candidate's and the previous accepted candidate's (None
    when the candidate is the first accepted)."""
    cards = _scorecards(raw, [0, *earlier, candidate_iteration])
    base = _card(cards, 0, "the base model")
    candidate = _card(cards, candidate_iteration, "the candidate")
    previous = _card(cards, earlier[-1], "the previous accepted candidate") if earlier else None
    return cards, base, candidate, previous


def _policy(intake: IntakeFacts) -> PolicyEvidence:
    return PolicyEvidence(
        threshold=intake.threshold,
        min_improvement=intake.min_improvement,
        max_regressions=intake.max_regressions,
    )


def _approvers(intake: IntakeFacts) -> list[ApproverEvidence]:
    return [
        ApproverEvidence(role=a.role, users=list(a.users), groups=list(a.groups))
        for a in intake.approvers
    ]


def _rollback(intake: IntakeFacts) -> RollbackEvidence:
    return RollbackEvidence(
        expectation=intake.rollback.expectation,
        retain_previous=intake.rollback.retain_previous,
    )


def _benchmark(benchmark: BenchmarkFacts, candidate: Scorecard) -> BenchmarkEvidence:
    return BenchmarkEvidence(
        name=benchmark.name,
        version=benchmark.version,
        digest=benchmark.digest,
        scenario_count=benchmark.scenario_count or candidate.overall.total,
        heldout_count=benchmark.heldout_count,
        coverage={d: dict(sorted(v.items())) for d, v in sorted(benchmark.coverage.items())},
    )


def _candidate_evidence(label: str, candidate: Scorecard, threshold: float) -> CandidateEvidence:
    heldout = candidate.heldout_score
    return CandidateEvidence(
        label=label,
        iteration=candidate.iteration,
        score=rounded(candidate.overall.score) or 0.0,
        passed=candidate.overall.passed,
        total=candidate.overall.total,
        heldout_score=rounded(heldout),
        clears_threshold=heldout is not None and heldout >= threshold - 1e-9,
    )


def _assert_clean(
    bundle: EvidenceBundle,
    sanitiser: Sanitiser,
    run: str,
    candidate_label: str,
    intake: IntakeFacts,
    benchmark_name: str,
) -> None:
    """Refuse the bundle (LeakError) if anything in it would leak."""
    # The run's, benchmark's and models' own names are readable labels by the API's contract,
    # even when generateName gave them a suffix that reads like a pod's.
    # Approvers are named on purpose (their user names are often e-mail addresses).
    identities = [p for a in intake.approvers for p in (*a.users, *a.groups)]
    allowed = sanitiser.allowing(
        run, candidate_label, intake.base_model_label, benchmark_name, *identities
    )
    allowed.assert_clean(bundle.wire(), surface="evidence bundle")
