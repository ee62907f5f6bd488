"""Running the second domain, structured extraction (examples/extraction), in a test namespace:
its base model published, its documents applied on the quickstart's ExecutionTarget, and the run
followed until it ends. What the benchmark should count is worked out here from the YAML, not by
the operator's code, so the workbench's coverage is checked against an independent count."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import yaml

from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore

from .quickstart import (
    REPO,
    build_base_model,
    get,
    manifests,
    merge,
    prepare_namespace,
    wait_run,
)

EXTRACTION = REPO / "examples" / "extraction"
BENCHMARK = "document-extraction"
RUN = "document-extraction-run-1"
ENDED = frozenset({"Staged", "Plateaued", "Failed", "Stopped", "Blocked"})
DIMENSIONS = ("capability", "risk", "operatorLens", "outcomeType")


def scenarios() -> list[dict[str, Any]]:
    spec: dict[str, Any] = yaml.safe_load((EXTRACTION / "benchmark.yaml").read_text())["spec"]
    scenarios_: list[dict[str, Any]] = spec["scenarios"]
    return scenarios_


def coverage() -> dict[str, dict[str, int]]:
    """Scenarios per value of each dimension, as the Benchmark's status.coverage should say."""
    return {d: dict(Counter(s[d] for s in scenarios())) for d in DIMENSIONS}


def cells() -> dict[tuple[str, str], int]:
    """Scenarios per (capability, outcome type): the run's failure clusters."""
    return dict(Counter((s["capability"], s["outcomeType"]) for s in scenarios()))


def run_extraction(
    cluster: Cluster,
    store: ObjectStore,
    namespace: str,
    model: str,
    run_changes: dict[str, Any],
    timeout: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The example applied on `model` (hack/quickstart_model.py) with the run's spec changed by
    `run_changes`; returns the Benchmark's status and the run's once the run has ended."""
    label = "tiny-extraction-base" if model == "tiny" else "smollm2-135m-instruct"
    model_uri = f"s3://{store.bucket}/models/{namespace}/{label}/"
    build_base_model(store, model_uri, model=model, benchmark=EXTRACTION / "benchmark.yaml")
    prepare_namespace(cluster, store, namespace)
    target = manifests(namespace, model_uri, files=("execution-target.yaml",))
    docs = manifests(
        namespace,
        model_uri,
        EXTRACTION,
        ("benchmark.yaml", "intake.yaml", "run.yaml"),
        model=model,
    )
    for doc in target + docs:
        if doc["kind"] == "IterationRun":
            merge(doc["spec"], run_changes)
        cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))
    status = wait_run(cluster, namespace, ENDED, timeout, run=RUN, interval=3)
    benchmark: dict[str, Any] = get(cluster, "benchmark", namespace, BENCHMARK)["status"]
    return benchmark, status
