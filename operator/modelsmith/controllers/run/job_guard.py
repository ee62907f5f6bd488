"""What the run controller checks before it touches a Job: that the Job is the run's own, and that
the operator may create Jobs where they run at all.

A Job is found by its deterministic name, but a name proves nothing: whoever may create Jobs in
the execution namespace may take it first, or delete the run's Job and plant another under its
name, labels copied. So the run records the sha256 of the UID of the Job the operator created
(status.memory.job.uidDigest, written with the status that claims the Job) and observes or
deletes only that very object. A Job under the name before any record is adopted only when this
process created it (the status write after the create was refused) or, after an operator restart
between the create and the status write, when `job_manifest.foreign_job` finds its labels and its
controller ownerReference name the run: only a Job in the run's own namespace can carry one, so
there an unrecorded Job with copied labels is never adopted (the run blocks instead: no
duplicate Job either way). A foreign Job blocks the run (JobNameTaken) and is left alone.

The operator creates Jobs only where a platform admin bound its workloads ClusterRole (the
chart's `operator.workloadNamespaces`). Where it is not bound, a launch would be refused on
every reconcile, out of sight: the controller asks the API server first (a SelfSubjectAccessReview,
which every authenticated identity may make) and the run blocks saying so
(OperatorNotPermitted) until the binding exists."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Final

from modelsmith import loop
from modelsmith.contract.layout import run_key
from modelsmith.controllers.run.job_manifest import foreign_job
from modelsmith.runtime import kube
from modelsmith.runtime.cache import Memo
from modelsmith.runtime.core import Runtime
from modelsmith.uids import uid_digest

log = logging.getLogger("modelsmith.run")
_SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


NOT_RECORDED: Final = "its UID is not the one the run recorded when the operator created it"
NO_RECORD_ELSEWHERE: Final = (
    "the run holds no record of creating it, and in another namespace no ownerReference can say "
    "whose it is (if the operator restarted just after creating it, delete that Job: the run "
    "creates it again)"
)

# The Jobs this process created or adopted, until status records their UIDs: Job name (names
# carry the run key) -> (namespace, UID).
CreatedJobs = Memo[str, tuple[str, str]]


def remembered(created: CreatedJobs, namespace: str, name: str) -> str | None:
    """The UID remembered for the Job `namespace/name`, None when none."""
    found = created.get(name)
    return found[1] if found is not None and found[0] == namespace else None


@dataclass(frozen=True)
class JobRecord:
    """The Job a run's status.memory.job names (None: none) and its recorded UID digest."""

    name: str | None = None
    uid_digest: str | None = None

    @classmethod
    def of(cls, body: dict[str, Any]) -> JobRecord:
        meta = body["metadata"]
        job = ((body.get("status") or {}).get("memory") or {}).get("job") or {}
        if not job:
            return cls()
        key = run_key(meta["namespace"], meta["uid"])
        phase = loop.Phase(job["phase"])
        name = loop.job_name(meta["name"], key, job["iteration"], phase, job["attempt"])
        return cls(name, job.get("uidDigest"))

    def digest_for(self, name: str | None) -> str | None:
        return self.uid_digest if name is not None and name == self.name else None


@dataclass(frozen=True)
class RunIdentity:
    name: str
    namespace: str
    uid: str
    created: CreatedJobs
    """The Jobs this process created or adopted (the runtime's `created_jobs`)."""
    job: JobRecord = field(default_factory=JobRecord)

    @classmethod
    def of(cls, body: dict[str, Any], created: CreatedJobs) -> RunIdentity:
        meta = body["metadata"]
        return cls(meta["name"], meta["namespace"], meta["uid"], created, JobRecord.of(body))

    def foreign(self, job: dict[str, Any]) -> str | None:
        """None when `job` is this run's; else why not. A Job adopted without a record is
        remembered, so the status written next records its UID."""
        meta = job.get("metadata") or {}
        name, namespace, uid = (str(meta.get(k)) for k in ("name", "namespace", "uid"))
        recorded = self.job.digest_for(name)
        if recorded is not None:
            return None if uid_digest(uid) == recorded else NOT_RECORDED
        if remembered(self.created, namespace, name) == uid:
            return None
        why = foreign_job(job, run_name=self.name, run_namespace=self.namespace, run_uid=self.uid)
        if why is None and namespace != self.namespace:
            why = NO_RECORD_ELSEWHERE
        if why is None:
            self.created.put(name, (namespace, uid))
        return why

    def job_digest(self, job: loop.JobRef | None) -> str | None:
        """What status.memory.job.uidDigest records for `job`: the recorded digest, else that of
        the Job this process created or adopted under its name (None: not known yet)."""
        if job is None:
            return None
        recorded = self.job.digest_for(job.name)
        if recorded is not None:
            return recorded
        found = self.created.get(job.name)
        return None if found is None else uid_digest(found[1])


def rbac_refusal(rt: Runtime, namespace: str) -> str | None:
    """None when the operator may create Jobs in `namespace`; else why not, in words. A yes is
    used again for a while (`Runtime.jobs_permitted`): RoleBindings change rarely, a launch
    asks on every Job, and a Job create refused in the namespace forgets the yes at once. The
    runs of a namespace reconciled at once share one question (`Runtime.permission_asks`)."""
    if rt.jobs_permitted.get(namespace) or rt.permission_asks.call(
        namespace, lambda: _permitted(rt, namespace)
    ):
        return None
    return (
        f"the operator may not create Jobs in namespace {namespace} (no RoleBinding there to "
        "its operator-workloads ClusterRole; a platform admin lists the namespace in the "
        "chart's operator.workloadNamespaces). The run resumes on its own once it may."
    )


def _permitted(rt: Runtime, namespace: str) -> bool:
    # A question answered yes just before this one began has kept its answer: no need to ask.
    if rt.jobs_permitted.get(namespace):
        return True
    allowed = may_create_jobs(namespace)
    if allowed:
        rt.jobs_permitted.put(namespace, True)
    return allowed


def may_create_jobs(namespace: str) -> bool:
    """The API server's answer: may the operator create Jobs in `namespace`?"""
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
    return bool((answer.get("status") or {}).get("allowed"))


def delete_own_job(run: RunIdentity, name: str, namespace: str) -> None:
    """Deletes the Job `name` only when it is the run's own, and only that very object (a
    precondition on its UID: a Job replaced meanwhile is not deleted). NotFound is success."""
    try:
        job = kube.rest("GET", kube.batch_path("jobs", namespace, name))
        why = run.foreign(job)
        if why is not None:
            log.warning("not deleting a Job that is not the run's own: %s", why)
            return
        options = {
            "propagationPolicy": "Background",
            "preconditions": {"uid": job["metadata"]["uid"]},
        }
        kube.rest("DELETE", kube.batch_path("jobs", namespace, name), options)
    except Exception as exc:
        # Conflict: the precondition failed, another object holds the name now.
        if not (kube.is_not_found(exc) or kube.is_conflict(exc)):
            raise
