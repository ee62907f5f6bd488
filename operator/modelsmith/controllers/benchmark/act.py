"""The Benchmark controller's API side: read the object and its scenarios, write status, wake
the intakes that record it and emit an Event when readiness changes."""

from __future__ import annotations

from typing import Any

from modelsmith import kube, watched
from modelsmith.controllers.benchmark.decide import transition_event, wakes_intakes
from modelsmith.events import emit
from modelsmith.reconciler import RECONCILER
from modelsmith.statusdiff import merge_patch

PLURAL = "benchmarks"


def read(namespace: str, name: str) -> dict[str, Any] | None:
    """The object from the watch cache, or from the API server when the cache has none."""
    return watched.take(PLURAL, namespace, name) or kube.get_custom(PLURAL, namespace, name)


def write(body: dict[str, Any], old: dict[str, Any], status: dict[str, Any]) -> None:
    """Writes what changed in status; nothing when nothing did."""
    meta = body["metadata"]
    patch = merge_patch(old, status)
    if not patch:
        return
    RECONCILER.write_status(PLURAL, meta["namespace"], meta["name"], patch)
    if wakes_intakes(old, status):
        RECONCILER.wake_referrers("modelintakes", meta["namespace"], "benchmarkRef", meta["name"])
    event = transition_event(old, status)
    if event is not None:
        emit(body, event.type, event.reason, event.message)
