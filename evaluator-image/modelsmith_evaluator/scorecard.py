"""The sanitised scorecard (modelsmith.io/scorecard/v1): counts, scores, ids, dimension values,
latency, tokens and cost. No prompt, input, reference or completion text ever enters it; the
per-scenario answers go to results.jsonl, which stays inside the customer boundary."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelsmith.api.benchmark import Scenario
from modelsmith.jobspec import DIMENSIONS, SCORECARD_SCHEMA

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
) -> dict[str, Any]:
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
    return {
        "schema": SCORECARD_SCHEMA,
        "iteration": iteration,
        "model_label": model_label,
        "model_digest": model_digest,
        "overall": tally(passed, len(outcomes)),
        "splits": {
            name: tally(sum(o.passed for o in group), len(group)) for name, group in splits.items()
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
