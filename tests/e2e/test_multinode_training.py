"""Training over two nodes, end to end: the quickstart's tiny model trained by the operator as a
JobSet of two pods (torchrun, gloo on the CPU) through an ExecutionTarget allowing two nodes and
a Kueue queue, beside the same run on one node (an intake narrowing the target to one node).

- the two-node run's training step is one JobSet whose two pods met at the leader's host name,
  and Kueue admitted it as one Workload counting both pods;
- its training trained as two processes and reached the one-node run's loss within
  LOSS_TOLERANCE (the quickstart's recipe without dropout, whose masks each process would draw
  on its own):
  the processes split each batch and average their gradients to the whole batch's
  (tests/integration/test_trainer_ddp.py shows the losses agree to float32 rounding);
- its candidate's held-out and overall scores match the one-node run's within SCORE_TOLERANCE:
  only a greedy decoding flipped by that rounding could move a score;
- and the training taught the model something: its held-out score is above 0 and its overall
  score above the base model's; its lineage.json records the two nodes and two processes it
  trained on (the one-node run's, one and one).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from modelsmith.api.run import REQUESTED_BY_ANNOTATION
from testbed.cluster import Cluster
from testbed.jobset import JobSet
from testbed.kueue import Kueue
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

from .quickstart import RUN as TWO_NODES
from .quickstart import apply_quickstart, build_base_model, manifests, merge, run_status

pytestmark = pytest.mark.slow
ONE_NODE = "support-triage-one-node"
RUN_CHANGES = {"recipe": {"dropout": 0.0}, "maxIterations": 1}
QUEUE = "training"
SCORE_TOLERANCE = 0.05
LOSS_TOLERANCE = 1e-3


def _one_node_intake_and_run(namespace: str, model_uri: str) -> list[dict[str, Any]]:
    """The quickstart's intake and run again, the intake narrowing the target to one node."""
    docs = []
    for doc in manifests(namespace, model_uri):
        if doc["kind"] == "ModelIntake":
            doc["metadata"]["name"] = ONE_NODE
            doc["spec"]["executionTargetRef"]["nodeCount"] = 1
            docs.append(doc)
        if doc["kind"] == "IterationRun":
            doc["metadata"] = {
                "name": ONE_NODE,
                "namespace": namespace,
                "annotations": {REQUESTED_BY_ANNOTATION: "admin"},
            }
            doc["spec"]["intakeRef"]["name"] = ONE_NODE
            merge(doc["spec"], RUN_CHANGES)
            docs.append(doc)
    return docs


def _assessed(cluster: Cluster, namespace: str, run: str) -> dict[str, Any] | None:
    history = run_status(cluster, namespace, run).get("history") or []
    found = [h for h in history if h.get("iteration") == 1]
    return found[0] if found and found[0].get("heldoutScore") is not None else None


def _candidate(store: ObjectStore, namespace: str, run: str, name: str) -> dict[str, Any]:
    """The iteration's candidate document `name` (result.json, lineage.json; the run's prefix
    carries its run key)."""
    s3 = store.client()
    listed = s3.list_objects_v2(Bucket=store.bucket, Prefix=f"runs/{namespace}/{run}-")
    (key,) = [o["Key"] for o in listed.get("Contents") or []
              if o["Key"].endswith(f"/iter-1/candidate/{name}")]  # fmt: skip
    found: dict[str, Any] = json.loads(s3.get_object(Bucket=store.bucket, Key=key)["Body"].read())
    return found


def _items(cluster: Cluster, namespace: str, *args: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", *args, "-n", namespace, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


@pytest.mark.timeout(1500)
def test_jobset_training_matches_one_process_and_is_admitted_as_one_workload(
    jobset: JobSet,
    kueue: Kueue,
    gpu_queue: Callable[..., str],
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
) -> None:
    gpu_queue(gpus=0, name=QUEUE)
    model_uri = f"s3://{object_store.bucket}/models/{namespace}/tiny-support-base/"
    build_base_model(object_store, model_uri)
    apply_quickstart(
        cluster, object_store, namespace, model_uri,
        target={"maxTrainingNodes": 2, "kueueQueue": QUEUE}, run=RUN_CHANGES,
    )  # fmt: skip
    for doc in _one_node_intake_and_run(namespace, model_uri):
        cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))

    two = wait_for(lambda: _assessed(cluster, namespace, TWO_NODES), 1200, "two-node iteration")
    one = wait_for(lambda: _assessed(cluster, namespace, ONE_NODE), 600, "one-node iteration")

    (jobset_body,) = _items(cluster, namespace, "jobsets", "-l", f"modelsmith.io/run={TWO_NODES}")
    assert jobset_body["status"]["terminalState"] == "Completed"
    assert not _items(cluster, namespace, "jobsets", "-l", f"modelsmith.io/run={ONE_NODE}")
    name = jobset_body["metadata"]["name"]
    pods = _items(cluster, namespace, "pods", "-l", f"jobset.sigs.k8s.io/jobset-name={name}")
    assert sorted(p["spec"]["hostname"] for p in pods) == [f"{name}-node-0-{i}" for i in (0, 1)]
    uid = jobset_body["metadata"]["uid"]
    workloads = _items(cluster, namespace, "workloads.kueue.x-k8s.io",
                       "-l", f"kueue.x-k8s.io/job-uid={uid}")  # fmt: skip
    assert len(workloads) == 1, workloads
    assert [p["count"] for p in workloads[0]["spec"]["podSets"]] == [2]

    trained_two = _candidate(object_store, namespace, TWO_NODES, "result.json")
    trained_one = _candidate(object_store, namespace, ONE_NODE, "result.json")
    assert (trained_two["processes"], trained_one["processes"]) == (2, 1)
    lineage_two = _candidate(object_store, namespace, TWO_NODES, "lineage.json")
    lineage_one = _candidate(object_store, namespace, ONE_NODE, "lineage.json")
    assert (lineage_two["nodes"], lineage_two["processes"]) == (2, 2), lineage_two
    assert (lineage_one["nodes"], lineage_one["processes"]) == (1, 1), lineage_one
    assert trained_two["steps"] == trained_one["steps"] == 100
    loss_two, loss_one = trained_two["final_loss"], trained_one["final_loss"]
    assert abs(loss_two - loss_one) <= LOSS_TOLERANCE * loss_one, (loss_two, loss_one)
    assert abs(two["heldoutScore"] - one["heldoutScore"]) <= SCORE_TOLERANCE, (two, one)
    assert abs(two["score"] - one["score"]) <= SCORE_TOLERANCE, (two, one)
    # Matching is not enough: the two-node training must also have taught the model something.
    baseline = run_status(cluster, namespace, TWO_NODES)["scores"]["baseline"]
    print(f"  two nodes: {two}; one node: {one}; baseline {baseline}")
    assert two["heldoutScore"] > 0, two
    assert two["score"] > baseline, (two, baseline)
