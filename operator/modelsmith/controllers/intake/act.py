"""The ModelIntake controller's API side: read the object, write status, emit the Event and
wake the runs that name the intake."""

from __future__ import annotations

from typing import Any

from modelsmith.controllers.intake.decide import Outcome
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime

PLURAL = "modelintakes"


def read(namespace: str, name: str) -> dict[str, Any] | None:
    return kube.get_custom(PLURAL, namespace, name)


def write(rt: Runtime, body: dict[str, Any], outcome: Outcome) -> None:
    """Writes what changed in status (with its Event), then wakes the runs when readiness
    moved, even with nothing to write."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    written = rt.status.patch(PLURAL, body, outcome.status, guarded=False)
    if written is not None and outcome.event is not None:
        rt.events.emit(body, outcome.event.type, outcome.event.reason, outcome.event.message)
    if outcome.wake_runs:
        rt.queue.wake_referrers("iterationruns", namespace, "intakeRef", name)
