"""Only the operator's own gates count. A namespace user cannot create a PromotionGate even with
RBAC that allows it (admission: modelsmith-gate-creation), and a gate that got in anyway (made by
a cluster admin, who passes admission) is flagged by the gate controller and never promoted, even
fully signed: no promotion record, no pointer moved. The gate controller runs in-process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client
from staged import forget_staged_runs, stage_gate

from modelsmith.api import samples
from modelsmith.controllers.gate.reconcile import reconcile as reconcile_gate
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.rbac import granted, wait_until_allowed
from testbed.waiting import wait_for

# This module's own runtime: its reconciles run here, in the test process.
RT = Runtime()

pytestmark = [pytest.mark.cluster, pytest.mark.inprocess]


@pytest.fixture(autouse=True)
def _forget_staged_runs() -> Iterator[None]:
    yield
    forget_staged_runs()


ZERO = "sha256:" + "0" * 64
SERVING = "support-triage-serving"
OPERATOR_SA = "system:serviceaccount:modelsmith-system:modelsmith-operator"


@pytest.fixture
def gates_ns(crds: Cluster, namespace: str, operator_kubeconfig: Any) -> str:
    """alice and bob may sign gates; mallory, a namespace editor, was also granted gate create
    by an extra Role; the serving ConfigMap serves an older model."""
    gates = ["promotiongates"]
    docs = [
        *granted(namespace, "signers", ["alice", "bob"], gates, ["get", "patch"]),
        *granted(namespace, "gate-maker", ["mallory"], gates, ["create", "get"]),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": SERVING, "namespace": namespace},
            "data": {"model": "s3://modelsmith/models/v1/"},
        },
    ]
    crds.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    checks = [("patch", "promotiongates", "alice"), ("create", "promotiongates", "mallory")]
    wait_until_allowed(crds, namespace, checks)
    return namespace


def _hand_made(namespace: str, name: str = "hand-made") -> dict[str, Any]:
    gate = samples.gate(name, namespace)
    gate["spec"]["runRef"]["name"] = "no-such-run"
    gate["spec"]["evidence"]["digest"] = ZERO
    return gate


def _create(cluster: Cluster, gate: dict[str, Any], *flags: str, user: str | None = None) -> Any:
    return cluster.kubectl(
        "create", *flags, "-f", "-", input=yaml.safe_dump(gate), as_user=user, check=False
    )


def test_a_namespace_user_cannot_create_a_gate_even_with_rbac_for_it(
    crds: Cluster, gates_ns: str
) -> None:
    gate = _hand_made(gates_ns)
    # mallory holds `create` on promotiongates: RBAC lets her through, admission does not.
    refused = wait_for(
        lambda: (r := _create(crds, gate, "--dry-run=server", user="mallory")).returncode and r,
        30,
        "the gate-creation policy in force",
    )
    assert "modelsmith-gate-creation" in refused.stderr, refused.stderr
    assert "user mallory may not write promotiongates/status" in refused.stderr
    real = _create(crds, gate, user="mallory")
    assert real.returncode != 0 and "modelsmith-gate-creation" in real.stderr
    # carol has no Role at all: RBAC refuses her first.
    plain = _create(crds, gate, user="carol")
    assert plain.returncode != 0 and "cannot create resource" in plain.stderr
    # The operator's ServiceAccount, with the chart's RBAC, may (it writes gate status).
    operator = _create(crds, gate, "--dry-run=server", f"--as={OPERATOR_SA}")
    assert operator.returncode == 0, operator.stderr
    assert kube_gates(crds, gates_ns) == []


def kube_gates(cluster: Cluster, namespace: str) -> list[str]:
    out = cluster.kubectl("get", "promotiongates", "-n", namespace, "-o", "name")
    return out.stdout.split()


def _sign_all(cluster: Cluster, namespace: str, name: str, digest: str) -> None:
    prefix = digest.removeprefix("sha256:")[:12]
    for user, role in (("alice", "domain-owner"), ("bob", "engineering-owner")):
        cluster.kubectl(
            "annotate",
            "-n",
            namespace,
            f"promotiongate/{name}",
            f"approval.modelsmith.io/{role}=approved:{user}:{prefix}",
            as_user=user,
        )


def _condition(gate: dict[str, Any], type_: str) -> dict[str, Any] | None:
    conditions = (gate.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == type_), None)


def _record_stored(store: ObjectStore, namespace: str) -> bool:
    """Whether any promotion record was written for a run of `namespace` (whatever its key)."""
    listed = store.client().list_objects_v2(Bucket=store.bucket, Prefix=f"runs/{namespace}/")
    return any(o["Key"].endswith("/promotion-record.json") for o in listed.get("Contents", []))


def _warnings(namespace: str, name: str) -> list[Any]:
    assert RT.events.flush(30)
    return [
        e
        for e in client.CoreV1Api(kube.api_client()).list_namespaced_event(namespace).items
        if e.involved_object.name == name and e.reason == "NotStagedByOperator"
    ]


@pytest.mark.parametrize("forgery", ["no such run", "zero digest on a real run"])
def test_a_gate_the_operator_did_not_stage_is_flagged_and_never_promoted(
    operator_env: None,
    crds: Cluster,
    gates_ns: str,
    object_store: ObjectStore,
    forgery: str,
) -> None:
    """A cluster admin passes admission; the gate controller still acts on nothing but what a
    run staged. Signed by the whole chain, the forged gate is flagged, once, and moves
    nothing."""
    gate = _hand_made(gates_ns)
    if forgery == "zero digest on a real run":
        # The run staged its own gate; the admin adds another naming it, run as controller.
        genuine = stage_gate(gates_ns, samples.gate("genuine", gates_ns))
        gate["spec"]["runRef"]["name"] = genuine["spec"]["runRef"]["name"]
        gate["metadata"]["ownerReferences"] = genuine["metadata"]["ownerReferences"]
    created = _create(crds, gate)
    assert created.returncode == 0, created.stderr
    _sign_all(crds, gates_ns, "hand-made", ZERO)
    for _ in range(2):
        reconcile_gate(RT, gates_ns, "hand-made")
    body = kube.get_custom("promotiongates", gates_ns, "hand-made")
    assert body is not None
    flag = _condition(body, "Authentic")
    assert flag is not None and (flag["status"], flag["reason"]) == (
        "False",
        "NotStagedByOperator",
    )
    why = "does not exist" if forgery == "no such run" else "staged another gate"
    assert "not staged by the Modelsmith operator" in flag["message"] and why in flag["message"]
    assert (body.get("status") or {}).get("state") in (None, "Pending")
    assert _condition(body, "Promoted") is None
    assert len(_warnings(gates_ns, "hand-made")) == 1
    assert not _record_stored(object_store, gates_ns)
    served = client.CoreV1Api(kube.api_client()).read_namespaced_config_map(SERVING, gates_ns)
    assert served.data == {"model": "s3://modelsmith/models/v1/"}


def test_the_gate_the_run_staged_is_acted_on(
    operator_env: None, crds: Cluster, gates_ns: str
) -> None:
    """The allowed path: the gate its run recorded is judged as usual (and never flagged)."""
    staged = stage_gate(gates_ns, samples.gate("genuine", gates_ns))
    _sign_all(crds, gates_ns, "genuine", staged["spec"]["evidence"]["digest"])
    reconcile_gate(RT, gates_ns, "genuine")
    body = kube.get_custom("promotiongates", gates_ns, "genuine")
    assert body is not None
    assert _condition(body, "Authentic") is None
    approved = _condition(body, "Approved")
    assert approved is not None and approved["status"] == "True", body.get("status")
