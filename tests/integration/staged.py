"""A PromotionGate as the operator stages it, for tests that drive the gate controller in-process:
its IterationRun exists and is the gate's controller, and the run's status.gate records it (the
gate controller acts on nothing else: handlers/gate_guard.py). Needs `operator_env` (admin)."""

from __future__ import annotations

from typing import Any

from modelsmith import kube
from modelsmith.api import samples


def stage_gate(namespace: str, gate: dict[str, Any]) -> dict[str, Any]:
    """Creates the gate's run (when missing) and the gate, records it on the run; returns the
    gate as created."""
    run_name = gate["spec"]["runRef"]["name"]
    run = kube.get_custom("iterationruns", namespace, run_name)
    if run is None:
        run = kube.rest(
            "POST", kube.custom_path("iterationruns", namespace), samples.run(run_name, namespace)
        )
    gate = {**gate, "metadata": dict(gate["metadata"])}
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
        "uid": created["metadata"]["uid"],
        "evidenceDigest": created["spec"]["evidence"]["digest"],
    }
    kube.patch_status("iterationruns", namespace, run_name, {"gate": record})
    return created
