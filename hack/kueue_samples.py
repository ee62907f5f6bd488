"""Captures real Workload and ClusterQueue JSON from Kueue in a fresh test bed into
tests/unit/kueue_samples/, for the pure decisions' unit tests (modelsmith.loop.queue):
admitted, queued on quota, asking more than the queue can ever give, inadmissible (no such
LocalQueue), and preempted by a higher-priority Job.

    python hack/kueue_samples.py      # ~1-2 minutes; starts and stops its own test bed
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes import client

from testbed.cluster import Cluster
from testbed.kube import condition, read_json
from testbed.kueue import API_GROUP, Kueue, gpu_queue
from testbed.waiting import wait_for

OUT = Path(__file__).resolve().parents[1] / "tests" / "unit" / "kueue_samples"
NS = "team-a"
HOLD = "import time\ntime.sleep(600)"


def _job(name: str, queue: str, gpus: int, priority: str | None = None) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [{
            "name": "main", "image": "python", "command": ["python", "-c", HOLD],
            "resources": {"requests": {"cpu": "100m", "nvidia.com/gpu": str(gpus)},
                          "limits": {"nvidia.com/gpu": str(gpus)}},
        }],
    }
    if priority:
        pod["priorityClassName"] = priority
    return {"metadata": {"name": name, "labels": {"kueue.x-k8s.io/queue-name": queue}},
            "spec": {"suspend": True, "backoffLimit": 0, "template": {"spec": pod}}}


def _workload(cluster: Cluster, job: str) -> Any:
    custom = client.CustomObjectsApi(cluster.api_client())
    for item in read_json(custom.list_namespaced_custom_object, API_GROUP, "v1beta2", NS,
                          "workloads")["items"]:
        if any(o["name"] == job for o in item["metadata"].get("ownerReferences") or []):
            return item
    return None


def _when(cluster: Cluster, job: str, kind: str, status: str, reason: str | None = None) -> Any:
    def seen() -> Any:
        w = _workload(cluster, job)
        c = condition(w, kind) if w else None
        ok = c and c["status"] == status and (reason is None or c["reason"] == reason)
        return w if ok else None
    return wait_for(seen, 90, f"{job}: {kind}={status} {reason or ''}")


def _save(name: str, obj: Any) -> None:
    meta = obj["metadata"]
    for key in ("managedFields", "uid", "resourceVersion", "creationTimestamp", "generation"):
        meta.pop(key, None)
    (OUT / f"{name}.json").write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def capture(cluster: Cluster) -> None:
    Kueue.start(cluster)
    cluster.kubectl("create", "namespace", NS)
    for name, value in (("low", 10), ("high", 1000)):
        cluster.kubectl("create", "priorityclass", name, f"--value={value}")
    gpu_queue(cluster, NS, "team-a-gpu", "gpu", gpus=1)
    cluster.kubectl("patch", "clusterqueue", "team-a-gpu", "--type=merge", "-p", json.dumps(
        {"spec": {"preemption": {"withinClusterQueue": "LowerPriority"}}}))
    batch = client.BatchV1Api(cluster.api_client())
    batch.create_namespaced_job(NS, _job("first", "gpu", 1, "low"))
    _save("workload-admitted", _when(cluster, "first", "Admitted", "True"))
    batch.create_namespaced_job(NS, _job("second", "gpu", 1, "low"))
    _save("workload-queued-quota", _when(cluster, "second", "QuotaReserved", "False", "Pending"))
    batch.create_namespaced_job(NS, _job("too-big", "gpu", 2, "low"))
    _save("workload-over-quota", _when(cluster, "too-big", "QuotaReserved", "False", "Pending"))
    batch.create_namespaced_job(NS, _job("nowhere", "missing", 1))
    _save("workload-no-localqueue",
          _when(cluster, "nowhere", "QuotaReserved", "False", "Inadmissible"))
    batch.create_namespaced_job(NS, _job("urgent", "gpu", 1, "high"))
    _save("workload-preempted", _when(cluster, "first", "Evicted", "True", "Preempted"))
    time.sleep(3)
    job = read_json(batch.read_namespaced_job, "first", NS)
    print("preempted Job status:", json.dumps(job["status"]), "suspend:", job["spec"]["suspend"])
    custom = client.CustomObjectsApi(cluster.api_client())
    _save("clusterqueue", read_json(custom.get_cluster_custom_object, API_GROUP, "v1beta2",
                                    "clusterqueues", "team-a-gpu"))
    pending = cluster.kubectl("get", "--raw", f"/apis/visibility.{API_GROUP}/v1beta2/namespaces/"
                              f"{NS}/localqueues/gpu/pendingworkloads").stdout
    (OUT / "pendingworkloads.json").write_text(
        json.dumps(json.loads(pending), indent=2, sort_keys=True) + "\n")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as run_dir:
        cluster = Cluster.start(Path(run_dir))
        try:
            capture(cluster)
        finally:
            cluster.stop()
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
