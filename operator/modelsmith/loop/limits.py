"""The run's documented stop conditions, as predicates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from modelsmith.loop.state import HistoryEntry


def budget_exhausted(gpu_seconds_used: float, gpu_hour_budget: float | None) -> bool:
    return gpu_hour_budget is not None and gpu_seconds_used >= gpu_hour_budget * 3600.0


def deadline_passed(now: datetime, deadline: datetime | None) -> bool:
    return deadline is not None and now >= deadline


def plateaued(history: Sequence[HistoryEntry], patience: int) -> bool:
    """The last `patience` iterations were all rejected. The baseline is not an iteration
    without improvement; it ends the count. `decide` keeps the same count unbounded in
    RunState.iterations_without_improvement, since history holds ten entries at most."""
    if patience < 1:
        raise ValueError("patience must be at least 1")
    tail = list(history)[-patience:]
    return len(tail) == patience and all(h.decision == "Reject" for h in tail)


def plateau_near(iterations_without_improvement: int, patience: int) -> bool:
    """One more rejection would end the run: the iteration about to train is the last chance,
    so the loop tries more adapter capacity (see next_recipe)."""
    return iterations_without_improvement > 0 and iterations_without_improvement >= patience - 1
