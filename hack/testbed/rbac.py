"""RBAC in a test's namespace as a platform admin grants the test users (the chart's editor and
approver roles, or a narrower Role a test needs), and a wait until the API server's authorizer
allows what the test relies on: a binding takes a moment to reach it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from testbed.cluster import Cluster
from testbed.waiting import wait_for

RBAC = "rbac.authorization.k8s.io"


def role(namespace: str, name: str, resources: Sequence[str], verbs: Sequence[str]) -> Any:
    """A Role over modelsmith.io `resources`."""
    rules = [{"apiGroups": ["modelsmith.io"], "resources": list(resources), "verbs": list(verbs)}]
    meta = {"name": name, "namespace": namespace}
    return {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": meta, "rules": rules}


def binding(
    namespace: str, name: str, subjects: Iterable[str | dict[str, Any]], cluster_role: str = ""
) -> Any:
    """Binds the Role `name` (or the ClusterRole `cluster_role`) to `subjects`: user names, or
    subjects as written (a ServiceAccount)."""
    kind, role_name = ("ClusterRole", cluster_role) if cluster_role else ("Role", name)
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": RBAC, "kind": kind, "name": role_name},
        "subjects": [
            {"apiGroup": RBAC, "kind": "User", "name": s} if isinstance(s, str) else s
            for s in subjects
        ],
    }


def granted(
    namespace: str,
    name: str,
    subjects: Iterable[str | dict[str, Any]],
    resources: Sequence[str],
    verbs: Sequence[str],
) -> list[Any]:
    """The Role `name` and its binding to `subjects`."""
    return [role(namespace, name, resources, verbs), binding(namespace, name, subjects)]


def wait_until_allowed(
    cluster: Cluster, namespace: str, checks: Iterable[tuple[str, str, str]]
) -> None:
    """Waits until each (verb, resource, user) is allowed in `namespace`."""
    wanted = list(checks)

    def allowed() -> bool:
        return all(
            cluster.kubectl(
                "auth", "can-i", verb, resource, "-n", namespace, as_user=user, check=False
            ).stdout.strip()
            == "yes"
            for verb, resource, user in wanted
        )

    wait_for(allowed, 30, "RBAC for the test users")
