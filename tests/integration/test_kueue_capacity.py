"""Capacity from Kueue, against the real API server and a real Kueue (v0.17.0, built from its
module): the operator, as the chart's ServiceAccount, reads the Workload of each run's Job.

- two runs share a ClusterQueue with quota for one GPU: the second run's Job is held by Kueue
  and the run says so in `status.capacity` and its next action, with Kueue's reason, quota and
  position (the visibility API); it proceeds when the first run's Job finishes;
- Kueue preempting a run's Job for a higher-priority one is a wait, not a failed attempt: the
  run says Preempted, keeps its attempt and Job, and goes on once Kueue admits the Job again;
- an execution target naming a LocalQueue that does not exist makes the intake not Ready with
  that reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from modelsmith.api import samples
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

pytestmark = pytest.mark.cluster

Doc = dict[str, Any]


def _setup(cluster: Cluster, store: ObjectStore, namespace: str, target: str) -> None:
    """What a team applies: its benchmark and an intake on `target` asking for one GPU."""
    cluster.kubectl("create", "serviceaccount", "modelsmith-runner", "-n", namespace)
    # The Jobs' restricted credentials, which their environment names.
    cluster.kubectl("apply", "-f", "-", input=json.dumps(store.job_secret(namespace)))
    prefix = f"targets/{namespace}/base/"
    store.client().put_object(Bucket=store.bucket, Key=prefix + "config.json", Body=b"{}")
    intake = samples.intake(namespace=namespace)
    intake["spec"]["executionTargetRef"] = {"name": target, "gpuCount": 1}
    intake["spec"]["baseModel"]["uri"] = f"s3://{store.bucket}/{prefix}"
    for doc in (samples.benchmark(namespace=namespace), intake):
        cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))


def _get(cluster: Cluster, kind: str, name: str, namespace: str) -> Doc:
    out = cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json")
    found: Doc = json.loads(out.stdout)
    return found


def _ready(cluster: Cluster, namespace: str) -> Doc | None:
    status = _get(cluster, "intake", "support-triage", namespace).get("status") or {}
    return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)


def _run(cluster: Cluster, namespace: str, name: str) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(samples.run(name, namespace)))


def _capacity(cluster: Cluster, namespace: str, run: str) -> Doc:
    status = _get(cluster, "iterationrun", run, namespace).get("status") or {}
    return {**(status.get("capacity") or {}), "nextAction": status.get("nextAction", "")}


def _jobs(cluster: Cluster, namespace: str, run: str) -> list[Doc]:
    out = cluster.kubectl("get", "jobs", "-n", namespace, "-l", f"modelsmith.io/run={run}",
                          "-o", "json")
    items: list[Doc] = json.loads(out.stdout)["items"]
    return items


def test_a_second_run_waits_in_the_queue_with_kueues_reason_then_proceeds(
    operator: OperatorProcess,
    object_store: ObjectStore,
    node_control: Cluster,
    namespace: str,
    execution_target: Callable[..., str],
    gpu_queue: Callable[..., str],
) -> None:
    cluster = node_control
    cluster_queue = gpu_queue(gpus=1, name="gpu")
    admits = {"kubernetes.io/metadata.name": namespace}
    target = execution_target(match_labels=admits, maxGpus=1, kueueQueue="gpu",
                              evaluatorImage="modelsmith/noop:1")
    _setup(cluster, object_store, namespace, target)
    wait_for(lambda: (_ready(cluster, namespace) or {}).get("status") == "True", 90,
             "the intake Ready with its LocalQueue")
    # No node has a GPU free, so the first run's admitted Job holds the queue's quota until the
    # GPUs come back: what decides here is Kueue's quota, not the scheduler.
    cluster.set_gpus(0)
    _run(cluster, namespace, "first")
    first = wait_for(lambda: _jobs(cluster, namespace, "first"), 60, "the first run's Job")
    assert first[0]["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu"
    wait_for(lambda: not _jobs(cluster, namespace, "first")[0]["spec"]["suspend"], 60,
             "Kueue to admit the first run's Job (created suspended)")

    _run(cluster, namespace, "second")
    # Its position comes once Kueue's queue manager lists it (the visibility API).
    held = wait_for(
        lambda: (c := _capacity(cluster, namespace, "second")).get("state") == "Queued"
        and c.get("queueAhead") is not None and c,
        90, "the second run queued by Kueue, with its position",
    )
    where = f"{namespace}/gpu"
    assert held["queue"] == where and held["queueQuota"] == "1 nvidia.com/gpu"
    assert held["queueAhead"] == 0, held  # first in line: the visibility API answers
    assert held["reason"] == (
        f"next in line in {where}; quota 1 nvidia.com/gpu; waiting for nvidia.com/gpu quota "
        "in flavor gpu (1 more needed than is free)"
    )
    assert held["reason"] in held["nextAction"]
    assert _jobs(cluster, namespace, "second")[0]["spec"]["suspend"] is True
    columns = cluster.kubectl("get", "iterationrun", "second", "-n", namespace, "-o", "wide")
    assert f"next in line in {where}" in columns.stdout

    # The GPUs come back: the first run's evaluation runs and finishes, its quota frees, and
    # Kueue admits the second run's Job.
    cluster.set_gpus(cluster.node.gpus)
    wait_for(lambda: not _jobs(cluster, namespace, "second")[0]["spec"]["suspend"], 120,
             f"Kueue to admit the second run's Job once the first's finished ({cluster_queue})")
    wait_for(lambda: _capacity(cluster, namespace, "second").get("state") not in ("Queued",
                                                                                   None), 60,
             "the second run's capacity past the queue")


def _ledger(store: ObjectStore, namespace: str) -> list[str]:
    """The victim run's ledger messages, in order."""
    s3 = store.client()
    # The run's folder is named by the run (and, in later layouts, its key).
    prefix = f"runs/{namespace}/victim"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=store.bucket, Prefix=prefix)
            .get("Contents", []) if "/ledger/" in o["Key"]]
    entries = [json.loads(s3.get_object(Bucket=store.bucket, Key=k)["Body"].read())
               for k in sorted(keys)]
    return [str(e.get("message")) for e in entries]


def _priority_classes(cluster: Cluster, namespace: str) -> tuple[str, str]:
    names = (f"{namespace}-low"[:63], f"{namespace}-high"[:63])
    for name, value in zip(names, (10, 1000), strict=True):
        cluster.kubectl("create", "priorityclass", name, f"--value={value}")
    return names


def _urgent_job(namespace: str, priority: str) -> Doc:
    """Someone else's higher-priority Job in the same LocalQueue, wanting its one GPU."""
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "urgent", "namespace": namespace,
                     "labels": {"kueue.x-k8s.io/queue-name": "gpu"}},
        "spec": {"suspend": True, "template": {"spec": {
            "restartPolicy": "Never", "priorityClassName": priority,
            "containers": [{"name": "main", "image": "modelsmith/noop",
                            "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
        }}},
    }


def test_preemption_by_kueue_is_a_wait_not_a_failed_attempt(
    operator: OperatorProcess,
    object_store: ObjectStore,
    node_control: Cluster,
    namespace: str,
    execution_target: Callable[..., str],
    gpu_queue: Callable[..., str],
) -> None:
    cluster = node_control
    cluster_queue = gpu_queue(gpus=1, name="gpu")
    cluster.kubectl("patch", "clusterqueue", cluster_queue, "--type=merge", "-p", json.dumps(
        {"spec": {"preemption": {"withinClusterQueue": "LowerPriority"}}}))
    low, high = _priority_classes(cluster, namespace)
    try:
        admits = {"kubernetes.io/metadata.name": namespace}
        target = execution_target(match_labels=admits, maxGpus=1, kueueQueue="gpu",
                                  priorityClassName=low, evaluatorImage="modelsmith/noop:1")
        _setup(cluster, object_store, namespace, target)
        wait_for(lambda: (_ready(cluster, namespace) or {}).get("status") == "True", 90,
                 "the intake Ready with its LocalQueue")
        # The run's Job is admitted and holds the quota while its pod waits for a GPU.
        cluster.set_gpus(0)
        _run(cluster, namespace, "victim")
        wait_for(lambda: (j := _jobs(cluster, namespace, "victim")) and not j[0]["spec"]["suspend"],
                 90, "Kueue to admit the run's Job")
        cluster.kubectl("apply", "-f", "-", input=json.dumps(_urgent_job(namespace, high)))
        held = wait_for(
            lambda: (c := _capacity(cluster, namespace, "victim")).get("state") == "Preempted"
            and c, 90, "the run's Job preempted by Kueue",
        )
        assert "preempted by Kueue in" in held["reason"]
        assert "by a higher-priority workload in its ClusterQueue" in held["reason"]
        status = _get(cluster, "iterationrun", "victim", namespace)["status"]
        assert status["attempt"] == 1 and not status.get("blockedBy"), status
        progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
        assert progressing["reason"] == "Preempted"
        assert "does not count as failed" in progressing["message"]
        jobs = _jobs(cluster, namespace, "victim")
        assert len(jobs) == 1 and jobs[0]["spec"]["suspend"] is True

        # The urgent work is done: Kueue admits the same Job again and it runs to its end. The
        # noop evaluator writes no scorecard, so only then does the run count a failed attempt.
        cluster.kubectl("delete", "job", "urgent", "-n", namespace)
        cluster.set_gpus(cluster.node.gpus)
        ledger = wait_for(lambda: (m := _ledger(object_store, namespace))
                          and any("retrying as attempt 2" in e for e in m) and m,
                          120, "the re-admitted Job to finish")
        retries = [e for e in ledger if "retrying" in e]
        assert retries and "finished without a readable scorecard" in retries[0], ledger
        assert not any("preempted" in e.lower() for e in retries), ledger
    finally:
        cluster.kubectl("delete", "priorityclass", low, high, "--wait=false", check=False)


def test_an_intake_whose_target_names_a_missing_local_queue_is_not_ready(
    operator: OperatorProcess,
    object_store: ObjectStore,
    kueue: Any,
    namespace: str,
    execution_target: Callable[..., str],
) -> None:
    cluster = kueue.cluster
    admits = {"kubernetes.io/metadata.name": namespace}
    target = execution_target(match_labels=admits, maxGpus=1, kueueQueue="no-such-queue")
    _setup(cluster, object_store, namespace, target)
    ready = wait_for(lambda: (r := _ready(cluster, namespace)) and r["status"] == "False"
                     and r["reason"] == "KueueQueueFailed" and r, 90,
                     "the intake not Ready on its missing LocalQueue")
    assert (
        f"Kueue LocalQueue no-such-queue does not exist in namespace {namespace} "
        f"(ExecutionTarget {target} spec.kueueQueue)" in ready["message"]
    )
