"""What Kueue made of a run's Job, from its Workload (kueue.x-k8s.io/v1beta2), in operational
words: admitted, queued (behind how many, on which quota, for what reason), inadmissible (the
queue is missing or stopped) or preempted. Pure: the run controller reads the
objects (controllers/run/kueue.py); the loop decides on the verdict.

Kueue's messages name queues, flavors and resources, never nodes or people; still, only the
parts matched here reach status, rebuilt from their pieces."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final

from pydantic import Field

from modelsmith.loop.model import LoopModel

_UNUSED: Final = re.compile(
    r"insufficient unused quota for (?P<resource>[A-Za-z0-9./_-]+) in flavor "
    r"(?P<flavor>[a-z0-9.-]+), (?P<more>\d+[A-Za-z]*) more needed"
)
_OVER: Final = re.compile(
    r"insufficient quota for (?P<resource>[A-Za-z0-9./_-]+) in flavor (?P<flavor>[a-z0-9.-]+)"
    r".*?request \((?P<asked>\d+[A-Za-z]*)\) > maximum capacity \((?P<max>\d+[A-Za-z]*)\)"
)
_UNCOVERED: Final = re.compile(
    r"resource (?P<resource>[A-Za-z0-9./_-]+) unavailable in ClusterQueue"
)
_QUEUE_STATE: Final = re.compile(
    r"(?P<kind>LocalQueue|ClusterQueue) (?P<name>[a-z0-9.-]+) "
    r"(?P<what>doesn't exist|not found|is inactive|is stopped|is terminating or missing)"
)
PREEMPTION_WORDS: Final = {
    "InClusterQueue": "by a higher-priority workload in its ClusterQueue",
    "InCohortReclamation": "to return quota its cohort lent",
    "InCohortFairSharing": "to share the cohort's quota fairly",
    "InCohortReclaimWhileBorrowing": "to return quota its cohort lent",
}


class QueueState(StrEnum):
    ADMITTED = "Admitted"
    QUEUED = "Queued"
    """Waiting for quota (or its turn): Kueue admits it when quota frees."""
    INADMISSIBLE = "Inadmissible"
    """Its queue is missing, stopped or inactive: it waits until someone fixes the queue."""
    PREEMPTED = "Preempted"
    """Kueue took its quota back (the Job is suspended, its pods stopped) and queued it again:
    an infrastructure event, not a failed attempt."""


class QueueObservation(LoopModel):
    state: QueueState
    queue: str
    """`<namespace>/<LocalQueue>`."""
    cluster_queue: str | None = None
    ahead: int | None = Field(default=None, ge=0)
    """Workloads before it in its ClusterQueue (Kueue's visibility API); None when unknown."""
    quota: str | None = None
    """The ClusterQueue's nominal quota of the GPU resource, e.g. `4 nvidia.com/gpu`."""
    why: str = ""
    """Kueue's pending, inadmissible or preemption reason in words."""

    def summary(self) -> str:
        """e.g. `queued behind 2 workloads in team-a/gpu; quota 4 nvidia.com/gpu`."""
        match self.state:
            case QueueState.ADMITTED:
                head = f"admitted by Kueue in {self.queue}"
            case QueueState.INADMISSIBLE:
                head = f"not admissible in {self.queue}"
            case QueueState.PREEMPTED:
                head = f"preempted by Kueue in {self.queue}"
            case _ if self.ahead == 0:
                head = f"next in line in {self.queue}"
            case _ if self.ahead is not None:
                noun = "workload" if self.ahead == 1 else "workloads"
                head = f"queued behind {self.ahead} {noun} in {self.queue}"
            case _:
                head = f"queued in {self.queue}"
        parts = [head]
        if self.quota:
            parts.append(f"quota {self.quota}")
        if self.why:
            parts.append(self.why)
        return "; ".join(parts)


def _conditions(workload: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    items = (workload.get("status") or {}).get("conditions") or []
    return {str(c.get("type")): c for c in items if isinstance(c, Mapping)}


def _true(conditions: Mapping[str, Mapping[str, Any]], kind: str) -> bool:
    return (conditions.get(kind) or {}).get("status") == "True"


def pending_words(message: str) -> str:
    """Kueue's QuotaReserved=False message in operational words; "" when it says nothing this
    recognises (the message itself never reaches status)."""
    if m := _QUEUE_STATE.search(message):
        what = "does not exist" if m["what"] in ("doesn't exist", "not found") else m["what"]
        return f"{m['kind']} {m['name']} {what}"
    if m := _OVER.search(message):
        return (
            f"it asks for {m['asked']} {m['resource']}, more than flavor {m['flavor']} can ever "
            f"give ({m['max']})"
        )
    if m := _UNUSED.search(message):
        return (
            f"waiting for {m['resource']} quota in flavor {m['flavor']} ({m['more']} more "
            "needed than is free)"
        )
    if m := _UNCOVERED.search(message):
        return f"its ClusterQueue has no quota for {m['resource']}"
    return ""


def quota_of(cluster_queue: Mapping[str, Any] | None, resource: str) -> str | None:
    """The ClusterQueue's nominal quota of `resource`, summed over its flavors."""
    if not cluster_queue:
        return None
    total, found = 0, False
    for group in (cluster_queue.get("spec") or {}).get("resourceGroups") or []:
        for flavor in group.get("flavors") or []:
            for item in flavor.get("resources") or []:
                if item.get("name") == resource:
                    quota = str(item.get("nominalQuota", "0"))
                    if not quota.isdigit():
                        return f"{quota} {resource}"
                    total, found = total + int(quota), True
    return f"{total} {resource}" if found else None


def read_workload(
    workload: Mapping[str, Any],
    *,
    cluster_queue: Mapping[str, Any] | None,
    ahead: int | None,
    gpu_resource: str,
) -> QueueObservation:
    """The verdict on a Workload, with its ClusterQueue (for the quota) and its position from
    the visibility API (`ahead`, None when that API is not available)."""
    meta, spec = workload.get("metadata") or {}, workload.get("spec") or {}
    status = workload.get("status") or {}
    queue = f"{meta.get('namespace')}/{spec.get('queueName')}"
    cq_name = (status.get("admission") or {}).get("clusterQueue") or (
        (cluster_queue or {}).get("metadata") or {}
    ).get("name")
    base = {"queue": queue, "cluster_queue": cq_name,
            "quota": quota_of(cluster_queue, gpu_resource)}
    conditions = _conditions(workload)
    evicted = conditions.get("Evicted") or {}
    # Checked first: an evicted Workload stays Admitted until its Job has stopped, and stays
    # Evicted until admitted again.
    if _true(conditions, "Evicted") and evicted.get("reason") == "Preempted":
        preempted = conditions.get("Preempted") or {}
        why = PREEMPTION_WORDS.get(str(preempted.get("reason")), "to make room for other work")
        return QueueObservation(
            state=QueueState.PREEMPTED, ahead=ahead, why=f"its quota was taken back {why}", **base
        )
    if _true(conditions, "Admitted"):
        return QueueObservation(state=QueueState.ADMITTED, **base)
    reserved = conditions.get("QuotaReserved") or {}
    message = str(reserved.get("message") or "")
    why = pending_words(message)
    # Kueue calls a request over the queue's whole quota Pending; no amount of waiting admits it.
    if reserved.get("reason") == "Inadmissible" or _OVER.search(message):
        return QueueObservation(state=QueueState.INADMISSIBLE, why=why, **base)
    return QueueObservation(state=QueueState.QUEUED, ahead=ahead, why=why, **base)


def ahead_of(pending: Mapping[str, Any], workload: str) -> int | None:
    """From the visibility API's pendingworkloads list: how many workloads its ClusterQueue
    admits before `workload`; None when it is not listed (admitted meanwhile, or not yet
    seen by Kueue's queue manager)."""
    for item in pending.get("items") or []:
        if (item.get("metadata") or {}).get("name") == workload:
            return int(item.get("positionInClusterQueue", 0))
    return None
