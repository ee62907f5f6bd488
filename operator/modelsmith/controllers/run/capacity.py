"""What the scheduler (or Kueue) made of the run's current Job, as `status.capacity` reports it:
a pure rule on what the reconcile observed (tests/unit/test_run_capacity.py)."""

from __future__ import annotations

from typing import Any

from modelsmith import loop
from modelsmith.controllers.run.target import Placement
from modelsmith.loop.queue import QueueObservation, QueueState


def capacity_status(
    placement: Placement | None,
    job: loop.JobObservation | None,
    old: Any,
    launching: bool = False,
    phase: loop.Phase | None = None,
) -> dict[str, Any] | None:
    """status.capacity for the current Job, the one the run's `phase` runs. A Job this decision
    launches is Pending (not the last Job's verdict, nor an Unknown its first pod event would
    overwrite at once); without a Job to observe, the old value stands. The GPUs requested are
    the whole step's: a training step over several nodes asks for its GPUs on each of them."""
    if placement is None:
        return old if isinstance(old, dict) else None
    queue = job.queue if job is not None and not launching else None
    if queue is not None and queue.state is not QueueState.ADMITTED:
        state, reason = queue.state.value, queue.summary()
    elif launching:
        state, reason = "Pending", ""
    elif job is not None:
        state, reason = _scheduling(job, placement)
    elif isinstance(old, dict):
        return old
    else:
        state, reason = "Unknown", ""
    return {
        "gpusRequested": placement.requested(phase),
        "resourceName": placement.resource,
        "state": state,
        "reason": reason,
        **_queue_fields(queue),
    }


def _scheduling(job: loop.JobObservation, placement: Placement) -> tuple[str, str]:
    if job.state is loop.JobState.UNSCHEDULABLE:
        reason = _capacity_reason(job.scheduler_message, placement)
        # The scheduler reports a NotReady node only as an untolerated taint.
        if job.nodes_not_ready:
            reason = f"{reason}; {job.nodes_not_ready} node(s) that could run it NotReady"
        return "Unschedulable", reason
    if job.state is loop.JobState.PENDING:
        return "Pending", ""
    if job.state in (loop.JobState.RUNNING, loop.JobState.SUCCEEDED):
        return "Scheduled", ""
    return "Unknown", ""


def _queue_fields(queue: QueueObservation | None) -> dict[str, Any]:
    if queue is None:
        return {}
    return {"queue": queue.queue, "queueAhead": queue.ahead, "queueQuota": queue.quota}


def _capacity_reason(message: str | None, placement: Placement) -> str:
    """The scheduler's verdict in operational words: it names node counts and resources, never
    nodes (hostnames stay off shared surfaces). The scheduler places one pod at a time, so the
    GPUs named are one pod's."""
    text = message or ""
    # Sentences end in ". "; a bare "." also sits inside names (node.kubernetes.io/...).
    short = text.split(". ")[0].rstrip(".") if text else "no node fits the Job"
    if placement.resource in text:
        return f"{short}: no schedulable node has {placement.gpus} free {placement.resource}"
    return short
