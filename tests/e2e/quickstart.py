"""Setting up the quickstart in a test namespace: the same manifests a newcomer applies, with the
namespace and model location rewritten, plus the ServiceAccount and Secret the intake names."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
import yaml

import quickstart_model
from modelsmith.api.run import REQUESTED_BY_ANNOTATION
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart"
RUN = "support-triage-run-1"
"""The quickstart's IterationRun."""


def target_name(namespace: str) -> str:
    """The quickstart's ExecutionTarget as a test namespace gets it (targets are cluster-wide)."""
    return f"quickstart-{namespace}"


QUICKSTART_FILES = (
    "execution-target.yaml",
    "benchmark.yaml",
    "serving-pointer.yaml",
    "intake.yaml",
    "run.yaml",
)


def manifests(
    namespace: str,
    model_uri: str,
    folder: Path = QUICKSTART,
    files: tuple[str, ...] = QUICKSTART_FILES,
    model: str = "tiny",
) -> list[dict[str, Any]]:
    """An example's documents in order (the quickstart's by default): the platform admin's
    ExecutionTarget (admitting and running Jobs in `namespace` only) first, then the namespace's
    own objects, every intake on the quickstart's target and `model_uri`, as `model`
    (hack/quickstart_model.py) runs them."""
    docs: list[dict[str, Any]] = []
    for name in files:
        for doc in yaml.safe_load_all((folder / name).read_text()):
            if not doc:
                continue
            if doc["kind"] == "ExecutionTarget":
                doc["metadata"]["name"] = target_name(namespace)
                doc["spec"]["namespaceSelector"] = {
                    "matchLabels": {"kubernetes.io/metadata.name": namespace}
                }
                doc["spec"]["jobNamespace"] = namespace
                docs.append(doc)
                continue
            doc["metadata"]["namespace"] = namespace
            if doc["kind"] == "ModelIntake":
                spec = doc["spec"]
                spec["baseModel"]["uri"] = model_uri
                spec["executionTargetRef"]["name"] = target_name(namespace)
                spec["servingTarget"]["namespace"] = namespace
            if doc["kind"] == "IterationRun":  # applied as the test bed's admin
                doc["metadata"].setdefault("annotations", {})[REQUESTED_BY_ANNOTATION] = "admin"
            docs.append(quickstart_model.patch(doc, model))
    return docs


def build_base_model(
    store: ObjectStore,
    uri: str,
    model: str = "tiny",
    benchmark: Path = QUICKSTART / "benchmark.yaml",
) -> None:
    """The example's base model (hack/quickstart_model.py; the tiny one built from
    `benchmark`'s vocabulary), published where the intake says it is."""
    quickstart_model.publish(model, uri, store.env(), benchmark)


def prepare_namespace(cluster: Cluster, store: ObjectStore, namespace: str) -> None:
    cluster.kubectl("create", "serviceaccount", "modelsmith-runner", "-n", namespace)
    # The Jobs' credential, which the store refuses for a run's ledger/ and evidence/.
    secret = store.job_secret(namespace)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(secret))
    # What the chart's approver role grants: reading gates and annotating them. Who may set
    # which approval is the admission policy's business, not RBAC's.
    approver = {
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
                "resources": ["iterationruns", "modelintakes", "benchmarks"],
                "verbs": ["get", "list", "watch"],
            },
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "approvers", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "approver"},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
            for user in ("alice", "bob", "carol", "mallory")
        ],
    }
    for doc in (approver, binding):
        cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))


def apply_quickstart(
    cluster: Cluster,
    store: ObjectStore,
    namespace: str,
    model_uri: str,
    intake: dict[str, Any] | None = None,
    run: dict[str, Any] | None = None,
    target: dict[str, Any] | None = None,
    model: str = "tiny",
) -> None:
    """The quickstart applied in `namespace` on `model` (hack/quickstart_model.py), each kind's
    spec merged with the given changes."""
    prepare_namespace(cluster, store, namespace)
    for doc in manifests(namespace, model_uri, model=model):
        if doc["kind"] == "ExecutionTarget":
            merge(doc["spec"], target or {})
        if doc["kind"] == "ModelIntake":
            merge(doc["spec"], intake or {})
        if doc["kind"] == "IterationRun":
            merge(doc["spec"], run or {})
        cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))


def merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = value


def get(cluster: Cluster, kind: str, namespace: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout
    result: dict[str, Any] = json.loads(out)
    return result


def run_status(cluster: Cluster, namespace: str, run: str = RUN) -> dict[str, Any]:
    status: dict[str, Any] = get(cluster, "irun", namespace, run).get("status") or {}
    return status


def wait_run(
    cluster: Cluster,
    namespace: str,
    phases: Collection[str],
    timeout: float,
    run: str = RUN,
    interval: float = 2.0,
) -> dict[str, Any]:
    """The run's status once its phase is one of `phases`."""

    def reached() -> dict[str, Any] | None:
        status = run_status(cluster, namespace, run)
        return status if status.get("phase") in phases else None

    return wait_for(
        reached,
        timeout=timeout,
        interval=interval,
        description=f"run {run} in {' or '.join(sorted(phases))}",
    )


def real_model_evidence(
    cluster: Cluster, namespace: str, status: dict[str, Any], baseline: float, threshold: float
) -> dict[str, Any]:
    """The evidence of the gate a run on the real model staged (`status`, the run's): the base
    model's score, a held-out score that clears `threshold`, and the latency of a 135 M-parameter
    model on a CPU (per decision, at the evaluator's batch of 8: tens of milliseconds at the very
    least, where the tiny model takes a few)."""
    evidence: dict[str, Any] = get(cluster, "gate", namespace, status["gateName"])["spec"][
        "evidence"
    ]
    assert evidence["baselineScore"] == pytest.approx(baseline, abs=1e-5), evidence
    assert evidence["heldoutScore"] >= threshold, evidence
    assert evidence["latencyP95Ms"] >= 10.0, evidence
    return evidence


def run_events(cluster: Cluster, namespace: str, run: str = RUN) -> list[dict[str, Any]]:
    """The Events whose object is named `run` (the run's, and its gate's of the same name)."""
    out = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={run}",
        "-o", "json",
    ).stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items
