"""The ModelIntake controller's API side: read the object, write status, emit the Event and
wake the runs that name the intake."""

from __future__ import annotations

from typing import Any

from modelsmith import kube
from modelsmith.controllers.intake.decide import Outcome
from modelsmith.events import emit
from modelsmith.reconciler import RECONCILER
from modelsmith.statusdiff import merge_patch

PLURAL = "modelintakes"


def read(namespace: str, name: str) -> dict[str, Any] | None:
    return kube.get_custom(PLURAL, namespace, name)


def write(body: dict[str, Any], outcome: Outcome) -> None:
    """Writes what changed in status (with its Event), then wakes the runs when readiness
    moved, even with nothing to write."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    patch = merge_patch(body.get("status") or {}, outcome.status)
    if patch:
        RECONCILER.write_status(PLURAL, namespace, name, patch)
        if outcome.event is not None:
            emit(body, outcome.event.type, outcome.event.reason, outcome.event.message)
    if outcome.wake_runs:
        RECONCILER.wake_referrers("iterationruns", namespace, "intakeRef", name)
