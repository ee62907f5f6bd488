"""Reads what Kueue made of a run's Job: its Workload, the ClusterQueue behind its LocalQueue
(for the quota) and its position from Kueue's visibility API. `loop.queue` turns them into the
verdict; this module only reads, as the operator's own ServiceAccount (the chart grants read on
workloads, localqueues, clusterqueues and localqueues/pendingworkloads)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from modelsmith.controllers.run.job_manifest import KUEUE_QUEUE_LABEL
from modelsmith.engines import KUEUE
from modelsmith.loop.queue import QueueObservation, QueueState, ahead_of, read_workload
from modelsmith.runtime import kube

VISIBILITY: Final = "/apis/visibility.kueue.x-k8s.io/v1beta2"
JOB_UID_LABEL: Final = "kueue.x-k8s.io/job-uid"

log = logging.getLogger("modelsmith.run")


def observe_queue(job: Mapping[str, Any], gpu_resource: str) -> QueueObservation | None:
    """None for a Job that names no queue, or where Kueue is not installed."""
    meta = job.get("metadata") or {}
    queue = (meta.get("labels") or {}).get(KUEUE_QUEUE_LABEL)
    if not queue:
        return None
    namespace = meta["namespace"]
    try:
        found = kube.rest(
            "GET", f"{KUEUE}/namespaces/{namespace}/workloads",
            query={"labelSelector": f"{JOB_UID_LABEL}={meta.get('uid')}"},
        )["items"]
    except Exception as exc:
        if kube.is_not_found(exc):  # no Kueue API: the label means nothing here
            return None
        raise
    cluster_queue = _cluster_queue(namespace, queue, found[0] if found else None)
    if not found:
        return QueueObservation(
            state=QueueState.QUEUED, queue=f"{namespace}/{queue}",
            why="Kueue has not made its Workload yet",
        )
    workload = found[0]
    ahead = _ahead(namespace, queue, workload["metadata"]["name"])
    return read_workload(
        workload, cluster_queue=cluster_queue, ahead=ahead, gpu_resource=gpu_resource
    )


def _cluster_queue(
    namespace: str, queue: str, workload: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    admission = ((workload or {}).get("status") or {}).get("admission") or {}
    name = admission.get("clusterQueue")
    try:
        if not name:
            local = kube.rest("GET", f"{KUEUE}/namespaces/{namespace}/localqueues/{queue}")
            name = (local.get("spec") or {}).get("clusterQueue")
        found: dict[str, Any] | None = (
            kube.rest("GET", f"{KUEUE}/clusterqueues/{name}") if name else None
        )
        return found
    except Exception as exc:
        if kube.is_not_found(exc):  # the Workload's own conditions say which queue is missing
            return None
        raise


def _ahead(namespace: str, queue: str, workload: str) -> int | None:
    """How many workloads Kueue will admit before this one in its ClusterQueue; None when the
    visibility API does not answer (not aggregated into this cluster, or Kueue restarting):
    the position is left out, never guessed."""
    try:
        pending = kube.rest(
            "GET", f"{VISIBILITY}/namespaces/{namespace}/localqueues/{queue}/pendingworkloads"
        )
    except Exception as exc:  # an optional API: its absence is no error of the run's
        log.debug("Kueue visibility API unavailable: %s", exc)
        return None
    return ahead_of(pending, workload)
