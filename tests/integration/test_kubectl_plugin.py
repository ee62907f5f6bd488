"""`kubectl modelsmith` against the real API server: status and evidence read what the operator
wrote, approve / reject / rollback set the documented annotations as the user the API server
authenticated (own credentials or impersonation), and refusals print the server's message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from modelsmith.api import samples
from modelsmith.cli import kubectl_plugin as plugin
from testbed.cluster import Cluster
from testbed.waiting import wait_for

# The run carries a hand-written, operator-like status; an operator process would reconcile it.
pytestmark = [pytest.mark.cluster, pytest.mark.inprocess]

RUN = "support-triage-run-1"
GATE = "support-triage-run-1-iter-3"
EVIDENCE = samples.SAMPLE_DIGEST.removeprefix("sha256:")[:12]


def _apply(cluster: Cluster, manifest: dict[str, Any], namespace: str) -> None:
    manifest = {**manifest, "metadata": {**manifest["metadata"], "namespace": namespace}}
    cluster.kubectl("create", "-f", "-", input=yaml.safe_dump(manifest))


def _patch_status(cluster: Cluster, plural: str, name: str, namespace: str, status: Any) -> None:
    cluster.kubectl(
        "patch",
        plural,
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


RUN_STATUS = {
    "phase": "Staged",
    "lastTransition": {
        "from": "PromotionStaging",
        "to": "Staged",
        "reason": "ThresholdCleared",
        "message": "Iteration 3 cleared the 0.60 threshold.",
        "time": "2025-01-01T11:55:00Z",
    },
    "iteration": 3,
    "attempt": 1,
    "scores": {
        "current": 0.71,
        "previousAccepted": 0.58,
        "baseline": 0.42,
        "target": 0.6,
        "heldout": 0.67,
    },
    "strongestFailureCluster": {
        "dimensions": {"capability": "refunds", "risk": "high"},
        "failures": 2,
        "label": "refunds/high",
        "scenarioIds": ["triage-01", "triage-05"],
    },
    "nextAction": "Waiting for sign-off on PromotionGate support-triage-run-1-iter-3.",
    "blockedBy": {
        "kind": "governance",
        "reason": "ApprovalMissing",
        "message": "domain-owner has not signed off",
    },
    "gateName": GATE,
    "history": [
        {
            "iteration": 0,
            "score": 0.42,
            "accepted": True,
            "decision": "Baseline",
            "reason": "The base model's evaluation.",
            "finishedAt": "2025-01-01T11:10:00Z",
        },
        {
            "iteration": 3,
            "score": 0.71,
            "heldoutScore": 0.67,
            "accepted": True,
            "decision": "Stage",
            "reason": "Cleared the threshold.",
            "recipe": "lora r8 a16 steps60 lr1e-3 weight3 on refunds/high",
            "finishedAt": "2025-01-01T11:55:00Z",
        },
    ],
    "gpuSecondsUsed": 0,
}


@pytest.fixture
def objects(crds: Cluster, namespace: str) -> Iterator[str]:
    """The samples' intake, run and gate in `namespace`, the run with an operator-like status,
    and RBAC as the chart's approver role grants it: alice and bob may read and annotate gates;
    mallory may read them but not annotate them."""
    for manifest in (samples.intake(), samples.run(), samples.gate()):
        _apply(crds, manifest, namespace)
    _patch_status(crds, "iterationrun", RUN, namespace, RUN_STATUS)
    roles = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "approver", "namespace": namespace},
            "rules": [
                {
                    "apiGroups": ["modelsmith.io"],
                    "resources": ["promotiongates"],
                    "verbs": ["get", "list", "watch", "patch"],
                },
                {
                    "apiGroups": ["modelsmith.io"],
                    "resources": ["iterationruns"],
                    "verbs": ["get", "list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "reader", "namespace": namespace},
            "rules": [
                {"apiGroups": ["modelsmith.io"], "resources": ["promotiongates"], "verbs": ["get"]}
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "approvers", "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "approver",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"},
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "readers", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory"}
            ],
        },
    ]
    crds.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(roles))
    yield namespace


def kubectl_modelsmith(
    cluster: Cluster, capsys: pytest.CaptureFixture[str], *args: str, context: str = "admin"
) -> tuple[int, str, str]:
    """Runs the plugin in this process, as the given kubeconfig context."""
    code = plugin.main([*args, "--kubeconfig", str(cluster.kubeconfig), "--context", context])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def sign(
    cluster: Cluster,
    capsys: pytest.CaptureFixture[str],
    verb: str,
    role: str,
    namespace: str,
    *extra: str,
    context: str = "admin",
) -> tuple[int, str, str]:
    """`kubectl modelsmith approve|reject <gate> --role <role> -n <namespace> <extra>`."""
    return kubectl_modelsmith(
        cluster, capsys, verb, GATE, "--role", role, "-n", namespace, *extra, context=context
    )


def gate_annotations_of(cluster: Cluster, namespace: str) -> dict[str, str]:
    gate = json.loads(cluster.kubectl("get", "gate", GATE, "-n", namespace, "-o", "json").stdout)
    result: dict[str, str] = gate["metadata"].get("annotations") or {}
    return result


def test_status_shows_the_run(
    cluster: Cluster, objects: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = kubectl_modelsmith(cluster, capsys, "status", RUN, "-n", objects)
    assert code == 0, err
    assert out.startswith(f"IterationRun {RUN}  (namespace {objects}, intake support-triage)")
    assert "Staged  (" in out and "PromotionStaging -> Staged, ThresholdCleared" in out
    assert "current 0.71 | previous accepted 0.58 | baseline 0.42 | held-out 0.67" in out
    assert "clears the target by 0.11 (+0.29 on the baseline)" in out
    assert "refunds/high: 2 failing (triage-01, triage-05)" in out
    assert "governance: ApprovalMissing" in out
    assert f"kubectl modelsmith evidence {GATE} -n {objects}" in out
    history = out[out.index("History") :].splitlines()
    assert [row.split()[0] for row in history[2:]] == ["0", "3"]
    for index in range(24):
        assert samples.scenario(index)["prompt"] not in out


def test_status_of_a_missing_run(
    cluster: Cluster, objects: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = kubectl_modelsmith(cluster, capsys, "status", "no-such-run", "-n", objects)
    assert code == 1
    assert f"iterationrun no-such-run: not found in namespace {objects}" in err


def test_evidence_shows_the_gate(
    cluster: Cluster, objects: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = kubectl_modelsmith(
        cluster, capsys, "evidence", GATE, "-n", objects, context="alice"
    )
    assert code == 0, err
    assert f"approvals name {EVIDENCE}" in out
    assert "Score:          0.71 (+0.29 on the baseline)" in out
    assert "Latency p95:    180 ms" in out
    assert "domain-owner       alice, group:domain-owners     pending" in out


def test_approve_with_own_credentials(
    cluster: Cluster, objects: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = sign(cluster, capsys, "approve", "domain-owner", objects, context="alice")
    assert code == 0, err
    assert f"{GATE}: domain-owner approved by alice on evidence {EVIDENCE}" in out
    value = f"approved:alice:{EVIDENCE}"
    assert gate_annotations_of(cluster, objects)["approval.modelsmith.io/domain-owner"] == value

    # What the operator has not recorded yet shows as such.
    code, out, _ = kubectl_modelsmith(cluster, capsys, "evidence", GATE, "-n", objects)
    # An operator running elsewhere in the test session may already have recorded the sign-off;
    # either way the evidence view shows alice's approval as pending record or as recorded.
    assert "the operator has not recorded it yet" in out or "alice" in out


def test_approve_and_reject_through_impersonation(
    cluster: Cluster, objects: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The admin acts as bob: the annotation names bob, the user the API server sees."""
    impersonated = ("--as", "bob", "--as-group", "engineering-owners")
    code, out, err = sign(cluster, capsys, "reject", "engineering-owner", objects, *impersonated)
    assert code == 0, err
    assert "engineering-owner rejected by bob" in out
    assert (
        gate_annotations_of(cluster, objects)["approval.modelsmith.io/engineering-owner"]
        == f"rejected:bob:{EVIDENCE}"
    )
    code, out, err = sign(cluster, capsys, "approve", "engineering-owner", objects, "--as", "bob")
    assert code == 0, err
    assert f"(replaces the earlier sign-off rejected:bob:{EVIDENCE})" in out
    assert (
        gate_annotations_of(cluster, objects)["approval.modelsmith.io/engineering-owner"]
        == f"approved:bob:{EVIDENCE}"
    )


def test_refusal_prints_the_api_servers_message(
    cluster: Cluster, objects: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = sign(cluster, capsys, "approve", "domain-owner", objects, context="mallory")
    assert code == 1
    assert out == ""
    assert "the API server refused" in err
    assert 'User "mallory" cannot patch resource "promotiongates"' in err
    assert "approval.modelsmith.io/domain-owner" not in gate_annotations_of(cluster, objects)


def test_role_outside_the_chain_is_refused_before_writing(
    cluster: Cluster, objects: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = sign(cluster, capsys, "approve", "cfo", objects, context="alice")
    assert code == 2
    assert "not in the approver chain" in err
    assert not any(k.startswith("approval.") for k in gate_annotations_of(cluster, objects))


def test_rollback_only_of_a_promoted_gate(
    cluster: Cluster, objects: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = kubectl_modelsmith(
        cluster, capsys, "rollback", GATE, "-n", objects, context="bob"
    )
    assert code == 1
    assert "only a Promoted gate can be rolled back" in err

    _patch_status(
        cluster,
        "promotiongate",
        GATE,
        objects,
        {
            "state": "Promoted",
            "decision": "Promote",
            "approvalsSummary": "2/2",
            "promotionRecord": samples.promotion_record(),
            "rollback": {"state": "Available"},
        },
    )
    code, out, err = kubectl_modelsmith(
        cluster, capsys, "rollback", GATE, "-n", objects, context="bob"
    )
    assert code == 0, err
    assert "rollback requested by bob" in out
    assert gate_annotations_of(cluster, objects)["modelsmith.io/rollback"] == "bob"

    code, _, err = sign(cluster, capsys, "approve", "domain-owner", objects, context="alice")
    assert code == 1 and "is Promoted: there is nothing left to sign off" in err


def test_approval_policy_decides_who_signs(
    cluster: Cluster, objects: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the chart's admission policy installed, an approver listed for one role cannot sign
    another, and the plugin prints the policy's refusal."""
    admission = pytest.importorskip(
        "modelsmith.evidence.admission", reason="the admission policy is not written yet"
    )
    manifests = admission.approval_policy_manifests()
    # The session's crds fixture may have installed the same policy, and later tests rely on
    # it: only what this test added is removed afterwards.
    added = [
        doc
        for doc in manifests
        if cluster.kubectl("get", doc["kind"], doc["metadata"]["name"], check=False).returncode
        != 0
    ]
    cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        "-",
        input=yaml.safe_dump_all(manifests),
    )
    try:

        def admitted(user: str) -> bool:
            # A server-side dry run passes admission without writing anything.
            attempt = cluster.kubectl(
                "annotate",
                "gate",
                GATE,
                "-n",
                objects,
                "--dry-run=server",
                f"approval.modelsmith.io/domain-owner=approved:{user}:{EVIDENCE}",
                as_user=user,
                check=False,
            )
            return attempt.returncode == 0

        # A new policy takes effect once the API server's informer has it, and after an API
        # server restart it refuses everyone until it has resolved its paramKind again: wait
        # until it tells the two apart.
        wait_for(
            lambda: admitted("alice") and not admitted("bob"),
            timeout=60,
            description="the approval policy to be active",
        )
        code, out, err = sign(cluster, capsys, "approve", "domain-owner", objects, context="bob")
        assert code == 1 and out == ""
        assert "the API server refused" in err and "ValidatingAdmissionPolicy" in err, err
        assert "approval.modelsmith.io/domain-owner" not in gate_annotations_of(cluster, objects)

        code, _, err = sign(cluster, capsys, "approve", "domain-owner", objects, context="alice")
        assert code == 0, err
        assert (
            gate_annotations_of(cluster, objects)["approval.modelsmith.io/domain-owner"]
            == f"approved:alice:{EVIDENCE}"
        )
    finally:
        for doc in added:
            cluster.kubectl("delete", doc["kind"], doc["metadata"]["name"], "--ignore-not-found")
