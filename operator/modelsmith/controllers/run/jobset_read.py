"""The API side of a run's JobSet (a training step on more than one node): finding it, its pods,
deleting it when it is the run's own. What the objects mean is decided in `jobset_observe`;
whether the cluster serves JobSets at all, in `engines`."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from modelsmith import loop
from modelsmith.controllers.run import jobset_observe, observe
from modelsmith.controllers.run.job_guard import RunIdentity
from modelsmith.controllers.run.jobset_manifest import JOBSET_NAME_LABEL, PLURAL, jobset_name
from modelsmith.controllers.run.kueue import observe_queue
from modelsmith.engines import JOBSET_API_VERSION
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime

log = logging.getLogger("modelsmith.run")


def _path(namespace: str, name: str = "") -> str:
    return kube.path(JOBSET_API_VERSION, PLURAL, namespace, name)


def cached(rt: Runtime, namespace: str, step: str) -> dict[str, Any] | None:
    """The training step `step`'s JobSet as the watch has it (None: not seen)."""
    return rt.cache.cached(PLURAL, namespace, jobset_name(step))


def read(namespace: str, step: str) -> dict[str, Any] | None:
    """The training step `step`'s JobSet from the API server; None when there is none, or no
    JobSet API."""
    return kube.find(_path(namespace, jobset_name(step)))


def create(namespace: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """Creates the JobSet; the JobSet as created, or None when one is already under its name
    (created before a restart, or someone else's: the next reconcile checks whose)."""
    try:
        created: dict[str, Any] = kube.rest("POST", _path(namespace), manifest)
    except Exception as exc:
        if kube.is_conflict(exc):
            return None
        raise
    return created


def observe_jobset(
    rt: Runtime,
    ref: loop.JobRef,
    exec_ns: str,
    owner: RunIdentity,
    jobset: dict[str, Any],
    now: datetime,
) -> loop.JobObservation:
    """The JobSet the run's state names, if it is the run's own. The run knows it by the
    training step's name (the JobSet's own may be a cut of it): its UID is what identifies it."""
    meta = jobset.get("metadata") or {}
    if (why := owner.foreign({**jobset, "metadata": {**meta, "name": ref.name}})) is not None:
        return loop.JobObservation(name=ref.name, state=loop.JobState.FOREIGN, reason=why)
    finished = jobset_observe.jobset_outcome(jobset.get("status") or {}) is not None
    pods = _pods(rt, meta["name"], exec_ns, finished)
    seen = jobset_observe.jobset_observation(ref.name, jobset, pods, now)
    if seen.state is loop.JobState.PENDING and not pods:
        resource = observe.gpu_resource(jobset_observe.child_job(jobset))
        return seen.model_copy(update={"queue": observe_queue(jobset, resource)})
    return seen


def _pods(rt: Runtime, name: str, exec_ns: str, finished: bool) -> list[dict[str, Any]]:
    """The JobSet's pods as the watch has them; a finished JobSet's from the API server, so its
    verdict takes every pod's last state (the leader's termination message)."""
    labels = {JOBSET_NAME_LABEL: name}
    if not finished:
        return rt.cache.listed("pods", exec_ns, labels)
    items: list[dict[str, Any]] = kube.rest(
        "GET", kube.core_path("pods", exec_ns),
        query={"labelSelector": f"{JOBSET_NAME_LABEL}={name}"},
    )["items"]
    return items


def delete_own(run: RunIdentity, step: str, namespace: str) -> None:
    """Deletes the training step `step`'s JobSet only when it is the run's own, and only that
    very object (a precondition on its UID). NotFound, or no JobSet API, is success."""
    found = read(namespace, step)
    if found is None:
        return
    meta = found["metadata"]
    why = run.foreign({**found, "metadata": {**meta, "name": step}})
    if why is not None:
        log.warning("not deleting a JobSet that is not the run's own: %s", why)
        return
    options = {"propagationPolicy": "Background", "preconditions": {"uid": meta["uid"]}}
    try:
        kube.rest("DELETE", _path(namespace, meta["name"]), options)
    except Exception as exc:
        if not (kube.is_not_found(exc) or kube.is_conflict(exc)):
            raise
