"""Failure clusters: where a model fails most, by two scenario dimensions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Final

from modelsmith.contract.jobspec import DIMENSIONS
from modelsmith.contract.scorecard import HELDOUT, TRAIN, ScenarioResult, Scorecard
from modelsmith.loop.model import LoopModel

RISK_SEVERITY: Final = {"low": 0, "medium": 1, "high": 2, "critical": 3}
CELL_SEPARATOR: Final = " × "  # noqa: RUF001 - the label reads as a grid cell


class Cluster(LoopModel):
    """One cell of the two cluster dimensions and the scenarios failing in it."""

    dimensions: dict[str, str]
    label: str
    failures: int
    scenario_ids: tuple[str, ...]
    failing_train_ids: tuple[str, ...]
    """The failing scenarios a recipe can up-weight; held-out failures are only measured."""


def check_dimensions(dims: Sequence[str]) -> tuple[str, str]:
    if len(dims) != 2 or dims[0] == dims[1] or any(d not in DIMENSIONS for d in dims):
        raise ValueError(f"cluster dimensions must be two different ones of {DIMENSIONS}")
    return dims[0], dims[1]


def cluster_label(dimensions: dict[str, str]) -> str:
    return CELL_SEPARATOR.join(f"{k}={v}" for k, v in dimensions.items())


def strongest_failure_cluster(scorecard: Scorecard, dims: Sequence[str]) -> Cluster | None:
    """The cell with the most failing train and held-out scenarios, or None if nothing fails.

    Ties go to the cell whose failing scenarios carry the highest risk (a critical failure is
    the one to fix first), then to the alphabetically first label, so the same scorecard always
    names the same cluster."""
    first, second = check_dimensions(dims)
    cells: dict[tuple[str, str], list[ScenarioResult]] = defaultdict(list)
    for result in scorecard.failing((TRAIN, HELDOUT)):
        cells[(result.dimension(first), result.dimension(second))].append(result)
    if not cells:
        return None

    def rank(item: tuple[tuple[str, str], list[ScenarioResult]]) -> tuple[int, int, str]:
        (a, b), results = item
        severity = max(RISK_SEVERITY.get(r.risk, -1) for r in results)
        return (-len(results), -severity, cluster_label({first: a, second: b}))

    (a, b), results = min(cells.items(), key=rank)
    dimensions = {first: a, second: b}
    return Cluster(
        dimensions=dimensions,
        label=cluster_label(dimensions),
        failures=len(results),
        scenario_ids=tuple(sorted(r.id for r in results)),
        failing_train_ids=tuple(sorted(r.id for r in results if r.split == TRAIN)),
    )
