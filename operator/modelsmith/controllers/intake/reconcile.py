"""One pass over a ModelIntake: read what it names, decide its validation, write status."""

from __future__ import annotations

from modelsmith.api.intake import ModelIntake
from modelsmith.controllers.intake import act
from modelsmith.controllers.intake.decide import decide
from modelsmith.controllers.intake.observe import observe
from modelsmith.runtime.core import Runtime


def reconcile(rt: Runtime, namespace: str, name: str) -> float | None:
    """Returns seconds until the next pass, or None to wait for a watch event."""
    body = act.read(namespace, name)
    if body is None:
        return None
    intake = ModelIntake.model_validate(body)
    observed = observe(rt.store, intake, namespace)
    outcome = decide(
        intake, namespace, body, observed, rt.settings.bucket, rt.settings.requeue_seconds
    )
    act.write(rt, body, outcome)
    return outcome.requeue
