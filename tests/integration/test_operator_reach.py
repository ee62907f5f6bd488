"""The operator's own reach: it creates Jobs and moves serving pointers only in namespaces where a
platform admin bound its workloads ClusterRole (the chart's operator.workloadNamespaces; the
tests' `namespace` fixture binds it as an admin would). Elsewhere it cannot, and a run there says
so instead of retrying out of sight. The run reconciler runs in the test process with the chart
ServiceAccount's own token and RBAC."""

from __future__ import annotations

import pytest
from kubernetes import client
from staged import launchable_run

from modelsmith.controllers.run.reconcile import reconcile
from modelsmith.runtime.core import Runtime
from testbed.cluster import Cluster
from testbed.objectstore import ObjectStore
from testbed.operator import OPERATOR_NAMESPACE, WORKLOADS_ROLE, bind_operator_workloads
from testbed.waiting import wait_for

# This module's own runtime: its reconciles run here, in the test process.
RT = Runtime()

pytestmark = [pytest.mark.cluster, pytest.mark.inprocess]

RUN = "run"
OPERATOR_SA = f"system:serviceaccount:{OPERATOR_NAMESPACE}:modelsmith-operator"


def _can(cluster: Cluster, verb: str, resource: str, namespace: str) -> bool:
    out = cluster.kubectl(
        "auth", "can-i", verb, resource, "-n", namespace, f"--as={OPERATOR_SA}", check=False
    )
    return out.stdout.strip() == "yes"


def _status(cluster: Cluster, namespace: str) -> dict[str, object]:
    custom = client.CustomObjectsApi(cluster.api_client())
    body = custom.get_namespaced_custom_object(
        "modelsmith.io", "v1alpha1", namespace, "iterationruns", RUN
    )
    return dict(body.get("status") or {})


def test_the_operator_cannot_launch_where_it_is_not_bound_and_the_run_says_why(
    as_operator: None, crds: Cluster, namespace: str, object_store: ObjectStore
) -> None:
    rbac = client.RbacAuthorizationV1Api(crds.api_client())
    rbac.delete_namespaced_role_binding(WORKLOADS_ROLE, namespace)
    wait_for(lambda: not _can(crds, "create", "jobs", namespace), 30, "the binding withdrawn")
    # What the chart grants cluster-wide is to watch, never to launch or move a pointer.
    assert _can(crds, "watch", "jobs", namespace)
    assert _can(crds, "get", "configmaps", namespace)
    for verb, resource in (("create", "jobs"), ("delete", "jobs"), ("patch", "configmaps")):
        assert not _can(crds, verb, resource, namespace), (verb, resource)

    launchable_run(crds, namespace, run_name=RUN)
    reconcile(RT, namespace, RUN)
    status = _status(crds, namespace)
    assert status["phase"] == "Blocked", status
    blocked = status["blockedBy"]
    assert isinstance(blocked, dict)
    assert (blocked["kind"], blocked["reason"]) == ("governance", "OperatorNotPermitted")
    assert f"may not create Jobs in namespace {namespace}" in blocked["message"]
    assert "operator.workloadNamespaces" in blocked["message"]
    assert "operator-workloads" in str(status["nextAction"])
    assert client.BatchV1Api(crds.api_client()).list_namespaced_job(namespace).items == []
    reconcile(RT, namespace, RUN)  # still refused: no flapping, no Job
    assert _status(crds, namespace)["phase"] == "Blocked"

    # The platform admin binds it: the run resumes and launches.
    bind_operator_workloads(crds, namespace)
    wait_for(lambda: _can(crds, "create", "jobs", namespace), 30, "the binding in force")
    reconcile(RT, namespace, RUN)
    assert _status(crds, namespace)["phase"] == "Pending"
    reconcile(RT, namespace, RUN)
    assert _status(crds, namespace)["phase"] == "EvaluatingBaseline"
    jobs = client.BatchV1Api(crds.api_client()).list_namespaced_job(namespace).items
    assert len(jobs) == 1
