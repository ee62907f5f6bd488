"""The Benchmark controller's API side: read the object and its scenarios, write status (the
status writer announces a change of readiness) and wake the intakes that record it."""

from __future__ import annotations

from typing import Any

from modelsmith.controllers.benchmark.decide import TRANSITIONS, wakes_intakes
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime

PLURAL = "benchmarks"


def read(rt: Runtime, namespace: str, name: str) -> dict[str, Any] | None:
    """The object from the watch cache, or from the API server when the cache has none."""
    return rt.cache.take(PLURAL, namespace, name) or kube.get_custom(PLURAL, namespace, name)


def write(rt: Runtime, body: dict[str, Any], old: dict[str, Any], status: dict[str, Any]) -> None:
    """Writes what changed in status; nothing when nothing did."""
    meta = body["metadata"]
    written = rt.status.patch(PLURAL, body, status, old=old, guarded=False, transitions=TRANSITIONS)
    if written is not None and wakes_intakes(old, status):
        rt.queue.wake_referrers("modelintakes", meta["namespace"], "benchmarkRef", meta["name"])
