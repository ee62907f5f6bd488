"""Nothing read back from the store is trusted without a digest the cluster holds, and a gate's
decision outlives any attempt to delete its run: issue 18's tampers tried against the real API
server and S3 server. The store is written with the bucket's own credentials, as anyone holding
a Job's could; the run is deleted as alice, a namespace editor. The gate reconciler runs
in-process (like test_gate) so each step is deterministic. The run side (a rewritten scorecard
or ledger entry, a planted bundle) is proven by the unit tests of contract.integrity and the
quickstart end to end, which verifies every object it reads back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from staged import OLD_MODEL, SERVING, forget_staged_runs, gate_layout, serving_pointer, stage_gate

from modelsmith.api import samples
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.rbac import binding, granted, wait_until_allowed
from testbed.waiting import wait_for

# This module's own runtime: its reconciles run here, in the test process.
RT = Runtime()

pytestmark = [pytest.mark.cluster, pytest.mark.inprocess]

GATE = "support-triage-run-1-iter-3"
RUN = "support-triage-run-1"
PREFIX = samples.SAMPLE_DIGEST.removeprefix("sha256:")[:12]
ELSEWHERE = "s3://attacker-bucket/models/backdoored/"


@pytest.fixture(autouse=True)
def _forget_staged_runs() -> Iterator[None]:
    yield
    forget_staged_runs()


def _rbac(namespace: str) -> list[dict[str, Any]]:
    """alice edits the namespace (ClusterRole edit plus the chart's editor rules); alice and bob
    may sign gates."""
    return [
        *granted(namespace, "modelsmith-editor", ["alice"], ["iterationruns"],
                 ["get", "list", "create", "patch", "delete"]),
        binding(namespace, "alice-edit", ["alice"], cluster_role="edit"),
        *granted(namespace, "gate-approver", ["alice", "bob"], ["promotiongates"],
                 ["get", "list", "patch"]),
    ]


@pytest.fixture
def team(crds: Cluster, namespace: str, operator_env: None) -> str:
    pointer = serving_pointer(namespace)
    crds.kubectl("create", "-f", "-", input=yaml.safe_dump_all([*_rbac(namespace), pointer]))
    stage_gate(namespace, samples.gate(GATE, namespace))

    wait_until_allowed(
        crds, namespace, [("delete", "iterationruns", "alice"), ("patch", "promotiongates", "bob")]
    )
    return namespace


def _sign(cluster: Cluster, namespace: str, user: str, role: str, decision: str) -> None:
    cluster.kubectl(
        "annotate",
        "-n",
        namespace,
        f"promotiongate/{GATE}",
        "--overwrite",
        f"approval.modelsmith.io/{role}={decision}:{user}:{PREFIX}",
        as_user=user,
    )


def _reconcile(namespace: str) -> dict[str, Any]:
    from modelsmith.controllers.gate.reconcile import reconcile

    reconcile(RT, namespace, GATE)
    got = kube.get_custom("promotiongates", namespace, GATE)
    assert got is not None
    return got


def _put(store: ObjectStore, uri: str, data: bytes) -> None:
    key = uri.removeprefix(f"s3://{store.bucket}/")
    store.client().put_object(Bucket=store.bucket, Key=key, Body=data)


def _keys(store: ObjectStore, prefix: str) -> list[str]:
    listed = store.client().list_objects_v2(Bucket=store.bucket, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def _assert_tamper_caught(
    namespace: str, store: ObjectStore, gate: dict[str, Any], record: str
) -> None:
    """Blocked on the governance reason, a Warning naming the record (never a key), the
    tampered object kept aside, and the serving pointer untouched."""
    status = gate["status"]
    assert status["state"] != "Promoted" and "promotionRecord" not in status
    blocker = status["blockers"][0]
    assert (blocker["kind"], blocker["reason"]) == ("governance", "EvidenceTampered")
    assert blocker["message"].startswith(record) and "s3://" not in blocker["message"]
    assert "runs/" not in blocker["message"]
    pointer = kube.rest("GET", kube.core_path("configmaps", namespace, SERVING))
    assert pointer["data"] == {"model": OLD_MODEL}
    assert RT.events.flush(30)
    warnings = [
        e
        for e in kube.rest("GET", kube.core_path("events", namespace))["items"]
        if e["involvedObject"]["name"] == GATE and e["reason"] == "EvidenceTampered"
    ]
    assert warnings and warnings[0]["type"] == "Warning"
    assert _keys(store, gate_layout(namespace, GATE).prefix + "quarantine/")


def test_a_forged_promotion_record_ships_nothing(
    crds: Cluster, object_store: ObjectStore, team: str
) -> None:
    """A record written into the gate's key before the operator writes its own (its pointer
    value elsewhere, approvals invented) is not the one the gate's status recorded."""
    layout = gate_layout(team, GATE)
    forged = {
        "schema": "modelsmith.io/promotion-record/v1",
        "gate": {"namespace": team, "name": GATE},
        "run": RUN,
        "candidate": {"label": "support-triage-run-1-iter-3", "iteration": 3},
        "evidenceDigest": samples.SAMPLE_DIGEST,
        "approvals": [{"role": "domain-owner", "user": "mallory", "at": "2025-01-01T10:00:00Z"}],
        "time": "2025-01-01T11:00:05Z",
        "serving": {"retainPrevious": False, "after": {"value": ELSEWHERE, "candidate": "x"}},
    }
    _put(object_store, layout.evidence("promotion-record.json"), json.dumps(forged).encode())
    _sign(crds, team, "alice", "domain-owner", "approved")
    _sign(crds, team, "bob", "engineering-owner", "approved")
    gate = _reconcile(team)
    _assert_tamper_caught(team, object_store, gate, "the promotion record")
    # Looked at again, it stays caught (and still ships nothing).
    assert _reconcile(team)["status"]["blockers"][0]["reason"] == "EvidenceTampered"


def test_an_overwritten_bundle_ships_nothing(
    crds: Cluster, object_store: ObjectStore, team: str
) -> None:
    """The run recorded the bundle's digest (the gate's evidence digest) before writing it;
    a bundle rewritten since is refused at promotion."""
    kube.patch_status(
        "iterationruns", team, RUN, {"integrity": {"bundleDigest": samples.SAMPLE_DIGEST}}
    )
    layout = gate_layout(team, GATE)
    _put(object_store, layout.evidence("bundle.json"), b'{"candidate": {"score": 1.0}}')
    _sign(crds, team, "alice", "domain-owner", "approved")
    _sign(crds, team, "bob", "engineering-owner", "approved")
    gate = _reconcile(team)
    _assert_tamper_caught(team, object_store, gate, "the evidence bundle")
    assert not _keys(object_store, layout.prefix + "evidence/promotion-record.json")


def _refused_delete(cluster: Cluster, namespace: str, name: str) -> str:
    """alice's delete of the run, refused by admission; the policy's message."""

    def refused() -> str | None:
        args = ["delete", "-n", namespace, f"iterationrun/{name}", "--dry-run=server"]
        tried = cluster.kubectl(*args, as_user="alice", check=False)
        return tried.stderr if tried.returncode != 0 else None

    message = wait_for(refused, 30, "the run-deletion policy to load")
    assert isinstance(message, str)
    real = cluster.kubectl(
        "delete", "-n", namespace, f"iterationrun/{name}", as_user="alice", check=False
    )
    assert real.returncode != 0
    return message


def test_a_run_with_a_pending_gate_cannot_be_deleted_by_an_editor(crds: Cluster, team: str) -> None:
    message = _refused_delete(crds, team, RUN)
    assert "modelsmith-run-deletion" in message and f"PromotionGate {GATE}" in message
    assert kube.get_custom("iterationruns", team, RUN) is not None
    assert kube.get_custom("promotiongates", team, GATE) is not None
    # The allowed path, for the same user: a run that staged nothing is hers to delete.
    kube.rest("POST", kube.custom_path("iterationruns", team), samples.run("scratch", team))
    crds.kubectl("delete", "-n", team, "iterationrun/scratch", "--wait=false", as_user="alice")


def test_a_rejected_gate_cannot_be_sidestepped_by_recreating_its_run(
    crds: Cluster, team: str
) -> None:
    _sign(crds, team, "bob", "engineering-owner", "rejected")
    assert _reconcile(team)["status"]["state"] == "Rejected"
    message = _refused_delete(crds, team, RUN)
    assert "modelsmith-run-deletion" in message
    # The run cannot be made again under its name (it still exists), so no fresh gate of that
    # name can be staged for the rejected candidate; the rejection stands.
    again = crds.kubectl(
        "create",
        "-f",
        "-",
        input=json.dumps(samples.run(RUN, team, "alice")),
        as_user="alice",
        check=False,
    )
    assert again.returncode != 0 and "AlreadyExists" in again.stderr
    assert kube.get_custom("promotiongates", team, GATE)["status"]["state"] == "Rejected"
