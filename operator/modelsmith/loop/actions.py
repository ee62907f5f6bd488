"""What a decision asks the run controller to do. Each action is idempotent by name, so a
controller that crashes halfway and reconciles again from the old state repeats them harmlessly."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from modelsmith.loop.ledger import LedgerEntry
from modelsmith.loop.model import LoopModel
from modelsmith.loop.phases import Phase
from modelsmith.loop.recipe import Recipe


class LaunchJob(LoopModel):
    """Create the Job `name` (AlreadyExists is success), writing its spec first."""

    action: Literal["LaunchJob"] = "LaunchJob"
    name: str
    kind: Literal["train", "eval"]
    phase: Phase
    iteration: int = Field(ge=0)
    attempt: int = Field(ge=1)
    model_iteration: int | None = None
    """eval: the candidate of this iteration to evaluate; None evaluates the base model."""
    init_from_iteration: int | None = None
    """train: continue from the accepted candidate of this iteration; None starts from base."""
    recipe: Recipe | None = None
    weights: dict[str, float] | None = None
    """train: sampling weight per train scenario id; held-out ids never appear."""


class WriteLedger(LoopModel):
    """Write the entry write-once at its sequence number (an existing entry is success)."""

    action: Literal["WriteLedger"] = "WriteLedger"
    entry: LedgerEntry


class StageGate(LoopModel):
    """Build the evidence bundle for the candidate and create the PromotionGate `name`."""

    action: Literal["StageGate"] = "StageGate"
    name: str
    iteration: int = Field(ge=1)
    score: float
    heldout_score: float | None
    baseline_score: float | None
    regression_count: int = Field(ge=0)


class DeleteJob(LoopModel):
    """Delete a Job that must not run: one the run stopped waiting for, or one it counted as
    lost before launching its successor (NotFound is success)."""

    action: Literal["DeleteJob"] = "DeleteJob"
    name: str


Action = Annotated[LaunchJob | WriteLedger | StageGate | DeleteJob, Field(discriminator="action")]
