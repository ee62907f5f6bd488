"""IterationRun: one specialisation loop, and the record of what happened in it and why.

The spec's models are in modelsmith.api.run_spec and the status's in modelsmith.api.run_status;
this module puts them together into the kind the CRD is generated from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelsmith.api.common import KubernetesObject
from modelsmith.api.resource import AGE_COLUMN, PrinterColumn, ResourceKind
from modelsmith.api.run_spec import IterationRunSpec
from modelsmith.api.run_status import IterationRunStatus

# Who created the run: admission (modelsmith-run-requester) makes it equal to the creating user
# and keeps it from changing; that user can never sign the run's PromotionGate.
REQUESTED_BY_ANNOTATION = "modelsmith.io/requested-by"


class IterationRun(KubernetesObject):
    """One specialisation loop: baseline, train, assess, decide, until staged or stopped."""

    kind: Literal["IterationRun"] = Field(default="IterationRun", description="IterationRun.")
    spec: IterationRunSpec = Field(description="The loop's limits and recipe.")
    status: IterationRunStatus | None = Field(default=None, description="Observed state.")


ITERATION_RUN = ResourceKind(
    kind="IterationRun",
    plural="iterationruns",
    short_name="irun",
    spec=IterationRunSpec,
    status=IterationRunStatus,
    description=(
        "An IterationRun drives one specialisation loop for a ModelIntake: it evaluates the "
        "base model, then trains and assesses candidates iteration by iteration, deciding each "
        "time from the evidence, until a candidate clears the threshold (Staged, with a "
        "PromotionGate) or the run stops (Plateaued, budget, max iterations) or blocks."
    ),
    columns=(
        PrinterColumn("Phase", "string", ".status.phase", "Where the run is."),
        PrinterColumn("Iteration", "integer", ".status.iteration", "Current iteration."),
        PrinterColumn("Score", "number", ".status.scores.current", "Latest overall score."),
        PrinterColumn("Heldout", "number", ".status.scores.heldout", "Latest held-out score."),
        PrinterColumn("Target", "number", ".status.scores.target", "Promotion threshold."),
        PrinterColumn("Blocked", "string", ".status.blockedBy.kind", "Blocker kind, if any."),
        AGE_COLUMN,
        PrinterColumn("Next", "string", ".status.nextAction", "Next action.", priority=1),
        PrinterColumn("Intake", "string", ".spec.intakeRef.name", "The ModelIntake.", priority=1),
        PrinterColumn(
            "Gate", "string", ".status.gateName", "The PromotionGate, once staged.", priority=1
        ),
    ),
    selectable_fields=(".spec.intakeRef.name",),
)
