"""IterationRun's status: the record of what happened in the loop and why, and the operator's
bookkeeping that it resumes from after a restart."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from modelsmith.api.base import ApiModel
from modelsmith.api.common import (
    Blocker,
    Candidate,
    Condition,
    Digest,
    Message,
    ObjectName,
    ScenarioId,
    Score,
    conditions_field,
    list_map,
    observed_generation_field,
)
from modelsmith.api.run_spec import Recipe
from modelsmith.api.store import PinnedStore


class Phase(StrEnum):
    """Staged, Plateaued, Failed and Stopped are final; Blocked and Suspended wait for someone
    to act; the others are in progress."""

    PENDING = "Pending"
    EVALUATING_BASELINE = "EvaluatingBaseline"
    TRAINING = "Training"
    ASSESSING = "Assessing"
    PROMOTION_STAGING = "PromotionStaging"
    STAGED = "Staged"
    PLATEAUED = "Plateaued"
    BLOCKED = "Blocked"
    FAILED = "Failed"
    STOPPED = "Stopped"
    SUSPENDED = "Suspended"


class PhaseTransition(ApiModel):
    """Written on every phase change, with an Event carrying the same reason."""

    from_phase: Phase | None = Field(
        default=None, alias="from", description="The phase left (absent for the first)."
    )
    to: Phase = Field(description="The phase entered.")
    reason: str = Field(
        min_length=1, max_length=128, description="A CamelCase code (e.g. ThresholdCleared)."
    )
    message: Message = Field(default="", description="Why, in plain words.")
    time: datetime = Field(description="When.")


class Scores(ApiModel):
    """Overall scores (0..1: share of scenarios passed)."""

    current: Score | None = Field(
        default=None, description="The latest assessed candidate (or the baseline at iteration 0)."
    )
    previous_accepted: Score | None = Field(
        default=None, description="The last accepted candidate, or the baseline if none."
    )
    baseline: Score | None = Field(default=None, description="The base model (iteration 0).")
    target: Score | None = Field(default=None, description="The intake's promotion threshold.")
    heldout: Score | None = Field(
        default=None, description="The latest candidate on the held-out split only."
    )


class FailureCluster(ApiModel):
    """The largest group of failing scenarios sharing values of the two cluster dimensions."""

    dimensions: dict[str, Annotated[str, Field(max_length=63)]] = Field(
        default_factory=dict,
        max_length=2,
        description="Dimension to value (e.g. capability: refunds, risk: high).",
    )
    failures: int = Field(default=0, ge=0, description="Failing scenarios in the cluster.")
    label: str = Field(
        default="", max_length=256, description="A readable name (e.g. refunds/high)."
    )
    scenario_ids: list[ScenarioId] = Field(
        default_factory=list,
        max_length=20,
        description="Failing scenario ids in the cluster (at most 20).",
    )


class CapacityState(StrEnum):
    SCHEDULED = "Scheduled"
    PENDING = "Pending"
    UNSCHEDULABLE = "Unschedulable"
    QUEUED = "Queued"
    INADMISSIBLE = "Inadmissible"
    PREEMPTED = "Preempted"
    UNKNOWN = "Unknown"


class Capacity(ApiModel):
    """Whether the current Job got the accelerators it asked for."""

    gpus_requested: int = Field(
        default=0,
        ge=0,
        description="GPUs the current Job requests over all its pods: a training step over "
        "several nodes counts each node's.",
    )
    resource_name: str | None = Field(
        default=None, max_length=253, description="The extended resource requested."
    )
    state: CapacityState = Field(
        default=CapacityState.UNKNOWN,
        description="Scheduled, Pending (waiting for its pod), Unschedulable (no node can take "
        "it), Queued (waiting for Kueue to admit it), Inadmissible (its Kueue queue cannot admit "
        "it: missing or stopped), Preempted (Kueue took its quota back; it waits to be admitted "
        "again) or Unknown.",
    )
    reason: Message = Field(default="", description="The scheduler's or queue's explanation.")
    queue: str | None = Field(
        default=None,
        max_length=317,
        description="The Kueue LocalQueue (`namespace/name`) the Job waits in, when it goes "
        "through one and is not running yet.",
    )
    queue_ahead: int | None = Field(
        default=None,
        ge=0,
        description="Workloads Kueue admits before it in its ClusterQueue (Kueue's visibility "
        "API); absent when that API does not answer.",
    )
    queue_quota: str | None = Field(
        default=None,
        max_length=317,
        description="The ClusterQueue's nominal quota of the GPU resource (`4 nvidia.com/gpu`).",
    )


class TrainingProgress(ApiModel):
    """As the trainer last reported it."""

    percent: float = Field(default=0, ge=0, le=100, description="Percent of steps done.")
    step: int = Field(default=0, ge=0, description="Steps done.")
    total_steps: int = Field(default=0, ge=0, description="Steps planned.")
    loss: float | None = Field(default=None, description="Latest training loss.")
    eta_seconds: float | None = Field(default=None, ge=0, description="Estimated seconds left.")
    updated_at: datetime | None = Field(default=None, description="When it was reported.")
    resumed_from_step: int | None = Field(
        default=None,
        ge=1,
        description="The checkpoint step this training attempt continued from (absent: it "
        "started at step 0).",
    )


class IterationRecord(ApiModel):
    """What one finished iteration produced and what was decided."""

    iteration: int = Field(ge=0, description="Iteration number (0 is the baseline).")
    score: Score | None = Field(default=None, description="Overall score.")
    heldout_score: Score | None = Field(default=None, description="Held-out split score.")
    accepted: bool = Field(default=False, description="Whether the candidate was accepted.")
    decision: str = Field(
        default="",
        max_length=63,
        description="The decision taken (e.g. Baseline, Accept, Reject, Stage, Plateau).",
    )
    reason: Message = Field(default="", description="Why.")
    regression_count: int = Field(default=0, ge=0, description="Scenarios that regressed.")
    recipe: str = Field(
        default="",
        max_length=512,
        description="A one-line summary of the recipe used (e.g. lora r8 a16 steps100 lr2e-4 "
        "weight3 on refunds/high).",
    )
    finished_at: datetime | None = Field(default=None, description="When it finished.")


class LedgerHead(ApiModel):
    """The newest ledger entry the run vouches for: the ledger is a hash chain (each entry
    carries its predecessor's digest), and this anchors its end in the cluster."""

    sequence: int = Field(ge=0, description="Its sequence number.")
    digest: Digest = Field(description="sha256 of the entry as stored.")


class LedgerPointer(ApiModel):
    """Where the full, append-only record of the run lives (inside the customer's bucket)."""

    entries: int = Field(default=0, ge=0, description="Entries written.")
    last_sequence: int | None = Field(
        default=None, ge=0, description="Sequence number of the newest entry."
    )
    location: str = Field(
        default="",
        max_length=512,
        description="A readable description of where the ledger lives (e.g. 'run ledger in the "
        "intake's object store'); never an object key.",
    )
    head: LedgerHead | None = Field(
        default=None, description="The chain's head: a rewritten entry no longer matches it."
    )


class JobMemory(ApiModel):
    """The Job the current phase launched, by phase, iteration and attempt: its name is derived
    from these, so status never carries it."""

    phase: Phase = Field(description="The phase that launched it.")
    iteration: int = Field(ge=0, description="Its iteration.")
    attempt: int = Field(ge=1, description="Its attempt (1 is the first).")
    launched_at: datetime = Field(description="When it was created.")
    accounted: bool = Field(
        default=False, description="Whether its GPU time is already in gpuSecondsUsed."
    )
    uid_digest: Digest | None = Field(
        default=None,
        description="sha256 of the UID of the Job the operator created (or adopted) for it: "
        "only that very object is observed or deleted as the run's.",
    )


class RunMemory(ApiModel):
    """Bookkeeping the operator resumes from after a restart."""

    accepted_iteration: int | None = Field(
        default=None, ge=0, description="Iteration of the best accepted model (0: the base)."
    )
    iterations_without_improvement: int = Field(
        default=0, ge=0, description="Assessed iterations since the last accepted improvement."
    )
    job: JobMemory | None = Field(default=None, description="The Job of the current phase.")
    recipe: Recipe | None = Field(default=None, description="The latest training recipe.")
    accepted_recipe: Recipe | None = Field(
        default=None, description="The recipe that produced the accepted candidate."
    )
    resume_phase: Phase | None = Field(
        default=None, description="Where a Blocked or Suspended run returns to."
    )
    retry_token: str | None = Field(
        default=None, max_length=253, description="The last retry request acted on."
    )
    ledger_sequence: int = Field(
        default=0, ge=0, description="The sequence number the next ledger entry gets."
    )


class StagedGate(ApiModel):
    """The PromotionGate this run staged, as the operator created it. The gate controller acts
    only on a gate that matches this record (and whose controller is this run): a gate made by
    anyone else is flagged and never promoted."""

    name: ObjectName = Field(description="The gate's name.")
    uid_digest: Digest = Field(
        description=(
            "sha256 of the gate's UID (status carries no UIDs): a gate deleted and made again "
            "under the name is not it."
        ),
    )
    evidence_digest: Digest = Field(description="The evidence bundle digest the gate carries.")


IterationDigests = Annotated[dict[str, Digest], Field(max_length=64)]
"""Iteration number (as a string: a map key) -> digest."""


class RunIntegrity(ApiModel):
    """The digests the cluster holds for what the run's Jobs and the operator wrote to the
    object store: each Job reports the sha256 of its results in its container termination
    message, and the operator records it here (by iteration) and checks every object it reads
    back against it (modelsmith.contract.integrity)."""

    scorecards: IterationDigests = Field(
        default_factory=dict, description="Each evaluation's scorecard, by iteration."
    )
    results: IterationDigests = Field(
        default_factory=dict, description="Each training Job's result document, by iteration."
    )
    lineages: IterationDigests = Field(
        default_factory=dict, description="Each candidate's lineage document, by iteration."
    )
    bundle_digest: Digest | None = Field(
        default=None,
        description="The evidence bundle, recorded before it is written: a bundle found in "
        "the store after a restart is reused only if it matches.",
    )


class PinnedInputs(ApiModel):
    """What the run started on, recorded when it left Pending and never changed after: every
    Job of the run reads these inputs, whatever happens to the objects it named."""

    intake_spec_digest: Digest = Field(
        description="sha256 of the ModelIntake's spec (canonical JSON) at the run's start. The "
        "operator keeps the spec itself in the run's store and reads it back only against this "
        "digest; an intake with another spec blocks the run (IntakeChanged)."
    )
    benchmark_digest: Digest = Field(
        description="The Benchmark's content digest (its status.digest) the run started on; "
        "the evidence bundle names it."
    )
    scenarios_digest: Digest = Field(
        description="sha256 of the scenario snapshot every evaluation Job reads and training "
        "material is built from (content-addressed: its name carries this digest)."
    )
    training_data_digest: Digest | None = Field(
        default=None,
        description="sha256 of the training data the intake names (absent: it names none), as "
        "read at the run's start. The operator keeps those bytes in the run's store and every "
        "training Job trains on them, read back only against this digest: an edited source "
        "changes nothing the run trains on.",
    )
    pinned_at: datetime = Field(description="When the run pinned them.")


class IterationRunStatus(ApiModel):
    """The operator's memory of the run; it resumes from here after a restart."""

    observed_generation: int | None = observed_generation_field()
    conditions: list[Condition] = conditions_field()
    phase: Phase | None = Field(default=None, description="Where the run is.")
    last_transition: PhaseTransition | None = Field(
        default=None, description="The latest phase change and its reason."
    )
    iteration: int = Field(default=0, ge=0, description="The current iteration (0: baseline).")
    attempt: int = Field(
        default=0, ge=0, description="Job attempt within the current phase (1 is the first)."
    )
    scores: Scores = Field(
        default_factory=Scores, description="The scores the next decision is taken on."
    )
    regression_count: int = Field(
        default=0, ge=0, description="Scenarios the current candidate fails that passed before."
    )
    regressions: list[ScenarioId] = Field(
        default_factory=list, max_length=40, description="Their ids (at most 40)."
    )
    strongest_failure_cluster: FailureCluster | None = Field(
        default=None, description="Where the current candidate fails most."
    )
    capacity: Capacity | None = Field(default=None, description="Accelerator capacity.")
    training: TrainingProgress | None = Field(
        default=None, description="Progress of the current training Job."
    )
    blocked_by: Blocker | None = Field(
        default=None,
        description="Why the run is blocked (absent or null when it is not).",
        json_schema_extra={"nullable": True},
    )
    next_action: str = Field(
        default="",
        max_length=1024,
        description="What happens next, or what a person should do (e.g. add training material "
        "for refunds/high).",
    )
    history: list[IterationRecord] = Field(
        default_factory=list,
        max_length=10,
        description="The latest 10 iterations; the ledger holds them all.",
        json_schema_extra=list_map("iteration"),
    )
    ledger: LedgerPointer | None = Field(default=None, description="Where the full record lives.")
    integrity: RunIntegrity | None = Field(
        default=None, description="Digests of what the run wrote to the object store."
    )
    candidate: Candidate | None = Field(
        default=None, description="The best accepted candidate so far."
    )
    gate_name: ObjectName | None = Field(
        default=None, description="The PromotionGate created for the staged candidate."
    )
    gate: StagedGate | None = Field(
        default=None, description="What the operator staged: the only gate it acts on."
    )
    started_at: datetime | None = Field(default=None, description="When the run started.")
    store: PinnedStore | None = Field(
        default=None,
        description="The object-store location (bucket and the target's prefix) the run "
        "resolved from its ExecutionTarget when it started; kept whatever the target says later.",
    )
    pinned: PinnedInputs | None = Field(
        default=None, description="The inputs the run started on (set when it leaves Pending)."
    )
    gpu_seconds_used: float = Field(
        default=0, ge=0, description="GPU-seconds used by all the run's Jobs."
    )
    memory: RunMemory | None = Field(
        default=None, description="The operator's bookkeeping between reconciles."
    )
