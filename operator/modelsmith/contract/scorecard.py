"""The sanitised scorecard (modelsmith.io/scorecard/v1): counts, scores, ids, dimension values,
latency, tokens and cost. No prompt, input, reference or completion text ever enters it; the
per-scenario answers go to results.jsonl, which stays inside the customer boundary.

One model, `Scorecard`, for both sides: the evaluator builds its scorecard with
`build_scorecard` (validated by the model before it is written), and the operator's loop and
the evidence bundle read `scorecard.json` with `Scorecard`. Reading ignores unknown fields, so
the evaluator can add measurements without breaking an operator that does not know them."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from modelsmith.contract.jobspec import DIMENSIONS
from modelsmith.contract.scenario import Scenario

SCORECARD_SCHEMA: Final = "modelsmith.io/scorecard/v1"
TRAIN: Final = "train"
HELDOUT: Final = "heldout"

# --- the document ---------------------------------------------------------------------------


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
    capability: str = ""
    risk: str = ""
    operator_lens: str = Field(default="", alias="operatorLens")
    outcome_type: str = Field(default="", alias="outcomeType")

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


class FailureCluster(_Read):
    dimensions: dict[str, str]
    failures: int = Field(ge=0)
    scenario_ids: tuple[str, ...] = ()


class Latency(_Read):
    p50: float | None = None
    p95: float | None = None


class Tokens(_Read):
    prompt: int = Field(default=0, ge=0)
    generated: int = Field(default=0, ge=0)


class Cost(_Read):
    device: str = "cpu"
    device_seconds: float | None = None
    gpu_hourly_price: float | None = None
    per_decision: float | None = None
    note: str | None = None


class Scorecard(_Read):
    schema_id: str = Field(default=SCORECARD_SCHEMA, alias="schema")
    iteration: int = Field(ge=0)
    model_label: str | None = None
    model_digest: str | None = None
    overall: Tally
    splits: dict[str, Tally] = Field(default_factory=dict)
    by_dimension: dict[str, dict[str, Tally]] = Field(default_factory=dict)
    scenarios: tuple[ScenarioResult, ...] = ()
    failure_clusters: tuple[FailureCluster, ...] = ()
    latency_ms: Latency | None = None
    tokens: Tokens | None = None
    cost: Cost | None = None

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

    def document(self) -> dict[str, Any]:
        """The JSON document as the evaluator writes it (`scorecard.json`)."""
        return self.model_dump(mode="json", by_alias=True)


# --- writing --------------------------------------------------------------------------------


CPU_NOTE = (
    "ran on CPU: no accelerator time was used, so the per-decision cost is 0; serving on a GPU "
    "costs device time at the configured hourly price"
)


@dataclass(frozen=True)
class Outcome:
    """One scored scenario, as the scorecard sees it."""

    scenario: Scenario
    passed: bool
    latency_ms: float
    prompt_tokens: int
    generated_tokens: int


def dimension_value(scenario: Scenario, dimension: str) -> str:
    values = {
        "capability": scenario.capability,
        "risk": str(scenario.risk),
        "operatorLens": scenario.operator_lens,
        "outcomeType": scenario.outcome_type,
    }
    return values[dimension]


def tally(passed: int, total: int) -> dict[str, Any]:
    return {"passed": passed, "total": total, "score": round(passed / total, 6) if total else 0.0}


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def failure_clusters(
    outcomes: Sequence[Outcome], dimensions: tuple[str, str]
) -> list[dict[str, Any]]:
    """Failing scenarios (both splits) grouped by their values of the two dimensions; the
    largest cluster first, ties by values."""
    first, second = dimensions
    cells: dict[tuple[str, str], list[str]] = defaultdict(list)
    for outcome in outcomes:
        if not outcome.passed:
            key = (
                dimension_value(outcome.scenario, first),
                dimension_value(outcome.scenario, second),
            )
            cells[key].append(outcome.scenario.id)
    ranked = sorted(cells.items(), key=lambda item: (-len(item[1]), item[0]))
    return [
        {
            "dimensions": {first: a, second: b},
            "failures": len(ids),
            "scenario_ids": sorted(ids),
        }
        for (a, b), ids in ranked
    ]


def cost(
    device: str, device_seconds: float, gpu_hourly_price: float, decisions: int
) -> dict[str, Any]:
    if device == "gpu":
        per_decision = device_seconds * gpu_hourly_price / 3600.0 / decisions if decisions else 0.0
        note = (
            f"GPU-seconds x {gpu_hourly_price:g}/hour / {decisions} decisions, measured on one GPU"
        )
    else:
        per_decision, note = 0.0, CPU_NOTE
    return {
        "device": device,
        "device_seconds": round(device_seconds, 6),
        "gpu_hourly_price": gpu_hourly_price,
        "per_decision": per_decision,
        "note": note,
    }


def build_scorecard(
    *,
    iteration: int,
    model_label: str,
    model_digest: str | None,
    outcomes: Sequence[Outcome],
    dimensions: tuple[str, str],
    device: str,
    device_seconds: float,
    gpu_hourly_price: float,
) -> Scorecard:
    passed = sum(o.passed for o in outcomes)
    splits: dict[str, list[Outcome]] = {"train": [], "heldout": []}
    for outcome in outcomes:
        splits.setdefault(str(outcome.scenario.split), []).append(outcome)
    by_dimension: dict[str, dict[str, dict[str, Any]]] = {}
    for dimension in DIMENSIONS:
        groups: dict[str, list[Outcome]] = defaultdict(list)
        for outcome in outcomes:
            groups[dimension_value(outcome.scenario, dimension)].append(outcome)
        by_dimension[dimension] = {
            value: tally(sum(o.passed for o in group), len(group))
            for value, group in sorted(groups.items())
        }
    latencies = [o.latency_ms for o in outcomes]
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    return Scorecard.model_validate(
        {
            "schema": SCORECARD_SCHEMA,
            "iteration": iteration,
            "model_label": model_label,
            "model_digest": model_digest,
            "overall": tally(passed, len(outcomes)),
            "splits": {
                name: tally(sum(o.passed for o in group), len(group))
                for name, group in splits.items()
            },
            "by_dimension": by_dimension,
            "scenarios": [
                {
                    "id": o.scenario.id,
                    "split": str(o.scenario.split),
                    "passed": o.passed,
                    **{d: dimension_value(o.scenario, d) for d in DIMENSIONS},
                }
                for o in outcomes
            ],
            "failure_clusters": failure_clusters(outcomes, dimensions),
            "latency_ms": {
                "p50": None if p50 is None else round(p50, 3),
                "p95": None if p95 is None else round(p95, 3),
            },
            "tokens": {
                "prompt": sum(o.prompt_tokens for o in outcomes),
                "generated": sum(o.generated_tokens for o in outcomes),
            },
            "cost": cost(device, device_seconds, gpu_hourly_price, len(outcomes)),
        }
    )
