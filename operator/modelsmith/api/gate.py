"""PromotionGate: who approved a candidate, on what evidence, and the record that follows.

The operator creates a PromotionGate when a candidate clears its intake's threshold. People sign
it off with annotations, one per role of the approver chain:

    approval.modelsmith.io/<role>: "<approved|rejected>:<username>:<evidence>"

where <evidence> is the first 12 hex characters of spec.evidence.digest (after `sha256:`), so an
approval names the exact evidence it was given on. For example:

    kubectl annotate promotiongate support-triage-run-1-iter-3 \\
        approval.modelsmith.io/domain-owner=approved:alice:0123456789ab

The admission policy shipped in the chart lets only the users and groups listed for <role> set
that annotation, with <username> equal to the requesting user. The operator enforces the chain
order and evidence freshness (and approval expiry, where spec.approvalTtlHours is set),
records each sign-off in status.approvals, and once every role has approved writes the promotion
record (write-once) and updates the serving pointer.

Rollback is an annotation too: `modelsmith.io/rollback: "<username>"`; the operator restores the
previous serving pointer and records the rollback in status.rollback.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from modelsmith.api.approvers import Approver, Username, approvers_field, require_unique_roles
from modelsmith.api.base import ApiModel
from modelsmith.api.common import (
    Blocker,
    Candidate,
    Condition,
    Digest,
    KubernetesObject,
    LocalObjectReference,
    Message,
    RollbackContract,
    ServingTarget,
    cel,
    conditions_field,
    immutable,
    list_map,
    observed_generation_field,
    validations,
)
from modelsmith.api.resource import AGE_COLUMN, PrinterColumn, ResourceKind
from modelsmith.api.store import GateStore

PROMOTION_RECORD_WRITE_ONCE = (
    "promotionRecord is write-once: once set it never changes or goes away"
)
NEW_GATE_HINT = "the operator creates a new PromotionGate for a new candidate"


# --- spec -----------------------------------------------------------------------------------


class EvidenceSummary(ApiModel):
    """The evidence bundle's digest and headline numbers, copied from the bundle."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.digest != oldSelf.digest || self == oldSelf",
                "evidence fields cannot change while the digest stays the same",
            )
        )
    )

    digest: Digest = Field(
        description="sha256 of the evidence bundle. Immutable: approvals name its first 12 hex "
        "characters.",
        json_schema_extra=validations(immutable(f"evidence digest is immutable; {NEW_GATE_HINT}")),
    )
    schema_version: str = Field(
        default="modelsmith.io/evidence/v1",
        max_length=128,
        description="The evidence bundle's schema.",
    )
    score: float = Field(ge=0, le=1, description="The candidate's overall score.")
    heldout_score: float | None = Field(
        default=None, ge=0, le=1, description="The candidate's held-out score."
    )
    baseline_score: float | None = Field(
        default=None, ge=0, le=1, description="The base model's overall score."
    )
    regression_count: int = Field(
        default=0,
        ge=0,
        description="Scenarios the base or previous candidate passed and this fails.",
    )
    latency_p95_ms: float | None = Field(
        default=None, ge=0, description="95th percentile latency per decision, in milliseconds."
    )
    cost_per_decision: float | None = Field(
        default=None, ge=0, description="Accelerator cost per decision (intake's price unit)."
    )


class PromotionGateSpec(ApiModel):
    """Written by the operator when it creates the gate; nothing in it changes afterwards."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "has(self.requestedBy) == has(oldSelf.requestedBy) && "
                "has(self.approvalTtlHours) == has(oldSelf.approvalTtlHours) && "
                "has(self.store) == has(oldSelf.store)",
                f"requestedBy, approvalTtlHours and store cannot be added or removed; "
                f"{NEW_GATE_HINT}",
            )
        )
    )

    run_ref: LocalObjectReference = Field(
        description="The IterationRun that produced the candidate.",
        json_schema_extra=validations(immutable(f"runRef is immutable; {NEW_GATE_HINT}")),
    )
    intake_ref: LocalObjectReference = Field(
        description="The ModelIntake the run belongs to.",
        json_schema_extra=validations(immutable(f"intakeRef is immutable; {NEW_GATE_HINT}")),
    )
    candidate: Candidate = Field(
        description="The candidate to promote. Immutable.",
        json_schema_extra=validations(immutable(f"candidate is immutable; {NEW_GATE_HINT}")),
    )
    evidence: EvidenceSummary = Field(description="The evidence the candidate is judged on.")
    approvers: list[Approver] = approvers_field(
        "The effective approver chain: the approver policies' roles, then the intake's own; "
        "order is sign-off order. Immutable.",
        immutable(f"approvers are immutable; {NEW_GATE_HINT}"),
    )
    requested_by: Username | None = Field(
        default=None,
        description="Who created the IterationRun (its modelsmith.io/requested-by annotation, "
        "which admission sets equal to the creating user). That user can never sign this gate. "
        "Immutable.",
        json_schema_extra=validations(immutable(f"requestedBy is immutable; {NEW_GATE_HINT}")),
    )
    approval_ttl_hours: int | None = Field(
        default=None,
        ge=1,
        le=8760,
        description="Approvals older than this expire: the smallest of the approver policies' "
        "and the intake's TTLs when the gate was staged; absent: never. Immutable.",
        json_schema_extra=validations(immutable(f"approvalTtlHours is immutable; {NEW_GATE_HINT}")),
    )
    rollback: RollbackContract = Field(
        description="The rollback contract copied from the intake.",
        json_schema_extra=validations(immutable(f"rollback is immutable; {NEW_GATE_HINT}")),
    )
    serving: ServingTarget = Field(
        description="The serving pointer promotion updates.",
        json_schema_extra=validations(immutable(f"serving is immutable; {NEW_GATE_HINT}")),
    )
    store: GateStore | None = Field(
        default=None,
        description="Where the evidence is: the object-store location the run was pinned to and "
        "the run key (its artefacts' prefix), recorded at staging, so the gate finds its "
        "evidence without its run. Absent on gates staged before store locations existed "
        "(their evidence is under runs/<namespace>/<run>/ in the operator's bucket). Immutable.",
        json_schema_extra=validations(immutable(f"store is immutable; {NEW_GATE_HINT}")),
    )

    @model_validator(mode="after")
    def _unique_roles(self) -> PromotionGateSpec:
        require_unique_roles(self.approvers)
        return self


# --- status ---------------------------------------------------------------------------------


class GateState(StrEnum):
    PENDING = "Pending"
    APPROVED = "Approved"
    REJECTED = "Rejected"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    BLOCKED = "Blocked"


class GateDecision(StrEnum):
    NONE = ""
    PROMOTE = "Promote"
    REJECT = "Reject"


class ApprovalDecision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    PENDING = "pending"


class Approval(ApiModel):
    """One role's sign-off as the operator read it from the annotations."""

    role: str = Field(max_length=40, description="The role in the approver chain.")
    user: Username | None = Field(default=None, description="Who signed (absent while pending).")
    decision: ApprovalDecision = Field(
        default=ApprovalDecision.PENDING, description="approved, rejected or pending."
    )
    at: datetime | None = Field(default=None, description="When the operator saw the sign-off.")
    evidence_digest: str | None = Field(
        default=None,
        max_length=71,
        description="The evidence digest prefix the approval named.",
    )
    valid: bool = Field(
        default=False,
        description="Whether the sign-off counts (right user, right order, current evidence, "
        "not expired).",
    )
    reason: Message = Field(default="", description="Why it does not count, when it does not.")


class RecordedApproval(ApiModel):
    """An approval as the promotion record keeps it."""

    role: str = Field(max_length=40, description="The role.")
    user: Username = Field(description="Who approved.")
    at: datetime = Field(description="When.")


class PromotionRecord(ApiModel):
    """The write-once record of a promotion, mirrored from object storage."""

    digest: Digest = Field(description="sha256 of the promotion record document.")
    time: datetime = Field(description="When the candidate was promoted.")
    candidate_label: str = Field(max_length=128, description="The promoted candidate's label.")
    candidate_digest: Digest | None = Field(
        default=None,
        description="sha256 of the promoted candidate's weights (spec.candidate.adapterDigest).",
    )
    evidence_digest: Digest = Field(description="The evidence bundle it was promoted on.")
    approvals: list[RecordedApproval] = Field(
        default_factory=list, max_length=8, description="The approvals that promoted it."
    )


class RollbackState(StrEnum):
    AVAILABLE = "Available"
    UNAVAILABLE = "Unavailable"
    IN_PROGRESS = "InProgress"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"


class RollbackStatus(ApiModel):
    """Written by the operator, including when it acts on the modelsmith.io/rollback
    annotation."""

    state: RollbackState = Field(
        default=RollbackState.UNAVAILABLE,
        description="Available (a previous pointer is retained), Unavailable, InProgress, "
        "RolledBack or Failed.",
    )
    at: datetime | None = Field(default=None, description="When the rollback happened.")
    by: Username | None = Field(default=None, description="Who asked for it.")
    record_digest: Digest | None = Field(
        default=None, description="sha256 of the rollback record in object storage."
    )


class PromotionGateStatus(ApiModel):
    """The gate's progress; the promotion record in it is write-once."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(oldSelf.promotionRecord) || (has(self.promotionRecord) && "
                "self.promotionRecord == oldSelf.promotionRecord)",
                PROMOTION_RECORD_WRITE_ONCE,
                field_path=".promotionRecord",
            ),
            cel(
                "!has(oldSelf.state) || oldSelf.state != 'Promoted' || "
                "(has(self.state) && self.state in ['Promoted', 'RolledBack'])",
                "a Promoted gate can only stay Promoted or become RolledBack",
                field_path=".state",
            ),
            cel(
                "!has(oldSelf.state) || oldSelf.state != 'RolledBack' || "
                "(has(self.state) && self.state == 'RolledBack')",
                "a RolledBack gate stays RolledBack",
                field_path=".state",
            ),
        )
    )

    observed_generation: int | None = observed_generation_field()
    conditions: list[Condition] = conditions_field()
    state: GateState | None = Field(
        default=None,
        description="Pending, Approved, Rejected, Promoted, RolledBack or Blocked.",
    )
    approvals: list[Approval] = Field(
        default_factory=list,
        max_length=8,
        description="Each role's sign-off, in chain order.",
        json_schema_extra=list_map("role"),
    )
    approvals_summary: str = Field(
        default="", max_length=16, description="Valid approvals over roles (e.g. 1/2)."
    )
    blockers: list[Blocker] = Field(
        default_factory=list, max_length=16, description="What stops promotion now."
    )
    decision: GateDecision = Field(
        default=GateDecision.NONE, description="Promote, Reject, or empty while undecided."
    )
    promotion_record: PromotionRecord | None = Field(
        default=None,
        description="Set once when the candidate is promoted; never changes afterwards.",
    )
    record_digest: Digest | None = Field(
        default=None,
        description="sha256 of the promotion record, recorded before the record is written: "
        "a record found in the store is accepted only if it matches.",
    )
    rollback: RollbackStatus | None = Field(
        default=None,
        description="The rollback posture: whether a rollback is possible, and whether one "
        "happened.",
    )


class PromotionGate(KubernetesObject):
    """A candidate awaiting sign-off, attached to its evidence digest."""

    kind: Literal["PromotionGate"] = Field(default="PromotionGate", description="PromotionGate.")
    spec: PromotionGateSpec = Field(description="The candidate, evidence and approver chain.")
    status: PromotionGateStatus | None = Field(default=None, description="Observed state.")


PROMOTION_GATE = ResourceKind(
    kind="PromotionGate",
    plural="promotiongates",
    short_name="gate",
    spec=PromotionGateSpec,
    status=PromotionGateStatus,
    description=(
        "A PromotionGate holds a candidate that cleared its intake's threshold, attached to the "
        "digest of its evidence bundle. Approvers sign off with annotations "
        '(approval.modelsmith.io/<role>: "<approved|rejected>:<username>:<first 12 hex of the '
        'evidence digest>"); the operator records each sign-off, writes a write-once promotion '
        "record, and rolls back on the modelsmith.io/rollback annotation."
    ),
    columns=(
        PrinterColumn("Status", "string", ".status.state", "Gate state."),
        PrinterColumn("Approvals", "string", ".status.approvalsSummary", "Valid approvals."),
        PrinterColumn("Decision", "string", ".status.decision", "Final decision."),
        PrinterColumn("Candidate", "string", ".spec.candidate.label", "Candidate label."),
        AGE_COLUMN,
        PrinterColumn("Run", "string", ".spec.runRef.name", "The IterationRun.", priority=1),
        PrinterColumn("Score", "number", ".spec.evidence.score", "Candidate score.", priority=1),
        PrinterColumn(
            "Evidence", "string", ".spec.evidence.digest", "Evidence digest.", priority=1
        ),
    ),
    validations=(
        cel(
            "!has(oldSelf.status) || !has(oldSelf.status.promotionRecord) || "
            "(has(self.status) && has(self.status.promotionRecord) && "
            "self.status.promotionRecord == oldSelf.status.promotionRecord)",
            PROMOTION_RECORD_WRITE_ONCE,
            field_path=".status.promotionRecord",
        ),
    ),
    selectable_fields=(".spec.runRef.name", ".spec.intakeRef.name"),
)
