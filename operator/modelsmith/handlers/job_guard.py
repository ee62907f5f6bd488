"""What the run handler checks before it touches a Job: that the Job is the run's own, and that
the operator may create Jobs where they run at all.

A Job is found by its deterministic name, but a name proves nothing: whoever may create Jobs in
the execution namespace may take it first. So a Job is adopted, observed and deleted only when
`jobs.foreign_job` finds it is this run's; a foreign one blocks the run (JobNameTaken) and is
left alone.

The operator creates Jobs only where a platform admin bound its workloads ClusterRole (the
chart's `operator.workloadNamespaces`). Where it is not bound, a launch would be refused on
every look, out of sight: the handler asks the API server first (a SelfSubjectAccessReview,
which every authenticated identity may make) and the run blocks saying so
(OperatorNotPermitted) until the binding exists."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from modelsmith import kube
from modelsmith.jobs import foreign_job

log = logging.getLogger("modelsmith.run")
_SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


@dataclass(frozen=True)
class RunIdentity:
    name: str
    namespace: str
    uid: str

    @classmethod
    def of(cls, body: dict[str, Any]) -> RunIdentity:
        meta = body["metadata"]
        return cls(meta["name"], meta["namespace"], meta["uid"])

    def foreign(self, job: dict[str, Any]) -> str | None:
        """None when `job` is this run's; else why not (see jobs.foreign_job)."""
        return foreign_job(job, run_name=self.name, run_namespace=self.namespace, run_uid=self.uid)


def rbac_refusal(namespace: str) -> str | None:
    """None when the operator may create Jobs in `namespace`; else why not, in words."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {
            "resourceAttributes": {
                "group": "batch",
                "resource": "jobs",
                "verb": "create",
                "namespace": namespace,
            }
        },
    }
    answer = kube.rest("POST", _SSAR, review)
    if (answer.get("status") or {}).get("allowed"):
        return None
    return (
        f"the operator may not create Jobs in namespace {namespace} (no RoleBinding there to "
        "its operator-workloads ClusterRole; a platform admin lists the namespace in the "
        "chart's operator.workloadNamespaces). The run resumes on its own once it may."
    )


def delete_own_job(run: RunIdentity, name: str, namespace: str) -> None:
    """Deletes the Job `name` only when it is the run's own, and only that very object (a
    precondition on its UID: a Job replaced meanwhile is not deleted). NotFound is success."""
    try:
        job = kube.rest("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")
        why = run.foreign(job)
        if why is not None:
            log.warning("not deleting a Job that is not the run's own: %s", why)
            return
        options = {
            "propagationPolicy": "Background",
            "preconditions": {"uid": job["metadata"]["uid"]},
        }
        kube.rest("DELETE", f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}", options)
    except Exception as exc:
        # Conflict: the precondition failed, another object holds the name now.
        if not (kube.is_not_found(exc) or kube.is_conflict(exc)):
            raise
