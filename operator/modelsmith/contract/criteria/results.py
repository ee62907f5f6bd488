"""What scoring says about one criterion and one scenario."""

from __future__ import annotations

from pydantic import Field

from modelsmith.api.base import ApiModel


class CriterionResult(ApiModel):
    """Whether one criterion holds on an answer. `reason` is a few plain words that never quote
    the answer, so a result can be logged or summarised without leaking it."""

    kind: str
    holds: bool
    reason: str


class ScenarioResult(ApiModel):
    """A scenario passes when every pass criterion holds and no fail criterion holds."""

    scenario_id: str
    passed: bool
    pass_results: list[CriterionResult] = Field(default_factory=list)
    fail_results: list[CriterionResult] = Field(default_factory=list)
    reason: str
