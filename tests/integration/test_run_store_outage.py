"""A run whose object store stops answering as it launches: the launch's ledger entries and its
Job are written at once, so the Job may exist when the entries fail. The run blocks on the
store where everyone sees it, and once the store answers it records the block and claims the
Job created meanwhile instead of launching another. Against the real API server and S3 server,
the run reconciler running in the test process."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from kubernetes import client
from staged import run_layout

from modelsmith import GROUP, VERSION, loop
from modelsmith.api import samples
from modelsmith.contract import s3
from modelsmith.contract.layout import RunLayout, run_key
from modelsmith.contract.objectstore import Store
from modelsmith.controllers.run import pinning, trust
from modelsmith.controllers.run.reconcile import reconcile
from modelsmith.runtime import kube
from modelsmith.runtime.conditions import set_condition
from modelsmith.runtime.core import Runtime
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore

# This module's own runtime: its reconciles run here, in the test process.
RT = Runtime()

RUN = "run"


def _job(namespace: str) -> str:
    """The run's first Job: its name carries a key from the run's namespace and UID."""
    run = kube.get_custom("iterationruns", namespace, RUN)
    assert run is not None
    key = run_key(namespace, run["metadata"]["uid"])
    return loop.job_name(RUN, key, 0, loop.Phase.EVALUATING_BASELINE, 1)
NOOP_TARGET = "store-outage-noop"


# Reconciled here, in a namespace the session's operator process leaves alone (conftest).
pytestmark = [pytest.mark.inprocess, pytest.mark.usefixtures("own_runtime")]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _seen(plural: str, body: dict[str, Any]) -> None:
    RT.cache.seen(plural, {"type": "MODIFIED", "object": body})


def _status(custom: Any, namespace: str) -> dict[str, Any]:
    body = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "iterationruns", RUN)
    _seen("iterationruns", body)
    status: dict[str, Any] = body.get("status") or {}
    return status


def _ledger(store: ObjectStore, namespace: str) -> list[dict[str, Any]]:
    s3 = store.client()
    prefix = f"{run_layout(namespace, RUN, store.bucket).prefix}ledger/"
    listed = s3.list_objects_v2(Bucket=store.bucket, Prefix=prefix).get("Contents", [])
    return [
        json.loads(s3.get_object(Bucket=store.bucket, Key=item["Key"])["Body"].read())
        for item in sorted(listed, key=lambda i: i["Key"])
    ]


def _launchable(cluster: Cluster, namespace: str) -> Any:
    """A run whose intake is ready, all three seen by the watch. Its first look pins its inputs
    (writing their snapshots); its launch then writes nothing to the store before its Job but
    its ledger entries. Returns the custom-objects client."""
    custom: Any = client.CustomObjectsApi(cluster.api_client())
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "benchmarks", samples.benchmark("bench", namespace, 20)
    )
    intake_body = samples.intake("intake", namespace)
    intake_body["spec"]["benchmarkRef"]["name"] = "bench"
    # The node agent's image that exits at once: the Job's pod does nothing.
    noop = samples.execution_target(NOOP_TARGET, evaluatorImage="modelsmith/noop:latest")
    cluster.kubectl("apply", "-f", "-", input=json.dumps(noop))
    intake_body["spec"]["executionTargetRef"]["name"] = NOOP_TARGET
    created = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "modelintakes", intake_body
    )
    ready = set_condition(
        None, "Ready", True, "Validated", "ready", created["metadata"]["generation"]
    )
    intake = kube.patch_status("modelintakes", namespace, "intake", {"conditions": ready})
    _seen("modelintakes", intake)
    run = samples.run(RUN, namespace)
    run["spec"]["intakeRef"]["name"] = "intake"
    _seen(
        "iterationruns",
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "iterationruns", run),
    )
    return custom


def test_store_lost_at_launch_blocks_the_run_then_claims_the_job(
    operator_env: None,
    crds: Cluster,
    namespace: str,
    object_store: ObjectStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    custom = _launchable(crds, namespace)

    live = object_store.env()["AWS_ENDPOINT_URL_S3"]
    resolve = pinning.resolve

    def pinned_then_lost(*args: Any) -> pinning.Inputs:
        # The run pins its inputs (writing their snapshots) on its look: the store goes away
        # after that, between the look and the launch.
        inputs = resolve(*args)
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{_closed_port()}")
        return inputs

    monkeypatch.setattr(pinning, "resolve", pinned_then_lost)
    reconcile(RT, namespace, RUN)
    monkeypatch.setattr(pinning, "resolve", resolve)

    status = _status(custom, namespace)
    assert status["phase"] == "Blocked", status
    assert status["blockedBy"]["reason"] == "ObjectStoreUnavailable"
    blocked = next(c for c in status["conditions"] if c["type"] == "Blocked")
    assert blocked["status"] == "True" and blocked["reason"] == "ObjectStoreUnavailable"
    assert (status.get("memory") or {}).get("job") is None
    # The Job went out with the ledger entries that failed.
    job = kube.rest("GET", kube.batch_path("jobs", namespace, _job(namespace)))
    job_uid = job["metadata"]["uid"]
    assert _ledger(object_store, namespace) == []

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", live)
    for _ in range(4):
        if (_status(custom, namespace).get("memory") or {}).get("job"):
            break
        reconcile(RT, namespace, RUN)
    status = _status(custom, namespace)
    assert status["phase"] == "EvaluatingBaseline", status
    claimed = status["memory"]["job"]
    assert (claimed["phase"], claimed["iteration"], claimed["attempt"]) == (
        "EvaluatingBaseline",
        0,
        1,
    )
    jobs = kube.rest("GET", kube.batch_path("jobs", namespace))["items"]
    names = [(j["metadata"]["name"], j["metadata"]["uid"]) for j in jobs]
    assert names == [(_job(namespace), job_uid)]

    ledger = _ledger(object_store, namespace)
    assert [e["sequence"] for e in ledger] == list(range(len(ledger)))
    assert len(ledger) == status["ledger"]["entries"]
    transitions = [(e["to"], e["reason"]) for e in ledger if e["kind"] == "transition"]
    assert transitions[0] == ("Blocked", "ObjectStoreUnavailable"), transitions
    assert transitions[-1][0] == "EvaluatingBaseline", transitions
    launched = [(e["iteration"], e["attempt"]) for e in ledger if e["kind"] == "job"]
    assert launched == [(0, 1)], launched


def test_store_lost_after_part_of_a_launch_was_recorded_replays_that_launch(
    operator_env: None,
    crds: Cluster,
    namespace: str,
    object_store: ObjectStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The store goes away between the launch's two ledger entries: its transition is in the
    ledger, so the run must not record a block under the same sequence number; the reconcile
    fails, and the next one replays the launch."""
    custom = _launchable(crds, namespace)
    write = trust.put_entry

    def job_entry_lost(
        store: Store, layout: RunLayout, entry: loop.LedgerEntry, data: bytes
    ) -> None:
        if entry.kind is loop.LedgerKind.JOB:
            raise s3.ObjectStoreUnavailable("put-if-absent: the store went away")
        write(store, layout, entry, data)

    monkeypatch.setattr(trust, "put_entry", job_entry_lost)
    with pytest.raises(trust.PartlyRecordedError):
        reconcile(RT, namespace, RUN)
    assert _status(custom, namespace).get("phase") in (None, "Pending")
    assert [e["kind"] for e in _ledger(object_store, namespace)] == ["transition"]

    monkeypatch.setattr(trust, "put_entry", write)
    reconcile(RT, namespace, RUN)
    status = _status(custom, namespace)
    assert status["phase"] == "EvaluatingBaseline", status
    ledger = _ledger(object_store, namespace)
    assert [(e["sequence"], e["kind"]) for e in ledger] == [(0, "transition"), (1, "job")]
    assert ledger[0]["to"] == "EvaluatingBaseline"
    assert status["ledger"]["entries"] == 2
    jobs = kube.rest("GET", kube.batch_path("jobs", namespace))["items"]
    assert [j["metadata"]["name"] for j in jobs] == [_job(namespace)]
