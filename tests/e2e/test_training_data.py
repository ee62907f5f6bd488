"""An intake's training data, end to end: real operator, real Jobs on the tiny model, the test
bed's S3 server. A ConfigMap record copying a held-out scenario blocks the run naming that
scenario; clean records in the target's bucket are trained on, counted in the lineage under
their digest, and their effect on the held-out score is measured against the benchmark alone
(on the tiny model: none, asserted as such). The run pins the training data at its start: a
ConfigMap rewritten mid-run with a held-out copy never reaches its training Job."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import yaml

from modelsmith.contract.scenario import Scenario, Split
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.operator import OperatorProcess
from testbed.waiting import wait_for

from .quickstart import (
    QUICKSTART,
    RUN,
    apply_quickstart,
    manifests,
    merge,
    run_status,
    wait_run,
)

pytestmark = pytest.mark.slow
FAST = {"recipe": {"steps": 20}, "maxIterations": 1}
MEASURED = {"recipe": {"steps": 60}, "maxIterations": 1}
"""Enough steps for the tiny model to start answering, so the two runs' scores say something."""
ENDED = {"Staged", "Plateaued", "Failed", "Stopped", "Blocked"}


def _scenarios() -> list[Scenario]:
    doc = yaml.safe_load((QUICKSTART / "benchmark.yaml").read_text())
    return [Scenario.model_validate(s) for s in doc["spec"]["scenarios"]]


def _record(s: Scenario, **inputs: str) -> dict[str, Any]:
    return {
        "prompt": s.prompt,
        "inputs": {**s.inputs, **inputs},
        "answer": s.reference,
        "capability": s.capability,
        "risk": s.risk,
    }


def test_a_record_copying_a_heldout_scenario_blocks_the_run_naming_it(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
) -> None:
    heldout = next(s for s in _scenarios() if s.split == Split.HELDOUT)
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "extra-tickets", "namespace": namespace},
        "data": {"train.jsonl": json.dumps(_record(heldout))},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(configmap))
    source = {"configMapRef": {"name": "extra-tickets", "key": "train.jsonl"}}
    apply_quickstart(
        cluster, object_store, namespace, base_model, intake={"trainingData": source}, run=FAST
    )
    status = wait_run(cluster, namespace, ENDED, timeout=600)
    assert status["phase"] == "Blocked", status
    assert status["lastTransition"]["reason"] == "Contamination"
    assert f"held-out scenario {heldout.id}" in status["lastTransition"]["message"]
    assert status.get("candidate") is None


def test_training_data_edited_mid_run_is_not_what_the_run_trains_on(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
) -> None:
    scenarios = _scenarios()
    clean = json.dumps(_record(next(s for s in scenarios if s.split == Split.TRAIN)))
    heldout = json.dumps(_record(next(s for s in scenarios if s.split == Split.HELDOUT)))
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "extra-tickets", "namespace": namespace},
        "data": {"train.jsonl": clean},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(configmap))
    source = {"configMapRef": {"name": "extra-tickets", "key": "train.jsonl"}}
    apply_quickstart(
        cluster, object_store, namespace, base_model, intake={"trainingData": source}, run=FAST
    )
    pinned = wait_for(
        lambda: run_status(cluster, namespace).get("pinned"),
        timeout=300,
        interval=0.5,
        description="inputs pinned",
    )
    digest = "sha256:" + hashlib.sha256(clean.encode()).hexdigest()
    assert pinned["trainingDataDigest"] == digest
    # Rewritten while the baseline is evaluated: were it read again for training, the held-out
    # copy would block the run (Contamination), as in the test above.
    configmap["data"] = {"train.jsonl": heldout}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(configmap))
    status = wait_run(cluster, namespace, ENDED, timeout=600)
    assert status["phase"] != "Blocked", status
    assert status["pinned"] == pinned
    lineage = _lineage(object_store, namespace, RUN)
    assert (lineage["training_data"]["supplied"], lineage["training_data"]["supplied_digest"]) == (
        1,
        digest,
    )


def test_clean_records_are_trained_on_counted_and_measured_against_the_benchmark_alone(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
) -> None:
    # New wording of the train tickets' channel: material the benchmark does not hold out.
    train = [s for s in _scenarios() if s.split == Split.TRAIN]
    swap = {"email": "chat", "chat": "email"}
    lines = [_record(s, channel=swap.get(s.inputs.get("channel", ""), "email")) for s in train]
    raw = "\n".join(json.dumps(line) for line in lines).encode()
    key = f"datasets/{namespace}/tickets.jsonl"
    object_store.client().put_object(Bucket=object_store.bucket, Key=key, Body=raw)
    source = {"s3": {"uri": f"s3://{object_store.bucket}/{key}"}}
    apply_quickstart(
        cluster, object_store, namespace, base_model, intake={"trainingData": source}, run=MEASURED
    )
    _benchmark_alone(cluster, namespace, base_model)
    with_data = wait_run(cluster, namespace, ENDED, timeout=900, interval=3)
    alone = wait_run(cluster, namespace, ENDED, timeout=900, run="plain-run", interval=3)

    lineage = _lineage(object_store, namespace, RUN)
    assert lineage["training_data"]["supplied"] == len(lines)
    assert (
        lineage["training_data"]["supplied_digest"] == "sha256:" + hashlib.sha256(raw).hexdigest()
    )
    assert lineage["training_data"]["examples"] == len(train) + len(lines)
    plain = _lineage(object_store, namespace, "plain-run")
    assert plain["training_data"]["supplied"] == 0
    assert plain["training_data"]["examples"] == len(train)

    # Measured here (tiny model, 60 steps, batch 8, both runs seeded alike): with the records
    # 8/24 overall and 1/6 held out, on the benchmark alone 10/24 and 1/6. Near copies of the
    # train tickets double the examples the same steps spread over, so they do not raise the
    # held-out score of a model that learns by memorising; that is what is asserted.
    scores = [
        (s["history"][1]["score"], s["history"][1]["heldoutScore"]) for s in (with_data, alone)
    ]
    print("iteration 1 (overall, held-out), with data and on the benchmark alone:", scores)
    assert with_data["phase"] == alone["phase"] == "Stopped"
    assert scores[0][1] == scores[1][1], scores


def _benchmark_alone(cluster: Cluster, namespace: str, model_uri: str) -> None:
    """A second intake on the same Benchmark without training data, and its run."""
    for doc in manifests(namespace, model_uri):
        if doc["kind"] == "ModelIntake":
            doc["metadata"]["name"] = "plain"
        elif doc["kind"] == "IterationRun":
            doc["metadata"]["name"] = "plain-run"
            doc["spec"]["intakeRef"]["name"] = "plain"
            merge(doc["spec"], MEASURED)
        else:
            continue
        cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))


def _lineage(store: ObjectStore, namespace: str, run: str) -> dict[str, Any]:
    s3 = store.client()
    prefix = f"runs/{namespace}/{run}"
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=store.bucket, Prefix=prefix).get("Contents", [])
        if o["Key"].endswith("iter-1/candidate/lineage.json")
    ]
    assert len(keys) == 1, keys
    found: dict[str, Any] = json.loads(
        s3.get_object(Bucket=store.bucket, Key=keys[0])["Body"].read()
    )
    return found


def test_training_data_in_another_bucket_blocks_before_any_job(
    operator: OperatorProcess,
    cluster: Cluster,
    object_store: ObjectStore,
    namespace: str,
    base_model: str,
) -> None:
    source = {"s3": {"uri": "s3://another-team/datasets/tickets.jsonl"}}
    apply_quickstart(
        cluster, object_store, namespace, base_model, intake={"trainingData": source}, run=FAST
    )
    status = wait_run(cluster, namespace, ENDED, timeout=300)
    assert status["phase"] == "Blocked", status
    assert status["lastTransition"]["reason"] == "ExecutionTargetNotAllowed"
    assert (
        "the intake's training data is in the bucket another-team"
        in (status["lastTransition"]["message"])
    )
    jobs = json.loads(cluster.kubectl("get", "jobs", "-n", namespace, "-o", "json").stdout)
    assert jobs["items"] == []
