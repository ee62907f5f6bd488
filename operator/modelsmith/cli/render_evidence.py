"""`kubectl modelsmith evidence GATE`: what the candidate is judged on, the approver chain with
each role's sign-off, blockers, the promotion record and the rollback posture."""

from __future__ import annotations

from datetime import datetime

from modelsmith.api.approvers import Approver
from modelsmith.api.gate import PromotionGate, PromotionGateStatus
from modelsmith.api.gate_annotations import (
    APPROVAL_ANNOTATION_PREFIX,
    evidence_prefix,
    parse_approval_annotation,
)
from modelsmith.cli.format import (
    MESSAGE_WIDTH,
    NONE,
    REASON_WIDTH,
    ago,
    fields,
    score,
    shorten,
    signed,
    table,
    yes_no,
)

APPROVER_HEADERS = ["#", "ROLE", "ALLOWED", "DECISION", "BY", "WHEN", "COUNTS", "NOTE"]


def gate_annotations(gate: PromotionGate) -> dict[str, str]:
    raw = gate.metadata.get("annotations") or {}
    return {str(k): str(v) for k, v in raw.items()}


def _summary(gate: PromotionGate) -> list[tuple[str, str]]:
    """Candidate, state, evidence digest, scores, latency, cost, serving and rollback."""
    spec, status = gate.spec, gate.status
    evidence = spec.evidence
    state = NONE if status is None or status.state is None else str(status.state)
    decision = NONE if status is None or not status.decision else str(status.decision)
    summary = NONE if status is None or not status.approvals_summary else status.approvals_summary
    improvement = ""
    if evidence.baseline_score is not None:
        improvement = f" ({signed(evidence.score - evidence.baseline_score)} on the baseline)"
    latency = evidence.latency_p95_ms
    cost = evidence.cost_per_decision
    return [
        ("Candidate", f"{spec.candidate.label} (iteration {spec.candidate.iteration})"),
        ("State", f"{state}   decision {decision}   approvals {summary}"),
        (
            "Evidence",
            f"{evidence.digest}\napprovals name {evidence_prefix(evidence.digest)} "
            f"(schema {evidence.schema_version})",
        ),
        ("Score", f"{score(evidence.score)}{improvement}"),
        ("Held-out score", score(evidence.heldout_score)),
        ("Baseline score", score(evidence.baseline_score)),
        ("Regressions", str(evidence.regression_count)),
        ("Latency p95", NONE if latency is None else f"{latency:.0f} ms"),
        ("Cost/decision", NONE if cost is None else f"{cost:.6g}"),
        (
            "Serving",
            f"ConfigMap {spec.serving.namespace or gate.namespace}/"
            f"{spec.serving.config_map_name} key {spec.serving.key}",
        ),
        (
            "Rollback",
            spec.rollback.expectation
            + f"\nprevious pointer retained: {yes_no(spec.rollback.retain_previous)}",
        ),
    ]


def _sign_off(gate: PromotionGate, approver: Approver, now: datetime) -> list[str]:
    """One role's decision, who, when, whether it counts and a note: from status once the
    operator recorded it, else from the annotation as it stands."""
    status = gate.status
    recorded = {a.role: a for a in (status.approvals if status else [])}
    seen = recorded.get(approver.role)
    key = f"{APPROVAL_ANNOTATION_PREFIX}{approver.role}"
    raw = gate_annotations(gate).get(key)
    parsed = parse_approval_annotation(key, raw or "")
    if seen is not None and str(seen.decision) != "pending":
        return [
            str(seen.decision),
            seen.user or NONE,
            ago(seen.at, now),
            yes_no(seen.valid),
            shorten(seen.reason, REASON_WIDTH) or NONE,
        ]
    if parsed is not None:
        note = "annotation set; the operator has not recorded it yet"
        if not parsed.matches(gate.spec.evidence.digest):
            note = "names other evidence than this gate's"
        return [parsed.decision, parsed.user, NONE, NONE, note]
    if raw is not None:
        return ["invalid", NONE, NONE, "no", "annotation is not <decision>:<user>:<evidence>"]
    return ["pending", NONE, NONE, NONE, NONE]


def _approvers(gate: PromotionGate, now: datetime) -> str:
    rows: list[list[str]] = []
    for order, approver in enumerate(gate.spec.approvers, start=1):
        allowed = ", ".join([*approver.users, *(f"group:{g}" for g in approver.groups)])
        rows.append(
            [str(order), approver.role, shorten(allowed, 40), *_sign_off(gate, approver, now)]
        )
    return table(APPROVER_HEADERS, rows)


def _blockers(status: PromotionGateStatus | None) -> list[str]:
    if status is None or not status.blockers:
        return ["", "Blockers: none"]
    rows = [
        [str(b.kind), b.reason, shorten(b.message, MESSAGE_WIDTH) or NONE] for b in status.blockers
    ]
    return ["", "Blockers", table(["KIND", "REASON", "MESSAGE"], rows)]


def _record(status: PromotionGateStatus | None, now: datetime) -> list[str]:
    """The write-once promotion record, then the rollback posture, when there are any."""
    sections: list[str] = []
    record = status.promotion_record if status else None
    if record is not None:
        approvals = ", ".join(f"{a.role} {a.user}" for a in record.approvals) or NONE
        promoted = [
            ("Digest", record.digest),
            ("Promoted", f"{record.candidate_label} {ago(record.time, now)}"),
            ("Evidence", record.evidence_digest),
            ("Approved by", approvals),
        ]
        sections += ["", "Promotion record (write-once)", fields(promoted)]
    rollback = status.rollback if status else None
    if rollback is not None:
        text = str(rollback.state)
        if rollback.by:
            text += f" by {rollback.by} {ago(rollback.at, now)}"
        if rollback.record_digest:
            text += f"\nrecord {rollback.record_digest}"
        sections += ["", fields([("Rollback posture", text)])]
    return sections


def render_evidence(gate: PromotionGate, now: datetime) -> str:
    """The evidence summary: scores, regressions, latency, cost, approvals, blockers, record."""
    spec = gate.spec
    header = (
        f"PromotionGate {gate.name}  (namespace {gate.namespace}, run {spec.run_ref.name}, "
        f"intake {spec.intake_ref.name})"
    )
    sections = [
        header,
        "",
        fields(_summary(gate)),
        "",
        "Approver chain (sign-off order)",
        _approvers(gate, now),
        *_blockers(gate.status),
        *_record(gate.status, now),
    ]
    return "\n".join(sections)
