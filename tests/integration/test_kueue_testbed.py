"""Kueue in the test bed (testbed/kueue.py): built from its Go module, its webhooks and visibility
API served on loopback, admitting suspended Jobs against a ClusterQueue's GPU quota."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kubernetes import client

from testbed.cluster import Cluster
from testbed.kube import condition, read_json
from testbed.kueue import API_GROUP, Kueue
from testbed.waiting import wait_for

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


def _job(name: str, queue: str, command: str, suspend: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {QUEUE_LABEL: queue}},
        "spec": {
            "suspend": suspend,
            "backoffLimit": 0,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{
                    "name": "main", "image": "python", "command": ["python", "-c", command],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi",
                                               "nvidia.com/gpu": "1"},
                                  "limits": {"nvidia.com/gpu": "1"}},
                }],
            }},
        },
    }


def _workload(cluster: Cluster, namespace: str, job: str) -> Any:
    """The Workload Kueue made for `job` (found by its owner, as Kueue names it by a hash)."""
    custom = client.CustomObjectsApi(cluster.api_client())
    items = custom.list_namespaced_custom_object(API_GROUP, "v1beta2", namespace,
                                                 "workloads")["items"]
    for item in items:
        if any(o.get("name") == job for o in item["metadata"].get("ownerReferences") or []):
            return item
    return None


def _admitted(workload: Any) -> bool:
    return bool(workload and (condition(workload, "Admitted") or {}).get("status") == "True")


def test_kueue_admits_a_suspended_job_within_quota_and_queues_the_next(
    kueue: Kueue, namespace: str, gpu_queue: Callable[..., str]
) -> None:
    cluster = kueue.cluster
    cluster_queue = gpu_queue(gpus=1)
    batch = client.BatchV1Api(cluster.api_client())
    # The first holds the queue's one GPU until its file appears; the second waits for it.
    release = cluster.run_dir / f"release-{namespace}"
    hold = f"import os,time\nwhile not os.path.exists({str(release)!r}): time.sleep(0.2)"
    batch.create_namespaced_job(namespace, _job("first", "gpu", hold))
    wait_for(lambda: _admitted(_workload(cluster, namespace, "first")), 60,
             "Kueue to admit the first Job")
    wait_for(lambda: not read_json(batch.read_namespaced_job, "first", namespace)["spec"]
             ["suspend"], 30, "Kueue to unsuspend the admitted Job")

    # Created unsuspended: Kueue's mutating webhook, reached on loopback, suspends it.
    created = batch.create_namespaced_job(namespace, _job("second", "gpu", "pass", suspend=False))
    assert created.spec.suspend is True

    def pending() -> Any:
        workload = _workload(cluster, namespace, "second")
        reserved = condition(workload, "QuotaReserved") if workload else None
        return reserved if reserved and reserved["status"] == "False" else None

    reserved = wait_for(pending, 60, "Kueue to hold the second Job pending on quota")
    assert reserved["reason"] == "Pending"
    assert "nvidia.com/gpu" in reserved["message"]

    # The visibility API, aggregated into the API server, knows its place in the queue.
    pending_list = json.loads(cluster.kubectl(
        "get", "--raw",
        f"/apis/visibility.{API_GROUP}/v1beta2/clusterqueues/{cluster_queue}/pendingworkloads",
    ).stdout)
    assert [(w["metadata"]["ownerReferences"][0]["name"], w["positionInClusterQueue"])
            for w in pending_list["items"]] == [("second", 0)]

    release.touch()
    wait_for(lambda: _admitted(_workload(cluster, namespace, "second")), 90,
             "Kueue to admit the second Job once the first finished")
