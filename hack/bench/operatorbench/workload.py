"""The objects the benchmark applies: small benchmarks, intakes whose Jobs run the node agent's
`modelsmith/noop` image (exits 0 at once), and IterationRuns, in namespaces prepared the way the
quickstart prepares one (ServiceAccount and object-store Secret)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client

from modelsmith.api import samples
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.waiting import wait_for

GROUP, VERSION = "modelsmith.io", "v1alpha1"
NOOP_IMAGE = "modelsmith/noop:latest"
BASE_MODEL_PREFIX = "models/bench-base/"
SCENARIOS = 20
BENCH_LABEL = "modelsmith.io/bench"
BENCH_TARGET = "operatorbench-noop"
"""The ExecutionTarget every bench intake names: noop images, Jobs in the intake's namespace."""


def upload_base_model(store: ObjectStore) -> str:
    """An object under the model prefix is all the intake's BaseModelFound check looks for; the
    noop Jobs never load it."""
    store.client().put_object(
        Bucket=store.bucket, Key=BASE_MODEL_PREFIX + "config.json", Body=b"{}"
    )
    return f"s3://{store.bucket}/{BASE_MODEL_PREFIX}"


def prepare_namespace(cluster: Cluster, store: ObjectStore, namespace: str) -> None:
    # Manifests as plain dicts, which the client sends unchanged (its methods name model types).
    core: Any = client.CoreV1Api(cluster.api_client())
    # An earlier run's namespace of the same name may still be terminating.
    delete_namespaces(cluster, [namespace])
    core.create_namespace({"metadata": {"name": namespace, "labels": {BENCH_LABEL: "true"}}})
    ensure_target(cluster)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "modelsmith-runner"}})
    core.create_namespaced_secret(namespace, store.job_secret(namespace))
    # Pod admission refuses pods until the service-account controller made `default`.
    wait_for(
        lambda: core.read_namespaced_service_account("default", namespace),
        30,
        f"ServiceAccount {namespace}/default",
    )


def ensure_target(cluster: Cluster) -> None:
    """The bench's ExecutionTarget (cluster-scoped, as a platform admin would apply it)."""
    body = samples.execution_target(
        BENCH_TARGET,
        match_labels={BENCH_LABEL: "true"},
        trainerImage=NOOP_IMAGE,
        evaluatorImage=NOOP_IMAGE,
        maxGpus=0,
    )
    custom: Any = client.CustomObjectsApi(cluster.api_client())
    try:
        custom.create_cluster_custom_object("modelsmith.io", "v1alpha1", "executiontargets", body)
    except client.ApiException as exc:
        if exc.status != 409:  # already there: the same body every time
            raise


def benchmark(namespace: str, name: str) -> dict[str, Any]:
    return samples.benchmark(name=name, namespace=namespace, count=SCENARIOS)


def intake(namespace: str, name: str, benchmark_name: str, model_uri: str) -> dict[str, Any]:
    body = samples.intake(name=name, namespace=namespace)
    spec = body["spec"]
    spec["benchmarkRef"]["name"] = benchmark_name
    spec["baseModel"]["uri"] = model_uri
    spec["executionTargetRef"] = {"name": BENCH_TARGET}
    spec["servingTarget"]["namespace"] = namespace
    return body


def run(namespace: str, name: str, intake_name: str) -> dict[str, Any]:
    body = samples.run(name=name, namespace=namespace)
    body["spec"]["intakeRef"]["name"] = intake_name
    # The noop Job writes no scorecard, so each attempt fails; one attempt per run keeps the work
    # equal to the baseline's (one Job per run) instead of timing retries against it.
    body["spec"]["retries"] = {"maxAttempts": 1}
    return body


PLURALS = {
    "Benchmark": "benchmarks",
    "ModelIntake": "modelintakes",
    "IterationRun": "iterationruns",
}


def create(api: client.ApiClient, body: dict[str, Any]) -> None:
    meta = body["metadata"]
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, meta["namespace"], PLURALS[body["kind"]], body
    )


def create_all(
    api: client.ApiClient,
    bodies: Iterable[dict[str, Any]],
    threads: int = 4,
    on_created: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Creates the objects from a few client threads, as a CI pipeline applying manifests would;
    `on_created` sees each one as its create returns."""

    def one(body: dict[str, Any]) -> None:
        create(api, body)
        if on_created is not None:
            on_created(body)

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(one, b) for b in bodies]:
            future.result()


def delete_namespaces(
    cluster: Cluster, namespaces: Iterable[str], timeout: float = 180, wait: bool = True
) -> None:
    core: Any = client.CoreV1Api(cluster.api_client())
    names = list(namespaces)
    for name in names:
        try:
            core.delete_namespace(name, propagation_policy="Background")
        except client.ApiException as exc:
            if exc.status != 404:
                raise
    if not wait:
        return

    def gone() -> bool:
        present = {n.metadata.name for n in core.list_namespace().items}
        return not present.intersection(names)

    wait_for(gone, timeout, f"namespaces {', '.join(names)} deleted", interval=1.0)


def dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)
