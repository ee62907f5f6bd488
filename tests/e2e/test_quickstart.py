"""The quickstart end to end: a real operator process drives real trainer and evaluator Jobs
(run by the node agent) from Pending to Staged, approvers sign the gate as themselves, and the
promotion is recorded and served."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from modelsmith.api.gate import PromotionGate
from modelsmith.api.gate_annotations import evidence_prefix
from modelsmith.contract.layout import for_gate
from modelsmith.contract.scenario import Scenario
from modelsmith.evidence.sanitiser import Sanitiser
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

from .quickstart import (
    QUICKSTART,
    RUN,
    build_base_model,
    get,
    manifests,
    prepare_namespace,
    run_events,
)

pytestmark = pytest.mark.slow
FORWARD = ["EvaluatingBaseline", "Training", "Assessing"]


def _ledger(store: ObjectStore, namespace: str) -> list[dict[str, Any]]:
    s3 = store.client()
    # Keyed by the run's UID (runs/<ns>/<run>-<key>/): the one run of the name here.
    prefix = f"runs/{namespace}/{RUN}-"
    listed = s3.list_objects_v2(Bucket=store.bucket, Prefix=prefix).get("Contents", [])
    keys = sorted(o["Key"] for o in listed if "/ledger/" in o["Key"])
    return [json.loads(s3.get_object(Bucket=store.bucket, Key=k)["Body"].read()) for k in keys]


def _phase(cluster: Cluster, namespace: str, wanted: set[str]) -> dict[str, Any] | None:
    body = get(cluster, "irun", namespace, RUN)
    phase = (body.get("status") or {}).get("phase")
    if phase in {"Failed", "Plateaued", "Stopped", "Blocked"} - wanted:
        raise AssertionError(f"run ended {phase}: {json.dumps(body['status'], indent=1)}")
    return body if phase in wanted else None


def test_quickstart_reaches_staged_and_is_promoted(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
) -> None:
    log_start = operator.log_path.stat().st_size
    model_uri = f"s3://{object_store.bucket}/models/{namespace}/tiny-support-base/"
    build_base_model(object_store, model_uri)
    prepare_namespace(cluster, object_store, namespace)
    # A platform admin's approver policy for this namespace: its role comes first on the gate.
    cluster.kubectl("label", "namespace", namespace, f"modelsmith.io/e2e-policy={namespace[-6:]}")
    policy = {
        "apiVersion": "modelsmith.io/v1alpha1",
        "kind": "ApproverPolicy",
        "metadata": {"name": namespace},
        "spec": {
            "namespaceSelector": {"matchLabels": {"modelsmith.io/e2e-policy": namespace[-6:]}},
            "roles": [{"role": "compliance", "users": ["carol"]}],
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(policy))
    try:
        _staged_and_promoted(operator, cluster, object_store, namespace, model_uri, log_start)
    finally:
        cluster.kubectl("delete", "approverpolicy", namespace, check=False)


def _staged_and_promoted(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    model_uri: str,
    log_start: int,
) -> None:
    for doc in manifests(namespace, model_uri):
        cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))

    body = wait_for(
        lambda: _phase(cluster, namespace, {"Staged"}),
        timeout=900,
        interval=2,
        description="quickstart run Staged",
    )
    status = body["status"]

    # Every transition is in the ledger, in order, before status claims it.
    ledger = _ledger(object_store, namespace)
    assert [e["sequence"] for e in ledger] == list(range(len(ledger)))
    transitions = [(e["from"], e["to"]) for e in ledger if e["kind"] == "transition"]
    assert transitions[0] == ("Pending", "EvaluatingBaseline")
    assert transitions[-2:] == [("Assessing", "PromotionStaging"), ("PromotionStaging", "Staged")]
    phases = [to for _, to in transitions]
    assert phases[:3] == FORWARD
    assert status["ledger"]["entries"] == len(ledger)

    # Every transition is also an Event on the run (sent in the background: soon after).
    transition_reasons = {e["reason"] for e in ledger if e["kind"] == "transition"}

    wait_for(
        lambda: transition_reasons <= {e["reason"] for e in run_events(cluster, namespace)},
        30,
        "an Event for every transition of the run",
        interval=1.0,
    )

    # Scores: the base is weak, the staged candidate clears the threshold on held-out scenarios.
    scores = status["scores"]
    assert scores["baseline"] < 0.6
    assert scores["heldout"] >= scores["target"] == 0.6
    assert status["candidate"]["iteration"] >= 1

    # Exactly one Job per phase, iteration and attempt.
    jobs = json.loads(cluster.kubectl("get", "jobs", "-n", namespace, "-o", "json").stdout)
    names = [j["metadata"]["name"] for j in jobs["items"]]
    assert len(names) == len(set(names))
    assert len(names) == sum(1 for e in ledger if e["kind"] == "transition" and e["to"] in FORWARD)

    # The gate: evidence digest, then approvals in chain order as the approvers themselves.
    gate_name = status["gateName"]
    gate = get(cluster, "gate", namespace, gate_name)
    digest = gate["spec"]["evidence"]["digest"]
    prefix = evidence_prefix(digest)
    # The chain the operator staged: the policy's role, then the intake's; and who asked.
    roles = [a["role"] for a in gate["spec"]["approvers"]]
    assert roles == ["compliance", "domain-owner", "engineering-owner"], roles
    assert gate["spec"]["requestedBy"] == "admin"
    signers = (("carol", "compliance"), ("alice", "domain-owner"), ("bob", "engineering-owner"))
    for user, role in signers:
        cluster.kubectl(
            "annotate",
            "gate",
            gate_name,
            "-n",
            namespace,
            f"approval.modelsmith.io/{role}=approved:{user}:{prefix}",
            as_user=user,
        )
    promoted = wait_for(
        lambda: (
            (s := get(cluster, "gate", namespace, gate_name).get("status") or {}).get("state")
            == "Promoted"
            and s
        ),
        timeout=60,
        description="gate Promoted",
    )
    record = promoted["promotionRecord"]
    assert record["evidenceDigest"] == digest
    assert [a["user"] for a in record["approvals"]] == ["carol", "alice", "bob"]
    serving = get(cluster, "configmap", namespace, "support-triage-serving")
    assert serving["data"]["model"]
    # The operator ran as the chart's ServiceAccount with the chart's RBAC: nothing refused.
    with operator.log_path.open(errors="replace") as handle:
        handle.seek(log_start)
        refusals = [line for line in handle if "cannot" in line and "system:serviceaccount" in line]
    assert not refusals, refusals[:3]

    # The bundle and report of this run carry none of the benchmark's own text.
    _assert_evidence_clean(cluster, object_store, namespace)
    # The evidence names the Benchmark content the run pinned at its start.
    layout = for_gate(PromotionGate.model_validate(gate), object_store.bucket)
    key = f"{layout.prefix}evidence/bundle.json"
    raw = object_store.client().get_object(Bucket=layout.bucket, Key=key)["Body"].read()
    bundle = json.loads(raw)
    pinned = status["pinned"]
    assert bundle["benchmark"]["digest"] == pinned["benchmarkDigest"]
    assert (
        pinned["benchmarkDigest"]
        == get(cluster, "benchmark", namespace, "support-triage")["status"]["digest"]
    )

    metrics = operator.metrics()
    assert "modelsmith_phase_transitions_total{" in metrics
    assert 'to_phase="Staged"' in metrics
    assert "modelsmith_jobs_launched_total{" in metrics
    assert "modelsmith_gate_decisions_total{" in metrics
    assert "[redacted" not in metrics  # labels are readable names, and nothing needed redacting


def _assert_evidence_clean(cluster: Cluster, store: ObjectStore, namespace: str) -> None:
    s3 = store.client()
    # The gate finds its evidence by its own spec (store location and run key).
    gate = get(cluster, "promotiongate", namespace, RUN)
    layout = for_gate(PromotionGate.model_validate(gate), store.bucket)
    prefix = f"{layout.prefix}evidence/"
    texts = {
        name: s3.get_object(Bucket=layout.bucket, Key=prefix + name)["Body"].read().decode()
        for name in ("bundle.json", "report.html")
    }
    benchmark = yaml.safe_load((QUICKSTART / "benchmark.yaml").read_text())
    scenarios = [Scenario.model_validate(s) for s in benchmark["spec"]["scenarios"]]
    sanitiser = Sanitiser.for_scenarios(scenarios).allowing(RUN, "support-triage")
    for name, text in texts.items():
        for scenario in scenarios:
            assert scenario.prompt not in text, f"{name} carries the prompt of {scenario.id}"
        assert sanitiser.is_clean(text), f"{name}: {[f.kind for f in sanitiser.check(text)]}"
    assert "sha256:" in texts["bundle.json"]
