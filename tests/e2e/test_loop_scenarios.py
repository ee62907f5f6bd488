"""The loop's documented stops and blocks, end to end: real operator, real Jobs, real scheduler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelsmith.contract.layout import run_key
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

from .quickstart import RUN, apply_quickstart, run_status, wait_run

pytestmark = pytest.mark.slow


def _jobs(cluster: Cluster, namespace: str) -> list[str]:
    out = json.loads(cluster.kubectl("get", "jobs", "-n", namespace, "-o", "json").stdout)
    return [j["metadata"]["name"] for j in out["items"]]


FAST = {"recipe": {"steps": 20}, "maxIterations": 3}


def test_unreachable_improvement_ends_plateaued_naming_the_cluster(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
) -> None:
    apply_quickstart(
        cluster,
        object_store,
        namespace,
        base_model,
        intake={"promotion": {"threshold": 1.0, "minImprovement": 1.0}},
        run={**FAST, "plateauPatience": 1},
    )
    status = wait_run(cluster, namespace, {"Plateaued"}, timeout=600)
    cluster_label = status["strongestFailureCluster"]["label"]
    assert cluster_label and "capability=" in cluster_label
    assert cluster_label in status["nextAction"]
    assert status["lastTransition"]["reason"] == "Plateau"
    assert status["history"][-1]["accepted"] is False


def test_more_gpus_than_the_node_has_blocks_then_proceeds(
    operator: OperatorProcess,
    node_control: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
) -> None:
    cluster = node_control
    apply_quickstart(
        cluster,
        object_store,
        namespace,
        base_model,
        target={"maxGpus": 4},
        run=FAST,
    )
    status = wait_run(cluster, namespace, {"Blocked"}, timeout=600)
    assert status["blockedBy"]["kind"] == "infrastructure"
    assert status["blockedBy"]["reason"] == "Unschedulable"
    assert status["capacity"]["state"] == "Unschedulable"
    assert status["capacity"]["gpusRequested"] == 4
    assert "nvidia.com/gpu" in status["capacity"]["reason"]
    cluster.set_gpus(4)
    wait_for(
        lambda: (
            run_status(cluster, namespace).get("phase") in {"Assessing", "Staged", "Training"}
            and run_status(cluster, namespace).get("capacity", {}).get("state") == "Scheduled"
        ),
        timeout=300,
        interval=2,
        description="run proceeds once the node has 4 GPUs",
    )


def test_trainer_that_never_starts_is_retried_then_blocked_holding_nothing(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
) -> None:
    # The node agent cannot pull this image (ErrImagePull, then ImagePullBackOff, as a kubelet):
    # each attempt's Job is deleted after the test operator's start grace, freeing its GPUs.
    apply_quickstart(
        cluster,
        object_store,
        namespace,
        base_model,
        target={"trainerImage": "modelsmith/broken-trainer:1"},
        run={**FAST, "retries": {"maxAttempts": 2}},
    )
    status = wait_run(cluster, namespace, {"Blocked"}, timeout=600)
    assert status["blockedBy"] == {
        "kind": "infrastructure",
        "reason": "RetryBudgetExhausted",
        "message": status["blockedBy"]["message"],
    }
    assert "could not start" in status["blockedBy"]["message"], status["blockedBy"]
    assert status["memory"]["job"]["attempt"] == 2, status["memory"]
    assert status["memory"]["job"]["phase"] == "Training", status["memory"]
    wait_for(
        lambda: [n for n in _jobs(cluster, namespace) if "-train-" in n] == [],
        timeout=60,
        interval=1,
        description="both training attempts' Jobs deleted",
    )


def test_operator_killed_mid_training_finishes_with_one_job_per_attempt(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
    tmp_path: Path,
) -> None:
    apply_quickstart(cluster, object_store, namespace, base_model, run={"maxIterations": 3})
    wait_for(
        lambda: run_status(cluster, namespace).get("phase") == "Training",
        timeout=600,
        interval=1,
        description="run Training",
    )
    operator.kill()
    operator.start()
    status = wait_run(cluster, namespace, {"Staged"}, timeout=900)
    names = _jobs(cluster, namespace)
    assert len(names) == len(set(names))
    iterations = status["iteration"]
    uid = json.loads(
        cluster.kubectl("get", "iterationrun", RUN, "-n", namespace, "-o", "json").stdout
    )["metadata"]["uid"]
    job = f"{RUN}-{run_key(namespace, uid)}"
    expected = {f"{job}-i0-eval-a1"}
    for i in range(1, iterations + 1):
        expected |= {f"{job}-i{i}-train-a1", f"{job}-i{i}-eval-a1"}
    assert set(names) == expected
    entries = status["ledger"]["entries"]
    keys = object_store.client().list_objects_v2(
        Bucket=object_store.bucket, Prefix=f"runs/{namespace}/{job}/ledger/"
    )["KeyCount"]
    assert keys == entries
