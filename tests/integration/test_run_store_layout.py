"""Store layout keyed by run identity, against the real API server and the real S3 server: each
ExecutionTarget's bucket and prefix receive its runs' artefacts, a run created again under its
name starts on an empty prefix, a URI outside the target's bucket is refused, a run keeps the
store it pinned when its target is edited, and bad objectStore YAML is refused at apply. The run
reconciler runs in the test process (as admin, so the operator's reach is not what is tested)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from staged import launchable_run, second_namespace

from modelsmith.api import samples
from modelsmith.contract.layout import StoreLocation, for_run, run_key
from modelsmith.controllers.run.reconcile import reconcile
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime
from testbed.cluster import Cluster, KubectlError
from testbed.objectstore import ObjectStore

# This module's own runtime: its reconciles run here, in the test process.
RT = Runtime()

RUN = "run"

# Reconciled here, in a namespace the session's operator process leaves alone (conftest).
pytestmark = [pytest.mark.cluster, pytest.mark.inprocess, pytest.mark.usefixtures("own_runtime")]


@pytest.fixture
def team_bucket(object_store: ObjectStore) -> str:
    bucket = f"team-{secrets.token_hex(4)}"
    object_store.client().create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def other_namespace(crds: Cluster, namespace: str) -> Iterator[str]:
    yield from second_namespace(crds, namespace)


def _run(namespace: str) -> dict[str, Any]:
    run = kube.get_custom("iterationruns", namespace, RUN)
    assert run is not None
    return run


def _keys(store: ObjectStore, bucket: str, prefix: str) -> list[str]:
    listed = store.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def _target(namespace: str) -> str:
    return f"staged-{namespace}"


def test_two_targets_route_their_runs_artefacts_to_their_own_bucket_and_prefix(
    operator_env: None,
    crds: Cluster,
    namespace: str,
    other_namespace: str,
    object_store: ObjectStore,
    team_bucket: str,
) -> None:
    """One target keeps the operator's bucket under a prefix, the other names its own bucket:
    each run's ledger and its evaluation's scenarios land there (listed on the S3 server), the
    run's status pins that location, and its Job gets URIs in it."""
    launchable_run(crds, namespace, object_store={"prefix": "teams/a/"})
    launchable_run(
        crds,
        other_namespace,
        object_store={"bucket": team_bucket, "prefix": "b/"},
        base_model=f"s3://{team_bucket}/models/base/",
    )
    for ns in (namespace, other_namespace):
        reconcile(RT, ns, RUN)
        assert _run(ns)["status"]["phase"] == "EvaluatingBaseline", _run(ns)["status"]
    key_a = run_key(namespace, _run(namespace)["metadata"]["uid"])
    key_b = run_key(other_namespace, _run(other_namespace)["metadata"]["uid"])
    assert _run(namespace)["status"]["store"] == {
        "bucket": object_store.bucket,
        "prefix": "teams/a/",
    }
    assert _run(other_namespace)["status"]["store"] == {"bucket": team_bucket, "prefix": "b/"}

    prefix_a = f"teams/a/runs/{namespace}/{RUN}-{key_a}/ledger/"
    prefix_b = f"b/runs/{other_namespace}/{RUN}-{key_b}/ledger/"
    assert _keys(object_store, object_store.bucket, prefix_a)
    assert _keys(object_store, team_bucket, prefix_b)
    # Nothing of either run anywhere else: not under the old name-keyed prefix, not in the
    # other's bucket.
    assert _keys(object_store, object_store.bucket, f"runs/{namespace}/") == []
    assert _keys(object_store, object_store.bucket, f"b/runs/{other_namespace}/") == []
    assert _keys(object_store, team_bucket, f"b/benchmarks/{other_namespace}/")

    job = kube.rest("GET", kube.batch_path("jobs", other_namespace))["items"][0]
    spec = json.loads(job["spec"]["template"]["spec"]["containers"][0]["args"][1])
    assert spec["output"].startswith(f"s3://{team_bucket}/b/runs/{other_namespace}/{RUN}-{key_b}/")
    assert spec["scenarios"].startswith(f"s3://{team_bucket}/b/benchmarks/")


def test_a_run_created_again_under_its_name_never_sees_the_old_runs_objects(
    operator_env: None, crds: Cluster, namespace: str, object_store: ObjectStore
) -> None:
    """The old run's ledger and a bundle it left stay where they were; the new run's prefix
    (another UID, another key) starts empty: its ledger holds only its own first entries."""
    launchable_run(crds, namespace)
    reconcile(RT, namespace, RUN)
    old = _run(namespace)
    old_layout = for_run(StoreLocation(object_store.bucket), namespace, RUN, old["metadata"]["uid"])
    object_store.client().put_object(
        Bucket=object_store.bucket,
        Key=old_layout.evidence("bundle.json").removeprefix(f"s3://{object_store.bucket}/"),
        Body=b'{"forged": true}',
    )
    old_keys = _keys(object_store, object_store.bucket, old_layout.prefix)

    custom: Any = client.CustomObjectsApi(crds.api_client())
    custom.delete_namespaced_custom_object(
        "modelsmith.io", "v1alpha1", namespace, "iterationruns", RUN
    )
    # The garbage collector may already be deleting them (they are owned by the deleted run).
    for job in kube.rest("GET", kube.batch_path("jobs", namespace))["items"]:
        try:
            kube.rest(
                "DELETE",
                kube.batch_path("jobs", namespace, job["metadata"]["name"]),
                {"propagationPolicy": "Background"},
            )
        except client.ApiException as gone:
            if gone.status != 404:
                raise
    RT.cache.clear()
    run = samples.run(RUN, namespace)
    run["spec"]["intakeRef"]["name"] = "intake"
    custom.create_namespaced_custom_object(
        "modelsmith.io", "v1alpha1", namespace, "iterationruns", run
    )
    reconcile(RT, namespace, RUN)

    new = _run(namespace)
    assert new["status"]["phase"] == "EvaluatingBaseline", new["status"]
    new_layout = for_run(StoreLocation(object_store.bucket), namespace, RUN, new["metadata"]["uid"])
    assert new_layout.prefix != old_layout.prefix
    new_keys = _keys(object_store, object_store.bucket, new_layout.prefix)
    # Its own ledger entries and the intake spec it pinned at its start; no bundle, no record.
    ledger = [k for k in new_keys if "/ledger/" in k]
    assert set(new_keys) - set(ledger) == {f"{new_layout.prefix}pinned/intake-spec.json"}, new_keys
    assert len(ledger) == new["status"]["ledger"]["entries"] > 0
    assert _keys(object_store, object_store.bucket, old_layout.prefix) == old_keys


def test_a_base_model_outside_the_targets_bucket_is_refused(
    operator_env: None,
    crds: Cluster,
    namespace: str,
    object_store: ObjectStore,
    team_bucket: str,
) -> None:
    """The target keeps its runs in the operator's bucket; the intake's base model names
    another: no Job is launched, the run blocks (governance) saying which URI, which bucket and
    which target, and launches once the target names that bucket."""
    launchable_run(crds, namespace, base_model=f"s3://{team_bucket}/models/base/")
    reconcile(RT, namespace, RUN)
    status = _run(namespace)["status"]
    assert status["phase"] == "Blocked", status
    blocked = status["blockedBy"]
    assert (blocked["kind"], blocked["reason"]) == ("governance", "ExecutionTargetNotAllowed")
    assert f"the intake's base model is in the bucket {team_bucket}" in blocked["message"]
    assert f"ExecutionTarget {_target(namespace)}" in blocked["message"]
    assert f"bucket {object_store.bucket}" in blocked["message"]
    assert kube.rest("GET", kube.batch_path("jobs", namespace))["items"] == []
    # The intake says so too, before any run: its ObjectStoreBucket check fails.
    from modelsmith.handlers import intake

    intake.register(RT)

    RT.queue._run_once(("modelintakes", namespace, "intake"))
    RT.queue.forget(("modelintakes", namespace, "intake"))  # no retries after the test
    body = kube.get_custom("modelintakes", namespace, "intake")
    assert body is not None
    checks = {c["check"]: c for c in body["status"]["validation"]}
    assert checks["ObjectStoreBucket"]["ok"] is False
    assert blocked["message"].startswith(checks["ObjectStoreBucket"]["message"])


def test_a_run_keeps_the_store_it_pinned_when_its_target_is_edited(
    operator_env: None,
    crds: Cluster,
    namespace: str,
    object_store: ObjectStore,
    team_bucket: str,
) -> None:
    """The admin moves the target to another bucket mid-run: the running run stays where it
    started (its ledger is one sequence in one place); only runs started later use the new one."""
    launchable_run(crds, namespace, object_store={"prefix": "first/"})
    reconcile(RT, namespace, RUN)
    pinned = _run(namespace)["status"]["store"]
    assert pinned == {"bucket": object_store.bucket, "prefix": "first/"}
    patch = {"spec": {"objectStore": {"bucket": team_bucket, "prefix": "second/"}}}
    path = kube.custom_path("executiontargets", name=_target(namespace))
    kube.rest("PATCH", path, patch, content_type=kube.MERGE_PATCH)
    reconcile(RT, namespace, RUN)
    assert _run(namespace)["status"]["store"] == pinned
    assert _keys(object_store, team_bucket, "second/") == []


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ({"prefix": "teams/../other/"}, "prefix may not contain '..'"),
        ({"prefix": "teams"}, "spec.objectStore.prefix"),
        ({"bucket": "Not_A_Bucket"}, "spec.objectStore.bucket"),
    ],
)
def test_bad_object_store_yaml_is_refused_at_apply_with_its_field(
    crds: Cluster, store: dict[str, str], message: str
) -> None:
    target = samples.execution_target(f"bad-store-{secrets.token_hex(3)}", objectStore=store)
    with pytest.raises(KubectlError) as refused:
        crds.kubectl("apply", "-f", "-", input=json.dumps(target))
    assert "spec.objectStore." in refused.value.stderr and message in refused.value.stderr
