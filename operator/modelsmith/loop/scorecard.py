"""The parts of the evaluator's `scorecard.json` the loop decides from.

The evaluator owns the schema (modelsmith.io/scorecard/v1); this is a reading of it. Unknown
fields are ignored so the evaluator can add measurements without breaking the operator."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from modelsmith.jobspec import DIMENSIONS, SCORECARD_SCHEMA

TRAIN: Final = "train"
HELDOUT: Final = "heldout"


class _Read(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Tally(_Read):
    passed: int = Field(ge=0)
    total: int = Field(ge=0)
    score: float = Field(ge=0, le=1)


class ScenarioResult(_Read):
    id: str
    split: str
    passed: bool
    capability: str
    risk: str
    operator_lens: str = Field(alias="operatorLens")
    outcome_type: str = Field(alias="outcomeType")

    def dimension(self, name: str) -> str:
        """The scenario's value for a dimension, by its wire name (e.g. operatorLens)."""
        values = {
            "capability": self.capability,
            "risk": self.risk,
            "operatorLens": self.operator_lens,
            "outcomeType": self.outcome_type,
        }
        if name not in values:
            raise ValueError(f"unknown dimension {name!r}; expected one of {DIMENSIONS}")
        return values[name]


class Scorecard(_Read):
    schema_id: str = Field(default=SCORECARD_SCHEMA, alias="schema")
    iteration: int = Field(ge=0)
    overall: Tally
    splits: dict[str, Tally] = Field(default_factory=dict)
    scenarios: tuple[ScenarioResult, ...] = ()

    @property
    def score(self) -> float:
        return self.overall.score

    @property
    def heldout_score(self) -> float | None:
        tally = self.splits.get(HELDOUT)
        return None if tally is None or tally.total == 0 else tally.score

    def passing_ids(self) -> frozenset[str]:
        return frozenset(s.id for s in self.scenarios if s.passed)

    def failing(self, splits: Iterable[str] = (TRAIN, HELDOUT)) -> tuple[ScenarioResult, ...]:
        wanted = frozenset(splits)
        return tuple(s for s in self.scenarios if not s.passed and s.split in wanted)
