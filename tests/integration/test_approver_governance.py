"""Who may approve, who requested a run, which serving pointer may move: issue 17's approval and
serving attacks tried on the real API server as alice, a namespace editor (ClusterRole `edit`
plus the chart's editor rules), and the allowed path for the same user. The gate reconciler runs
in-process (like test_gate) so each step is deterministic."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client
from staged import OLD_MODEL, SERVING, forget_staged_runs, gate_layout, serving_pointer, stage_gate

from modelsmith.api import samples
from modelsmith.api.intake import ModelIntake
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.rbac import binding, granted, wait_until_allowed

# This module's own runtime: its reconciles run here, in the test process.
RT = Runtime()

pytestmark = [pytest.mark.cluster, pytest.mark.inprocess]


@pytest.fixture(autouse=True)
def _forget_staged_runs() -> Iterator[None]:
    yield
    forget_staged_runs()


GATE = "support-triage-run-1-iter-3"
RUN = "support-triage-run-1"
PREFIX = samples.SAMPLE_DIGEST.removeprefix("sha256:")[:12]
PEOPLE = ("alice", "bob", "carol")
BOT = "approver-bot"
OPTED_IN = {"modelsmith.io/serving-pointer": "true"}


def _rbac(namespace: str) -> list[dict[str, Any]]:
    """alice edits the namespace as the chart's editor role lets her; everyone (and a bot
    ServiceAccount) may patch gates, as the chart's approver role grants."""
    bot = {"kind": "ServiceAccount", "name": BOT, "namespace": namespace}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": BOT, "namespace": namespace},
        },
        *granted(
            namespace,
            "modelsmith-editor",
            PEOPLE[:1],
            ["benchmarks", "modelintakes", "iterationruns"],
            ["get", "list", "create", "update", "patch", "delete"],
        ),
        binding(namespace, "alice-edit", PEOPLE[:1], cluster_role="edit"),
        *granted(namespace, "gate-approver", [*PEOPLE, bot], ["promotiongates"],
                 ["get", "list", "patch"]),
    ]


@pytest.fixture
def team(crds: Cluster, namespace: str, operator_env: None) -> str:
    """alice's namespace, with an opted-in serving pointer."""
    pointer = serving_pointer(namespace)
    crds.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([*_rbac(namespace), pointer]))

    wait_until_allowed(
        crds, namespace, [("create", "modelintakes", "alice"), ("patch", "promotiongates", "bob")]
    )
    return namespace


@pytest.fixture
def other_namespace(crds: Cluster) -> Iterator[str]:
    """Another team's namespace (alice has no rights there) with its own opted-in pointer."""
    name = f"t-other-{secrets.token_hex(3)}"
    core = client.CoreV1Api(crds.api_client())
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_config_map(
        name, {"metadata": {"name": SERVING, "labels": OPTED_IN}, "data": {"model": OLD_MODEL}}
    )
    yield name
    core.delete_namespace(name, propagation_policy="Background")


def _apply(cluster: Cluster, doc: dict[str, Any], as_user: str = "alice") -> Any:
    return cluster.kubectl("create", "-f", "-", input=json.dumps(doc), as_user=as_user, check=False)


def _intake(
    namespace: str, approvers: list[dict[str, Any]], serving_ns: str | None = None
) -> dict[str, Any]:
    body = samples.intake(namespace=namespace)
    body["spec"]["servingTarget"] = {"configMapName": SERVING, "namespace": serving_ns or namespace}
    body["spec"]["promotion"]["approvers"] = approvers
    return body


BOB = [{"role": "domain-owner", "users": ["bob"]}]


def test_a_self_approving_or_system_chain_is_refused_at_apply(crds: Cluster, team: str) -> None:
    for chain, rule in (
        ([{"role": "domain-owner", "groups": ["system:authenticated"]}], "system:"),
        ([{"role": "domain-owner", "users": ["system:serviceaccount:x:y"]}], "system:"),
        ([{"role": "domain-owner", "users": ["alice"]}], "may not name themselves"),
    ):
        refused = _apply(crds, _intake(team, chain))
        assert refused.returncode != 0 and rule in refused.stderr, refused.stderr
    allowed = _apply(crds, _intake(team, BOB))
    assert allowed.returncode == 0, allowed.stderr


def test_a_serving_target_without_consent_or_in_kube_system_is_refused_at_apply(
    crds: Cluster, team: str, other_namespace: str
) -> None:
    refused = _apply(crds, _intake(team, BOB, other_namespace))
    assert refused.returncode != 0, refused.stdout
    assert "may not patch it themselves" in refused.stderr, refused.stderr
    assert f"ConfigMap {other_namespace}/{SERVING}" in refused.stderr
    system = _apply(crds, _intake(team, BOB, "kube-system"), as_user="admin")
    assert system.returncode != 0 and "system namespaces" in system.stderr, system.stderr


def test_an_intake_cannot_drop_or_widen_the_policy_roles(crds: Cluster, team: str) -> None:
    from modelsmith.chain import staged_chain

    token = secrets.token_hex(3)
    crds.kubectl("label", "namespace", team, f"modelsmith.io/policy-test={token}")
    policy = {
        "apiVersion": "modelsmith.io/v1alpha1",
        "kind": "ApproverPolicy",
        "metadata": {"name": f"t-compliance-{token}"},
        "spec": {
            "namespaceSelector": {"matchLabels": {"modelsmith.io/policy-test": token}},
            "roles": [{"role": "compliance", "users": ["carol"]}],
            "approvalTtlHours": 24,
        },
    }
    # A namespace editor can neither write nor remove the admin's policy.
    forbidden = _apply(crds, policy)
    assert forbidden.returncode != 0 and "forbidden" in forbidden.stderr.lower()
    crds.kubectl("create", "-f", "-", input=json.dumps(policy))
    try:
        gone = crds.kubectl(
            "delete", "approverpolicy", policy["metadata"]["name"], as_user="alice", check=False
        )
        assert gone.returncode != 0 and "forbidden" in gone.stderr.lower()
        # The intake drops compliance and tries to hold it itself: the staged chain keeps it.
        chain = [*BOB, {"role": "compliance", "users": ["mallory"]}]
        body = _intake(team, chain)
        body["spec"]["promotion"]["approvalTtlHours"] = 72
        assert _apply(crds, body).returncode == 0
        staged = staged_chain(team, ModelIntake.model_validate(body))
        assert [(a.role, a.users) for a in staged.approvers] == [
            ("compliance", ["carol"]),
            ("domain-owner", ["bob"]),
        ]
        assert staged.ttl_hours == 24
    finally:
        crds.kubectl("delete", "approverpolicy", policy["metadata"]["name"], check=False)


def test_a_run_must_name_its_requester(crds: Cluster, team: str) -> None:
    run = samples.run(namespace=team)
    run["metadata"]["annotations"] = {}
    missing = _apply(crds, run)
    assert missing.returncode != 0
    assert 'modelsmith.io/requested-by: "alice"' in missing.stderr, missing.stderr
    run["metadata"]["annotations"] = {"modelsmith.io/requested-by": "bob"}
    wrong = _apply(crds, run)
    assert wrong.returncode != 0 and '"alice"' in wrong.stderr, wrong.stderr
    run["metadata"]["annotations"] = {"modelsmith.io/requested-by": "alice"}
    assert _apply(crds, run).returncode == 0
    changed = crds.kubectl(
        "annotate",
        "--overwrite",
        "-n",
        team,
        f"irun/{RUN}",
        "modelsmith.io/requested-by=bob",
        as_user="alice",
        check=False,
    )
    assert changed.returncode != 0 and "immutable" in changed.stderr, changed.stderr


def _gate(cluster: Cluster, namespace: str, serving_ns: str) -> None:
    gate = samples.gate(GATE, namespace)
    gate["spec"] |= {
        "requestedBy": "alice",
        "approvers": [
            {"role": "domain-owner", "users": ["alice", "bob"], "groups": ["domain-owners"]},
            {"role": "engineering-owner", "users": ["carol"]},
        ],
        "serving": {"configMapName": SERVING, "namespace": serving_ns},
    }
    # As the operator stages it (the gate controller acts on nothing else).
    stage_gate(namespace, gate)


def _sign(cluster: Cluster, namespace: str, role: str, user: str, *impersonate: str) -> Any:
    value = f"approval.modelsmith.io/{role}=approved:{user}:{PREFIX}"
    args = ["annotate", "-n", namespace, f"promotiongate/{GATE}", "--overwrite", value]
    if impersonate:
        return cluster.kubectl(*args, *impersonate, check=False)
    return cluster.kubectl(*args, as_user=user, check=False)


def test_the_requester_and_service_accounts_cannot_sign(crds: Cluster, team: str) -> None:
    _gate(crds, team, team)
    mine = _sign(crds, team, "domain-owner", "alice")
    assert mine.returncode != 0 and "requested the run" in mine.stderr, mine.stderr
    sa = f"system:serviceaccount:{team}:{BOT}"
    bot = _sign(crds, team, "domain-owner", sa, "--as", sa, "--as-group", "domain-owners")
    assert bot.returncode != 0 and "system: identities" in bot.stderr, bot.stderr
    assert _sign(crds, team, "domain-owner", "bob").returncode == 0
    # The requester is part of the gate's immutable spec.
    patch = json.dumps({"spec": {"requestedBy": "mallory"}})
    edited = crds.kubectl(
        "patch", "-n", team, f"promotiongate/{GATE}", "--type", "merge", "-p", patch, check=False
    )
    assert edited.returncode != 0 and "requestedBy is immutable" in edited.stderr


def _reconcile(namespace: str) -> dict[str, Any]:
    from modelsmith.controllers.gate.reconcile import reconcile

    reconcile(RT, namespace, GATE)
    got = kube.get_custom("promotiongates", namespace, GATE)
    assert got is not None
    return got


def test_a_pointer_moves_only_with_its_namespace_consent(
    crds: Cluster, object_store: ObjectStore, team: str, other_namespace: str
) -> None:
    _gate(crds, team, other_namespace)  # staged before the other team withdrew consent
    assert _sign(crds, team, "domain-owner", "bob").returncode == 0
    _reconcile(team)
    assert _sign(crds, team, "engineering-owner", "carol").returncode == 0
    status = _reconcile(team)["status"]
    assert status["state"] != "Promoted", status
    blocker = status["blockers"][0]
    assert (blocker["kind"], blocker["reason"]) == ("governance", "ServingTargetNotAllowed")
    assert f"ConfigMap {other_namespace}/{SERVING}" in blocker["message"]
    assert "modelsmith.io/serving-allowed-namespaces" in blocker["message"]
    core = client.CoreV1Api(crds.api_client())
    assert core.read_namespaced_config_map(SERVING, other_namespace).data == {"model": OLD_MODEL}
    layout = gate_layout(team, GATE)
    record_key = layout.evidence("promotion-record.json").removeprefix(
        f"s3://{object_store.bucket}/"
    )
    listed = object_store.client().list_objects_v2(Bucket=object_store.bucket, Prefix=record_key)
    assert listed.get("KeyCount", 0) == 0, "no promotion record without consent"

    # The owning team consents: the same gate promotes, moving only that pointer.
    crds.kubectl(
        "annotate",
        "configmap",
        SERVING,
        "-n",
        other_namespace,
        f"modelsmith.io/serving-allowed-namespaces=some-team,{team}",
    )
    status = _reconcile(team)["status"]
    assert status["state"] == "Promoted", status
    moved = core.read_namespaced_config_map(SERVING, other_namespace).data
    assert moved["model"] == layout.adapter(3), moved
    assert core.read_namespaced_config_map(SERVING, team).data == {"model": OLD_MODEL}

    # Consent withdrawn: a rollback is refused before anything is recorded or moved.
    crds.kubectl(
        "label", "configmap", SERVING, "-n", other_namespace, "modelsmith.io/serving-pointer-"
    )
    crds.kubectl(
        "annotate", "-n", team, f"promotiongate/{GATE}", "modelsmith.io/rollback=bob", as_user="bob"
    )
    status = _reconcile(team)["status"]
    assert status["rollback"]["state"] == "Failed", status
    assert status["blockers"][0]["reason"] == "ServingTargetNotAllowed"
    assert "not opted in" in status["blockers"][0]["message"]
    assert core.read_namespaced_config_map(SERVING, other_namespace).data == moved


def test_a_pointer_in_kube_system_is_never_moved(crds: Cluster, team: str) -> None:
    _gate(crds, team, "kube-system")
    for role, user in (("domain-owner", "bob"), ("engineering-owner", "carol")):
        assert _sign(crds, team, role, user).returncode == 0
        status = _reconcile(team)["status"]
    assert status["state"] != "Promoted"
    assert status["blockers"][0]["reason"] == "ServingTargetNotAllowed"
    assert "system namespace" in status["blockers"][0]["message"]
    core = client.CoreV1Api(crds.api_client())
    names = [c.metadata.name for c in core.list_namespaced_config_map("kube-system").items]
    assert SERVING not in names
