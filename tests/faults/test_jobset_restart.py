"""A node's pod of a two-node training step failing mid-way (real JobSet v0.10.1, real trainer
under torchrun, gloo on the CPU, the model sharded between the two processes with `sharding:
fsdp`): once training has written a checkpoint, the worker pod (node rank 1) is deleted. Its
Indexed Job (backoffLimit 0) fails, JobSet restarts the whole step (the target's backoffLimit is
its failurePolicy.maxRestarts), and both new pods continue from the last complete checkpoint to
the recipe's last step, each keeping its share of the checkpoint's whole state: the run spends
no attempt, and its status, ledger and result say where it resumed. (The two-node JobSet
preemption in test_kueue_preemption.py trains with DDP, so both layouts resume through JobSet.)
`make test-faults` runs it (marker `faults`).
"""

from __future__ import annotations

import json
import time

from testbed.cluster import Cluster
from testbed.jobset import JobSet
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

from .harness import (
    FAULT_MARKS,
    TO_STAGED,
    assert_resumed_from_checkpoint,
    injected,
    quickstart_training,
    store_objects,
    survived,
    train_pods,
)

pytestmark = FAULT_MARKS
FAULT = "a node's pod of a JobSet training step killed after a checkpoint"
INDEX = "batch.kubernetes.io/job-completion-index"


def test_a_jobset_restarted_after_a_node_fails_resumes_from_the_checkpoint(
    jobset: JobSet,
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
) -> None:
    began = time.monotonic()
    # Two processes train the tiny model's 100 steps in ~5 s on quiet cores: the pod's deletion
    # then lands after the step finished (nothing to resume). 300 steps leave ~12 s after the
    # first checkpoint.
    steps, every = 300, 20
    watch = quickstart_training(
        cluster, object_store, namespace, base_model,
        target={"maxTrainingNodes": 2, "backoffLimit": 1},
        run={"recipe": {"steps": steps, "checkpointEverySteps": every, "dropout": 0.0,
                        "sharding": "fsdp"}},
        checkpoint=True,
    )  # fmt: skip
    step = watch.job_name("i1-train-a1")
    pods = train_pods(watch)
    (victim,) = [p["metadata"]["name"] for p in pods
                 if p["metadata"]["annotations"].get(INDEX) == "1"]  # fmt: skip
    first = {p["metadata"]["uid"] for p in pods}
    injected(FAULT)
    cluster.kubectl("delete", "pod", victim, "-n", namespace, "--wait=false")

    # JobSet recreates every node's pod: the leader of the failed attempt stops too.
    wait_for(lambda: watch.jobset(step).get("status", {}).get("restarts") == 1,
             timeout=120, interval=0.5, description="JobSet restarting the step")  # fmt: skip
    status = wait_for(lambda: (s := watch.status()).get("phase") != "Training" and s,
                      timeout=TO_STAGED, interval=0.5, description="training finished")  # fmt: skip
    assert status["phase"] == "Assessing", status.get("lastTransition")
    assert status["attempt"] == 1, status
    finished = watch.jobset(step)["status"]
    assert finished["terminalState"] == "Completed" and finished["restarts"] == 1, finished
    assert not first & {p["metadata"]["uid"] for p in train_pods(watch)}

    # Both new pods continued from a checkpoint, as two sharded processes, to the last step.
    audit = assert_resumed_from_checkpoint(watch, object_store, status, steps, every)
    assert step in audit.jobs
    (result,) = store_objects(object_store, namespace, "/iter-1/candidate/result.json").values()
    assert (json.loads(result)["processes"], json.loads(result)["sharding"]) == (2, "fsdp"), result
    survived(FAULT)
    print(f"  restarted by JobSet and resumed in {time.monotonic() - began:.0f} s")

