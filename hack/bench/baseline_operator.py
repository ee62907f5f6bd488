"""The smallest kopf operator doing what the benchmark times, for a baseline in the same run.

It watches what Modelsmith watches (the four kinds and its labelled Jobs; not pods) with the same
kopf settings and the same Kubernetes client, and does the least work that produces the same
observable reactions:

- every object's status gets observedGeneration once;
- an IterationRun, on first sight, gets one `modelsmith/noop` Job named and labelled as
  Modelsmith names its baseline evaluation, created before its status is written (as Modelsmith
  acts before it records);
- a Job's completion is written once to its run's status (nextAction).

A reconcile here is one handler call; `modelsmith_reconciles_total` counts them under the name
the benchmark reads from Modelsmith.

    python hack/bench/baseline_operator.py      # KUBECONFIG and MODELSMITH_METRICS_PORT from env
"""

from __future__ import annotations

import os
from typing import Any

import kopf
from kubernetes import client, config
from prometheus_client import Counter, start_http_server

GROUP, VERSION = "modelsmith.io", "v1alpha1"
KINDS = ("benchmarks", "modelintakes", "iterationruns", "promotiongates")
MANAGED_BY = {"app.kubernetes.io/managed-by": "modelsmith"}
NOOP_IMAGE = "modelsmith/noop:latest"
COMPLETE = "baseline: evaluation Job complete"
RECONCILES = Counter("modelsmith_reconciles_total", "Handler calls.", ["kind"])

config.load_kube_config()  # type: ignore[no-untyped-call]
API = client.ApiClient()
# Manifests as plain dicts, as Modelsmith sends them (the client's methods name model types).
BATCH: Any = client.BatchV1Api(API)
CUSTOM: Any = client.CustomObjectsApi(API)


def _patch_status(plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
    CUSTOM.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        plural,
        name,
        {"status": status},
        _content_type="application/merge-patch+json",
    )


def _job(namespace: str, run: str, uid: str) -> dict[str, Any]:
    labels = {
        **MANAGED_BY,
        "modelsmith.io/run": run,
        "modelsmith.io/run-namespace": namespace,
        "modelsmith.io/job-kind": "eval",
        "modelsmith.io/iteration": "0",
        "modelsmith.io/attempt": "1",
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{run}-i0-eval-a1",
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "IterationRun",
                    "name": run,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "eval", "image": NOOP_IMAGE}],
                },
            },
        },
    }


def _on_object(plural: str, event: dict[str, Any], body: Any) -> None:
    RECONCILES.labels(plural).inc()
    if event.get("type") == "DELETED":
        return
    meta = body["metadata"]
    generation = meta.get("generation")
    if (body.get("status") or {}).get("observedGeneration") == generation:
        return
    if plural == "iterationruns":
        try:
            BATCH.create_namespaced_job(
                meta["namespace"], _job(meta["namespace"], meta["name"], meta["uid"])
            )
        except client.ApiException as exc:
            if exc.status != 409:
                raise
    _patch_status(plural, meta["namespace"], meta["name"], {"observedGeneration": generation})


def _register(plural: str) -> None:
    @kopf.on.event(GROUP, VERSION, plural)
    def handler(**kwargs: Any) -> None:
        _on_object(plural, kwargs["event"], kwargs["body"])


for _plural in KINDS:
    _register(_plural)


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED_BY)
def on_job(**kwargs: Any) -> None:
    event, body = kwargs["event"], kwargs["body"]
    RECONCILES.labels("jobs").inc()
    if event.get("type") == "DELETED":
        return
    conditions = (body.get("status") or {}).get("conditions") or []
    if not any(c.get("type") == "Complete" and c.get("status") == "True" for c in conditions):
        return
    labels = body["metadata"].get("labels") or {}
    namespace = labels.get("modelsmith.io/run-namespace", body["metadata"]["namespace"])
    run = labels.get("modelsmith.io/run")
    if not run:
        return
    current = CUSTOM.get_namespaced_custom_object(GROUP, VERSION, namespace, "iterationruns", run)
    if (current.get("status") or {}).get("nextAction") != COMPLETE:
        _patch_status("iterationruns", namespace, run, {"nextAction": COMPLETE})


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # The settings Modelsmith's operator starts with (modelsmith/operator.py).
    settings.posting.enabled = False
    settings.execution.max_workers = int(os.environ.get("MODELSMITH_WORKERS", "16"))
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 60


def main() -> None:
    start_http_server(int(os.environ.get("MODELSMITH_METRICS_PORT", "8080")))
    kopf.run(clusterwide=True, standalone=True)


if __name__ == "__main__":
    main()
