"""The approval admission policy on a real API server: its CEL compiles and type-checks, and
only the approver chain can sign off a PromotionGate, each approver in their own name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelsmith.api import samples
from modelsmith.api.kinds import ALL_KINDS
from modelsmith.evidence.admission import (
    POLICY_NAME,
    approval_policy_manifests,
    approval_policy_yaml,
)
from testbed.cluster import Cluster
from testbed.rbac import granted, wait_until_allowed
from testbed.waiting import wait_for

pytestmark = pytest.mark.cluster

CRDS = Path(__file__).resolve().parents[2] / "crds"
GATE = "support-triage-run-1"
PREFIX = samples.SAMPLE_DIGEST.removeprefix("sha256:")[:12]
DOMAIN = "approval.modelsmith.io/domain-owner"
ENGINEERING = "approval.modelsmith.io/engineering-owner"
USERS = ("alice", "bob", "carol", "mallory")


@pytest.fixture(scope="module")
def policy(cluster: Cluster) -> Cluster:
    """The CRDs and the policy, installed once and type-checked by the API server."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
    for kind in ALL_KINDS:
        cluster.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", f"crd/{kind.crd_name}"
        )
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", input=approval_policy_yaml()
    )
    assert _type_checking(cluster, POLICY_NAME).get("expressionWarnings", []) == []
    return cluster


def _type_checking(cluster: Cluster, name: str) -> dict[str, Any]:
    """The API server's type-checking report on the policy's current generation."""

    def checked() -> dict[str, Any] | None:
        out = cluster.kubectl("get", "validatingadmissionpolicy", name, "-o", "json")
        found = json.loads(out.stdout)
        status: dict[str, Any] = found.get("status", {})
        current = status.get("observedGeneration") == found["metadata"]["generation"]
        return status if current and "typeChecking" in status else None

    report: dict[str, Any] = wait_for(checked, 60, f"type checking of {name}")["typeChecking"]
    return report


def test_type_checking_reads_the_crd_schema(policy: Cluster) -> None:
    """The check the fixture relies on is real: a misspelt field is reported."""
    broken, _ = approval_policy_manifests("modelsmith-probe-broken")
    broken["spec"]["validations"].append({"expression": "object.spec.approver.size() > 0"})
    policy.kubectl("apply", "-f", "-", input=yaml.safe_dump(broken))
    try:
        warnings = _type_checking(policy, "modelsmith-probe-broken")["expressionWarnings"]
        assert "undefined field 'approver'" in warnings[0]["warning"], warnings
    finally:
        policy.kubectl("delete", "validatingadmissionpolicy", "modelsmith-probe-broken")


@pytest.fixture
def gate(policy: Cluster, namespace: str) -> str:
    """A gate created by admin with the chain domain-owner (alice, group domain-owners) then
    engineering-owner (bob); the test users may patch it, as the chart grants approvers."""
    manifest = samples.gate(name=GATE, namespace=namespace)
    manifest["spec"]["approvers"] = [
        {"role": "domain-owner", "users": ["alice"], "groups": ["domain-owners"]},
        {"role": "engineering-owner", "users": ["bob"]},
    ]
    policy.kubectl("create", "-f", "-", input=yaml.safe_dump(manifest))
    rbac = granted(
        namespace, "gate-approver", USERS, ["promotiongates"], ["get", "list", "patch", "update"]
    )
    policy.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac))

    wait_until_allowed(policy, namespace, [("patch", "promotiongates", "mallory")])
    return namespace


def _annotate(cluster: Cluster, namespace: str, user: str | None, *pairs: str) -> Any:
    return cluster.kubectl(
        "annotate",
        "--overwrite",
        "-n",
        namespace,
        f"promotiongate/{GATE}",
        *pairs,
        as_user=user,
        check=False,
    )


def _annotations(cluster: Cluster, namespace: str) -> dict[str, str]:
    out = cluster.kubectl("get", "promotiongate", GATE, "-n", namespace, "-o", "json")
    annotations: dict[str, str] = json.loads(out.stdout)["metadata"].get("annotations", {})
    return annotations


def _refused(result: Any, *phrases: str) -> None:
    assert result.returncode != 0, result.stdout
    assert POLICY_NAME in result.stderr, result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def test_alice_signs_off_her_role(policy: Cluster, gate: str) -> None:
    ok = _annotate(policy, gate, "alice", f"{DOMAIN}=approved:alice:{PREFIX}")
    assert ok.returncode == 0, ok.stderr
    assert _annotations(policy, gate)[DOMAIN] == f"approved:alice:{PREFIX}"
    # She may change her mind, and an unrelated change leaves her sign-off alone.
    ok = _annotate(policy, gate, "alice", f"{DOMAIN}=rejected:alice:{PREFIX}")
    assert ok.returncode == 0, ok.stderr


def test_bob_signs_off_his_role_by_name(policy: Cluster, gate: str) -> None:
    ok = _annotate(policy, gate, "bob", f"{ENGINEERING}=approved:bob:{PREFIX}")
    assert ok.returncode == 0, ok.stderr


def test_mallory_is_refused(policy: Cluster, gate: str) -> None:
    result = _annotate(policy, gate, "mallory", f"{DOMAIN}=approved:mallory:{PREFIX}")
    _refused(result, "user mallory may not sign off as domain-owner")
    assert DOMAIN not in _annotations(policy, gate)


def test_alice_cannot_claim_to_be_bob(policy: Cluster, gate: str) -> None:
    result = _annotate(policy, gate, "alice", f"{DOMAIN}=approved:bob:{PREFIX}")
    _refused(result, "names bob but the request comes from alice")


def test_bob_cannot_sign_off_another_role(policy: Cluster, gate: str) -> None:
    result = _annotate(policy, gate, "bob", f"{DOMAIN}=approved:bob:{PREFIX}")
    _refused(result, "user bob may not sign off as domain-owner")


def test_unknown_role_and_malformed_value_are_refused(policy: Cluster, gate: str) -> None:
    result = _annotate(
        policy, gate, "carol", f"approval.modelsmith.io/compliance=approved:carol:{PREFIX}"
    )
    _refused(result, "names no role in spec.approvers", "domain-owner, engineering-owner")
    result = _annotate(policy, gate, "alice", f"{DOMAIN}=approved")
    _refused(result, "must read <approved|rejected>", f"approved:alice:{PREFIX}")


def test_only_the_chain_can_withdraw_a_sign_off(policy: Cluster, gate: str) -> None:
    assert _annotate(policy, gate, "alice", f"{DOMAIN}=approved:alice:{PREFIX}").returncode == 0
    _refused(_annotate(policy, gate, "mallory", f"{DOMAIN}-"), "may not sign off as domain-owner")
    ok = _annotate(policy, gate, "alice", f"{DOMAIN}-")
    assert ok.returncode == 0, ok.stderr


def test_admin_may_change_unrelated_annotations(policy: Cluster, gate: str) -> None:
    assert _annotate(policy, gate, "alice", f"{DOMAIN}=approved:alice:{PREFIX}").returncode == 0
    ok = _annotate(policy, gate, None, "example.com/note=reviewed", "team=support")
    assert ok.returncode == 0, ok.stderr
    label = policy.kubectl(
        "label", "-n", gate, f"promotiongate/{GATE}", "modelsmith.io/stage=review", check=False
    )
    assert label.returncode == 0, label.stderr
    # Admin is in no role: the policy holds for cluster admins too.
    _refused(_annotate(policy, gate, None, f"{DOMAIN}=approved:admin:{PREFIX}"), "user admin")


def test_rollback_only_by_the_chain_in_their_own_name(policy: Cluster, gate: str) -> None:
    _refused(_annotate(policy, gate, "mallory", "modelsmith.io/rollback=mallory"), "rollback")
    _refused(_annotate(policy, gate, "bob", "modelsmith.io/rollback=alice"), "set it to bob")
    ok = _annotate(policy, gate, "bob", "modelsmith.io/rollback=bob")
    assert ok.returncode == 0, ok.stderr


def test_creating_a_gate_with_approvals_needs_the_chain(policy: Cluster, namespace: str) -> None:
    manifest = samples.gate(name="pre-approved", namespace=namespace)
    manifest["metadata"]["annotations"] = {DOMAIN: f"approved:alice:{PREFIX}"}
    result = policy.kubectl("create", "-f", "-", input=yaml.safe_dump(manifest), check=False)
    _refused(result, "user admin may not sign off as domain-owner")


def test_the_operator_creates_and_updates_gates(policy: Cluster, gate: str) -> None:
    """The operator's ServiceAccount is in no approver role, yet creates gates and updates them
    (finalizers, its own annotations) around the approvals people set."""
    account = f"system:serviceaccount:{gate}:modelsmith-operator"
    rbac = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "operator-gates", "namespace": gate},
            "rules": [
                {
                    "apiGroups": ["modelsmith.io"],
                    "resources": ["promotiongates"],
                    "verbs": ["create", "get", "list", "patch", "update"],
                },
                # As the chart grants it: whoever may write gate status may create gates
                # (modelsmith-gate-creation).
                {
                    "apiGroups": ["modelsmith.io"],
                    "resources": ["promotiongates/status"],
                    "verbs": ["get", "patch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "operator-gates", "namespace": gate},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "operator-gates",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": "modelsmith-operator", "namespace": gate}
            ],
        },
    ]
    policy.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac))
    wait_for(
        lambda: (
            policy.kubectl(
                "auth",
                "can-i",
                "create",
                "promotiongates",
                "-n",
                gate,
                f"--as={account}",
                check=False,
            ).stdout.strip()
            == "yes"
        ),
        30,
        "RBAC for the operator's ServiceAccount",
    )
    manifest = samples.gate(name="operator-made", namespace=gate)
    manifest["metadata"]["labels"] = {"modelsmith.io/run": "support-triage-run-1"}
    created = policy.kubectl(
        "create", f"--as={account}", "-f", "-", input=yaml.safe_dump(manifest), check=False
    )
    assert created.returncode == 0, created.stderr
    assert _annotate(policy, gate, "alice", f"{DOMAIN}=approved:alice:{PREFIX}").returncode == 0
    patch = {
        "metadata": {
            "finalizers": ["modelsmith.io/promotion"],
            "annotations": {"kopf.zalando.org/last-handled-configuration": "{}"},
        }
    }
    for target in (f"promotiongate/{GATE}", "promotiongate/operator-made"):
        updated = policy.kubectl(
            "patch",
            f"--as={account}",
            "-n",
            gate,
            target,
            "--type=merge",
            "-p",
            json.dumps(patch),
            check=False,
        )
        assert updated.returncode == 0, updated.stderr
    assert _annotations(policy, gate)[DOMAIN] == f"approved:alice:{PREFIX}"
    # Clearing the finalizer lets the namespace go.
    for target in (f"promotiongate/{GATE}", "promotiongate/operator-made"):
        policy.kubectl(
            "patch",
            "-n",
            gate,
            target,
            "--type=merge",
            "-p",
            json.dumps({"metadata": {"finalizers": None}}),
        )
    # Nor can it forge a sign-off.
    forged = policy.kubectl(
        "annotate",
        f"--as={account}",
        "-n",
        gate,
        f"promotiongate/{GATE}",
        f"{ENGINEERING}=approved:bob:{PREFIX}",
        check=False,
    )
    # (Its ServiceAccount is a system: identity, which can never sign, listed or not.)
    _refused(forged, "system: identities (ServiceAccounts, system users) can never sign off")
