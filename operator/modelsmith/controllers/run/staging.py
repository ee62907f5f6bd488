"""PromotionStaging: build the evidence bundle, store it write-once, and open the PromotionGate.

The bundle is stored before the gate exists and the gate carries its digest, so a restart at any
point either finds the gate (nothing to do) or finds the stored bundle and reuses it: the digest
an approver signs never changes under them."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from modelsmith import loop, readback
from modelsmith.api.intake import ModelIntake
from modelsmith.api.run import REQUESTED_BY_ANNOTATION, IterationRun
from modelsmith.benchmark.coverage import coverage, heldout_count
from modelsmith.chain import EffectiveChain, staged_chain
from modelsmith.contract import integrity, s3
from modelsmith.contract.jobspec import Lineage as TrainedLineage
from modelsmith.contract.layout import RunLayout
from modelsmith.contract.objectstore import Store
from modelsmith.contract.scenario import Scenario
from modelsmith.controllers.run import trust
from modelsmith.controllers.run.pinning import Pin
from modelsmith.controllers.run.pinning import scenarios as pinned_scenarios
from modelsmith.controllers.run.state import PLURAL
from modelsmith.controllers.run.trust import Anchors
from modelsmith.evidence.bundle import (
    BenchmarkFacts,
    EvidenceBundle,
    IntakeFacts,
    build_bundle,
    canonical_json,
    gate_evidence,
    parse_bundle,
)
from modelsmith.evidence.history import history_from_ledger
from modelsmith.evidence.report import render_report
from modelsmith.evidence.sanitiser import Sanitiser
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime
from modelsmith.uids import uid_digest

GATES = "promotiongates"
BUNDLE = "bundle.json"
RECORD = "the evidence bundle"


def candidate_label(run_name: str, iteration: int) -> str:
    return f"{run_name}-iter-{iteration}"


def stage(
    rt: Runtime,
    body: dict[str, Any],
    run: IterationRun,
    intake: ModelIntake,
    decision: loop.Decision,
    action: loop.StageGate,
    layout: RunLayout,
    anchors: Anchors,
    pin: Pin,
) -> dict[str, str] | None:
    """Creates the gate; returns the record of it the run keeps in status.gate (the only gate
    the gate controller will act on), or None when a gate under the name is not the one this
    run staged (see staged_record)."""
    namespace = body["metadata"]["namespace"]
    existing = kube.get_custom(GATES, namespace, action.name)
    scenarios = pinned_scenarios(rt, pin, layout, namespace, intake)
    # Our own resource names are labels, not opaque identifiers, even when generated.
    sanitiser = Sanitiser.for_scenarios(scenarios).allowing(
        run.name, intake.name, candidate_label(run.name, action.iteration)
    )
    chain = staged_chain(namespace, intake)
    intake = shared_intake(intake, sanitiser)
    staged = Staging(
        rt.store, body, run, intake, chain, decision, action, layout, anchors, pin, scenarios
    )
    bundle = _stored_bundle(rt, staged, sanitiser)
    summary = gate_evidence(bundle)
    run_uid = body["metadata"]["uid"]
    if existing is not None:
        # Created before a restart, before status recorded it: adopted only if it is exactly
        # what this run stages (its controller, the stored bundle's digest).
        return staged_record(existing, run_uid, summary.digest)
    with contextlib.suppress(s3.AlreadyExists):
        rt.store.put_if_absent(
            layout.evidence("report.html"),
            render_report(bundle, sanitiser).encode(),
            content_type="text/html",
        )
    gate = _gate(staged, bundle, summary.wire())
    try:
        created = kube.rest("POST", kube.custom_path(GATES, namespace), gate)
    except Exception as exc:
        if not kube.is_conflict(exc):
            raise
        created = kube.get_custom(GATES, namespace, action.name)
        if created is None:
            return None
    return staged_record(created, run_uid, summary.digest)


def _gate(staged: Staging, bundle: EvidenceBundle, evidence: dict[str, Any]) -> dict[str, Any]:
    """The PromotionGate the run stages, owned by the run, carrying the evidence's summary."""
    body, run, intake, action = staged.body, staged.run, staged.intake, staged.action
    namespace = body["metadata"]["namespace"]
    serving = intake.spec.serving_target
    requested_by = (body["metadata"].get("annotations") or {}).get(REQUESTED_BY_ANNOTATION)
    ttl = staged.chain.ttl_hours
    return {
        "apiVersion": "modelsmith.io/v1alpha1",
        "kind": "PromotionGate",
        "metadata": {
            "name": action.name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "modelsmith", "modelsmith.io/run": run.name},
            "ownerReferences": [
                {
                    "apiVersion": "modelsmith.io/v1alpha1",
                    "kind": "IterationRun",
                    "name": run.name,
                    "uid": body["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "runRef": {"name": run.name},
            "intakeRef": {"name": intake.name},
            "candidate": {
                "label": candidate_label(run.name, action.iteration),
                "iteration": action.iteration,
                **({"adapterDigest": adapter} if (adapter := _adapter_digest(bundle)) else {}),
            },
            "evidence": evidence,
            "approvers": [a.wire() for a in staged.chain.approvers],
            **({"requestedBy": requested_by} if requested_by else {}),
            **({"approvalTtlHours": ttl} if ttl is not None else {}),
            "rollback": intake.spec.rollback.wire(),
            "serving": {
                "configMapName": serving.config_map_name,
                "namespace": serving.namespace or namespace,
                "key": serving.key,
            },
            # The gate finds its evidence from its own spec (layout.for_gate), run or no run.
            "store": {
                "bucket": staged.layout.bucket,
                "prefix": staged.layout.root,
                "runKey": staged.layout.key,
            },
        },
    }


def staged_record(gate: dict[str, Any], run_uid: str, digest: str) -> dict[str, str] | None:
    """status.gate for `gate` when this run (`run_uid`) is its controller and it carries the
    evidence `digest` the run staged; None otherwise (a gate someone else made)."""
    meta = gate.get("metadata") or {}
    owners = [o for o in meta.get("ownerReferences") or [] if o.get("controller")]
    evidence = ((gate.get("spec") or {}).get("evidence") or {}).get("digest")
    if not owners or owners[0].get("uid") != run_uid or evidence != digest:
        return None
    return {"name": meta["name"], "uidDigest": uid_digest(meta["uid"]), "evidenceDigest": digest}


def shared_intake(intake: ModelIntake, sanitiser: Sanitiser) -> ModelIntake:
    """The intake as the bundle, the report and the gate's spec carry it: its free text (owner,
    rollback expectation) cleaned by the run's sanitiser, approvers named as they are. Raw, a
    token or a host put there would make the bundle refuse itself on every reconcile."""
    spec = intake.spec
    people = [p for a in spec.promotion.approvers for p in (*a.users, *a.groups)]
    clean = sanitiser.allowing(*people).clean
    rollback = spec.rollback.model_copy(update={"expectation": clean(spec.rollback.expectation)})
    cleaned = spec.model_copy(update={"owner": clean(spec.owner), "rollback": rollback})
    return intake.model_copy(update={"spec": cleaned})


@dataclass(frozen=True)
class Staging:
    """What building the bundle needs of the run being staged."""

    store: Store
    body: dict[str, Any]
    run: IterationRun
    intake: ModelIntake
    chain: EffectiveChain
    decision: loop.Decision
    action: loop.StageGate
    layout: RunLayout
    anchors: Anchors
    pin: Pin
    scenarios: list[Scenario]
    """The scenarios the run pinned at its start."""


def _stored_bundle(rt: Runtime, staged: Staging, sanitiser: Sanitiser) -> EvidenceBundle:
    """The run's bundle, write-once. Its digest is recorded in the run's status before it is
    written, so a bundle found in the store (a restart half-way) is reused only when it is
    the one recorded; any other is a tamper."""
    layout, anchors = staged.layout, staged.anchors
    uri = layout.evidence(BUNDLE)
    if anchors.bundle is not None:
        existing = readback.read_verified(rt.store, layout, uri, RECORD, anchors.bundle)
        if existing is not None:
            return parse_bundle(existing)
    elif (existing := rt.store.get_bytes_or_none(uri)) is not None:
        readback.quarantine(rt.store, layout, uri, existing)
        raise readback.TamperError(integrity.Tamper(RECORD, "no digest was recorded for it"))
    bundle = _build_bundle(staged, sanitiser)
    data = canonical_json(bundle)
    anchors.bundle = integrity.sha256(data)
    _record_bundle_digest(rt, staged.body, anchors)
    try:
        rt.store.put_if_absent(uri, data)
    except s3.AlreadyExists:
        # Written by someone else between the read and the write: never the one recorded.
        readback.read_verified(rt.store, layout, uri, RECORD, anchors.bundle)
    return bundle


def _record_bundle_digest(rt: Runtime, body: dict[str, Any], anchors: Anchors) -> None:
    """Writes status.integrity now, before the bundle: the anchor must exist before the object
    it vouches for, or a restart in between could not tell our bundle from a forged one."""
    meta = body["metadata"]
    status = body.get("status") or {}
    written = rt.status.patch(PLURAL, body, {"integrity": anchors.wire()}, old=status)
    if written is None:
        return
    # The reconcile's own status write follows from this version and this status.
    meta["resourceVersion"] = written.stored["metadata"]["resourceVersion"]
    body["status"] = {**status, "integrity": anchors.wire()}


def _build_bundle(staged: Staging, sanitiser: Sanitiser) -> EvidenceBundle:
    run, intake, chain = staged.run, staged.intake, staged.chain
    decision, action, layout = staged.decision, staged.action, staged.layout
    facts = _benchmark_facts(intake, staged.pin, staged.scenarios)
    policy = intake.spec.promotion
    cards = {}
    for iteration in range(action.iteration + 1):
        expected = staged.anchors.scorecards.get(str(iteration))
        record = f"the scorecard of iteration {iteration}"
        data = readback.read_verified(
            staged.store, layout, layout.scorecard(iteration), record, expected
        )
        if data is not None:
            cards[iteration] = json.loads(data)
    bundle = build_bundle(
        run=run.name,
        candidate_label=candidate_label(run.name, action.iteration),
        benchmark=facts,
        intake=IntakeFacts(
            owner=intake.spec.owner,
            base_model_label=intake.spec.base_model.label,
            threshold=policy.threshold,
            approvers=chain.approvers,
            rollback=intake.spec.rollback,
            min_improvement=policy.min_improvement,
            max_regressions=policy.max_regressions,
        ),
        scorecards=cards,
        history=history_from_ledger(trust.read_ledger(staged.store, layout, staged.anchors.head)),
        generated_at=datetime.now(UTC),
        sanitiser=sanitiser,
        notes=[decision.message],
        candidate_iteration=action.iteration,
        lineages=_lineages(staged),
    )
    return bundle


def _benchmark_facts(intake: ModelIntake, pin: Pin, scenarios: list[Scenario]) -> BenchmarkFacts:
    """The Benchmark as the run pinned it: its digest and what its pinned scenarios cover, not
    the Benchmark as it is now (it may have changed, or be Invalid, since the run started)."""
    return BenchmarkFacts(
        name=intake.spec.benchmark_ref.name,
        version=intake.spec.benchmark_ref.version,
        digest=pin.benchmark_digest,
        coverage=coverage(scenarios).wire(),
        scenario_count=len(scenarios),
        heldout_count=heldout_count(scenarios),
    )


def _lineages(staged: Staging) -> dict[int, TrainedLineage]:
    """The trainer's lineage of each trained iteration, checked against the digest its Job
    reported, for the digests the evidence names (base weights, training material, adapter).
    One missing leaves its digests "not recorded" in the evidence rather than invented."""
    found = {}
    for iteration in range(1, staged.action.iteration + 1):
        expected = staged.anchors.lineages.get(str(iteration))
        record = f"the lineage of iteration {iteration}"
        uri = staged.layout.lineage(iteration)
        data = readback.read_verified(staged.store, staged.layout, uri, record, expected)
        with contextlib.suppress(ValidationError):
            if data is not None:
                found[iteration] = TrainedLineage.model_validate_json(data)
    return found


def _adapter_digest(bundle: EvidenceBundle) -> str | None:
    """The candidate's adapter digest as its evidence names it (the last lineage step)."""
    steps = bundle.lineage.steps
    return steps[-1].adapter_digest if steps else None
