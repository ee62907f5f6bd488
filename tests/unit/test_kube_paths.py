"""The API paths every request is sent to (no cluster needed): the core group under /api, the
others under /apis; namespaced objects, collections, cluster-scoped and cluster-wide paths."""

from __future__ import annotations

from modelsmith.runtime import kube


def test_core_paths() -> None:
    assert kube.core_path("nodes") == "/api/v1/nodes"
    assert kube.core_path("namespaces", name="team-a") == "/api/v1/namespaces/team-a"
    assert kube.core_path("events", "team-a") == "/api/v1/namespaces/team-a/events"
    assert (
        kube.core_path("configmaps", "team-a", "serving")
        == "/api/v1/namespaces/team-a/configmaps/serving"
    )


def test_batch_paths() -> None:
    assert kube.batch_path("jobs") == "/apis/batch/v1/jobs"
    assert kube.batch_path("jobs", "team-a") == "/apis/batch/v1/namespaces/team-a/jobs"
    assert kube.batch_path("jobs", "team-a", "j") == "/apis/batch/v1/namespaces/team-a/jobs/j"


def test_the_operators_own_group() -> None:
    assert kube.custom_path("approverpolicies") == "/apis/modelsmith.io/v1alpha1/approverpolicies"
    assert (
        kube.custom_path("executiontargets", name="gpu")
        == "/apis/modelsmith.io/v1alpha1/executiontargets/gpu"
    )
    assert (
        kube.custom_path("iterationruns", "team-a", "run")
        == "/apis/modelsmith.io/v1alpha1/namespaces/team-a/iterationruns/run"
    )


def test_any_other_group() -> None:
    assert (
        kube.path("kopf.dev/v1", "kopfpeerings", "team-a", "modelsmith")
        == "/apis/kopf.dev/v1/namespaces/team-a/kopfpeerings/modelsmith"
    )
    assert (
        kube.path("kopf.dev/v1", "clusterkopfpeerings", name="modelsmith")
        == "/apis/kopf.dev/v1/clusterkopfpeerings/modelsmith"
    )
