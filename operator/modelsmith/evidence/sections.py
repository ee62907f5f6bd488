"""The sections of the evidence bundle (modelsmith.io/evidence/v1), as pydantic models.

`bundle.EvidenceBundle` assembles them; their field descriptions are the bundle's JSON Schema.
They live apart from the bundle so the code that fills each section (`build_sections`) can
name them without importing the builder that calls it.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from modelsmith.api.base import ApiModel

BASELINE: Final = "baseline"
PREVIOUS: Final = "previous"


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
    supplied_data_digest: str | None = Field(
        default=None,
        description="sha256 of the intake's training data, as the run pinned it at its start "
        "(status.pinned.trainingDataDigest), that part of the material came from; absent when "
        "it trained on the benchmark alone.",
    )
    adapter_digest: str | None = Field(
        default=None, description="sha256 of the weights it produced (its adapter)."
    )
    training_nodes: int | None = Field(
        default=None,
        ge=1,
        description="Nodes its training ran on (above 1: a JobSet of one pod each).",
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
