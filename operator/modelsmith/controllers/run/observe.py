"""What a run makes of its Job, the Job's pods, the nodes, its gate and its intake: pure rules on
the API objects as dicts. Nothing here reads the API; `read` fetches the objects and calls these,
so every rule is tested without a cluster (tests/unit/test_run_observe.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from modelsmith import loop
from modelsmith.contract import integrity
from modelsmith.contract.exitcodes import ExitCode

# --- which watch events change what a run observes ----------------------------------------------


def job_event_matters(
    type: str | None, before: Mapping[str, Any] | None, status: Mapping[str, Any]
) -> bool:
    """Whether a Job event changes what a run observes of its Job (`job_observation`): its
    outcome and its start. A Job just created (by the reconcile that launched it, which asked to
    be reconciled again) shows nothing yet; counts of active and ready pods change with the pods,
    whose own events carry them; the controller marks a finished Job twice (SuccessCriteriaMet,
    then Complete; FailureTarget, then Failed), and the first mark decides. `before` is the
    status last seen (None: not seen before, as after a restart)."""
    if type == "DELETED":
        return True
    if type == "ADDED" and not status:
        return False
    return before is None or _job_facts(before) != _job_facts(status)


def _job_facts(status: Mapping[str, Any]) -> tuple[Any, ...]:
    return (job_outcome(status), status.get("startTime"))


def job_outcome(status: Mapping[str, Any]) -> str | None:
    """The Job's verdict from its true conditions: "succeeded", "failed", or None (none yet)."""
    true = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    if true & {"Complete", "SuccessCriteriaMet"}:
        return "succeeded"
    if true & {"Failed", "FailureTarget"}:
        return "failed"
    return None


def pod_event_matters(
    type: str | None, before: Mapping[str, Any] | None, status: Mapping[str, Any]
) -> bool:
    """Whether a pod event changes what a run observes of its Job's pods: scheduling verdicts
    (Unschedulable, and when it was scheduled), containers waiting (image pulls, missing
    configuration) and starting, while the pod is Pending or Running. A new pod shows none of
    that yet; a finished or deleted one is counted on its Job by the Job controller, whose event
    follows."""
    if type in ("ADDED", "DELETED"):
        return False
    if status.get("phase") in ("Succeeded", "Failed"):
        return False
    return before is None or _pod_facts(before) != _pod_facts(status)


def _pod_facts(status: Mapping[str, Any]) -> tuple[Any, ...]:
    scheduled = tuple(
        (c.get("status"), c.get("reason"), c.get("message"), c.get("lastTransitionTime"))
        for c in status.get("conditions") or []
        if c.get("type") == "PodScheduled"
    )
    return (
        status.get("phase"),
        scheduled,
        tuple(_waiting_reason(cs) for cs in _container_statuses(status)),
    )


def _waiting_reason(container_status: Mapping[str, Any]) -> str | None:
    found = (container_status.get("state") or {}).get("waiting")
    return None if found is None else str(found.get("reason") or "")


# --- the Job and its pods ------------------------------------------------------------------------


def every_counted_pod_seen(pods: list[dict[str, Any]], job_status: Mapping[str, Any]) -> bool:
    """Whether `pods` hold at least as many finished pods as the Job controller counted: those
    in its counts and those it is still counting (`uncountedTerminatedPods`, where a pod waits
    while its finalizer goes; the first verdict mark, SuccessCriteriaMet or FailureTarget,
    comes with the pods there and the counts still empty)."""
    uncounted = job_status.get("uncountedTerminatedPods") or {}
    counted = (
        int(job_status.get("failed") or 0)
        + int(job_status.get("succeeded") or 0)
        + len(uncounted.get("failed") or ())
        + len(uncounted.get("succeeded") or ())
    )
    done = [p for p in pods if pod_status(p).get("phase") in ("Succeeded", "Failed")]
    return counted > 0 and len(done) >= counted


def job_observation(
    name: str, job: Mapping[str, Any], pods: list[dict[str, Any]], now: datetime
) -> loop.JobObservation:
    """The run's own Job (its ownership checked) and its pods, as the loop sees them;
    `read.observe_job` adds the NotReady nodes that could run an unschedulable Job and Kueue's
    view of a Job without pods."""
    status = job.get("status") or {}
    outcome = job_outcome(status)
    terminated = last_termination(pods)
    summary = _summary(job, status, terminated, now)
    if outcome == "succeeded":
        return loop.JobObservation(name=name, state=loop.JobState.SUCCEEDED, summary=summary)
    if outcome == "failed":
        return failed(name, status, terminated, summary)
    unschedulable = unschedulable_condition(pods)
    if unschedulable is not None:
        return loop.JobObservation(
            name=name,
            state=loop.JobState.UNSCHEDULABLE,
            scheduler_message=unschedulable.get("message"),
        )
    if any(pod_status(p).get("phase") == "Running" for p in pods):
        return loop.JobObservation(name=name, state=loop.JobState.RUNNING)
    reason, since = waiting(pods)
    # The GPU time of a pod that never starts counts too: it held the GPUs while it waited.
    return loop.JobObservation(
        name=name,
        state=loop.JobState.PENDING,
        waiting_reason=reason,
        waiting_since=since,
        summary=summary if reason in loop.CONTAINER_NEVER_RAN else None,
    )


def _summary(
    job: Mapping[str, Any],
    status: Mapping[str, Any],
    terminated: dict[str, Any] | None,
    now: datetime,
) -> loop.JobSummary:
    """GPU time from the Job's start to its completion (or `now`), and `job_summary`."""
    wall = 0.0
    started = time_of(status.get("startTime"))
    if started is not None:
        end = time_of(status.get("completionTime")) or now
        wall = max((end - started).total_seconds(), 0.0)
    return job_summary(wall * requested_gpus(job), terminated)


def job_summary(gpu_seconds: float, terminated: dict[str, Any] | None) -> loop.JobSummary:
    """What the last container reported when it ended (contamination, the digests of what it
    wrote, the checkpoint step a resumed training started from)."""
    return loop.JobSummary(
        gpu_seconds=gpu_seconds,
        contaminated=contaminated(terminated),
        overlapping=loop.contamination_ids(terminated),
        reported=integrity.reported_digests((terminated or {}).get("message")),
        resumed_from_step=loop.resumed_from_step(terminated),
    )


def failed(
    name: str,
    status: Mapping[str, Any],
    terminated: dict[str, Any] | None,
    summary: loop.JobSummary,
) -> loop.JobObservation:
    conditions = {
        c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"
    }
    condition = conditions.get("Failed") or conditions["FailureTarget"]
    container_reason = None if terminated is None else terminated.get("reason")
    reason = condition.get("reason") or container_reason
    if container_reason in loop.CONTAINER_NEVER_RAN:
        # BackoffLimitExceeded says only that it failed; the container says why.
        reason = container_reason
    return loop.JobObservation(
        name=name,
        state=loop.JobState.FAILED,
        exit_code=None if terminated is None else terminated.get("exitCode"),
        reason=reason,
        attempts_exhausted=True,
        summary=summary,
    )


def unschedulable_condition(pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first pod's PodScheduled=False condition with reason Unschedulable, if any."""
    for pod in pods:
        for condition in pod_status(pod).get("conditions") or []:
            if (
                condition.get("type") == "PodScheduled"
                and condition.get("status") == "False"
                and condition.get("reason") == "Unschedulable"
            ):
                found: dict[str, Any] = condition
                return found
    return None


def waiting(pods: list[dict[str, Any]]) -> tuple[str | None, datetime | None]:
    """The newest unfinished pod's waiting reason (one that means the image never ran comes
    first) and when that pod was scheduled (else created)."""
    live = [p for p in pods if pod_status(p).get("phase") in ("Pending", "Running")]
    if not live:
        return None, None
    pod = max(live, key=created)
    status = pod_status(pod)
    reasons = [
        waiting.get("reason")
        for cs in _container_statuses(status)
        if (waiting := (cs.get("state") or {}).get("waiting")) is not None
    ]
    never_ran = [r for r in reasons if r in loop.CONTAINER_NEVER_RAN]
    reason = (never_ran or reasons or [None])[0]
    since = time_of(created(pod))
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "True"
            and condition.get("lastTransitionTime")
        ):
            since = time_of(condition["lastTransitionTime"])
    return reason, since


def last_termination(pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The terminated state of the newest pod's last terminated container."""
    found = None
    for pod in sorted(pods, key=created):
        for cs in pod_status(pod).get("containerStatuses") or []:
            terminated = (cs.get("state") or {}).get("terminated")
            if terminated is not None:
                found = terminated
    return found


def contaminated(terminated: dict[str, Any] | None) -> bool:
    """Whether the container ended reporting held-out material in its training data: by its exit
    code, or by `contaminated` in its JSON termination message."""
    if terminated is None:
        return False
    if terminated.get("exitCode") == ExitCode.CONTAMINATION:
        return True
    try:
        message = json.loads(terminated.get("message") or "{}")
    except ValueError:
        return False
    return bool(isinstance(message, dict) and message.get("contaminated"))


def requested_gpus(job: Mapping[str, Any]) -> int:
    return sum(gpu_limits(job).values())


def gpu_resource(job: Mapping[str, Any]) -> str:
    return next(iter(gpu_limits(job)), "nvidia.com/gpu")


def gpu_limits(job: Mapping[str, Any]) -> dict[str, int]:
    """GPU resource name -> count over the Job's containers."""
    limits: dict[str, int] = {}
    for container in job["spec"]["template"]["spec"]["containers"]:
        for key, value in ((container.get("resources") or {}).get("limits") or {}).items():
            if "/" in key and key.endswith("gpu"):
                limits[key] = limits.get(key, 0) + int(value)
    return limits


def candidates_not_ready(job: Mapping[str, Any], nodes: Iterable[Mapping[str, Any]]) -> int:
    """NotReady nodes among `nodes` that could run `job` (see loop.nodes_not_ready)."""
    wanted = gpu_limits(job)
    facts = []
    for node in nodes:
        status = node.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        capacity = status.get("capacity") or {}
        gpus = sum(int(capacity.get(resource, "0") or 0) for resource in wanted)
        facts.append((ready, gpus))
    return loop.nodes_not_ready(facts, sum(wanted.values()))


def time_of(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value)


def pod_status(pod: Mapping[str, Any]) -> dict[str, Any]:
    return dict(pod.get("status") or {})


def _container_statuses(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def created(pod: Mapping[str, Any]) -> str:
    # RFC 3339 in UTC with a fixed format: the strings sort as the times do.
    return str(pod["metadata"].get("creationTimestamp") or "")


# --- the intake and the gate ---------------------------------------------------------------------


def intake_readiness(intake: Mapping[str, Any] | None) -> loop.IntakeReadiness:
    """The intake's Ready condition; an intake not found, or without the condition yet, is not
    ready, with a reason saying which."""
    if intake is None:
        return loop.IntakeReadiness(ready=False, reason="IntakeNotFound")
    for condition in (intake.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            if condition.get("status") == "True":
                return loop.IntakeReadiness(ready=True)
            return loop.IntakeReadiness(ready=False, reason=condition.get("reason") or "NotReady")
    return loop.IntakeReadiness(ready=False, reason="NotValidatedYet")


def gate_observation(name: str, gate: Mapping[str, Any]) -> loop.GateObservation:
    """The staged gate's state, the role whose sign-off it waits for, and its first blocker."""
    status = gate.get("status") or {}
    awaiting = next(
        (a.get("role") for a in status.get("approvals") or [] if a.get("decision") == "pending"),
        None,
    )
    blockers = status.get("blockers") or []
    first = blockers[0] if blockers and isinstance(blockers[0], dict) else {}
    return loop.GateObservation(
        name=name,
        outcome=loop.GateOutcome(status.get("state") or "Pending"),
        awaiting_role=awaiting,
        blocker_reason=first.get("reason"),
    )
