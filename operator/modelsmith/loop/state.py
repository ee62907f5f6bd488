"""The run's memory between reconciles (IterationRun status), and the pieces it is made of."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Final

from pydantic import Field

from modelsmith.loop.clusters import Cluster
from modelsmith.loop.model import LoopModel
from modelsmith.loop.phases import Phase
from modelsmith.loop.reasons import Reason
from modelsmith.loop.recipe import Recipe

HISTORY_LIMIT: Final = 10
"""Status keeps the latest iterations only; the ledger keeps all of them."""


class Scores(LoopModel):
    current: float | None = None
    """The latest evaluated model (the baseline at iteration 0)."""
    previous_accepted: float | None = None
    """The last accepted candidate, or the baseline when none is."""
    baseline: float | None = None
    target: float | None = None
    heldout: float | None = None
    """The latest evaluated model on the held-out split only."""


class BlockKind(StrEnum):
    QUALITY = "quality"
    GOVERNANCE = "governance"
    INFRASTRUCTURE = "infrastructure"


class BlockedBy(LoopModel):
    kind: BlockKind
    reason: Reason
    message: str


BLOCK_KINDS: Final[Mapping[Reason, BlockKind]] = {
    Reason.UNSCHEDULABLE: BlockKind.INFRASTRUCTURE,
    Reason.QUEUE_INADMISSIBLE: BlockKind.INFRASTRUCTURE,
    Reason.RETRY_BUDGET_EXHAUSTED: BlockKind.INFRASTRUCTURE,
    Reason.OBJECT_STORE_UNAVAILABLE: BlockKind.INFRASTRUCTURE,
    Reason.CONTAMINATION: BlockKind.QUALITY,
    Reason.GATE_REJECTED: BlockKind.GOVERNANCE,
    Reason.GATE_BLOCKED: BlockKind.GOVERNANCE,
    Reason.JOB_NAME_TAKEN: BlockKind.GOVERNANCE,
    Reason.OPERATOR_NOT_PERMITTED: BlockKind.GOVERNANCE,
    Reason.CREDENTIAL_REPLACED: BlockKind.GOVERNANCE,
    Reason.EVIDENCE_TAMPERED: BlockKind.GOVERNANCE,
    Reason.EXECUTION_TARGET_NOT_ALLOWED: BlockKind.GOVERNANCE,
    Reason.EXECUTION_TARGET_MISSING: BlockKind.GOVERNANCE,
    # A reconcile that raised: who has to act (modelsmith.runtime.errors).
    Reason.STORED_OBJECT_INVALID: BlockKind.QUALITY,
    Reason.EVIDENCE_REFUSED: BlockKind.QUALITY,
    Reason.EVIDENCE_INCOMPLETE: BlockKind.INFRASTRUCTURE,
    Reason.OBJECT_STORE_ERROR: BlockKind.INFRASTRUCTURE,
    Reason.API_REFUSED: BlockKind.GOVERNANCE,
    Reason.API_UNAVAILABLE: BlockKind.INFRASTRUCTURE,
    Reason.INTERNAL_ERROR: BlockKind.INFRASTRUCTURE,
    Reason.INTAKE_MISSING: BlockKind.GOVERNANCE,
    Reason.INTAKE_CHANGED: BlockKind.GOVERNANCE,
    Reason.BENCHMARK_MISSING: BlockKind.GOVERNANCE,
}
"""Every reason the run can be Blocked for, and its kind: the kind is never chosen ad hoc."""

RECONCILE_ERRORS: Final = frozenset(
    {
        Reason.STORED_OBJECT_INVALID,
        Reason.EVIDENCE_REFUSED,
        Reason.EVIDENCE_INCOMPLETE,
        Reason.OBJECT_STORE_ERROR,
        Reason.API_REFUSED,
        Reason.API_UNAVAILABLE,
        Reason.INTERNAL_ERROR,
    }
)
"""Blocks the operator records when a reconcile raised (modelsmith.runtime.errors), not
decisions of the loop (no transition, no ledger entry): the next reconcile decides again from the
phase the run was in (decide's `_unwrapped`), and a failing step blocks it again (a backoff that
grows spaces the tries)."""


def blocked_by(reason: Reason, message: str) -> BlockedBy:
    try:
        kind = BLOCK_KINDS[reason]
    except KeyError:
        raise ValueError(f"{reason} is not a reason the run blocks for") from None
    return BlockedBy(kind=kind, reason=reason, message=message)


class HistoryEntry(LoopModel):
    """One finished iteration (IterationRecord in the IterationRun status)."""

    iteration: int = Field(ge=0)
    score: float | None = None
    heldout_score: float | None = None
    accepted: bool = False
    decision: str
    """Baseline, Accept, Reject or Stage (accepted and staged for promotion)."""
    reason: str = ""
    regression_count: int = Field(default=0, ge=0)
    recipe: str = ""
    finished_at: datetime | None = None


def append_history(
    history: Sequence[HistoryEntry], entry: HistoryEntry, limit: int = HISTORY_LIMIT
) -> tuple[HistoryEntry, ...]:
    """The history with `entry` added (replacing an entry for the same iteration, so a replayed
    decision cannot list an iteration twice), oldest dropped past `limit`."""
    kept = [h for h in history if h.iteration != entry.iteration]
    return tuple([*kept, entry][-limit:])


class JobRef(LoopModel):
    """The Job the current phase launched: enough to find it again after a restart."""

    name: str
    phase: Phase
    iteration: int = Field(ge=0)
    attempt: int = Field(ge=1)
    launched_at: datetime
    accounted: bool = False
    """Its GPU time is already in gpuSecondsUsed (a replayed outcome must not add it twice)."""


class Transition(LoopModel):
    from_phase: Phase | None = Field(default=None, alias="from")
    to: Phase
    reason: Reason
    message: str
    time: datetime


class RunState(LoopModel):
    """What `decide` needs to remember. A fresh run is `RunState()`; the run controller
    persists the state a decision returns and passes it back next time."""

    phase: Phase = Phase.PENDING
    iteration: int = Field(default=0, ge=0)
    attempt: int = Field(default=0, ge=0)
    scores: Scores = Scores()
    accepted_iteration: int | None = None
    """The iteration of the best accepted model: 0 is the base model itself."""
    iterations_without_improvement: int = Field(default=0, ge=0)
    regression_count: int = Field(default=0, ge=0)
    regressions: tuple[str, ...] = ()
    strongest_failure_cluster: Cluster | None = None
    gpu_seconds_used: float = Field(default=0.0, ge=0)
    started_at: datetime | None = None
    history: tuple[HistoryEntry, ...] = ()
    last_transition: Transition | None = None
    job: JobRef | None = None
    recipe: Recipe | None = None
    """The recipe of the latest training iteration."""
    accepted_recipe: Recipe | None = None
    """The recipe that produced the accepted candidate; None while the base model is best."""
    blocked_by: BlockedBy | None = None
    resume_phase: Phase | None = None
    """Where Blocked or Suspended returns to."""
    gate_name: str | None = None
    ledger_sequence: int = Field(default=0, ge=0)
    """The sequence number the next ledger entry gets."""
    retry_token: str | None = None
    """The last retry request acted on (see Observation.retry_request)."""
