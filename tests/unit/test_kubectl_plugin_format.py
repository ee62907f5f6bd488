"""The plugin's pure parts: what `status` and `evidence` print, the sign-off patches, and the
tolerant reading of objects written by a newer operator."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from modelsmith.api import samples
from modelsmith.api.gate import PromotionGate
from modelsmith.api.gate_annotations import parse_approval_annotation
from modelsmith.api.run import IterationRun
from modelsmith.cli import format as fmt
from modelsmith.cli import kubectl_plugin as plugin
from modelsmith.cli import session
from modelsmith.cli.render_evidence import render_evidence
from modelsmith.cli.render_status import render_status

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
EVIDENCE = "0123456789ab"


def run_status() -> dict[str, Any]:
    return {
        "observedGeneration": 1,
        "phase": "Training",
        "lastTransition": {
            "from": "Assessing",
            "to": "Training",
            "reason": "CandidateAccepted",
            "message": "Iteration 2 improved the score; training iteration 3.",
            "time": "2025-01-01T11:55:00Z",
        },
        "iteration": 3,
        "attempt": 1,
        "scores": {
            "current": 0.58,
            "previousAccepted": 0.58,
            "baseline": 0.42,
            "target": 0.6,
            "heldout": 0.5,
        },
        "regressionCount": 1,
        "regressions": ["triage-07"],
        "strongestFailureCluster": {
            "dimensions": {"capability": "refunds", "risk": "high"},
            "failures": 3,
            "label": "refunds/high",
            "scenarioIds": ["triage-01", "triage-05", "triage-09"],
        },
        "capacity": {"gpusRequested": 1, "resourceName": "nvidia.com/gpu", "state": "Scheduled"},
        "training": {
            "percent": 45.0,
            "step": 27,
            "totalSteps": 60,
            "loss": 0.4123,
            "etaSeconds": 70,
            "updatedAt": "2025-01-01T11:59:48Z",
        },
        "nextAction": "Training iteration 3 with refunds/high up-weighted.",
        "history": [
            {
                "iteration": 1,
                "score": 0.5,
                "heldoutScore": 0.42,
                "accepted": True,
                "decision": "Accept",
                "reason": "Improved on the baseline by 0.08.",
                "recipe": "lora r8 a16 steps60 lr1e-3 weight3 on routing/low",
                "finishedAt": "2025-01-01T11:30:00Z",
            },
            {
                "iteration": 0,
                "score": 0.42,
                "heldoutScore": 0.33,
                "accepted": True,
                "decision": "Baseline",
                "reason": "The base model's evaluation.",
                "finishedAt": "2025-01-01T11:10:00Z",
            },
            {
                "iteration": 2,
                "score": 0.58,
                "heldoutScore": 0.5,
                "accepted": True,
                "decision": "Accept",
                "reason": "Improved by 0.08 with one regression " + "and a long explanation " * 6,
                "regressionCount": 1,
                "recipe": "lora r8 a16 steps60 lr1e-3 weight3 on refunds/high",
                "finishedAt": "2025-01-01T11:55:00Z",
            },
        ],
        "ledger": {
            "entries": 7,
            "lastSequence": 6,
            "location": "run ledger in the intake's bucket",
        },
        "startedAt": "2025-01-01T11:00:00Z",
        "gpuSecondsUsed": 1800,
    }


def make_run(status: dict[str, Any] | None) -> IterationRun:
    obj = samples.run()
    if status is not None:
        obj["status"] = status
    return IterationRun.model_validate(obj)


def make_gate(
    status: dict[str, Any] | None = None, annotations: dict[str, str] | None = None
) -> PromotionGate:
    obj = samples.gate()
    if status is not None:
        obj["status"] = status
    if annotations:
        obj["metadata"]["annotations"] = annotations
    return PromotionGate.model_validate(obj)


# --- status -----------------------------------------------------------------------------------


def test_status_shows_the_run_at_a_glance() -> None:
    text = render_status(make_run(run_status()), NOW)
    lines = text.splitlines()
    assert lines[0] == (
        "IterationRun support-triage-run-1  (namespace modelsmith-demo, intake support-triage)"
    )
    assert (
        "Phase:" in text
        and "Training  (5m 00s ago: Assessing -> Training, CandidateAccepted)" in text
    )
    assert "3 of at most 5 (attempt 1)" in text
    assert (
        "current 0.58 | previous accepted 0.58 | baseline 0.42 | held-out 0.50 | target 0.60"
        in text
    )
    assert "0.02 below the target (+0.16 on the baseline)" in text
    assert "Regressions:" in text and "1 (triage-07)" in text
    assert "refunds/high: 3 failing (triage-01, triage-05, triage-09)" in text
    assert "Scheduled (1 nvidia.com/gpu)" in text
    assert "[#########-----------] 45%  step 27/60, loss 0.4123, about 1m 10s left" in text
    assert "(reported 12s ago)" in text
    assert "Blocked by:" in text
    assert "Next action:     Training iteration 3 with refunds/high up-weighted." in text
    assert "7 entries, run ledger in the intake's bucket" in text
    assert "0.50 GPU-hours" in text


def test_status_history_is_a_table_in_iteration_order() -> None:
    text = render_status(make_run(run_status()), NOW)
    history = text[text.index("History") :].splitlines()
    assert history[0] == "History (latest 3; the run's ledger holds every entry)"
    header = history[1].split()
    assert header == [
        "ITER",
        "SCORE",
        "HELDOUT",
        "DECISION",
        "ACCEPTED",
        "REGRESSIONS",
        "FINISHED",
        "REASON",
        "RECIPE",
    ]
    assert [row.split()[0] for row in history[2:]] == ["0", "1", "2"]
    assert history[2].split()[1:5] == ["0.42", "0.33", "Baseline", "yes"]
    assert history[2].split()[6:8] == ["50m", "00s"]
    # Long reasons are cut to one readable line.
    assert "Improved by 0.08 with one regression and a long..." in history[4]
    assert history[4].rstrip().endswith("weight3 on refunds/high")
    assert all(len(row) < 220 for row in history)


def test_status_names_the_blocker_and_the_gate() -> None:
    status = run_status()
    status.update(
        phase="Blocked",
        blockedBy={
            "kind": "infrastructure",
            "reason": "Unschedulable",
            "message": "No node offers 1 nvidia.com/gpu; add capacity or lower gpuCount.",
        },
        gateName="support-triage-run-1-iter-3",
        training=None,
    )
    text = render_status(make_run(status), NOW)
    assert "Blocked by:      infrastructure: Unschedulable" in text
    assert "No node offers 1 nvidia.com/gpu" in text
    assert (
        "support-triage-run-1-iter-3  (kubectl modelsmith evidence support-triage-run-1-iter-3 "
        "-n modelsmith-demo)" in text
    )
    assert "Training:" not in text


def test_status_of_a_run_the_operator_has_not_seen() -> None:
    text = render_status(make_run(None), NOW)
    assert "Not picked up by the operator yet" in text


def test_status_of_a_fresh_baseline() -> None:
    status = {"phase": "EvaluatingBaseline", "iteration": 0, "scores": {"target": 0.6}}
    text = render_status(make_run(status), NOW)
    assert "0 of at most 5  [iteration 0 is the baseline]" in text
    assert "current - | previous accepted - | baseline - | held-out - | target 0.60" in text
    assert "(no finished iteration yet)" in text


def test_status_never_prints_scenario_text() -> None:
    text = render_status(make_run(run_status()), NOW)
    for index in range(24):
        scenario = samples.scenario(index)
        assert scenario["prompt"] not in text
        assert scenario["reference"] not in text


# --- evidence -----------------------------------------------------------------------------------


def test_evidence_summarises_scores_latency_cost_and_rollback() -> None:
    text = render_evidence(make_gate(), NOW)
    assert text.splitlines()[0].startswith("PromotionGate support-triage-run-1-iter-3")
    assert f"approvals name {EVIDENCE}" in text
    assert "Score:          0.71 (+0.29 on the baseline)" in text
    assert "Held-out score: 0.67" in text
    assert "Regressions:    0" in text
    assert "Latency p95:    180 ms" in text
    assert "Cost/decision:  0.0004" in text
    assert "ConfigMap modelsmith-demo/support-triage-serving key model" in text
    assert "Restore the previous model within 5 minutes." in text
    assert "Blockers: none" in text


def test_evidence_approver_chain_merges_status_and_annotations() -> None:
    status = {
        "state": "Pending",
        "approvalsSummary": "1/2",
        "approvals": [
            {
                "role": "domain-owner",
                "user": "alice",
                "decision": "approved",
                "at": "2025-01-01T11:00:00Z",
                "evidenceDigest": EVIDENCE,
                "valid": True,
            },
            {"role": "engineering-owner", "decision": "pending"},
        ],
        "blockers": [
            {
                "kind": "governance",
                "reason": "ApprovalMissing",
                "message": "engineering-owner has not signed off",
            }
        ],
    }
    annotations = {
        "approval.modelsmith.io/domain-owner": f"approved:alice:{EVIDENCE}",
        "approval.modelsmith.io/engineering-owner": f"approved:bob:{EVIDENCE}",
    }
    text = render_evidence(make_gate(status, annotations), NOW)
    chain = text[text.index("Approver chain") :].splitlines()
    assert chain[1].split() == ["#", "ROLE", "ALLOWED", "DECISION", "BY", "WHEN", "COUNTS", "NOTE"]
    assert chain[2].split()[:8] == [
        "1",
        "domain-owner",
        "alice,",
        "group:domain-owners",
        "approved",
        "alice",
        "1h",
        "00m",
    ]
    assert chain[2].split()[9] == "yes"
    assert "approved  bob" in chain[3]
    assert "the operator has not recorded it yet" in chain[3]
    assert "State:          Pending   decision -   approvals 1/2" in text
    assert "governance  ApprovalMissing  engineering-owner has not signed off" in text


def test_evidence_flags_annotations_on_other_evidence_and_malformed_ones() -> None:
    annotations = {
        "approval.modelsmith.io/domain-owner": "approved:alice:ffffffffffff",
        "approval.modelsmith.io/engineering-owner": "yes please",
    }
    text = render_evidence(make_gate(None, annotations), NOW)
    assert "names other evidence than this gate's" in text
    assert "annotation is not <decision>:<user>:<evidence>" in text


def test_evidence_shows_the_promotion_record_and_rollback() -> None:
    status = {
        "state": "RolledBack",
        "decision": "Promote",
        "approvalsSummary": "2/2",
        "promotionRecord": samples.promotion_record(),
        "rollback": {
            "state": "RolledBack",
            "by": "bob",
            "at": "2025-01-01T11:45:00Z",
            "recordDigest": "sha256:" + "ab" * 32,
        },
    }
    text = render_evidence(make_gate(status), NOW)
    assert "Promotion record (write-once)" in text
    assert "sha256:" + "fedcba9876543210" * 4 in text
    assert "Approved by: domain-owner alice, engineering-owner bob" in text
    assert "Rollback posture: RolledBack by bob 15m 00s ago" in text


# --- sign-offs ----------------------------------------------------------------------------------


def test_approval_patch_names_the_user_and_the_evidence() -> None:
    gate = make_gate()
    patch = plugin.approval_patch(gate, "engineering-owner", "approved", "bob")
    assert patch == {
        "metadata": {
            "annotations": {"approval.modelsmith.io/engineering-owner": f"approved:bob:{EVIDENCE}"}
        }
    }
    key, value = next(iter(patch["metadata"]["annotations"].items()))
    parsed = parse_approval_annotation(key, value)
    assert parsed is not None and parsed.matches(gate.spec.evidence.digest)
    assert parsed.role == "engineering-owner" and parsed.decision == "approved"


def test_rejection_patch() -> None:
    patch = plugin.approval_patch(make_gate(), "domain-owner", "rejected", "alice@example.com")
    value = patch["metadata"]["annotations"]["approval.modelsmith.io/domain-owner"]
    assert value == f"rejected:alice@example.com:{EVIDENCE}"


def test_approval_for_a_role_outside_the_chain_is_refused() -> None:
    with pytest.raises(session.PluginError) as caught:
        plugin.approval_patch(make_gate(), "cfo", "approved", "alice")
    assert caught.value.code == 2
    assert "domain-owner, engineering-owner" in str(caught.value)


def test_rollback_patch() -> None:
    assert plugin.rollback_patch("bob") == {
        "metadata": {"annotations": {"modelsmith.io/rollback": "bob"}}
    }


# --- reading and helpers ------------------------------------------------------------------------


def test_lenient_ignores_fields_a_newer_operator_writes() -> None:
    obj = samples.run()
    obj["status"] = run_status()
    obj["status"]["futureField"] = {"x": 1}
    obj["status"]["history"][0]["futureDetail"] = "y"
    run = session.lenient(IterationRun, obj)
    assert run.status is not None and run.status.iteration == 3
    assert "futureField" in obj["status"]  # the input is not changed


def test_lenient_still_refuses_wrong_values() -> None:
    obj = samples.run()
    obj["status"] = {"phase": "Dancing", "unknown": 1}
    with pytest.raises(ValidationError):
        session.lenient(IterationRun, obj)


def test_api_error_message_prefers_the_servers_words() -> None:
    class RefusedError(Exception):
        status = 422
        reason = "Unprocessable Entity"
        body = json.dumps(
            {
                "kind": "Status",
                "message": 'promotiongates.modelsmith.io "g" is forbidden: '
                "ValidatingAdmissionPolicy 'modelsmith-approvals' denied request: "
                "mallory is not an approver",
            }
        )

    assert session.api_error_message(RefusedError()).endswith("mallory is not an approver")

    class BareError(Exception):
        status = 503
        reason = "Service Unavailable"
        body = None

    assert session.api_error_message(BareError()) == "503 Service Unavailable"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0s"), (45, "45s"), (185, "3m 05s"), (7800, "2h 10m"), (3 * 86400 + 4 * 3600, "3d 4h")],
)
def test_duration(seconds: float, expected: str) -> None:
    assert fmt.duration(seconds) == expected


def test_table_aligns_columns() -> None:
    text = fmt.table(["A", "LONGER"], [["xxxx", "y"], ["z", ""]])
    assert text.splitlines() == ["A     LONGER", "xxxx  y", "z"]


def test_shorten_flattens_and_cuts() -> None:
    assert fmt.shorten("a\n  b", 10) == "a b"
    assert fmt.shorten("word " * 20, 20) == "word word word wo..."
    assert len(fmt.shorten("word " * 20, 20)) == 20


def test_progress_bar_bounds() -> None:
    assert fmt.progress_bar(0, 10) == "[----------]"
    assert fmt.progress_bar(100, 10) == "[##########]"
    assert fmt.progress_bar(250, 10) == "[##########]"


def test_parser_requires_a_role_to_sign() -> None:
    parser = plugin.build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["approve", "gate-1"])
    args = parser.parse_args(
        ["reject", "gate-1", "--role", "domain-owner", "--as", "bob", "-n", "ns"]
    )
    assert (args.command, args.gate, args.role, args.as_user, args.namespace) == (
        "reject",
        "gate-1",
        "domain-owner",
        "bob",
        "ns",
    )
