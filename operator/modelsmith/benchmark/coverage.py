"""How many scenarios exercise each value of each dimension."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from modelsmith.api.benchmark import Coverage
from modelsmith.api.common import Dimension
from modelsmith.contract.scenario import Scenario, Split

# The status schema bounds each per-dimension map; a benchmark with more values than this keeps
# its most frequent ones (ties by name).
MAX_DIMENSION_VALUES = 64


def dimension_value(scenario: Scenario, dimension: Dimension) -> str:
    value = {
        Dimension.CAPABILITY: scenario.capability,
        Dimension.RISK: scenario.risk,
        Dimension.OPERATOR_LENS: scenario.operator_lens,
        Dimension.OUTCOME_TYPE: scenario.outcome_type,
    }[dimension]
    return str(value)


def counts(scenarios: Iterable[Scenario], dimension: Dimension) -> dict[str, int]:
    """Scenarios per value of one dimension, by value name."""
    counted = Counter(dimension_value(s, dimension) for s in scenarios)
    return dict(sorted(counted.items()))


def coverage(scenarios: Sequence[Scenario]) -> Coverage:
    """Counts by capability, risk, operatorLens and outcomeType, for the Benchmark status."""
    by = {d: _bounded(counts(scenarios, d)) for d in Dimension}
    return Coverage(
        capability=by[Dimension.CAPABILITY],
        risk=by[Dimension.RISK],
        operator_lens=by[Dimension.OPERATOR_LENS],
        outcome_type=by[Dimension.OUTCOME_TYPE],
    )


def heldout_count(scenarios: Iterable[Scenario]) -> int:
    return sum(1 for s in scenarios if s.split == Split.HELDOUT)


def _bounded(counted: dict[str, int]) -> dict[str, int]:
    if len(counted) <= MAX_DIMENSION_VALUES:
        return counted
    kept = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:MAX_DIMENSION_VALUES]
    return dict(sorted(kept))


# Dimensions a model is trained towards: a capability or an outcome type that no train scenario
# shows is measured on held-out scenarios but never taught. Risk and operator lens describe who
# asks and what is at stake, not what the model must do, so they are not checked.
TRAINED_DIMENSIONS = (Dimension.CAPABILITY, Dimension.OUTCOME_TYPE)


def heldout_only(scenarios: Sequence[Scenario]) -> list[tuple[Dimension, str, list[str]]]:
    """(dimension, value, held-out scenario ids) for each capability or outcome type that only
    held-out scenarios exercise, in dimension then value order."""
    found: list[tuple[Dimension, str, list[str]]] = []
    for dimension in TRAINED_DIMENSIONS:
        trained = {dimension_value(s, dimension) for s in scenarios if s.split == Split.TRAIN}
        held: dict[str, list[str]] = {}
        for s in scenarios:
            value = dimension_value(s, dimension)
            if s.split == Split.HELDOUT and value not in trained:
                held.setdefault(value, []).append(s.id)
        found.extend((dimension, value, ids) for value, ids in sorted(held.items()))
    return found
