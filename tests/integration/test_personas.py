"""The seed's role model as shipped RBAC: each persona ClusterRole of the chart, bound as a platform
admin would, lets its holder do what docs/governance.md's table says, and nothing more. Asked
of the real API server's authorizer with impersonation (`kubectl auth can-i --as`)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from testbed.cluster import Cluster
from testbed.waiting import wait_for

pytestmark = [pytest.mark.cluster]

REPO = Path(__file__).resolve().parents[2]
RELEASE = "modelsmith"
MS = "modelsmith.io"

# persona -> (ClusterRole, bound cluster-wide?)
PERSONAS = {
    "pat": ("modelsmith-platform-admin", True),
    "dora": ("modelsmith-domain-owner", False),
    "otto": ("modelsmith-run-operator", False),
    "rita": ("modelsmith-reviewer", True),
    "alice": ("modelsmith-approver", False),
    "eddie": ("edit", False),  # a namespace editor: the chart's editor role aggregates into it
}

# (user, verb, resource, allowed); resources are namespaced in the test namespace unless cluster-
# scoped (executiontargets, approverpolicies).
TABLE = [
    ("pat", "create", f"executiontargets.{MS}", True),
    ("pat", "delete", f"approverpolicies.{MS}", True),
    ("pat", "list", f"iterationruns.{MS}", True),
    ("pat", "create", f"iterationruns.{MS}", False),
    ("pat", "create", f"promotiongates.{MS}", False),
    ("pat", "patch", f"promotiongates.{MS}", False),
    ("dora", "create", f"benchmarks.{MS}", True),
    ("dora", "delete", f"benchmarks.{MS}", True),
    ("dora", "get", f"iterationruns.{MS}", True),
    ("dora", "create", f"modelintakes.{MS}", False),
    ("dora", "create", f"iterationruns.{MS}", False),
    ("dora", "patch", f"promotiongates.{MS}", False),
    ("dora", "create", f"executiontargets.{MS}", False),
    ("otto", "create", f"modelintakes.{MS}", True),
    ("otto", "patch", f"iterationruns.{MS}", True),
    ("otto", "list", "jobs.batch", True),
    ("otto", "watch", "events", True),
    ("otto", "get", f"promotiongates.{MS}", True),
    ("otto", "create", "jobs.batch", False),
    ("otto", "create", f"benchmarks.{MS}", False),
    ("otto", "patch", f"promotiongates.{MS}", False),
    ("otto", "create", f"promotiongates.{MS}", False),
    ("otto", "get", "secrets", False),
    ("rita", "get", f"benchmarks.{MS}", True),
    ("rita", "list", f"promotiongates.{MS}", True),
    ("rita", "list", f"executiontargets.{MS}", True),
    ("rita", "list", f"approverpolicies.{MS}", True),
    ("rita", "create", f"iterationruns.{MS}", False),
    ("rita", "patch", f"promotiongates.{MS}", False),
    ("rita", "get", "secrets", False),
    ("alice", "patch", f"promotiongates.{MS}", True),
    ("alice", "get", f"iterationruns.{MS}", True),
    ("alice", "create", f"promotiongates.{MS}", False),
    ("alice", "create", f"iterationruns.{MS}", False),
    ("eddie", "create", f"benchmarks.{MS}", True),
    ("eddie", "create", f"modelintakes.{MS}", True),
    ("eddie", "create", f"iterationruns.{MS}", True),
    ("eddie", "get", f"promotiongates.{MS}", True),
    ("eddie", "create", f"promotiongates.{MS}", False),
    ("eddie", "patch", f"promotiongates.{MS}", False),
    ("eddie", "create", f"executiontargets.{MS}", False),
    ("eddie", "create", f"approverpolicies.{MS}", False),
]
# Nobody but the operator writes status.
STATUS = [(user, "patch", f"{kind}.{MS}") for user in PERSONAS for kind in ("iterationruns",)]


def _chart_roles(cluster: Cluster) -> str:
    return subprocess.run(
        [
            str(cluster.bin_dir / "helm"),
            "template",
            RELEASE,
            str(REPO / "charts/modelsmith"),
            "--namespace",
            "modelsmith-system",
            "--kube-version",
            "1.34.4",
            "--show-only",
            "templates/rbac.yaml",
            "--show-only",
            "templates/personas.yaml",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def bound(crds: Cluster, namespace: str) -> Iterator[str]:
    crds.kubectl("apply", "-f", "-", input=_chart_roles(crds))
    docs = []
    cluster_wide = []
    for user, (role, everywhere) in PERSONAS.items():
        ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
        subject = {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
        name = f"{namespace}-{user}" if everywhere else f"persona-{user}"
        meta = {"name": name} if everywhere else {"name": name, "namespace": namespace}
        kind = "ClusterRoleBinding" if everywhere else "RoleBinding"
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": kind,
                "metadata": meta,
                "roleRef": ref,
                "subjects": [subject],
            }
        )
        if everywhere:
            cluster_wide.append(name)
    crds.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    # The editor's rights reach `edit` through the aggregation controller.
    wait_for(lambda: _can(crds, namespace, "eddie", "create", f"iterationruns.{MS}"), 60, "edit")
    try:
        yield namespace
    finally:
        for name in cluster_wide:
            crds.kubectl("delete", "clusterrolebinding", name, "--ignore-not-found")


def _can(
    cluster: Cluster, namespace: str, user: str, verb: str, resource: str, *extra: str
) -> bool:
    out = cluster.kubectl(
        "auth", "can-i", verb, resource, "-n", namespace, f"--as={user}", *extra, check=False
    )
    answer = out.stdout.strip()
    assert answer in ("yes", "no"), out.stderr
    return answer == "yes"


def _served(cluster: Cluster) -> set[str]:
    out = cluster.kubectl("api-resources", "-o", "name", check=False).stdout
    return {*out.split(), "jobs.batch", "events", "secrets"}


def test_each_persona_may_do_what_the_table_says_and_no_more(crds: Cluster, bound: str) -> None:
    # kubectl answers "no" for a kind the API server does not serve (yet): only served kinds.
    served = _served(crds)
    wrong = [
        f"{user} {'may not' if allowed else 'may'} {verb} {resource}"
        for user, verb, resource, allowed in TABLE
        if resource in served and _can(crds, bound, user, verb, resource) is not allowed
    ]
    wrong += [
        f"{user} may {verb} {resource}/status"
        for user, verb, resource in STATUS
        if _can(crds, bound, user, verb, resource, "--subresource=status")
    ]
    assert not wrong, wrong
