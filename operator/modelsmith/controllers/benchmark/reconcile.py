"""One pass over a Benchmark: read it and its scenarios, decide its status, write it."""

from __future__ import annotations

from typing import Any

from modelsmith.api.benchmark import Benchmark
from modelsmith.benchmark.sources import BenchmarkSourceError
from modelsmith.controllers.benchmark import act
from modelsmith.controllers.benchmark.decide import decide, unreadable
from modelsmith.runtime.core import Runtime
from modelsmith.scenarios import SourceMissingError, fetch_scenarios


def reconcile(rt: Runtime, namespace: str, name: str) -> float | None:
    """Returns seconds until the next pass, or None to wait for a watch event."""
    body = act.read(rt, namespace, name)
    if body is None:
        return None
    benchmark = Benchmark.model_validate(body)
    old: dict[str, Any] = body.get("status") or {}
    generation = body["metadata"].get("generation")
    try:
        scenarios = fetch_scenarios(rt, benchmark, namespace)
    except BenchmarkSourceError as err:
        missing = isinstance(err, SourceMissingError)
        outcome = unreadable(
            benchmark, old, generation, str(err), missing, rt.settings.requeue_seconds
        )
    else:
        outcome = decide(benchmark, old, generation, scenarios, rt.settings.requeue_seconds)
    act.write(rt, body, old, outcome.status)
    return outcome.requeue
