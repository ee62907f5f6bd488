"""The ModelIntake controller's API side: read the object, write status (the status writer
announces a change of readiness) and wake the runs that name the intake."""

from __future__ import annotations

from typing import Any

from modelsmith.controllers.intake.decide import TRANSITIONS, Outcome
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime

PLURAL = "modelintakes"


def read(namespace: str, name: str) -> dict[str, Any] | None:
    return kube.get_custom(PLURAL, namespace, name)


def write(rt: Runtime, body: dict[str, Any], outcome: Outcome) -> None:
    """Writes what changed in status, then wakes the runs when readiness moved, even with
    nothing to write."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    rt.status.patch(PLURAL, body, outcome.status, guarded=False, transitions=TRANSITIONS)
    if outcome.wake_runs:
        rt.queue.wake_referrers("iterationruns", namespace, "intakeRef", name)
