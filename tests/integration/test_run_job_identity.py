"""Job identity against the real API server: Job names are the run's own (namespace and UID), and
a Job found under the run's Job name is adopted only when it is the run's. The run reconciler
runs in the test process (as admin, so the operator's reach is not what is tested here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from staged import launchable_run, second_namespace

from modelsmith import loop
from modelsmith.contract.layout import run_key
from modelsmith.controllers.run.job_manifest import LABEL_RUN_UID
from modelsmith.controllers.run.reconcile import reconcile
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore

# This module's own runtime: its reconciles run here, in the test process.
RT = Runtime()

RUN = "run"

# Reconciled here, in a namespace the session's operator process leaves alone (conftest).
pytestmark = [pytest.mark.cluster, pytest.mark.inprocess, pytest.mark.usefixtures("own_runtime")]


def _run(namespace: str) -> dict[str, Any]:
    run = kube.get_custom("iterationruns", namespace, RUN)
    assert run is not None
    return run


def _first_job(namespace: str) -> str:
    key = run_key(namespace, _run(namespace)["metadata"]["uid"])
    return loop.job_name(RUN, key, 0, loop.Phase.EVALUATING_BASELINE, 1)


@pytest.fixture
def other_namespace(crds: Cluster, namespace: str) -> Iterator[str]:
    yield from second_namespace(crds, namespace)


def test_same_run_name_in_two_namespaces_launches_distinct_jobs(
    operator_env: None,
    crds: Cluster,
    namespace: str,
    other_namespace: str,
    object_store: ObjectStore,
) -> None:
    """Both runs are called `run` and run their Jobs in one execution namespace: each gets its
    own Job, labelled with its own UID."""
    shared = other_namespace
    launchable_run(crds, namespace, jobs_in=shared)
    launchable_run(crds, shared)
    for ns in (namespace, shared):
        reconcile(RT, ns, RUN)
        assert _run(ns)["status"]["phase"] == "EvaluatingBaseline"
    listed = kube.rest("GET", kube.batch_path("jobs", shared))["items"]
    jobs = {j["metadata"]["name"]: j for j in listed}
    names = {_first_job(namespace), _first_job(shared)}
    assert len(names) == 2 and set(jobs) == names, sorted(jobs)
    for ns in (namespace, shared):
        labels = jobs[_first_job(ns)]["metadata"]["labels"]
        assert labels[LABEL_RUN_UID] == _run(ns)["metadata"]["uid"]
        assert labels["modelsmith.io/run-namespace"] == ns


def test_a_planted_job_under_the_runs_job_name_is_not_adopted(
    operator_env: None, crds: Cluster, namespace: str, object_store: ObjectStore
) -> None:
    """Someone who may create Jobs there takes the run's next Job name first, with labels that
    claim the run: the run never adopts it (nor deletes it), blocks saying why, and launches
    its own Job once the name is free."""
    launchable_run(crds, namespace)
    name = _first_job(namespace)
    planted = {
        "metadata": {
            "name": name,
            "labels": {"modelsmith.io/run": RUN, LABEL_RUN_UID: "not-this-run"},
        },
        "spec": {
            "suspend": True,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "modelsmith/noop:latest"}],
                }
            },
        },
    }
    uid = kube.rest("POST", kube.batch_path("jobs", namespace), planted)["metadata"]["uid"]

    reconcile(RT, namespace, RUN)  # launches: the name is taken (409)
    reconcile(RT, namespace, RUN)  # looks at the Job under its name
    status = _run(namespace)["status"]
    assert status["phase"] == "Blocked", status
    assert status["blockedBy"]["kind"] == "governance"
    assert status["blockedBy"]["reason"] == "JobNameTaken"
    message = status["blockedBy"]["message"]
    assert "not this run's" in message and "run-uid label names another run" in message
    assert name not in message  # Job names stay off shared surfaces
    blocked = next(c for c in status["conditions"] if c["type"] == "Blocked")
    assert (blocked["status"], blocked["reason"]) == ("True", "JobNameTaken")
    # Still blocked on the next look; the planted Job is untouched.
    reconcile(RT, namespace, RUN)
    assert _run(namespace)["status"]["phase"] == "Blocked"
    assert _job(namespace, name)["metadata"]["uid"] == uid

    kube.rest(
        "DELETE", kube.batch_path("jobs", namespace, name), {"propagationPolicy": "Foreground"}
    )
    _gone(namespace, name)
    reconcile(RT, namespace, RUN)
    status = _run(namespace)["status"]
    assert status["phase"] == "EvaluatingBaseline", status
    own = _job(namespace, name)
    assert own["metadata"]["uid"] != uid
    assert own["metadata"]["labels"][LABEL_RUN_UID] == _run(namespace)["metadata"]["uid"]


def _job(namespace: str, name: str) -> dict[str, Any]:
    job: dict[str, Any] = kube.rest("GET", kube.batch_path("jobs", namespace, name))
    return job


def _gone(namespace: str, name: str) -> None:
    from testbed.waiting import wait_for

    path = kube.batch_path("jobs", namespace, name)
    wait_for(lambda: kube.find(path) is None, 60, f"Job {name} deleted")


def _edit_for_mallory(cluster: Cluster, namespace: str) -> client.BatchV1Api:
    """An ordinary user who may edit (create and delete Jobs) in `namespace`, and nothing else."""
    binding = {
        "metadata": {"name": "mallory-edit", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}],
    }
    client.RbacAuthorizationV1Api(cluster.api_client()).create_namespaced_role_binding(
        namespace, binding
    )
    return client.BatchV1Api(cluster.api_client("mallory"))


def _copied(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """A Job under `name` carrying `labels` (the run's, copied): suspended, it runs nothing."""
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "suspend": True,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "modelsmith/noop:latest"}],
                }
            },
        },
    }


def _run_labels(namespace: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "modelsmith",
        "modelsmith.io/run": RUN,
        LABEL_RUN_UID: _run(namespace)["metadata"]["uid"],
        "modelsmith.io/run-namespace": namespace,
    }


def _job_name_taken(namespace: str, why: str) -> None:
    status = _run(namespace)["status"]
    assert status["phase"] == "Blocked", status
    blocked = status["blockedBy"]
    assert (blocked["kind"], blocked["reason"]) == ("governance", "JobNameTaken")
    assert why in blocked["message"], blocked["message"]


def test_a_job_replaced_under_its_name_with_copied_labels_is_not_the_runs(
    operator_env: None,
    crds: Cluster,
    namespace: str,
    other_namespace: str,
    object_store: ObjectStore,
) -> None:
    """The run's Jobs run in another namespace, where mallory may edit. She deletes the run's
    Job and plants her own under its name with every label copied (no ownerReference can say
    otherwise there): the run recorded its Job's UID digest, so hers is never observed as the
    run's; the run blocks saying why and leaves it alone."""
    from modelsmith.controllers.run.job_guard import NOT_RECORDED
    from modelsmith.uids import uid_digest

    launchable_run(crds, namespace, jobs_in=other_namespace)
    reconcile(RT, namespace, RUN)
    name = _first_job(namespace)
    own = _job(other_namespace, name)
    memory = _run(namespace)["status"]["memory"]["job"]
    assert memory["uidDigest"] == uid_digest(own["metadata"]["uid"])

    mallory = _edit_for_mallory(crds, other_namespace)
    mallory.delete_namespaced_job(name, other_namespace, propagation_policy="Foreground")
    _gone(other_namespace, name)
    copied = _copied(name, own["metadata"]["labels"])
    planted = mallory.create_namespaced_job(other_namespace, copied)
    reconcile(RT, namespace, RUN)
    _job_name_taken(namespace, NOT_RECORDED)
    assert name not in _run(namespace)["status"]["blockedBy"]["message"]
    reconcile(RT, namespace, RUN)
    assert _job(other_namespace, name)["metadata"]["uid"] == planted.metadata.uid


def test_a_job_planted_before_the_launch_in_another_namespace_is_not_adopted(
    operator_env: None,
    crds: Cluster,
    namespace: str,
    other_namespace: str,
    object_store: ObjectStore,
) -> None:
    """mallory takes the run's first Job name in the execution namespace before the operator,
    copying the run's labels (run, UID, namespace): with no record of creating it and no
    ownerReference possible there, the run does not adopt it; once it is gone the run creates
    and records its own."""
    from modelsmith.controllers.run.job_guard import NO_RECORD_ELSEWHERE
    from modelsmith.uids import uid_digest

    launchable_run(crds, namespace, jobs_in=other_namespace)
    name = _first_job(namespace)
    mallory = _edit_for_mallory(crds, other_namespace)
    mallory.create_namespaced_job(other_namespace, _copied(name, _run_labels(namespace)))

    reconcile(RT, namespace, RUN)  # launches: the name is taken (409)
    reconcile(RT, namespace, RUN)  # looks at the Job under its name
    _job_name_taken(namespace, NO_RECORD_ELSEWHERE.split(" (")[0])

    mallory.delete_namespaced_job(name, other_namespace, propagation_policy="Foreground")
    _gone(other_namespace, name)
    reconcile(RT, namespace, RUN)
    status = _run(namespace)["status"]
    assert status["phase"] == "EvaluatingBaseline", status
    own = _job(other_namespace, name)
    assert status["memory"]["job"]["uidDigest"] == uid_digest(own["metadata"]["uid"])
