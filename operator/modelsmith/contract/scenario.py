"""A benchmark scenario: one realistic task with the criteria that decide whether an answer
passes. The Benchmark's CRD schema embeds it (`modelsmith.api.benchmark`), the operator writes
every scenario of a run's pinned benchmark as JSON lines in this wire form
(`layout.benchmark_scenarios`), and the evaluator image reads them back with this model."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from modelsmith.api.base import ApiModel
from modelsmith.api.criteria import Criterion


class Split(StrEnum):
    TRAIN = "train"
    HELDOUT = "heldout"


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Scenario(ApiModel):
    """One realistic task with the criteria that decide whether an answer passes."""

    id: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
        description="Stable identifier, unique in the benchmark (lowercase, digits, dashes). "
        "It is the only thing about a scenario that appears on shared surfaces.",
    )
    capability: str = Field(
        min_length=1, max_length=63, description="The skill this scenario exercises (e.g. routing)."
    )
    risk: Risk = Field(
        description="How much harm a wrong answer does: low, medium, high, critical."
    )
    operator_lens: str = Field(
        min_length=1,
        max_length=63,
        description="Whose concern this scenario represents (e.g. frontline-agent, compliance).",
    )
    outcome_type: str = Field(
        min_length=1,
        max_length=63,
        description="The shape of a good outcome (e.g. route, refuse, answer, escalate).",
    )
    split: Split = Field(
        description="train: may be used as training material; heldout: only ever evaluated."
    )
    prompt: str = Field(min_length=1, max_length=4096, description="The request put to the model.")
    inputs: dict[str, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict,
        max_length=32,
        description="Representative domain inputs given with the prompt (field name to value).",
    )
    reference: str | None = Field(
        default=None,
        max_length=4096,
        description="An exemplary answer written by the domain owner. Train-split references are "
        "the training material; held-out references never leave the evaluator.",
    )
    pass_criteria: list[Criterion] = Field(
        min_length=1,
        max_length=16,
        alias="pass",
        description="Every one of these must hold for the answer to pass.",
    )
    fail_criteria: list[Criterion] = Field(
        default_factory=list,
        max_length=16,
        alias="fail",
        description="If any of these matches, the answer fails whatever else holds.",
    )
