"""What a run makes of the JobSet its multi-node training step runs as, and of the JobSet's pods:
pure rules on the API objects as dicts, like `observe` for a Job (tests/unit/test_jobset.py).

The JobSet's own verdict (`status.terminalState`, or its Completed/Failed condition) decides:
a pod that fails while restarts are left is not the step's failure, JobSet recreates every pod
and the training resumes from its checkpoint. What the training reported comes from the leader
pod (node rank 0), the one process that writes the termination message."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from modelsmith import loop
from modelsmith.controllers.run import observe
from modelsmith.controllers.run.jobset_manifest import COMPLETION_INDEX


def jobset_outcome(status: Mapping[str, Any]) -> str | None:
    """"succeeded", "failed", or None while JobSet has not decided."""
    terminal = status.get("terminalState")
    true = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    if terminal == "Completed" or "Completed" in true:
        return "succeeded"
    if terminal == "Failed" or "Failed" in true:
        return "failed"
    return None


def jobset_event_matters(
    type: str | None, before: Mapping[str, Any] | None, status: Mapping[str, Any]
) -> bool:
    """Whether a JobSet event changes what a run observes: its verdict, or a restart (its pods'
    events tell the rest)."""
    if type == "DELETED":
        return True
    if before is None:
        return bool(status)
    facts = (jobset_outcome(before), before.get("restarts"))
    return facts != (jobset_outcome(status), status.get("restarts"))


def child_job(jobset: Mapping[str, Any]) -> dict[str, Any]:
    """The Job each replica of the JobSet's replicated Job is made from, Job-shaped (`spec`
    with the pod `template`), for the rules `observe` applies to a Job's pod template."""
    replicated = jobset["spec"]["replicatedJobs"][0]
    return {"metadata": jobset.get("metadata") or {}, "spec": replicated["template"]["spec"]}


def nodes_of(jobset: Mapping[str, Any]) -> int:
    return int(child_job(jobset)["spec"].get("parallelism") or 1)


def jobset_observation(
    name: str, jobset: Mapping[str, Any], pods: list[dict[str, Any]], now: datetime
) -> loop.JobObservation:
    """The run's own JobSet (its ownership checked) and its pods, as the loop sees them."""
    status = jobset.get("status") or {}
    outcome = jobset_outcome(status)
    summary = _summary(jobset, status, pods, now)
    if outcome == "succeeded":
        return loop.JobObservation(name=name, state=loop.JobState.SUCCEEDED, summary=summary)
    if outcome == "failed":
        failed_pods = [p for p in pods if observe.pod_status(p).get("phase") == "Failed"]
        terminated = observe.last_termination(failed_pods or pods)
        # A terminalState may come before the condition that says why (which, when there,
        # comes later in the list and wins).
        fallback = {"type": "Failed", "status": "True", "reason": "JobSetFailed"}
        conditions = [fallback, *(status.get("conditions") or [])]
        return observe.failed(name, {"conditions": conditions}, terminated, summary)
    unschedulable = observe.unschedulable_condition(pods)
    if unschedulable is not None:
        return loop.JobObservation(
            name=name,
            state=loop.JobState.UNSCHEDULABLE,
            scheduler_message=unschedulable.get("message"),
        )
    if any(observe.pod_status(p).get("phase") == "Running" for p in pods):
        return loop.JobObservation(name=name, state=loop.JobState.RUNNING)
    reason, since = observe.waiting(pods)
    return loop.JobObservation(
        name=name,
        state=loop.JobState.PENDING,
        waiting_reason=reason,
        waiting_since=since,
        summary=summary if reason in loop.CONTAINER_NEVER_RAN else None,
    )


def leader_pods(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods of node rank 0 (one per restart of the JobSet)."""
    return [
        p for p in pods if (p["metadata"].get("annotations") or {}).get(COMPLETION_INDEX) == "0"
    ]


def _summary(
    jobset: Mapping[str, Any],
    status: Mapping[str, Any],
    pods: list[dict[str, Any]],
    now: datetime,
) -> loop.JobSummary:
    """GPU time of every node from the first pod's start to the JobSet's verdict (or `now`),
    and what the leader reported when it ended."""
    starts = [t for p in pods if (t := observe.time_of(observe.pod_status(p).get("startTime")))]
    wall = 0.0
    if starts:
        decided = [
            observe.time_of(c.get("lastTransitionTime"))
            for c in status.get("conditions") or []
            if c.get("status") == "True" and c.get("type") in ("Completed", "Failed")
        ]
        end = next((t for t in decided if t is not None), None) or now
        wall = max((end - min(starts)).total_seconds(), 0.0)
    gpus = observe.requested_gpus(child_job(jobset)) * nodes_of(jobset)
    return observe.job_summary(wall * gpus, observe.last_termination(leader_pods(pods)))
