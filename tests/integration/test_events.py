"""Events are sent in the background: against the real API server, everything emitted is stored
once `flush` returns, each object's in the order emitted, sanitised."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from modelsmith.runtime.core import Runtime
from testbed.cluster import Cluster

# This module's own runtime: its reconciles run here, in the test process.
RT = Runtime()


def _body(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelsmith.io/v1alpha1",
        "kind": "IterationRun",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
    }


def test_emitted_events_are_all_stored_in_order_once_flushed(
    operator_env: None, crds: Cluster, namespace: str
) -> None:

    names = [f"run-{i}" for i in range(6)]
    for step in range(5):
        for name in names:
            RT.events.emit(
                _body(namespace, name), "Normal", f"Step{step}", f"step {step} of {name}"
            )
    RT.events.emit(
        _body(namespace, "leaky"), "Warning", "Failed", "read s3://bucket/runs/x/secret.json"
    )
    assert RT.events.flush(30)
    stored = client.CoreV1Api(crds.api_client()).list_namespaced_event(namespace).items
    by_object: dict[str, list[str]] = {}
    # Timestamps have whole seconds; the API server's resourceVersions order the writes.
    for event in sorted(stored, key=lambda e: int(e.metadata.resource_version)):
        by_object.setdefault(event.involved_object.name, []).append(event.reason)
    for name in names:
        assert by_object[name] == [f"Step{step}" for step in range(5)]
    leaky = next(e for e in stored if e.involved_object.name == "leaky")
    assert "s3://" not in leaky.message and "secret.json" not in leaky.message
