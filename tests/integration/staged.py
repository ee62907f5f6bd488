"""Objects as tests need them, made as admin (with `operator_env`): a run ready to launch, and a
PromotionGate as the operator stages it for tests that drive the gate controller in-process (its
IterationRun exists and is its controller, and the run's status.gate records it: the gate
controller acts on nothing else, controllers/gate/guard.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from kubernetes import client

from modelsmith import GROUP, VERSION
from modelsmith.api import samples
from modelsmith.api.gate import PromotionGate
from modelsmith.contract.layout import RunLayout, StoreLocation, for_gate, for_run, run_key
from modelsmith.controllers.gate.pointer import CANDIDATE_ANNOTATION
from modelsmith.runtime import kube
from modelsmith.runtime.conditions import set_condition
from modelsmith.runtime.core import Runtime
from modelsmith.runtime.settings import OperatorSettings
from modelsmith.serving import POINTER_LABEL
from modelsmith.uids import uid_digest
from testbed.cluster import Cluster

# This module's own runtime: its reconciles run here, in the test process.
RT = Runtime()

_RUNS: set[tuple[str, str, str]] = set()


SERVING = "support-triage-serving"
OLD_MODEL = "s3://modelsmith/models/support-triage-v1/"


def serving_pointer(namespace: str) -> dict[str, Any]:
    """The team's serving ConfigMap `SERVING`, opted in to promotion, serving an older model
    (`OLD_MODEL`, candidate support-triage-v1)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": SERVING,
            "namespace": namespace,
            "labels": {POINTER_LABEL: "true"},
            "annotations": {CANDIDATE_ANNOTATION: "support-triage-v1"},
        },
        "data": {"model": OLD_MODEL},
    }


def forget_staged_runs() -> None:
    """Drops the in-process reconciles of the runs stage_gate made (the gate controller wakes
    its run): after the test, with no kubeconfig, they would fail and retry for the session."""

    while _RUNS:
        RT.queue.forget(_RUNS.pop())


def stage_gate(namespace: str, gate: dict[str, Any]) -> dict[str, Any]:
    """Creates the gate's run (when missing) and the gate, records it on the run; returns the
    gate as created."""
    run_name = gate["spec"]["runRef"]["name"]
    _RUNS.add(("iterationruns", namespace, run_name))
    run = kube.get_custom("iterationruns", namespace, run_name)
    if run is None:
        run = kube.rest(
            "POST", kube.custom_path("iterationruns", namespace), samples.run(run_name, namespace)
        )
    gate = {**gate, "metadata": dict(gate["metadata"]), "spec": dict(gate["spec"])}
    # Where the operator would find the evidence: the run's keyed prefix in its own bucket.
    key = run_key(namespace, run["metadata"]["uid"])
    gate["spec"].setdefault("store", {"bucket": OperatorSettings().bucket, "runKey": key})
    gate["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "modelsmith.io/v1alpha1",
            "kind": "IterationRun",
            "name": run_name,
            "uid": run["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    created: dict[str, Any] = kube.rest("POST", kube.custom_path("promotiongates", namespace), gate)
    record = {
        "name": created["metadata"]["name"],
        "uidDigest": uid_digest(created["metadata"]["uid"]),
        "evidenceDigest": created["spec"]["evidence"]["digest"],
    }
    kube.patch_status("iterationruns", namespace, run_name, {"gate": record})
    return created


def gate_layout(namespace: str, name: str) -> RunLayout:
    """Where the gate `namespace/name` finds its evidence (its spec.store)."""
    gate = kube.get_custom("promotiongates", namespace, name)
    assert gate is not None
    return for_gate(PromotionGate.model_validate(gate), OperatorSettings().bucket)


def run_layout(namespace: str, name: str, bucket: str) -> RunLayout:
    """Where the run `namespace/name` keeps its artefacts: its pinned store (else `bucket`)."""
    run = kube.get_custom("iterationruns", namespace, name)
    assert run is not None
    store = StoreLocation.pinned(run.get("status")) or StoreLocation(bucket)
    return for_run(store, namespace, name, run["metadata"]["uid"])


def launchable_run(
    cluster: Cluster,
    namespace: str,
    jobs_in: str | None = None,
    run_name: str = "run",
    object_store: dict[str, str] | None = None,
    base_model: str | None = None,
) -> None:
    """A ready intake (its Jobs in `jobs_in`, default its own namespace; its target's
    spec.objectStore `object_store`; its base model URI `base_model`), its benchmark, and the
    IterationRun `run` (not yet reconciled), created as admin."""
    custom: Any = client.CustomObjectsApi(cluster.api_client())
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "benchmarks", samples.benchmark("bench", namespace, 20)
    )
    body = samples.intake("intake", namespace)
    body["spec"]["benchmarkRef"]["name"] = "bench"
    # The admin's target for it: a noop evaluator, Jobs in `jobs_in`, admitting this namespace.
    target = samples.execution_target(
        f"staged-{namespace}",
        match_labels={"kubernetes.io/metadata.name": namespace},
        evaluatorImage="modelsmith/noop:latest",
        jobNamespace=jobs_in or namespace,
        **({"objectStore": object_store} if object_store else {}),
    )
    cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(target)
    )
    body["spec"]["executionTargetRef"]["name"] = target["metadata"]["name"]
    if base_model is not None:
        body["spec"]["baseModel"]["uri"] = base_model
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "modelintakes", body)
    ready = set_condition(None, "Ready", True, "Validated", "ready", 1)
    kube.patch_status("modelintakes", namespace, "intake", {"conditions": ready})
    run = samples.run(run_name, namespace)
    run["spec"]["intakeRef"]["name"] = "intake"
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "iterationruns", run)


def second_namespace(cluster: Cluster, namespace: str) -> Iterator[str]:
    """Another test namespace (where the operator may create Jobs), deleted after."""
    from testbed.operator import bind_operator_workloads

    other = f"{namespace[:50]}-b"
    core = client.CoreV1Api(cluster.api_client())
    core.create_namespace({"metadata": {"name": other, "labels": {"modelsmith.io/test": "true"}}})
    bind_operator_workloads(cluster, other)
    try:
        yield other
    finally:
        core.delete_namespace(other, propagation_policy="Background")
