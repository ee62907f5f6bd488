"""IterationRun registrations: the run's watch events, its Jobs', JobSets' and pods' events, and
its reconcile (`modelsmith.controllers.run`)."""

from __future__ import annotations

from typing import Any

import kopf

from modelsmith.controllers.run.jobset_observe import jobset_event_matters
from modelsmith.controllers.run.observe import job_event_matters, job_outcome, pod_event_matters
from modelsmith.controllers.run.reconcile import reconcile
from modelsmith.controllers.run.state import PLURAL
from modelsmith.runtime.core import Runtime

JOB_PROGRESS_DELAY_SECONDS = 2.0
"""How long a run waits to be reconciled after its Job moves on without a verdict (started, a
pod scheduled, its container created, running). These steps follow each other within moments:
one reconcile after them writes status once instead of once per step (each write is an API
write and a watch event for every watcher of the run). A change in the Job's conditions (its
verdict) reconciles the run at once. Longer than the Job controller's one-second batching of pod
updates: a Job that ends within moments of starting has its verdict seen first, and the run
writes once, not its start too."""


# A coroutine: it only records the event and queues a reconcile, which kopf would otherwise hand
# to a thread of its own for every event.
@kopf.on.event("modelsmith.io", "v1alpha1", PLURAL)
async def on_run_event(memo: Any, **kwargs: Any) -> None:
    rt: Runtime = memo.runtime
    type, namespace, name = kwargs["type"], kwargs["namespace"], kwargs["name"]
    rt.cache.seen(PLURAL, kwargs["event"])
    if type == "DELETED":
        rt.queue.forget((PLURAL, namespace, name))
        return
    rt.queue.reconcile(PLURAL, namespace, name, kwargs["meta"].get("resourceVersion"))


def on_job_event(
    rt: Runtime, type: str | None, before: dict[str, Any] | None, job: dict[str, Any]
) -> None:
    """A Job event from `informer` (which has put it in the cache)."""
    was, status = _status(before), job.get("status") or {}
    if job_event_matters(type, was, status):
        verdict = type == "DELETED" or was is None or job_outcome(was) != job_outcome(status)
        _wake_run(rt, job, after=0.0 if verdict else JOB_PROGRESS_DELAY_SECONDS)


def on_jobset_event(
    rt: Runtime, type: str | None, before: dict[str, Any] | None, jobset: dict[str, Any]
) -> None:
    """A JobSet event from `informer`: its verdict, or a restart, reconciles the run at once."""
    if jobset_event_matters(type, _status(before), jobset.get("status") or {}):
        _wake_run(rt, jobset)


def on_pod_event(
    rt: Runtime, type: str | None, before: dict[str, Any] | None, pod: dict[str, Any]
) -> None:
    """A pod event from `informer` (which has put it in the cache)."""
    if pod_event_matters(type, _status(before), pod.get("status") or {}):
        _wake_run(rt, pod, after=JOB_PROGRESS_DELAY_SECONDS)


def _status(body: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if body is None else body.get("status") or {}


def _wake_run(rt: Runtime, child: dict[str, Any], after: float = 0.0) -> None:
    """Queues a reconcile of the run a Job or pod belongs to (by its labels), now or `after`
    seconds from now."""
    meta = child["metadata"]
    labels = meta.get("labels") or {}
    run = labels.get("modelsmith.io/run")
    if not run:
        return
    namespace = labels.get("modelsmith.io/run-namespace", meta.get("namespace"))
    if after > 0:
        rt.queue.requeue((PLURAL, namespace, run), after)
    else:
        rt.queue.reconcile(PLURAL, namespace, run)


def register(rt: Runtime) -> None:
    rt.register(PLURAL, reconcile)
