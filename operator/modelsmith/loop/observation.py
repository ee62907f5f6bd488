"""What the run controller saw this reconcile. It gathers these facts; `decide` interprets
them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Final

from pydantic import Field

from modelsmith.contract.scorecard import Scorecard
from modelsmith.loop.model import LoopModel
from modelsmith.loop.queue import QueueObservation
from modelsmith.loop.reasons import Reason

RETRY_ANNOTATION: Final = "modelsmith.io/retry"
"""Setting this annotation on the run to a new value asks a run Blocked past its Job retry
budget to try again; the run controller passes the value as Observation.retry_request."""


class IntakeReadiness(LoopModel):
    ready: bool
    reason: str | None = None
    """The intake's Ready condition reason (a CamelCase code) when it is not ready."""


class JobState(StrEnum):
    NONE = "None"
    """No Job by that name exists (not created yet, or deleted)."""
    PENDING = "Pending"
    """Created, not running yet, and not known to be unschedulable (e.g. queued)."""
    UNSCHEDULABLE = "Unschedulable"
    """Its pod carries PodScheduled=False with reason Unschedulable."""
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    FOREIGN = "Foreign"
    """A Job holds the name, but its labels or owner say it is not this run's: never adopted,
    observed or deleted (JobObservation.reason says why)."""


class JobSummary(LoopModel):
    """From the container's termination message and the Job's timestamps."""

    gpu_seconds: float = Field(default=0.0, ge=0)
    """GPU-seconds the Job held: wall time x GPUs requested (0 on CPU)."""
    contaminated: bool = False
    """The trainer's or evaluator's overlap check found held-out material in training data."""
    overlapping: tuple[str, ...] = ()
    """The held-out scenario ids that check named (`contamination_ids`), for the block message:
    ids are labels, never scenario text."""
    reported: dict[str, str] = Field(default_factory=dict)
    """The digests the Job reported of what it wrote (contract.integrity.reported_digests)."""
    resumed_from_step: int | None = Field(default=None, ge=1)
    """A training Job that continued from a checkpoint: its step (the ledger records it)."""


class JobObservation(LoopModel):
    name: str
    """The Job looked up, by the name in RunState.job; a different name is ignored."""
    state: JobState
    scheduler_message: str | None = None
    """The scheduler's PodScheduled message when unschedulable (interpreted, never shown)."""
    nodes_not_ready: int = Field(default=0, ge=0)
    """When unschedulable: nodes that could run the Job (for a GPU Job, those with the GPU
    resource) whose Ready condition is not True. Since Kubernetes 1.34 the scheduler's message
    says only "untolerated taint(s)", so it cannot tell a NotReady node from a missing
    toleration by itself."""
    exit_code: int | None = None
    """The container's exit code when failed; None when it never ran to an exit (eviction,
    activeDeadlineSeconds, image pull)."""
    reason: str | None = None
    """The Job's Failed condition reason or the container's terminated reason (CamelCase,
    e.g. BackoffLimitExceeded, DeadlineExceeded, OOMKilled); for a Foreign Job, in words, what
    says it is not this run's."""
    waiting_reason: str | None = None
    """While the Job's newest pod has not started: the reason one of its containers waits with
    (CamelCase, e.g. ErrImagePull, CreateContainerConfigError, ContainerCreating)."""
    waiting_since: datetime | None = None
    """When that pod was scheduled (its containers could start from then); timezone-aware."""
    attempts_exhausted: bool = True
    """False while the Job's own pod retries (backoffLimit) continue: the run keeps waiting."""
    summary: JobSummary | None = None
    queue: QueueObservation | None = None
    """While a Job that goes through a Kueue queue is not running: what Kueue made of it."""


class GateOutcome(StrEnum):
    """The PromotionGate's state, as far as the run cares."""

    PENDING = "Pending"
    APPROVED = "Approved"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    REJECTED = "Rejected"
    BLOCKED = "Blocked"


class GateObservation(LoopModel):
    name: str
    outcome: GateOutcome
    awaiting_role: str | None = None
    """The next role in the approver chain whose sign-off is missing."""
    blocker_reason: str | None = None
    """When the gate is Blocked: its blocker's CamelCase reason (e.g. ApprovalExpired)."""


class LaunchRefusal(LoopModel):
    """The intake may not use its ExecutionTarget now (the target is gone, no longer selects the
    run's namespace, or allows fewer GPUs than the intake asks for)."""

    reason: Reason
    """EXECUTION_TARGET_NOT_ALLOWED or EXECUTION_TARGET_MISSING."""
    message: str
    """Names the target and the rule."""


class InputProblem(LoopModel):
    """A started run's inputs are not as pinned (loop/pinning.py)."""

    reason: Reason
    """IntakeMissing, IntakeChanged or BenchmarkMissing."""
    message: str
    """Names the object (by name) and what is wrong with it."""


class Observation(LoopModel):
    intake: IntakeReadiness
    job: JobObservation | None = None
    """The Job named by RunState.job, when the state names one."""
    scorecard: Scorecard | None = None
    """The scorecard of the current iteration, once its evaluation Job succeeded."""
    accepted_scorecard: Scorecard | None = None
    """The scorecard of RunState.accepted_iteration, whenever that is set."""
    object_store_reachable: bool = True
    object_store_refusal: str | None = None
    """Why the operator refused what the store holds (an object over its read limit), when
    that, not an outage, is what makes the store unusable."""
    suspended: bool = False
    gate: GateObservation | None = None
    retry_request: str | None = None
    """The RETRY_ANNOTATION value, if set."""
    rbac_refusal: str | None = None
    """Why the operator may not create the run's Jobs where they run (its RBAC there), in
    words; looked up when a decision would launch, and while the run is blocked on it. Unlike
    launch_refusal, the run blocks from where it was (nothing that step decided stands) and
    resumes by replaying the step (OperatorNotPermitted, polled: no watch sees RBAC change)."""
    tampered: str | None = None
    """An object the run reads back does not match the digest the cluster holds for it
    (contract.integrity): what, in words. The run blocks (governance, EvidenceTampered) and
    stays blocked: nothing it decides from the store can be trusted any more."""
    launch_refusal: LaunchRefusal | None = None
    """Set when the target, read afresh, refuses the intake: a decision that would launch a Job
    blocks instead (governance), and a run so blocked resumes once this is None again. The run
    controller reads the target before every launch and while a run is so blocked."""
    input_problem: InputProblem | None = None
    """Set once the run has started (status.pinned) when its intake is gone or has another
    spec than the pinned one, or its Benchmark is gone."""
