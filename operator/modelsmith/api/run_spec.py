"""IterationRun's spec: what a person asks of one specialisation loop (its intake, limits,
starting recipe, evaluator settings and retry budget)."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field, model_validator

from modelsmith.api.base import ApiModel
from modelsmith.api.common import (
    Dimension,
    LocalObjectReference,
    cel,
    immutable,
    validations,
)
from modelsmith.contract import recipe as contract_recipe

TWO_DIMENSIONS = "clusterDimensions must name two different dimensions"


class RunBudget(ApiModel):
    """Limits that end the run (Stopped, with the budget named as the reason) when reached."""

    gpu_hours: float | None = Field(
        default=None,
        ge=0,
        description="GPU-hours the run may use across all its Jobs; absent: no limit.",
    )
    deadline: datetime | None = Field(
        default=None,
        description="Time (RFC 3339) after which no new Job starts; absent: no deadline.",
    )


# The recipe's fields and bounds are the Job spec's (modelsmith.contract.recipe), so the CRD
# admits exactly what a trainer accepts; `failingWeight` is the run's weighting policy, not part of
# the recipe a Job trains with, and the run's seed is capped where an iteration's is not.
class Recipe(contract_recipe.Recipe, ApiModel):
    """The starting training recipe. The operator adapts the weighting each iteration from the
    evidence (failing scenarios of the strongest failure cluster weigh `failingWeight`) and
    records the recipe it used in the ledger."""

    model_config = ConfigDict(**ApiModel.model_config, frozen=False)

    seed: int = Field(
        default=0, ge=0, le=2**31 - 1, description="Random seed; the same seed repeats a run."
    )
    failing_weight: float = Field(
        default=3.0,
        ge=1,
        le=100,
        description="Sampling weight of failing training scenarios in the strongest failure "
        "cluster (every other scenario weighs 1).",
    )


class EvaluationSettings(ApiModel):
    """How the evaluator generates answers."""

    batch_size: int = Field(default=8, ge=1, le=1024, description="Scenarios per batch.")
    max_new_tokens: int = Field(
        default=64, ge=1, le=1024, description="Longest answer generated, in tokens."
    )


class RetryPolicy(ApiModel):
    """How often a failing Job is replaced before the run blocks (infrastructure)."""

    max_attempts: int = Field(
        default=2,
        ge=1,
        le=10,
        description="Jobs created per phase per iteration (the first included) before the run "
        "is Blocked with kind infrastructure.",
    )


class IterationRunSpec(ApiModel):
    """One specialisation loop for a ModelIntake."""

    intake_ref: LocalObjectReference = Field(
        description="The ModelIntake (same namespace) this run specialises. Immutable.",
        json_schema_extra=validations(
            immutable("intakeRef is immutable; start a new IterationRun for another intake")
        ),
    )
    max_iterations: int = Field(
        default=5,
        ge=1,
        le=50,
        description="Training iterations at most (the baseline evaluation is iteration 0 and "
        "does not count).",
    )
    plateau_patience: int = Field(
        default=2,
        ge=1,
        le=10,
        description="Consecutive iterations without an accepted improvement that end the run "
        "as Plateaued.",
    )
    budget: RunBudget = Field(
        default_factory=RunBudget,
        description="GPU-hour and wall-clock limits.",
        json_schema_extra={"default": {}},
    )
    recipe: Recipe = Field(
        default_factory=Recipe,
        description="The starting training recipe.",
        json_schema_extra={"default": {}},
    )
    evaluation: EvaluationSettings = Field(
        default_factory=EvaluationSettings,
        description="Evaluator settings.",
        json_schema_extra={"default": {}},
    )
    cluster_dimensions: list[Dimension] = Field(
        default_factory=lambda: [Dimension.CAPABILITY, Dimension.RISK],
        min_length=2,
        max_length=2,
        description="The two dimensions failures are clustered by (two different ones of "
        "capability, risk, operatorLens, outcomeType).",
        json_schema_extra=validations(
            cel("self[0] != self[1]", TWO_DIMENSIONS),
            default=[Dimension.CAPABILITY.value, Dimension.RISK.value],
        ),
    )
    retries: RetryPolicy = Field(
        default_factory=RetryPolicy,
        description="Job retry budget.",
        json_schema_extra={"default": {}},
    )
    suspend: bool = Field(
        default=False,
        description="true pauses the run after the current Job (phase Suspended); false resumes.",
    )

    @model_validator(mode="after")
    def _two_dimensions(self) -> IterationRunSpec:
        if len(set(self.cluster_dimensions)) != 2:
            raise ValueError(TWO_DIMENSIONS)
        return self
