"""PromotionStaging: build the evidence bundle, store it write-once, and open the PromotionGate.

The bundle is stored before the gate exists and the gate carries its digest, so a restart at any
point either finds the gate (nothing to do) or finds the stored bundle and reuses it: the digest
an approver signs never changes under them."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from modelsmith import kube, loop, objectstore
from modelsmith.api.intake import ModelIntake
from modelsmith.api.policy import ApproverPolicy
from modelsmith.api.run import REQUESTED_BY_ANNOTATION, IterationRun
from modelsmith.chain import EffectiveChain, effective_chain
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
from modelsmith.handlers.gate_guard import uid_digest
from modelsmith.handlers.scenarios import load_benchmark_scenarios
from modelsmith.layout import RunLayout

GATES = "promotiongates"
POLICIES = "approverpolicies"


def candidate_label(run_name: str, iteration: int) -> str:
    return f"{run_name}-iter-{iteration}"


def stage(
    body: dict[str, Any],
    run: IterationRun,
    intake: ModelIntake,
    decision: loop.Decision,
    action: loop.StageGate,
    layout: RunLayout,
) -> dict[str, str] | None:
    """Creates the gate; returns the record of it the run keeps in status.gate (the only gate
    the gate controller will act on), or None when a gate under the name is not the one this
    run staged (see staged_record)."""
    namespace = body["metadata"]["namespace"]
    existing = kube.get_custom(GATES, namespace, action.name)
    scenarios = load_benchmark_scenarios(namespace, intake)
    # Our own resource names are labels, not opaque identifiers, even when generated.
    sanitiser = Sanitiser.for_scenarios(scenarios).allowing(
        run.name, intake.name, candidate_label(run.name, action.iteration)
    )
    chain = staged_chain(namespace, intake)
    intake = shared_intake(intake, sanitiser)
    bundle = _stored_bundle(body, run, intake, chain, decision, action, layout, sanitiser)
    summary = gate_evidence(bundle)
    if existing is not None:
        # Created before a restart, before status recorded it: adopted only if it is exactly
        # what this run stages (its controller, the stored bundle's digest).
        return staged_record(existing, body["metadata"]["uid"], summary.digest)
    with contextlib.suppress(objectstore.AlreadyExists):
        objectstore.put_if_absent(
            layout.evidence("report.html"),
            render_report(bundle, sanitiser).encode(),
            content_type="text/html",
        )
    serving = intake.spec.serving_target
    requested_by = (body["metadata"].get("annotations") or {}).get(REQUESTED_BY_ANNOTATION)
    gate = {
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
            },
            "evidence": summary.wire(),
            "approvers": [a.wire() for a in chain.approvers],
            **({"requestedBy": requested_by} if requested_by else {}),
            **({"approvalTtlHours": chain.ttl_hours} if chain.ttl_hours is not None else {}),
            "rollback": intake.spec.rollback.wire(),
            "serving": {
                "configMapName": serving.config_map_name,
                "namespace": serving.namespace or namespace,
                "key": serving.key,
            },
            # The gate finds its evidence from its own spec (layout.for_gate), run or no run.
            "store": {"bucket": layout.bucket, "prefix": layout.root, "runKey": layout.key},
        },
    }
    try:
        created = kube.custom().create_namespaced_custom_object(
            "modelsmith.io", "v1alpha1", namespace, GATES, gate
        )
    except Exception as exc:
        if not kube.is_conflict(exc):
            raise
        created = kube.get_custom(GATES, namespace, action.name)
        if created is None:
            return None
    return staged_record(created, body["metadata"]["uid"], summary.digest)


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


def staged_chain(namespace: str, intake: ModelIntake) -> EffectiveChain:
    """The approver chain and TTL a gate in `namespace` carries: the admin policies selecting
    the namespace (read now, at staging; the gate keeps what they said), then the intake's."""
    ns = kube.core().read_namespace(namespace)
    labels: dict[str, str] = dict((ns.metadata.labels if ns.metadata else None) or {})
    listed = kube.custom().list_cluster_custom_object("modelsmith.io", "v1alpha1", POLICIES)
    policies = [ApproverPolicy.model_validate(item) for item in listed.get("items") or []]
    promotion = intake.spec.promotion
    return effective_chain(policies, labels, promotion.approvers, promotion.approval_ttl_hours)


def _stored_bundle(
    body: dict[str, Any],
    run: IterationRun,
    intake: ModelIntake,
    chain: EffectiveChain,
    decision: loop.Decision,
    action: loop.StageGate,
    layout: RunLayout,
    sanitiser: Sanitiser,
) -> EvidenceBundle:
    uri = layout.evidence("bundle.json")
    existing = objectstore.get_bytes_or_none(uri)
    if existing is not None:
        return parse_bundle(existing)
    namespace = body["metadata"]["namespace"]
    bench = kube.get_custom("benchmarks", namespace, intake.spec.benchmark_ref.name) or {}
    status = bench.get("status") or {}
    facts = BenchmarkFacts(
        name=intake.spec.benchmark_ref.name,
        version=intake.spec.benchmark_ref.version,
        digest=status.get("digest") or "",
        coverage=status.get("coverage") or {},
        scenario_count=status.get("scenarioCount") or 0,
        heldout_count=status.get("heldoutCount") or 0,
    )
    policy = intake.spec.promotion
    cards = {}
    for iteration in range(action.iteration + 1):
        card = objectstore.get_json_or_none(layout.scorecard(iteration))
        if card is not None:
            cards[iteration] = card
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
        history=history_from_ledger(_ledger(layout)),
        generated_at=datetime.now(UTC),
        sanitiser=sanitiser,
        notes=[decision.message],
        candidate_iteration=action.iteration,
    )
    try:
        objectstore.put_if_absent(uri, canonical_json(bundle))
    except objectstore.AlreadyExists:
        return parse_bundle(objectstore.get_bytes(uri))
    return bundle


def _ledger(layout: RunLayout) -> list[loop.LedgerEntry]:
    """Every entry of the run's ledger. There is no falling back on the status history: it
    keeps only the latest iterations, and evidence missing the rest must not reach approvers. A
    store that does not answer raises ObjectStoreUnavailable instead, so nothing is staged, the
    reconcile is retried, and the next one finds the store unreachable and blocks the run on
    it (infrastructure) until it answers."""
    return [
        loop.LedgerEntry.model_validate_json(objectstore.get_bytes(info.uri))
        for info in objectstore.iter_objects(layout.ledger_prefix())
    ]
