"""PromotionGate reconciler: judge the approver chain, promote once, roll back on request.

The run handler creates the gate; people sign it off with annotations (see api/gate.py). A gate
that is not the one its run staged is flagged and left alone (handlers/gate_guard.py). Each
reconcile judges the chain (modelsmith.approvals, pure) and writes status. Once every role has
approved:

1. the promotion record is written once to the object store, beside the evidence bundle
   (evidence/promotion-record.json), its digest recorded in status.recordDigest first; when it
   already exists (a restart half-way) the stored one is used only if it has that digest (else
   EvidenceTampered, modelsmith.integrity), so the record, its digest and the status mirroring
   it never change;
2. the serving pointer is updated, to a value computed from the gate's spec (never read back
   from the record);
3. status becomes Promoted with the record's digest (a CEL rule keeps it from ever changing).

The serving pointer is a ConfigMap inside the customer's cluster (spec.serving; its namespace
defaults to the gate's) and it is what the serving stack reads: data[<key>] holds the model
location of the promoted candidate (its adapter prefix in the customer's object store) and
data[<key>.previous] the value it replaced ("" when there was none, or when the rollback contract
keeps no previous pointer). The annotation modelsmith.io/candidate names the candidate served,
modelsmith.io/previous-candidate the one it replaced. Object locations stay in that ConfigMap and
in the object store: status, Events and metrics carry only readable labels and digests.

Rollback: the annotation modelsmith.io/rollback: "<username>" on a Promoted gate writes a
rollback record once (evidence/rollback-record.json), restores data[<key>] from
data[<key>.previous] and makes the gate RolledBack. Rollback refuses to touch a pointer that no
longer names this candidate (a later promotion followed): it fails with a Warning instead.

A rejection is final for the gate, like a promotion or a rollback: a new candidate gets a new
gate. Every state change requeues the owning IterationRun, which follows the gate.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from kubernetes import client

from modelsmith import integrity, kube, metrics, objectstore, watched
from modelsmith.api.common import Blocker, BlockerKind
from modelsmith.api.gate import (
    ROLLBACK_ANNOTATION,
    Approval,
    ApprovalDecision,
    GateDecision,
    GateState,
    PromotionGate,
    RollbackState,
)
from modelsmith.approvals import UNKNOWN_ROLE, ChainVerdict, evaluate_chain
from modelsmith.conditions import set_condition
from modelsmith.events import emit
from modelsmith.handlers import gate_guard, trust
from modelsmith.handlers.trust import TamperError
from modelsmith.layout import RunLayout, for_gate
from modelsmith.reconciler import RECONCILER
from modelsmith.serving import ServingRefusal, serving_refusal
from modelsmith.settings import OperatorSettings
from modelsmith.statusdiff import merge_patch

PLURAL = "promotiongates"
RUNS = "iterationruns"
CANDIDATE_ANNOTATION = "modelsmith.io/candidate"
PREVIOUS_CANDIDATE_ANNOTATION = "modelsmith.io/previous-candidate"
PREVIOUS_SUFFIX = ".previous"
PROMOTION_RECORD = "promotion-record.json"
ROLLBACK_RECORD = "rollback-record.json"
BUNDLE = "bundle.json"
PROMOTION_SCHEMA = "modelsmith.io/promotion-record/v1"
ROLLBACK_SCHEMA = "modelsmith.io/rollback-record/v1"
MERGE_PATCH = "application/merge-patch+json"
SETTINGS = OperatorSettings()

# Condition reasons beyond the chain's blocker reasons.
AWAITING_APPROVAL = "AwaitingApproval"
OBJECT_STORE_UNAVAILABLE = "ObjectStoreUnavailable"
RECORD_CONFLICT = "RecordConflict"
OPERATOR_NOT_PERMITTED = "OperatorNotPermitted"
ROLLBACK_FAILED = "RollbackFailed"
ROLLED_BACK = "RolledBack"
EVIDENCE_TAMPERED = integrity.EVIDENCE_TAMPERED


@kopf.on.event("modelsmith.io", "v1alpha1", PLURAL)
async def on_gate_event(
    type: str,
    namespace: str | None,
    name: str,
    meta: Mapping[str, Any],
    spec: Mapping[str, Any],
    **_: Any,
) -> None:
    if namespace is None:
        return
    if type == "DELETED":
        RECONCILER.forget((PLURAL, namespace, name))
        # Its run follows the gate (and waits on it for minutes at a time): it sees it gone.
        if run := (spec.get("runRef") or {}).get("name"):
            RECONCILER.requeue((RUNS, namespace, run), 0)
        return
    RECONCILER.reconcile(PLURAL, namespace, name, meta.get("resourceVersion"))


def reconcile(namespace: str, name: str) -> float | None:
    body = kube.get_custom(PLURAL, namespace, name)
    if body is None:
        return None
    gate = PromotionGate.model_validate(body)
    run = watched.get(RUNS, namespace, gate.spec.run_ref.name)
    if not (check := gate_guard.verify(body, run, gate_guard.now())).authentic:
        # Not the gate its run staged: nothing here acts on it (no promotion, no record).
        return gate_guard.refuse(PLURAL, body, check)
    gate_guard.vouch(PLURAL, body)
    old: dict[str, Any] = body.get("status") or {}
    state = old.get("state")
    if state == GateState.ROLLED_BACK:
        return None
    if state == GateState.PROMOTED:
        return _follow_promoted(body, gate, old)
    if state == GateState.REJECTED or old.get("decision") == GateDecision.REJECT:
        return None  # final: a new candidate gets a new gate

    now = _now()
    # The TTL is the gate's own (staged from the policies and intake), never read live.
    ttl = gate.spec.approval_ttl_hours
    previous = gate.status.approvals if gate.status is not None else []
    verdict = evaluate_chain(
        gate.spec.approvers,
        dict(body["metadata"].get("annotations") or {}),
        gate.spec.evidence.digest,
        previous,
        now,
        ttl,
        gate.spec.requested_by,
    )
    if verdict.approved:
        return _promote(
            body, gate, old, _chain_status(body, old, verdict), verdict.valid_approvals(), now
        )
    if state == GateState.APPROVED:
        # Approval was recorded before promotion began: the decision stands even if a sign-off
        # is withdrawn or expires while promotion waits (the object store was down).
        return _promote(body, gate, old, {}, _recorded_approvals(old), now)

    status = _chain_status(body, old, verdict)
    first = _first_blocker(verdict)
    status["conditions"] = _promoted_condition(
        status,
        False,
        first.reason if first else AWAITING_APPROVAL,
        first.message if first else f"{verdict.summary} approvals",
        body,
    )
    _write(body, old, status, _chain_event(verdict))
    if verdict.state == GateState.REJECTED and state != GateState.REJECTED:
        metrics.GATE_DECISIONS.labels(*metrics.labels(namespace, GateDecision.REJECT.value)).inc()
    return _until_expiry(verdict, ttl, now)


# --- the chain --------------------------------------------------------------------------------


def _first_blocker(verdict: ChainVerdict) -> Blocker | None:
    """The blocker that explains the state (Rejected first; UnknownRole never)."""
    return next((b for b in verdict.blockers if b.reason != UNKNOWN_ROLE), None)


def _recorded_approvals(old: dict[str, Any]) -> list[Approval]:
    approvals = [Approval.model_validate(a) for a in old.get("approvals") or []]
    return [a for a in approvals if a.valid and a.decision == ApprovalDecision.APPROVED]


def _chain_status(
    body: dict[str, Any], old: dict[str, Any], verdict: ChainVerdict
) -> dict[str, Any]:
    generation = body["metadata"].get("generation")
    approved = verdict.approved
    first = _first_blocker(verdict)
    if approved:
        reason, message = "Approved", f"every role signed ({verdict.summary})"
    elif first is not None:
        reason, message = first.reason, first.message
    else:
        pending = [a.role for a in verdict.approvals if not a.valid]
        reason = AWAITING_APPROVAL
        message = f"awaiting {', '.join(pending)} ({verdict.summary})"
    return {
        "observedGeneration": generation,
        "state": verdict.state.value,
        "decision": verdict.decision.value,
        "approvals": [a.wire() for a in verdict.approvals],
        "approvalsSummary": verdict.summary,
        "blockers": [b.wire() for b in verdict.blockers],
        "conditions": set_condition(
            old.get("conditions"), "Approved", approved, reason, message, generation
        ),
    }


def _promoted_condition(
    status: dict[str, Any], value: bool, reason: str, message: str, body: dict[str, Any]
) -> list[dict[str, Any]]:
    return set_condition(
        status.get("conditions"),
        "Promoted",
        value,
        reason,
        message,
        body["metadata"].get("generation"),
    )


def _chain_event(verdict: ChainVerdict) -> tuple[str, str, str]:
    first = _first_blocker(verdict)
    if first is not None:
        return "Warning", first.reason, first.message
    if verdict.blockers:
        return "Warning", verdict.blockers[0].reason, verdict.blockers[0].message
    signed = [f"{a.role} ({a.user})" for a in verdict.valid_approvals()]
    detail = f"; signed: {', '.join(signed)}" if signed else ""
    return "Normal", verdict.state.value, f"{verdict.summary} approvals{detail}"


def _until_expiry(verdict: ChainVerdict, ttl: int | None, now: datetime) -> float | None:
    """With a TTL, look again when the oldest counted approval expires (no watch event says
    so)."""
    if ttl is None:
        return None
    times = [a.at for a in verdict.valid_approvals() if a.at is not None]
    if not times:
        return None
    due = min(times) + timedelta(hours=ttl) - now
    return max(due.total_seconds() + 1, 1.0)


# --- promotion --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServingPointer:
    namespace: str
    name: str
    key: str
    owner: str = ""
    """The gate's namespace: whose consent the pointer must carry."""

    @property
    def previous_key(self) -> str:
        return self.key + PREVIOUS_SUFFIX

    def wire(self) -> dict[str, str]:
        return {"namespace": self.namespace, "name": self.name, "key": self.key}


@dataclass(frozen=True)
class PointerState:
    """What the serving ConfigMap holds now (`exists` False when there is none)."""

    exists: bool
    value: str | None = None
    previous: str | None = None
    candidate: str | None = None
    previous_candidate: str | None = None
    resource_version: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any] | None:
        """The ConfigMap as serving consent reads it (None: it does not exist)."""
        if not self.exists:
            return None
        return {"metadata": {"labels": self.labels, "annotations": self.annotations}}


class RecordConflictError(Exception):
    """The write-once record at the gate's key belongs to another gate or evidence."""


class ServingConsentError(Exception):
    """The serving pointer is not (or no longer) one promotion may move."""

    def __init__(self, refusal: ServingRefusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def _consent_for(pointer: ServingPointer, current: PointerState) -> ServingRefusal | None:
    """Serving consent (`modelsmith.serving`), checked before every pointer move."""
    return serving_refusal(pointer.owner, pointer.namespace, pointer.name, current.metadata())


def _pointer(gate: PromotionGate) -> ServingPointer:
    serving = gate.spec.serving
    return ServingPointer(
        serving.namespace or gate.namespace, serving.config_map_name, serving.key, gate.namespace
    )


def _layout(gate: PromotionGate) -> RunLayout:
    return for_gate(gate, SETTINGS.bucket)


def _promote(
    body: dict[str, Any],
    gate: PromotionGate,
    old: dict[str, Any],
    status: dict[str, Any],
    approvals: list[Approval],
    now: datetime,
) -> float | None:
    """Records the approval, then the promotion record, the pointer, and Promoted. `status` is
    the chain's status ({} to keep the one recorded when approval was reached)."""
    namespace, name = gate.namespace, gate.name
    status = {
        **status,
        "state": GateState.APPROVED.value,
        "decision": GateDecision.PROMOTE.value,
        "blockers": [],  # only UnknownRole could remain, and it stops nothing
    }
    signed = ", ".join(f"{a.role} ({a.user})" for a in approvals)
    status["conditions"] = _promoted_condition(
        {"conditions": status.get("conditions", old.get("conditions"))},
        False,
        "Promoting",
        f"approved by {signed}; updating the serving pointer",
        body,
    )
    _write(body, old, status, ("Normal", "Approved", f"every role signed: {signed}"))
    old = {**old, **status}
    pointer = _pointer(gate)
    location = _layout(gate).adapter(gate.spec.candidate.iteration)
    label = gate.spec.candidate.label
    retain = gate.spec.rollback.retain_previous
    try:
        current = _read_pointer(pointer)
        refusal = _consent_for(pointer, current)
        if refusal is not None:  # checked before anything is recorded or moved
            return _promotion_blocked(
                body, old, status, BlockerKind.GOVERNANCE, refusal.reason, refusal.message
            )
        before_value, before_candidate = current.value or "", current.candidate or ""
        if current.value == location:  # an earlier attempt already moved it
            before_value = current.previous or ""
            before_candidate = current.previous_candidate or ""
        document = {
            "schema": PROMOTION_SCHEMA,
            "gate": {"namespace": namespace, "name": name, "uid": body["metadata"].get("uid")},
            "run": gate.spec.run_ref.name,
            "intake": gate.spec.intake_ref.name,
            "candidate": gate.spec.candidate.wire(),
            "evidenceDigest": gate.spec.evidence.digest,
            "approvals": [{"role": a.role, "user": a.user, "at": _iso(a.at)} for a in approvals],
            "time": _iso(now),
            "serving": {
                "configMap": pointer.wire(),
                "retainPrevious": retain,
                "before": {"value": before_value, "candidate": before_candidate},
                "after": {"value": location, "candidate": label},
            },
        }
        record, digest = _recorded_promotion(body, gate, old, document)
        if (record.get("gate") or {}).get("name") != name or record.get(
            "evidenceDigest"
        ) != gate.spec.evidence.digest:
            raise RecordConflictError
        # What moves is computed from the gate's spec, never read back from the stored record.
        _move_pointer(pointer, value=location, candidate=label, keep_previous=retain)
    except objectstore.ObjectStoreUnavailable:
        return _promotion_blocked(
            body,
            old,
            status,
            BlockerKind.INFRASTRUCTURE,
            OBJECT_STORE_UNAVAILABLE,
            "the candidate is approved, but the object store is unreachable, so the promotion "
            "record cannot be written; promotion resumes when it is back",
        )
    except ServingConsentError as refused:
        return _promotion_blocked(
            body,
            old,
            status,
            BlockerKind.GOVERNANCE,
            refused.refusal.reason,
            refused.refusal.message,
        )
    except TamperError as tampered:
        return _promotion_blocked(
            body, old, status, BlockerKind.GOVERNANCE, EVIDENCE_TAMPERED, tampered.tamper.message
        )
    except RecordConflictError:
        return _promotion_blocked(
            body,
            old,
            status,
            BlockerKind.GOVERNANCE,
            RECORD_CONFLICT,
            "a promotion record already exists for this run with another gate or evidence; "
            "nothing was promoted",
        )
    except Exception as exc:
        if kube.is_conflict(exc):
            return 1.0  # the ConfigMap changed under us: read it again
        if kube.is_forbidden(exc):
            return _promotion_blocked(
                body,
                old,
                status,
                BlockerKind.GOVERNANCE,
                OPERATOR_NOT_PERMITTED,
                f"the operator may not move the serving pointer in namespace {pointer.namespace} "
                "(no RoleBinding there to its operator-workloads ClusterRole; a platform admin "
                "lists the namespace in the chart's operator.workloadNamespaces); promotion "
                "resumes once it may",
            )
        if kube.is_not_found(exc):
            return _promotion_blocked(
                body,
                old,
                status,
                BlockerKind.INFRASTRUCTURE,
                "ServingTargetMissing",
                f"the serving pointer cannot be written: namespace {pointer.namespace} was not "
                "found; promotion resumes once it can",
            )
        raise

    status.update(
        state=GateState.PROMOTED.value,
        decision=GateDecision.PROMOTE.value,
        promotionRecord={
            "digest": digest,
            "time": record["time"],
            "candidateLabel": record["candidate"]["label"],
            "candidateDigest": record["candidate"].get("adapterDigest"),
            "evidenceDigest": record["evidenceDigest"],
            "approvals": [
                {"role": a["role"], "user": a["user"], "at": a["at"]} for a in record["approvals"]
            ],
        },
        rollback={
            "state": (RollbackState.AVAILABLE.value if retain else RollbackState.UNAVAILABLE.value)
        },
    )
    signed = ", ".join(f"{a['role']} ({a['user']})" for a in record["approvals"])
    message = f"candidate {label} is now served, approved by {signed}"
    status["conditions"] = _promoted_condition(status, True, "Promoted", message, body)
    if _write(body, old, status, ("Normal", "Promoted", message)):
        metrics.GATE_DECISIONS.labels(*metrics.labels(namespace, GateDecision.PROMOTE.value)).inc()
    return None


def _promotion_blocked(
    body: dict[str, Any],
    old: dict[str, Any],
    status: dict[str, Any],
    kind: BlockerKind,
    reason: str,
    message: str,
) -> float:
    """Approved, but promotion cannot finish now: say why and look again."""
    status["blockers"] = [Blocker(kind=kind, reason=reason, message=message).wire()]
    status["conditions"] = _promoted_condition(status, False, reason, message, body)
    _write(body, old, status, ("Warning", reason, message))
    return SETTINGS.requeue_seconds * 2


def _recorded_promotion(
    body: dict[str, Any], gate: PromotionGate, old: dict[str, Any], document: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """The promotion record, once the evidence it promotes is checked. The record's digest goes
    into status before the record is written, so a record found in the store is accepted only
    if it is that one; anything else (a forgery written first, or over ours) is a tamper: kept
    aside, nothing promoted."""
    layout = _layout(gate)
    _check_bundle(gate, layout)
    uri = layout.evidence(PROMOTION_RECORD)
    stored = objectstore.get_bytes_or_none(uri)
    if stored is None:
        data = _record_bytes(document)
        digest = integrity.sha256(data)
        if old.get("recordDigest") != digest:
            _write(body, old, {"recordDigest": digest}, None)
            old["recordDigest"] = digest
        try:
            objectstore.put_if_absent(uri, data)
            stored = data
        except objectstore.AlreadyExists:
            stored = objectstore.get_bytes(uri)
    trust.read_verified(layout, uri, "the promotion record", old.get("recordDigest"))
    parsed: dict[str, Any] = json.loads(stored)
    return parsed, integrity.sha256(stored)


def _check_bundle(gate: PromotionGate, layout: RunLayout) -> None:
    """The stored bundle must be the one whose digest approvers signed (the gate's spec). The
    run's status.integrity.bundleDigest says the operator wrote it (the same digest); a gate
    staged before runs recorded it has no bundle the operator vouched for, and is left as it
    was (its approvers signed a digest, and the pointer never comes from the bundle)."""
    run = watched.get(RUNS, gate.namespace, gate.spec.run_ref.name) or {}
    recorded = ((run.get("status") or {}).get("integrity") or {}).get("bundleDigest")
    if recorded is None:
        return
    record = "the evidence bundle"
    if recorded != gate.spec.evidence.digest:
        raise TamperError(integrity.Tamper(record, "the gate carries another digest than its run"))
    if trust.read_verified(layout, layout.evidence(BUNDLE), record, recorded) is None:
        raise TamperError(integrity.Tamper(record, "it is missing"))


def _record_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, indent=2).encode() + b"\n"


def _read_pointer(pointer: ServingPointer) -> PointerState:
    try:
        cm = kube.core().read_namespaced_config_map(pointer.name, pointer.namespace)
    except Exception as exc:
        if kube.is_not_found(exc):
            return PointerState(exists=False)
        raise
    data: dict[str, str] = dict(cm.data or {})
    meta = cm.metadata or client.V1ObjectMeta()
    annotations: dict[str, str] = dict(meta.annotations or {})
    return PointerState(
        exists=True,
        value=data.get(pointer.key),
        previous=data.get(pointer.previous_key),
        candidate=annotations.get(CANDIDATE_ANNOTATION),
        previous_candidate=annotations.get(PREVIOUS_CANDIDATE_ANNOTATION),
        resource_version=meta.resource_version,
        labels=dict(meta.labels or {}),
        annotations=annotations,
    )


def _move_pointer(pointer: ServingPointer, value: str, candidate: str, keep_previous: bool) -> None:
    """Points the serving ConfigMap at `value`, keeping what it replaces. A no-op when it
    already points there, so a retried promotion never overwrites `.previous` with itself.
    It only ever patches an opted-in pointer; it never creates one."""
    current = _read_pointer(pointer)
    if current.exists and current.value == value and current.candidate == candidate:
        return
    annotations: dict[str, str | None] = {CANDIDATE_ANNOTATION: candidate}
    data = {pointer.key: value}
    if current.value != value:
        data[pointer.previous_key] = (current.value or "") if keep_previous else ""
        annotations[PREVIOUS_CANDIDATE_ANNOTATION] = (
            (current.candidate or "") if keep_previous else ""
        )
    refusal = _consent_for(pointer, current)
    if refusal is not None:  # the ConfigMap changed since the check: never create or move it
        raise ServingConsentError(refusal)
    _patch_configmap(pointer, current, data, annotations)


def _patch_configmap(
    pointer: ServingPointer,
    current: PointerState,
    data: dict[str, str],
    annotations: dict[str, str | None],
) -> None:
    """A merge patch conditional on the version read: a pointer changed meanwhile is a
    conflict (409), never silently overwritten."""
    kube.core().patch_namespaced_config_map(
        pointer.name,
        pointer.namespace,
        {
            "metadata": {"resourceVersion": current.resource_version, "annotations": annotations},
            "data": data,
        },
        _content_type=MERGE_PATCH,
    )


# --- rollback ---------------------------------------------------------------------------------


def _follow_promoted(
    body: dict[str, Any], gate: PromotionGate, old: dict[str, Any]
) -> float | None:
    requested = (body["metadata"].get("annotations") or {}).get(ROLLBACK_ANNOTATION)
    if requested is None:
        return None
    by = requested.strip()
    label = gate.spec.candidate.label
    status: dict[str, Any] = {"rollback": dict(old.get("rollback") or {})}

    def failed(message: str) -> float:
        status["rollback"].update(state=RollbackState.FAILED.value, by=by or None)
        _write(body, old, status, ("Warning", ROLLBACK_FAILED, message))
        return SETTINGS.requeue_seconds * 6

    if not by:
        return failed("the rollback annotation must name who asks for the rollback")
    if len(by) > 253:
        return failed("the rollback annotation names a user longer than 253 characters")
    if not gate.spec.rollback.retain_previous:
        return failed(
            f"candidate {label} cannot be rolled back here: its rollback contract keeps no "
            "previous serving pointer"
        )
    pointer = _pointer(gate)
    layout = _layout(gate)
    location = layout.adapter(gate.spec.candidate.iteration)
    promotion = (old.get("promotionRecord") or {}).get("digest")
    now = _now()
    try:
        current = _read_pointer(pointer)
        refusal = _consent_for(pointer, current)
        if refusal is not None:  # before the rollback is recorded or anything moves
            status["blockers"] = [
                Blocker(
                    kind=BlockerKind.GOVERNANCE, reason=refusal.reason, message=refusal.message
                ).wire()
            ]
            return failed(f"candidate {label} cannot be rolled back: {refusal.message}")
        uri = layout.evidence(ROLLBACK_RECORD)
        # The record's digest goes into status before the record: a stored record is trusted
        # (and its pointer values used) only if it is the one recorded.
        anchor = status["rollback"].get("recordDigest")
        if objectstore.get_bytes_or_none(uri) is None:
            if not current.exists:
                return failed(
                    f"candidate {label} cannot be rolled back: the serving pointer ConfigMap "
                    "no longer exists"
                )
            if current.value != location:
                return failed(
                    f"candidate {label} cannot be rolled back: the serving pointer no longer "
                    "names it (another promotion followed); nothing was changed"
                )
            document = {
                "schema": ROLLBACK_SCHEMA,
                "gate": {
                    "namespace": gate.namespace,
                    "name": gate.name,
                    "uid": body["metadata"].get("uid"),
                },
                "run": gate.spec.run_ref.name,
                "candidate": gate.spec.candidate.wire(),
                "promotionRecordDigest": promotion,
                "requestedBy": by,
                "time": _iso(now),
                "serving": {
                    "configMap": pointer.wire(),
                    "before": {"value": location, "candidate": label},
                    "after": {
                        "value": current.previous or "",
                        "candidate": current.previous_candidate or "",
                    },
                },
            }
            data = _record_bytes(document)
            written = integrity.sha256(data)
            if anchor != written:
                status["rollback"].update(
                    state=RollbackState.IN_PROGRESS.value, by=by, recordDigest=written
                )
                _write(body, old, status, None)
            anchor = written
            with contextlib.suppress(objectstore.AlreadyExists):
                objectstore.put_if_absent(uri, data)
        stored = trust.read_verified(layout, uri, "the rollback record", anchor)
        if stored is None:  # deleted between the two calls: look again on the next reconcile
            raise objectstore.ObjectStoreUnavailable("the rollback record vanished while read")
        record, digest = json.loads(stored), integrity.sha256(stored)
        if (record.get("gate") or {}).get("name") != gate.name:
            return failed(
                f"candidate {label} cannot be rolled back: a rollback record for this run "
                "belongs to another gate"
            )
        after = record["serving"]["after"]
        current = _read_pointer(pointer)
        if current.value != after["value"]:
            if current.value != location:
                return failed(
                    f"candidate {label} cannot be rolled back: the serving pointer no longer "
                    "names it (another promotion followed); nothing was changed"
                )
            _patch_configmap(
                pointer,
                current,
                {pointer.key: after["value"], pointer.previous_key: ""},
                {
                    CANDIDATE_ANNOTATION: after["candidate"] or None,
                    PREVIOUS_CANDIDATE_ANNOTATION: None,
                },
            )
    except objectstore.ObjectStoreUnavailable:
        status["rollback"].update(state=RollbackState.IN_PROGRESS.value, by=by)
        message = (
            f"the rollback of candidate {label} waits for the object store, where it is "
            "recorded before the serving pointer changes"
        )
        _write(body, old, status, ("Warning", OBJECT_STORE_UNAVAILABLE, message))
        return SETTINGS.requeue_seconds * 2
    except TamperError as tampered:
        blocker = Blocker(
            kind=BlockerKind.GOVERNANCE, reason=EVIDENCE_TAMPERED, message=tampered.tamper.message
        )
        status["blockers"] = [blocker.wire()]
        status["rollback"].update(state=RollbackState.FAILED.value, by=by)
        _write(body, old, status, ("Warning", EVIDENCE_TAMPERED, tampered.tamper.message))
        return SETTINGS.requeue_seconds * 6
    except Exception as exc:
        if kube.is_conflict(exc):
            return 1.0
        raise

    status = {
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
    status["conditions"] = _promoted_condition(
        {"conditions": old.get("conditions")}, False, ROLLED_BACK, message, body
    )
    if _write(body, old, status, ("Normal", ROLLED_BACK, message)):
        metrics.GATE_DECISIONS.labels(*metrics.labels(gate.namespace, "Rollback")).inc()
    return None


# --- writing ----------------------------------------------------------------------------------


def _write(
    body: dict[str, Any],
    old: dict[str, Any],
    status: dict[str, Any],
    event: tuple[str, str, str] | None,
) -> bool:
    """Patches status when it changed; emits `event` and requeues the run when the state (or
    what blocks it) changed. True when the state changed.

    The patch is conditional on the resourceVersion read: the gate's state is a governance
    record, and a decision taken on a stale read (by a replica handing over) must not set a
    Promoted gate back to Approved. A refused patch (409) makes the reconciler read again."""
    meta = body["metadata"]
    patch = merge_patch(old, status)
    if not patch:
        return False
    stored = RECONCILER.write_status(
        PLURAL, meta["namespace"], meta["name"], patch, meta.get("resourceVersion")
    )
    meta["resourceVersion"] = stored["metadata"]["resourceVersion"]
    merged = {**old, **status}
    changed = _headline(old) != _headline(merged)
    if changed:
        if event is not None:
            emit(body, *event)
        run = ((body.get("spec") or {}).get("runRef") or {}).get("name")
        if run:
            RECONCILER.requeue((RUNS, meta["namespace"], run), 0)
    return changed


def _headline(status: dict[str, Any]) -> tuple[Any, ...]:
    """What a reader (and the run) follows: state, summary, blockers, rollback state."""
    return (
        status.get("state"),
        status.get("approvalsSummary"),
        tuple(b.get("reason") for b in status.get("blockers") or []),
        (status.get("rollback") or {}).get("state"),
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(value: datetime | None) -> str:
    assert value is not None
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


RECONCILER.register(PLURAL, reconcile)
