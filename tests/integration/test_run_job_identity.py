"""Job identity against the real API server: Job names are the run's own (namespace and UID), and
a Job found under the run's Job name is adopted only when it is the run's. The run reconciler
runs in the test process (as admin, so the operator's reach is not what is tested here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from staged import launchable_run

from modelsmith import events, kube, loop, watched
from modelsmith.handlers import run as run_handler
from modelsmith.handlers import scenarios
from modelsmith.jobs import LABEL_RUN_UID
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore

RUN = "run"

# The session's operator process would act on these objects too: run before it starts.
pytestmark = [pytest.mark.cluster, pytest.mark.inprocess]


@pytest.fixture(autouse=True)
def _empty() -> Iterator[None]:
    watched.clear()
    scenarios._published.clear()
    yield
    events.flush(30)
    watched.clear()
    scenarios._published.clear()


def _run(namespace: str) -> dict[str, Any]:
    run = kube.get_custom("iterationruns", namespace, RUN)
    assert run is not None
    return run


def _first_job(namespace: str) -> str:
    key = loop.run_key(namespace, _run(namespace)["metadata"]["uid"])
    return loop.job_name(RUN, key, 0, loop.Phase.EVALUATING_BASELINE, 1)


def _second_namespace(cluster: Cluster, namespace: str) -> Iterator[str]:
    from conftest import bind_operator_workloads

    other = f"{namespace[:50]}-b"
    core = client.CoreV1Api(cluster.api_client())
    core.create_namespace({"metadata": {"name": other, "labels": {"modelsmith.io/test": "true"}}})
    bind_operator_workloads(cluster, other)
    try:
        yield other
    finally:
        core.delete_namespace(other, propagation_policy="Background")


@pytest.fixture
def other_namespace(crds: Cluster, namespace: str) -> Iterator[str]:
    yield from _second_namespace(crds, namespace)


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
    launchable_run(crds, namespace, object_store, jobs_in=shared)
    launchable_run(crds, shared, object_store)
    for ns in (namespace, shared):
        run_handler.reconcile(ns, RUN)
        assert _run(ns)["status"]["phase"] == "EvaluatingBaseline"
    jobs = {j.metadata.name: j for j in kube.batch().list_namespaced_job(shared).items}
    names = {_first_job(namespace), _first_job(shared)}
    assert len(names) == 2 and set(jobs) == names, sorted(jobs)
    for ns in (namespace, shared):
        labels = jobs[_first_job(ns)].metadata.labels
        assert labels[LABEL_RUN_UID] == _run(ns)["metadata"]["uid"]
        assert labels["modelsmith.io/run-namespace"] == ns


def test_a_planted_job_under_the_runs_job_name_is_not_adopted(
    operator_env: None, crds: Cluster, namespace: str, object_store: ObjectStore
) -> None:
    """Someone who may create Jobs there takes the run's next Job name first, with labels that
    claim the run: the run never adopts it (nor deletes it), blocks saying why, and launches
    its own Job once the name is free."""
    launchable_run(crds, namespace, object_store)
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
    uid = kube.batch().create_namespaced_job(namespace, planted).metadata.uid

    run_handler.reconcile(namespace, RUN)  # launches: the name is taken (409)
    run_handler.reconcile(namespace, RUN)  # looks at the Job under its name
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
    run_handler.reconcile(namespace, RUN)
    assert _run(namespace)["status"]["phase"] == "Blocked"
    assert kube.batch().read_namespaced_job(name, namespace).metadata.uid == uid

    kube.batch().delete_namespaced_job(name, namespace, propagation_policy="Foreground")
    _gone(namespace, name)
    run_handler.reconcile(namespace, RUN)
    status = _run(namespace)["status"]
    assert status["phase"] == "EvaluatingBaseline", status
    own = kube.batch().read_namespaced_job(name, namespace)
    assert own.metadata.uid != uid
    assert own.metadata.labels[LABEL_RUN_UID] == _run(namespace)["metadata"]["uid"]


def _gone(namespace: str, name: str) -> None:
    from testbed.waiting import wait_for

    def gone() -> bool:
        try:
            kube.batch().read_namespaced_job(name, namespace)
        except client.exceptions.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, 60, f"Job {name} deleted")
