"""What promoting or rolling back leads to, once `act` has done the work. Pure.

Object locations stay in the serving ConfigMap (pointer.py) and in the object store: status,
Events and metrics carry only readable labels and digests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from modelsmith.api.common import Blocker, BlockerKind
from modelsmith.api.gate import (
    Approval,
    GateDecision,
    GateState,
    PromotionGate,
    RollbackState,
)
from modelsmith.contract import integrity
from modelsmith.controllers.gate.pointer import PointerState, ServingPointer, pointer_of
from modelsmith.runtime.conditions import set_condition
from modelsmith.serving import SERVING_TARGET_MISSING, ServingRefusal

PROMOTION_SCHEMA = "modelsmith.io/promotion-record/v1"
ROLLBACK_SCHEMA = "modelsmith.io/rollback-record/v1"

PROMOTED_CONDITION = "Promoted"
"""The condition a gate ends in: True once promoted, else why not (yet), or rolled back."""
ROLLBACK_CONDITION = "RolledBack"
"""The condition a rollback request ends in: True once rolled back, else why not (yet)."""

# Condition reasons beyond the chain's blocker reasons.
AWAITING_APPROVAL = "AwaitingApproval"
APPROVED = "Approved"
PROMOTING = "Promoting"
PROMOTED = "Promoted"
OBJECT_STORE_UNAVAILABLE = "ObjectStoreUnavailable"
RECORD_CONFLICT = "RecordConflict"
OPERATOR_NOT_PERMITTED = "OperatorNotPermitted"
ROLLBACK_FAILED = "RollbackFailed"
ROLLED_BACK = "RolledBack"
EVIDENCE_TAMPERED = integrity.EVIDENCE_TAMPERED


class Failure(StrEnum):
    """Why an approved promotion could not finish this time (it is tried again)."""

    STORE_UNAVAILABLE = OBJECT_STORE_UNAVAILABLE
    TAMPERED = EVIDENCE_TAMPERED
    RECORD_CONFLICT = RECORD_CONFLICT
    NOT_PERMITTED = OPERATOR_NOT_PERMITTED
    TARGET_MISSING = SERVING_TARGET_MISSING


def failure_blocker(failure: Failure, pointer: ServingPointer, detail: str = "") -> Blocker:
    """The blocker a failure shows; `detail` is the tamper's own message."""
    governance, infrastructure = BlockerKind.GOVERNANCE, BlockerKind.INFRASTRUCTURE
    namespace = pointer.namespace
    kind, message = {
        Failure.STORE_UNAVAILABLE: (
            infrastructure,
            "the candidate is approved, but the object store is unreachable, so the promotion "
            "record cannot be written; promotion resumes when it is back",
        ),
        Failure.TAMPERED: (governance, detail),
        Failure.RECORD_CONFLICT: (
            governance,
            "a promotion record already exists for this run with another gate or evidence; "
            "nothing was promoted",
        ),
        Failure.NOT_PERMITTED: (
            governance,
            f"the operator may not move the serving pointer in namespace {namespace} (no "
            "RoleBinding there to its operator-workloads ClusterRole; a platform admin lists the "
            "namespace in the chart's operator.workloadNamespaces); promotion resumes once it may",
        ),
        Failure.TARGET_MISSING: (
            infrastructure,
            f"the serving pointer cannot be written: namespace {namespace} was not found; "
            "promotion resumes once it can",
        ),
    }[failure]
    return Blocker(kind=kind, reason=failure.value, message=message)


def refusal_blocker(refusal: ServingRefusal) -> Blocker:
    """Serving consent withheld: the pointer is not one promotion may move."""
    return Blocker(kind=BlockerKind.GOVERNANCE, reason=refusal.reason, message=refusal.message)


def blocked(status: dict[str, Any], blocker: Blocker, generation: int | None) -> dict[str, Any]:
    """Approved, but promotion cannot finish now: the status that says why."""
    status = {**status, "blockers": [blocker.wire()]}
    status["conditions"] = set_condition(
        status.get("conditions"),
        PROMOTED_CONDITION,
        False,
        blocker.reason,
        blocker.message,
        generation,
    )
    return status


def belongs(record: dict[str, Any], gate: PromotionGate) -> bool:
    """Whether a stored promotion record is this gate's, for the evidence its approvers signed."""
    return (record.get("gate") or {}).get("name") == gate.name and record.get(
        "evidenceDigest"
    ) == gate.spec.evidence.digest


def promotion_document(
    gate: PromotionGate,
    uid: str | None,
    approvals: tuple[Approval, ...],
    now: datetime,
    location: str,
    current: PointerState,
) -> dict[str, Any]:
    """The promotion record, written once. `before` is what the pointer held before this
    promotion, even when an earlier attempt already moved it to `location`."""
    before = {
        "value": current.value or "",
        "candidate": current.candidate or "",
        "digest": current.digest or "",
    }
    if current.value == location:
        before = {
            "value": current.previous or "",
            "candidate": current.previous_candidate or "",
            "digest": current.previous_digest or "",
        }
    pointer = pointer_of(gate)
    return {
        "schema": PROMOTION_SCHEMA,
        "gate": {"namespace": gate.namespace, "name": gate.name, "uid": uid},
        "run": gate.spec.run_ref.name,
        "intake": gate.spec.intake_ref.name,
        "candidate": gate.spec.candidate.wire(),
        "evidenceDigest": gate.spec.evidence.digest,
        "approvals": [{"role": a.role, "user": a.user, "at": iso(a.at)} for a in approvals],
        "time": iso(now),
        "serving": {
            "configMap": pointer.wire(),
            "retainPrevious": gate.spec.rollback.retain_previous,
            "before": before,
            "after": {
                "value": location,
                "candidate": gate.spec.candidate.label,
                "digest": gate.spec.candidate.adapter_digest or "",
            },
        },
    }


def promoted(
    status: dict[str, Any],
    record: dict[str, Any],
    digest: str,
    gate: PromotionGate,
    generation: int | None,
) -> dict[str, Any]:
    """The status once the pointer serves the candidate: Promoted, mirroring the record."""
    retain = gate.spec.rollback.retain_previous
    status = {
        **status,
        "state": GateState.PROMOTED.value,
        "decision": GateDecision.PROMOTE.value,
        "promotionRecord": {
            "digest": digest,
            "time": record["time"],
            "candidateLabel": record["candidate"]["label"],
            "candidateDigest": record["candidate"].get("adapterDigest"),
            "evidenceDigest": record["evidenceDigest"],
            "approvals": [
                {"role": a["role"], "user": a["user"], "at": a["at"]} for a in record["approvals"]
            ],
        },
        "rollback": {
            "state": (RollbackState.AVAILABLE.value if retain else RollbackState.UNAVAILABLE.value)
        },
    }
    signed = ", ".join(f"{a['role']} ({a['user']})" for a in record["approvals"])
    message = f"candidate {gate.spec.candidate.label} is now served, approved by {signed}"
    status["conditions"] = set_condition(
        status.get("conditions"), PROMOTED_CONDITION, True, PROMOTED, message, generation
    )
    return status


def rollback_failed(
    status: dict[str, Any],
    conditions: list[dict[str, Any]] | None,
    by: str | None,
    message: str,
    generation: int | None,
) -> dict[str, Any]:
    """The rollback was refused: the serving pointer stays as it is, and status says why."""
    rollback = {**(status.get("rollback") or {}), "state": RollbackState.FAILED.value, "by": by}
    failed = set_condition(
        conditions, ROLLBACK_CONDITION, False, ROLLBACK_FAILED, message, generation
    )
    return {**status, "rollback": rollback, "conditions": failed}


def rollback_document(
    gate: PromotionGate,
    uid: str | None,
    promotion_digest: str | None,
    by: str,
    now: datetime,
    location: str,
    current: PointerState,
) -> dict[str, Any]:
    """The rollback record, written once: the pointer goes back to what it replaced."""
    label = gate.spec.candidate.label
    return {
        "schema": ROLLBACK_SCHEMA,
        "gate": {"namespace": gate.namespace, "name": gate.name, "uid": uid},
        "run": gate.spec.run_ref.name,
        "candidate": gate.spec.candidate.wire(),
        "promotionRecordDigest": promotion_digest,
        "requestedBy": by,
        "time": iso(now),
        "serving": {
            "configMap": pointer_of(gate).wire(),
            "before": {
                "value": location,
                "candidate": label,
                "digest": gate.spec.candidate.adapter_digest or "",
            },
            "after": {
                "value": current.previous or "",
                "candidate": current.previous_candidate or "",
                "digest": current.previous_digest or "",
            },
        },
    }


def moved_on(label: str, current: PointerState, location: str) -> str | None:
    """Why the pointer is no longer this candidate's to roll back (None: it still is)."""
    if not current.exists:
        return (
            f"candidate {label} cannot be rolled back: the serving pointer ConfigMap no longer "
            "exists"
        )
    if current.value != location:
        return names_another(label)
    return None


def names_another(label: str) -> str:
    return (
        f"candidate {label} cannot be rolled back: the serving pointer no longer names it "
        "(another promotion followed); nothing was changed"
    )


def rolled_back(
    conditions: list[dict[str, Any]] | None,
    record: dict[str, Any],
    digest: str,
    label: str,
    generation: int | None,
) -> dict[str, Any]:
    """The status once the previous pointer is served again: RolledBack, mirroring the record."""
    after = record["serving"]["after"]
    status: dict[str, Any] = {
        "state": GateState.ROLLED_BACK.value,
        "rollback": {
            "state": RollbackState.ROLLED_BACK.value,
            "at": record["time"],
            "by": record["requestedBy"],
            "recordDigest": digest,
        },
    }
    what = (
        f"the previous model ({after['candidate']})"
        if after["candidate"]
        else "the previous serving pointer"
    )
    message = (
        f"candidate {label} was rolled back at the request of {record['requestedBy']}; "
        f"{what} is served again"
    )
    conditions = set_condition(
        conditions, PROMOTED_CONDITION, False, ROLLED_BACK, message, generation
    )
    status["conditions"] = set_condition(
        conditions, ROLLBACK_CONDITION, True, ROLLED_BACK, message, generation
    )
    return status


def iso(value: datetime | None) -> str:
    assert value is not None
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
