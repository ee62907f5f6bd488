"""Kueue preempting a run's training mid-way (real Kueue v0.17.0, real trainer): the run's Jobs
go through a LocalQueue whose ClusterQueue has CPU quota for one of them and preempts lower
priorities within itself. Once training has written a checkpoint, someone else's Job of a
higher WorkloadPriorityClass arrives in the same queue: Kueue evicts the training Job (it
suspends it and its pod stops), the run says Preempted without spending an attempt, and when
the preemptor is gone Kueue admits the same Job again and its new pod continues from the last
checkpoint. The same for a training step over two nodes: Kueue suspends the JobSet (its one
Workload counts both pods), and both new pods continue from the checkpoint the leader wrote.
`make test-faults` runs them (marker `faults`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

from testbed.cluster import Cluster
from testbed.jobset import JobSet
from testbed.kueue import API_GROUP
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

from .harness import (
    FAULT_MARKS,
    TO_STAGED,
    Json,
    RunWatch,
    assert_resumed_from_checkpoint,
    injected,
    quickstart_training,
    store_objects,
    survived,
    train_pods,
)

pytestmark = FAULT_MARKS
QUEUE = "gpu"  # the LocalQueue's name (the `gpu_queue` fixture's)
FAULT = "Kueue preemption mid-Training"
FAULT_JOBSET = "Kueue preemption of a two-node JobSet mid-Training"


@pytest.fixture
def high_priority(cluster: Cluster, namespace: str) -> Iterator[str]:
    """A WorkloadPriorityClass above the run's Jobs (they carry none: priority 0)."""
    name = f"{namespace}-high"[:63]
    body = {"apiVersion": f"{API_GROUP}/v1beta2", "kind": "WorkloadPriorityClass",
            "metadata": {"name": name}, "value": 1000}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))
    yield name
    cluster.kubectl("delete", "workloadpriorityclass", name, "--wait=false", check=False)


def _cpu_preempting(cluster: Cluster, cluster_queue: str, cpus: int = 1) -> None:
    """The ClusterQueue's quota down to the CPUs the run's training asks for (one a pod), so
    that another Job can only run by taking it back, and preemption of lower priorities within
    it."""
    patch = [
        {"op": "replace", "path": "/spec/resourceGroups/0/flavors/0/resources/0",
         "value": {"name": "cpu", "nominalQuota": str(cpus)}},
        {"op": "add", "path": "/spec/preemption",
         "value": {"withinClusterQueue": "LowerPriority"}},
    ]
    cluster.kubectl("patch", "clusterqueue", cluster_queue, "--type=json", "-p",
                    json.dumps(patch))


def _urgent_job(namespace: str, priority: str, cpus: int = 1) -> Json:
    """Someone else's Job in the same LocalQueue wanting all the queue's CPUs; it runs until it
    is deleted, so the test decides when the preemptor is done."""
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "urgent", "namespace": namespace,
                     "labels": {"kueue.x-k8s.io/queue-name": QUEUE,
                                "kueue.x-k8s.io/priority-class": priority}},
        "spec": {"suspend": True, "backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "python",
                            "command": ["python", "-c", "import time; time.sleep(3600)"],
                            "resources": {"requests": {"cpu": str(cpus), "memory": "64Mi"}}}],
        }}},
    }


def _job(watch: RunWatch, name: str) -> Json:
    return next(j for j in watch.jobs() if j["metadata"]["name"] == name)


def _preempted(watch: RunWatch) -> Json | None:
    status = watch.status()
    return status if (status.get("capacity") or {}).get("state") == "Preempted" else None


def test_kueue_preemption_mid_training_resumes_from_the_checkpoint(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
    gpu_queue: Callable[..., str],
    high_priority: str,
) -> None:
    began = time.monotonic()
    _cpu_preempting(cluster, gpu_queue(gpus=1, name=QUEUE))
    # 100 steps finish in ~5 s on quiet cores, before the preemption lands: 300 keep it inside.
    steps, every = 300, 20
    watch = quickstart_training(cluster, object_store, namespace, base_model,
                                target={"kueueQueue": QUEUE},
                                run={"recipe": {"steps": steps, "checkpointEverySteps": every}},
                                checkpoint=True)
    job = watch.job_name("i1-train-a1")
    injected(FAULT)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(_urgent_job(namespace, high_priority)))

    # Kueue takes the quota back: the training Job is suspended, the run waits without a
    # failed attempt and says why.
    status = wait_for(lambda: _preempted(watch), timeout=120, interval=0.5,
                      description="the run's training preempted by Kueue")
    assert status["phase"] == "Training" and status["attempt"] == 1, status
    assert not status.get("blockedBy"), status["blockedBy"]
    reason = status["capacity"]["reason"]
    assert f"preempted by Kueue in {namespace}/{QUEUE}" in reason, reason
    assert "by a higher-priority workload in its ClusterQueue" in reason, reason
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "Preempted", progressing
    assert "does not count as failed" in progressing["message"], progressing
    assert _job(watch, job)["spec"]["suspend"] is True
    wait_for(lambda: not watch.pods(f"job-name={job}"), timeout=120, interval=0.5,
             description="the preempted training pod gone")
    wait_for(lambda: not _job(watch, "urgent")["spec"]["suspend"], timeout=120, interval=0.5,
             description="the preemptor admitted on the quota it took")

    # The preemptor is done (deleted here; one that completes frees its quota alike): Kueue
    # admits the same Job again and its new pod goes on from the last checkpoint to the
    # recipe's last step.
    cluster.kubectl("delete", "job", "urgent", "-n", namespace, "--cascade=foreground")
    status = wait_for(lambda: (s := watch.status()).get("phase") != "Training" and s,
                      timeout=TO_STAGED, interval=0.5, description="training finished")
    assert status["phase"] == "Assessing", status.get("lastTransition")
    assert status["attempt"] == 1, status
    trained = _job(watch, job)
    # Nor did the preemption spend the Job's own retries: a pod stopped by suspension is not
    # counted as failed.
    assert trained["status"].get("succeeded") == 1, trained["status"]
    assert trained["status"].get("failed", 0) == 0, trained["status"]
    audit = assert_resumed_from_checkpoint(watch, object_store, status, steps, every)
    assert not [e for e in audit.ledger if e["reason"] == "JobFailedRetrying"], audit.ledger
    survived(FAULT)
    print(f"  preempted and resumed through Kueue in {time.monotonic() - began:.0f} s")


def test_kueue_preemption_of_a_jobset_training_resumes_from_the_checkpoint(
    jobset: JobSet,
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
    gpu_queue: Callable[..., str],
    high_priority: str,
) -> None:
    """The same over two nodes: Kueue evicts the JobSet's one Workload (both pods stop), and
    when it admits it again both new pods go on from the checkpoint the leader wrote."""
    began = time.monotonic()
    _cpu_preempting(cluster, gpu_queue(gpus=1, name=QUEUE), cpus=2)
    # Two processes train 100 steps in ~5 s on quiet cores: 300 keep the preemption well
    # inside training (as in test_jobset_restart.py).
    steps, every = 300, 20
    watch = quickstart_training(
        cluster, object_store, namespace, base_model,
        target={"kueueQueue": QUEUE, "maxTrainingNodes": 2},
        run={"recipe": {"steps": steps, "checkpointEverySteps": every, "dropout": 0.0}},
        checkpoint=True,
    )  # fmt: skip
    step = watch.job_name("i1-train-a1")
    injected(FAULT_JOBSET)
    urgent = _urgent_job(namespace, high_priority, cpus=2)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(urgent))

    status = wait_for(lambda: _preempted(watch), timeout=120, interval=0.5,
                      description="the run's JobSet preempted by Kueue")  # fmt: skip
    assert status["phase"] == "Training" and status["attempt"] == 1, status
    assert f"preempted by Kueue in {namespace}/{QUEUE}" in status["capacity"]["reason"], status
    assert watch.jobset(step)["spec"]["suspend"] is True
    wait_for(lambda: not train_pods(watch), timeout=120, interval=0.5,
             description="both preempted pods gone")  # fmt: skip

    cluster.kubectl("delete", "job", "urgent", "-n", namespace, "--cascade=foreground")
    status = wait_for(lambda: (s := watch.status()).get("phase") != "Training" and s,
                      timeout=TO_STAGED, interval=0.5, description="training finished")  # fmt: skip
    assert status["phase"] == "Assessing", status.get("lastTransition")
    assert status["attempt"] == 1, status
    finished = watch.jobset(step)["status"]
    # A suspension is no failure: JobSet spent none of its restarts either.
    assert finished["terminalState"] == "Completed" and not finished.get("restarts"), finished
    audit = assert_resumed_from_checkpoint(watch, object_store, status, steps, every)
    assert step in audit.jobs
    (result,) = store_objects(object_store, namespace, "/iter-1/candidate/result.json").values()
    assert json.loads(result)["processes"] == 2, result
    survived(FAULT_JOBSET)
    print(f"  JobSet preempted and resumed through Kueue in {time.monotonic() - began:.0f} s")
