"""Carrying out a gate's decision: the promotion and the rollback, in the order that keeps them
safe to repeat (record first, pointer next, status last), and the serving pointer's API calls."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, TypeVar

from kubernetes.client.exceptions import ApiException

from modelsmith.api.common import Blocker
from modelsmith.api.gate import GateDecision, PromotionGate, RollbackState
from modelsmith.contract import integrity, s3
from modelsmith.controllers.gate.decide import Decision
from modelsmith.controllers.gate.outcomes import (
    OBJECT_STORE_UNAVAILABLE,
    ROLLBACK_CONDITION,
    Failure,
    belongs,
    blocked,
    failure_blocker,
    moved_on,
    names_another,
    promoted,
    promotion_document,
    refusal_blocker,
    rollback_document,
    rollback_failed,
    rolled_back,
)
from modelsmith.controllers.gate.pointer import (
    CANDIDATE_ANNOTATION,
    PREVIOUS_CANDIDATE_ANNOTATION,
    PointerState,
    PointerUpdate,
    ServingPointer,
    consent_refusal,
    pointer_of,
    promote_update,
    restore_update,
)
from modelsmith.controllers.gate.records import (
    layout_of,
    put_rollback,
    record_bytes,
    recorded_promotion,
    recorded_rollback,
    rollback_absent,
)
from modelsmith.controllers.gate.status import write
from modelsmith.readback import TamperError
from modelsmith.runtime import kube
from modelsmith.runtime.conditions import set_condition
from modelsmith.runtime.core import Runtime
from modelsmith.runtime.surface import ObjectName
from modelsmith.serving import ServingRefusal


class RecordConflictError(Exception):
    """The write-once record at the gate's key belongs to another gate or evidence."""


class ServingConsentError(Exception):
    """The serving pointer is not (or no longer) one promotion may move."""

    def __init__(self, refusal: ServingRefusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


# --- what promotion and rollback share -------------------------------------------------------

T = TypeVar("T")

AGAIN_SECONDS: Final = 1.0
"""The serving ConfigMap changed under an update (409): read it again soon."""


def _attempt(
    work: Callable[[], T], pointer: ServingPointer, refusals_block: bool
) -> T | Blocker | None:
    """What `work` returned, or the blocker saying why it cannot finish now; None when the
    serving ConfigMap changed under it (read it again). With `refusals_block`, the API server
    refusing the pointer (403, 404) is a blocker too; otherwise it is raised, for the
    reconciler's own error handling."""
    try:
        return work()
    except s3.ObjectStoreUnavailable:
        return failure_blocker(Failure.STORE_UNAVAILABLE, pointer)
    except ServingConsentError as refused:
        return refusal_blocker(refused.refusal)
    except TamperError as tampered:
        return failure_blocker(Failure.TAMPERED, pointer, tampered.tamper.message)
    except RecordConflictError:
        return failure_blocker(Failure.RECORD_CONFLICT, pointer)
    except ApiException as exc:
        if kube.is_conflict(exc):
            return None
        if refusals_block and kube.is_forbidden(exc):
            return failure_blocker(Failure.NOT_PERMITTED, pointer)
        if refusals_block and kube.is_not_found(exc):
            return failure_blocker(Failure.TARGET_MISSING, pointer)
        raise


# --- promotion --------------------------------------------------------------------------------


def promote(
    rt: Runtime,
    body: dict[str, Any],
    gate: PromotionGate,
    old: dict[str, Any],
    decision: Decision,
    now: datetime,
) -> float | None:
    """Records the approval, then the promotion record, the pointer, and Promoted."""
    generation = body["metadata"].get("generation")
    status = decision.status
    write(rt, body, old, status)
    old = {**old, **status}
    pointer = pointer_of(gate)
    shipped = _attempt(lambda: _ship(rt, body, gate, old, decision, now, pointer), pointer, True)
    if shipped is None:
        return AGAIN_SECONDS
    if isinstance(shipped, Blocker):
        # Approved, but promotion cannot finish now: say why and look again.
        write(rt, body, old, blocked(status, shipped, generation))
        return rt.settings.requeue_seconds * 2
    if write(rt, body, old, promoted(status, *shipped, gate, generation)):
        rt.metrics.GATE_DECISIONS.labels(
            *rt.metrics.labels(ObjectName(gate.namespace), GateDecision.PROMOTE.value)
        ).inc()
    return None


def _ship(
    rt: Runtime,
    body: dict[str, Any],
    gate: PromotionGate,
    old: dict[str, Any],
    decision: Decision,
    now: datetime,
    pointer: ServingPointer,
) -> tuple[dict[str, Any], str] | Blocker:
    """The promotion record (written or found) and its digest, once the pointer serves the
    candidate; a blocker when serving consent is withheld."""
    location = layout_of(rt, gate).adapter(gate.spec.candidate.iteration)
    current = read_pointer(pointer)
    refusal = consent_refusal(pointer, current)
    if refusal is not None:  # checked before anything is recorded or moved
        return refusal_blocker(refusal)
    uid = body["metadata"].get("uid")
    document = promotion_document(gate, uid, decision.approvals, now, location, current)
    record, digest = recorded_promotion(rt, body, gate, old, document)
    if not belongs(record, gate):
        raise RecordConflictError
    # What moves is computed from the gate's spec, never read back from the stored record.
    label, keep = gate.spec.candidate.label, gate.spec.rollback.retain_previous
    _move_pointer(pointer, location, label, gate.spec.candidate.adapter_digest, keep)
    return record, digest


def _move_pointer(
    pointer: ServingPointer, value: str, candidate: str, digest: str | None, keep: bool
) -> None:
    """Points the serving ConfigMap at `value`. It only ever patches an opted-in pointer; it
    never creates one."""
    current = read_pointer(pointer)
    update = promote_update(pointer, current, value, candidate, digest, keep)
    if update is None:
        return
    refusal = consent_refusal(pointer, current)
    if refusal is not None:  # the ConfigMap changed since the check: never create or move it
        raise ServingConsentError(refusal)
    patch_configmap(pointer, current, update)


# --- rollback ---------------------------------------------------------------------------------


def roll_back(
    rt: Runtime,
    body: dict[str, Any],
    gate: PromotionGate,
    old: dict[str, Any],
    decision: Decision,
    now: datetime,
) -> float | None:
    """Records the rollback, then serves the previous pointer again, then RolledBack."""
    by, label, pointer = decision.by, gate.spec.candidate.label, pointer_of(gate)
    status: dict[str, Any] = {"rollback": dict(old.get("rollback") or {})}
    restored = _attempt(lambda: _restore(rt, body, gate, old, status, by, now), pointer, False)
    if restored is None:
        return AGAIN_SECONDS
    if isinstance(restored, Blocker):
        return _rollback_blocked(rt, body, old, status, restored, by, label)
    generation = body["metadata"].get("generation")
    if isinstance(restored, str):
        write(
            rt, body, old, rollback_failed(status, old.get("conditions"), by, restored, generation)
        )
        return rt.settings.requeue_seconds * 6
    if write(rt, body, old, rolled_back(old.get("conditions"), *restored, label, generation)):
        rt.metrics.GATE_DECISIONS.labels(
            *rt.metrics.labels(ObjectName(gate.namespace), "Rollback")
        ).inc()
    return None


def _rollback_blocked(
    rt: Runtime,
    body: dict[str, Any],
    old: dict[str, Any],
    status: dict[str, Any],
    blocker: Blocker,
    by: str | None,
    label: str,
) -> float:
    """An unreachable object store holds the rollback in progress (it is recorded before the
    pointer changes); tampered evidence fails it. The RolledBack condition says which."""
    generation = body["metadata"].get("generation")
    if blocker.reason == OBJECT_STORE_UNAVAILABLE:
        status["rollback"].update(state=RollbackState.IN_PROGRESS.value, by=by)
        message = (
            f"the rollback of candidate {label} waits for the object store, where it is "
            "recorded before the serving pointer changes"
        )
        status["conditions"] = set_condition(
            old.get("conditions"),
            ROLLBACK_CONDITION,
            False,
            OBJECT_STORE_UNAVAILABLE,
            message,
            generation,
        )
        write(rt, body, old, status)
        return rt.settings.requeue_seconds * 2
    status["blockers"] = [blocker.wire()]
    status["rollback"].update(state=RollbackState.FAILED.value, by=by)
    status["conditions"] = set_condition(
        old.get("conditions"),
        ROLLBACK_CONDITION,
        False,
        blocker.reason,
        blocker.message,
        generation,
    )
    write(rt, body, old, status)
    return rt.settings.requeue_seconds * 6


def _restore(
    rt: Runtime,
    body: dict[str, Any],
    gate: PromotionGate,
    old: dict[str, Any],
    status: dict[str, Any],
    by: str,
    now: datetime,
) -> tuple[dict[str, Any], str] | str:
    """The rollback record and its digest once the previous pointer is served again, or why
    the rollback cannot be done. `status` gathers what is written on the way."""
    pointer, label = pointer_of(gate), gate.spec.candidate.label
    location = layout_of(rt, gate).adapter(gate.spec.candidate.iteration)
    current = read_pointer(pointer)
    refusal = consent_refusal(pointer, current)
    if refusal is not None:  # before the rollback is recorded or anything moves
        status["blockers"] = [refusal_blocker(refusal).wire()]
        return f"candidate {label} cannot be rolled back: {refusal.message}"
    # The record's digest goes into status before the record: a stored record is trusted
    # (and its pointer values used) only if it is the one recorded.
    anchor = status["rollback"].get("recordDigest")
    if rollback_absent(rt, gate):
        if (why := moved_on(label, current, location)) is not None:
            return why
        promotion = (old.get("promotionRecord") or {}).get("digest")
        uid = body["metadata"].get("uid")
        data = record_bytes(rollback_document(gate, uid, promotion, by, now, location, current))
        written = integrity.sha256(data)
        if anchor != written:
            status["rollback"].update(
                state=RollbackState.IN_PROGRESS.value, by=by, recordDigest=written
            )
            write(rt, body, old, status)
        anchor = written
        put_rollback(rt, gate, data)
    record, digest = recorded_rollback(rt, gate, anchor)
    if (record.get("gate") or {}).get("name") != gate.name:
        return (
            f"candidate {label} cannot be rolled back: a rollback record for this run belongs "
            "to another gate"
        )
    after = record["serving"]["after"]
    current = read_pointer(pointer)
    if current.value != after["value"]:
        if current.value != location:
            return names_another(label)
        patch_configmap(pointer, current, restore_update(pointer, after))
    return record, digest


# --- the serving pointer ----------------------------------------------------------------------


def read_pointer(pointer: ServingPointer) -> PointerState:
    cm = kube.find(kube.core_path("configmaps", pointer.namespace, pointer.name))
    if cm is None:
        return PointerState(exists=False)
    data: dict[str, str] = dict(cm.get("data") or {})
    meta = cm.get("metadata") or {}
    annotations: dict[str, str] = dict(meta.get("annotations") or {})
    return PointerState(
        exists=True,
        value=data.get(pointer.key),
        previous=data.get(pointer.previous_key),
        digest=data.get(pointer.digest_key),
        previous_digest=data.get(pointer.previous_digest_key),
        candidate=annotations.get(CANDIDATE_ANNOTATION),
        previous_candidate=annotations.get(PREVIOUS_CANDIDATE_ANNOTATION),
        resource_version=meta.get("resourceVersion"),
        labels=dict(meta.get("labels") or {}),
        annotations=annotations,
    )


def patch_configmap(pointer: ServingPointer, current: PointerState, update: PointerUpdate) -> None:
    """A merge patch conditional on the version read: a pointer changed meanwhile is a
    conflict (409), never silently overwritten."""
    data, annotations = update
    kube.rest(
        "PATCH",
        kube.core_path("configmaps", pointer.namespace, pointer.name),
        {
            "metadata": {"resourceVersion": current.resource_version, "annotations": annotations},
            "data": data,
        },
        content_type=kube.MERGE_PATCH,
    )
