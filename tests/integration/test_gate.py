"""The PromotionGate reconciler against a real API server and S3 server: approvers annotate the
gate with their own credentials, and `modelsmith.controllers.gate.reconcile` runs in-process after
each step (no operator process, so every step is deterministic)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException
from staged import OLD_MODEL, SERVING, forget_staged_runs, gate_layout, serving_pointer, stage_gate

from modelsmith.api import samples
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.rbac import granted, wait_until_allowed

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
OTHER_PREFIX = "fedcba987654"
APPROVERS = ("alice", "bob", "carol", "mallory")


@pytest.fixture
def gate_ns(crds: Cluster, namespace: str, operator_env: None) -> str:
    """A namespace with the sample gate, the serving ConfigMap serving an older model, and RBAC
    letting the test users annotate gates."""
    rbac = [
        *granted(
            namespace, "gate-approver", APPROVERS, ["promotiongates"], ["get", "list", "patch"]
        ),
        serving_pointer(namespace),
    ]
    crds.kubectl("create", "-f", "-", input=yaml.safe_dump_all(rbac))
    stage_gate(namespace, samples.gate(GATE, namespace))

    wait_until_allowed(crds, namespace, [("patch", "promotiongates", "bob")])
    return namespace


def _reconcile(namespace: str) -> dict[str, Any]:
    from modelsmith.controllers.gate.reconcile import reconcile

    reconcile(RT, namespace, GATE)
    return _gate(namespace)


def _gate(namespace: str) -> dict[str, Any]:
    got = kube.get_custom("promotiongates", namespace, GATE)
    assert got is not None
    return got


def _sign(
    cluster: Cluster,
    namespace: str,
    user: str,
    role: str,
    decision: str = "approved",
    prefix: str = PREFIX,
) -> None:
    cluster.kubectl(
        "annotate",
        "-n",
        namespace,
        f"promotiongate/{GATE}",
        "--overwrite",
        f"approval.modelsmith.io/{role}={decision}:{user}:{prefix}",
        as_user=user,
    )


def _unsign(cluster: Cluster, namespace: str, user: str, role: str) -> None:
    cluster.kubectl(
        "annotate",
        "-n",
        namespace,
        f"promotiongate/{GATE}",
        f"approval.modelsmith.io/{role}-",
        as_user=user,
    )


def _configmap(namespace: str) -> dict[str, Any]:
    cm: dict[str, Any] = kube.rest("GET", kube.core_path("configmaps", namespace, SERVING))
    return cm


def _stored(store: ObjectStore, uri: str) -> bytes | None:
    key = uri.removeprefix(f"s3://{store.bucket}/")
    try:
        body: bytes = store.client().get_object(Bucket=store.bucket, Key=key)["Body"].read()
    except store.client().exceptions.NoSuchKey:
        return None
    return body


def _events(namespace: str) -> list[dict[str, Any]]:
    assert RT.events.flush(30)  # the reconciles ran here; their Events are sent in the background
    return [
        e
        for e in kube.rest("GET", kube.core_path("events", namespace))["items"]
        if e["involvedObject"]["name"] == GATE
    ]


def _condition(gate: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in gate["status"]["conditions"] if c["type"] == type_)


def _reasons(gate: dict[str, Any]) -> list[str]:
    return [b["reason"] for b in gate["status"].get("blockers") or []]


def _status_patch(cluster: Cluster, namespace: str, patch: dict[str, Any]) -> Any:
    return cluster.kubectl(
        "patch",
        "-n",
        namespace,
        f"promotiongate/{GATE}",
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        json.dumps(patch),
        check=False,
    )


def test_approvals_in_order_promote_then_rollback_restores(
    crds: Cluster, object_store: ObjectStore, gate_ns: str
) -> None:
    ns = gate_ns
    layout = gate_layout(ns, GATE)
    candidate = layout.adapter(3)

    gate = _reconcile(ns)
    assert gate["status"]["state"] == "Pending"
    assert gate["status"]["approvalsSummary"] == "0/2"
    assert [a["role"] for a in gate["status"]["approvals"]] == ["domain-owner", "engineering-owner"]

    _sign(crds, ns, "alice", "domain-owner")
    gate = _reconcile(ns)
    assert gate["status"]["state"] == "Pending"
    assert gate["status"]["approvalsSummary"] == "1/2"
    alice = gate["status"]["approvals"][0]
    assert (alice["user"], alice["decision"], alice["valid"], alice["evidenceDigest"]) == (
        "alice",
        "approved",
        True,
        PREFIX,
    )

    _sign(crds, ns, "bob", "engineering-owner")
    gate = _reconcile(ns)
    status = gate["status"]
    assert status["state"] == "Promoted", status
    assert status["decision"] == "Promote"
    assert status["approvalsSummary"] == "2/2"
    assert status["blockers"] == []
    assert status["rollback"] == {"state": "Available"}
    assert _condition(gate, "Approved")["status"] == "True"
    assert _condition(gate, "Promoted")["status"] == "True"

    # The record is in the object store, write-once, and status mirrors its digest.
    stored = _stored(object_store, layout.evidence("promotion-record.json"))
    assert stored is not None
    record = json.loads(stored)
    promotion = status["promotionRecord"]
    assert promotion["digest"] == "sha256:" + hashlib.sha256(stored).hexdigest()
    assert promotion["candidateLabel"] == "support-triage-run-1-iter-3"
    assert promotion["evidenceDigest"] == samples.SAMPLE_DIGEST
    assert [(a["role"], a["user"]) for a in promotion["approvals"]] == [
        ("domain-owner", "alice"),
        ("engineering-owner", "bob"),
    ]
    assert record["gate"]["name"] == GATE and record["run"] == RUN
    # The record names the content it serves: the adapter's digest the gate was staged with.
    assert record["candidate"] == {
        "label": "support-triage-run-1-iter-3",
        "iteration": 3,
        "adapterDigest": samples.SAMPLE_ADAPTER_DIGEST,
    }
    assert promotion["candidateDigest"] == samples.SAMPLE_ADAPTER_DIGEST
    assert record["evidenceDigest"] == samples.SAMPLE_DIGEST
    assert record["time"] == promotion["time"]
    assert record["approvals"] == promotion["approvals"]
    assert record["serving"]["before"] == {
        "value": OLD_MODEL,
        "candidate": "support-triage-v1",
        "digest": "",
    }
    assert record["serving"]["after"] == {
        "value": candidate,
        "candidate": "support-triage-run-1-iter-3",
        "digest": samples.SAMPLE_ADAPTER_DIGEST,
    }

    # The serving pointer names the candidate and its weights' digest, and keeps what it
    # replaced (a pointer written by hand before Modelsmith carried no digest).
    cm = _configmap(ns)
    assert cm["data"] == {
        "model": candidate,
        "model.digest": samples.SAMPLE_ADAPTER_DIGEST,
        "model.previous": OLD_MODEL,
        "model.previous.digest": "",
    }
    assert cm["metadata"]["annotations"]["modelsmith.io/candidate"] == "support-triage-run-1-iter-3"

    # Reconciling again changes nothing: no write to the gate or the pointer.
    version = gate["metadata"]["resourceVersion"]
    cm_version = cm["metadata"]["resourceVersion"]
    assert _reconcile(ns)["metadata"]["resourceVersion"] == version
    assert _configmap(ns)["metadata"]["resourceVersion"] == cm_version

    # The API server refuses any change to the record, even through the status subresource.
    refused = _status_patch(
        crds, ns, {"status": {"promotionRecord": {"time": "2030-01-01T00:00:00Z"}}}
    )
    assert refused.returncode != 0
    assert "promotionRecord is write-once" in refused.stderr, refused.stderr
    refused = _status_patch(crds, ns, {"status": {"promotionRecord": None}})
    assert refused.returncode != 0
    assert _gate(ns)["status"]["promotionRecord"] == promotion

    # Rollback restores the previous pointer and is recorded beside the promotion record.
    crds.kubectl(
        "annotate",
        "-n",
        ns,
        f"promotiongate/{GATE}",
        "modelsmith.io/rollback=alice",
        as_user="alice",
    )
    gate = _reconcile(ns)
    status = gate["status"]
    assert status["state"] == "RolledBack", status
    rolled = _stored(object_store, layout.evidence("rollback-record.json"))
    assert rolled is not None
    rollback = json.loads(rolled)
    assert status["rollback"]["state"] == "RolledBack"
    assert status["rollback"]["by"] == "alice"
    assert status["rollback"]["recordDigest"] == "sha256:" + hashlib.sha256(rolled).hexdigest()
    assert status["rollback"]["at"] == rollback["time"]
    assert rollback["promotionRecordDigest"] == promotion["digest"]
    assert rollback["serving"]["after"] == {
        "value": OLD_MODEL,
        "candidate": "support-triage-v1",
        "digest": "",
    }
    assert status["promotionRecord"] == promotion
    assert _condition(gate, "Promoted")["reason"] == "RolledBack"
    cm = _configmap(ns)
    assert cm["data"]["model"] == OLD_MODEL
    assert cm["data"]["model.digest"] == "" and cm["data"]["model.previous"] == ""
    assert cm["metadata"]["annotations"]["modelsmith.io/candidate"] == "support-triage-v1"
    version = gate["metadata"]["resourceVersion"]
    assert _reconcile(ns)["metadata"]["resourceVersion"] == version

    # Every state change has an Event in plain words; none carries an object location.
    stored = _events(ns)
    reasons = {e["reason"] for e in stored}
    assert {"AwaitingApproval", "Approved", "Promoted", "RolledBack"} <= reasons, reasons
    for event in stored:
        message = event["message"]
        assert "s3://" not in message and "runs/" not in message, message


def test_out_of_order_sign_off_blocks_until_signed_again(crds: Cluster, gate_ns: str) -> None:
    ns = gate_ns
    _sign(crds, ns, "bob", "engineering-owner")
    gate = _reconcile(ns)
    assert gate["status"]["state"] == "Blocked"
    assert _reasons(gate) == ["OutOfOrder"]
    blocker = gate["status"]["blockers"][0]
    assert blocker["kind"] == "governance"
    assert "before domain-owner had signed" in blocker["message"]
    assert gate["status"]["approvalsSummary"] == "0/2"
    assert any(e["reason"] == "OutOfOrder" and e["type"] == "Warning" for e in _events(ns))

    # bob signed before alice: alice signing does not make bob's earlier sign-off count. Status
    # keeps times in whole seconds; bob's is moved a minute back rather than waiting a second.
    approvals = gate["status"]["approvals"]
    approvals[1]["at"] = "2025-01-01T00:00:00Z"
    moved = _status_patch(crds, ns, {"status": {"approvals": approvals}})
    assert moved.returncode == 0, moved.stderr
    _sign(crds, ns, "alice", "domain-owner")
    gate = _reconcile(ns)
    assert _reasons(gate) == ["OutOfOrder"]
    assert gate["status"]["approvalsSummary"] == "1/2"
    assert gate["status"]["state"] == "Blocked"

    _unsign(crds, ns, "bob", "engineering-owner")
    assert _reconcile(ns)["status"]["state"] == "Pending"
    _sign(crds, ns, "bob", "engineering-owner")
    assert _reconcile(ns)["status"]["state"] == "Promoted"


def test_rejection_rejects_with_a_governance_blocker(
    crds: Cluster, object_store: ObjectStore, gate_ns: str
) -> None:
    ns = gate_ns
    _sign(crds, ns, "alice", "domain-owner")
    _sign(crds, ns, "bob", "engineering-owner", decision="rejected")
    gate = _reconcile(ns)
    status = gate["status"]
    assert status["state"] == "Rejected"
    assert status["decision"] == "Reject"
    assert status["blockers"][0] == {
        "kind": "governance",
        "reason": "Rejected",
        "message": "bob rejected the candidate as engineering-owner",
    }
    assert "promotionRecord" not in status
    assert _condition(gate, "Approved")["status"] == "False"
    assert _condition(gate, "Promoted")["reason"] == "Rejected"
    assert any(e["reason"] == "Rejected" for e in _events(ns))
    layout = gate_layout(ns, GATE)
    assert _stored(object_store, layout.evidence("promotion-record.json")) is None
    assert _configmap(ns)["data"] == {"model": OLD_MODEL}

    # A rejection is final: withdrawing it does not reopen the gate.
    _unsign(crds, ns, "bob", "engineering-owner")
    assert _reconcile(ns)["status"]["state"] == "Rejected"


def test_approval_on_stale_evidence_blocks(crds: Cluster, gate_ns: str) -> None:
    ns = gate_ns
    _sign(crds, ns, "alice", "domain-owner", prefix=OTHER_PREFIX)
    gate = _reconcile(ns)
    assert gate["status"]["state"] == "Blocked"
    assert _reasons(gate) == ["ApprovalStale"]
    alice = gate["status"]["approvals"][0]
    assert alice["valid"] is False and alice["evidenceDigest"] == OTHER_PREFIX
    assert "other evidence" in alice["reason"]

    _sign(crds, ns, "alice", "domain-owner")
    gate = _reconcile(ns)
    assert gate["status"]["state"] == "Pending" and _reasons(gate) == []


def test_a_record_written_before_a_restart_is_reused(
    crds: Cluster, object_store: ObjectStore, gate_ns: str
) -> None:
    """A promotion interrupted after the record was written finishes with that record: the
    gate's status recorded the record's digest before it was written (a record the status does
    not vouch for is a forgery: tests/integration/test_tamper.py)."""
    ns = gate_ns
    layout = gate_layout(ns, GATE)
    earlier = {
        "schema": "modelsmith.io/promotion-record/v1",
        "gate": {"namespace": ns, "name": GATE},
        "run": RUN,
        "candidate": {"label": "support-triage-run-1-iter-3", "iteration": 3},
        "evidenceDigest": samples.SAMPLE_DIGEST,
        "approvals": [
            {"role": "domain-owner", "user": "alice", "at": "2025-01-01T10:00:00Z"},
            {"role": "engineering-owner", "user": "bob", "at": "2025-01-01T11:00:00Z"},
        ],
        "time": "2025-01-01T11:00:05Z",
        "serving": {
            "retainPrevious": True,
            "before": {"value": OLD_MODEL, "candidate": "support-triage-v1"},
            "after": {"value": layout.adapter(3), "candidate": "support-triage-run-1-iter-3"},
        },
    }
    data = json.dumps(earlier).encode()
    key = layout.evidence("promotion-record.json").removeprefix(f"s3://{object_store.bucket}/")
    object_store.client().put_object(Bucket=object_store.bucket, Key=key, Body=data)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    kube.patch_status("promotiongates", ns, GATE, {"recordDigest": digest})

    _sign(crds, ns, "alice", "domain-owner")
    _sign(crds, ns, "bob", "engineering-owner")
    status = _reconcile(ns)["status"]
    assert status["state"] == "Promoted"
    assert status["promotionRecord"]["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert status["promotionRecord"]["time"] == "2025-01-01T11:00:05Z"
    assert _stored(object_store, layout.evidence("promotion-record.json")) == data
    assert _configmap(ns)["data"] == {
        "model": layout.adapter(3),
        "model.digest": samples.SAMPLE_ADAPTER_DIGEST,
        "model.previous": OLD_MODEL,
        "model.previous.digest": "",
    }


def test_a_status_write_decided_on_a_stale_read_is_refused(crds: Cluster, gate_ns: str) -> None:
    """Two replicas acting at once for a moment (a peering handover) cannot set a promoted gate
    back: each status write carries the resourceVersion its decision was read at."""
    from modelsmith.controllers.gate.status import write

    ns = gate_ns
    stale = _gate(ns)
    _sign(crds, ns, "alice", "domain-owner")
    _sign(crds, ns, "bob", "engineering-owner")
    assert _reconcile(ns)["status"]["state"] == "Promoted"

    with pytest.raises(ApiException) as refused:
        write(RT, stale, stale.get("status") or {}, {"state": "Approved"})
    assert refused.value.status == 409
    assert _gate(ns)["status"]["state"] == "Promoted"
