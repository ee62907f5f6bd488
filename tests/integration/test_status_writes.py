"""Status writes against the real API server: the answer to a Benchmark's carries only its
metadata (the operator keeps Benchmarks by version, never their bodies), the answer to a run's
the whole object (its next reconcile reads it from there)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from modelsmith import GROUP, VERSION
from modelsmith.api import samples
from modelsmith.runtime.core import Runtime
from testbed.cluster import Cluster

# This module's own runtime: its reconciles run here, in the test process.
RT = Runtime()

# Reconciled here, in a namespace the session's operator process leaves alone (conftest).
pytestmark = [pytest.mark.inprocess]


@pytest.fixture(autouse=True)
def _empty() -> Iterator[None]:
    RT.cache.clear()
    yield
    RT.cache.clear()


def test_a_benchmark_status_write_answers_with_metadata_a_run_with_the_object(
    operator_env: None, crds: Cluster, namespace: str
) -> None:

    custom: Any = client.CustomObjectsApi(crds.api_client())
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "benchmarks", samples.benchmark("bench", namespace, 20)
    )
    run = samples.run("run", namespace)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "iterationruns", run)

    stored = RT.status.write("benchmarks", namespace, "bench", {"observedGeneration": 1})
    assert stored["kind"] == "PartialObjectMetadata", stored.get("kind")
    assert "spec" not in stored and "status" not in stored
    current = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "benchmarks", "bench")
    assert current["status"]["observedGeneration"] == 1
    assert stored["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]

    stored = RT.status.write("iterationruns", namespace, "run", {"observedGeneration": 1})
    assert stored["kind"] == "IterationRun"
    assert stored["status"]["observedGeneration"] == 1
    assert stored["spec"]["intakeRef"] == run["spec"]["intakeRef"]
