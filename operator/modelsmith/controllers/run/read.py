"""The reads behind a run's observation: its Job, the Job's pods and the nodes from the watch
caches or the API server, its gate, and the records its Jobs wrote to the object store (only
those the cluster vouches for, `trust`). What the objects mean is decided in `observe`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelsmith import loop, uids
from modelsmith.api.run import IterationRun
from modelsmith.contract import readlimits, s3
from modelsmith.contract.layout import RunLayout
from modelsmith.contract.objectstore import Store
from modelsmith.contract.scorecard import Scorecard
from modelsmith.controllers.run import jobset_read, observe, trust
from modelsmith.controllers.run.job_guard import RunIdentity
from modelsmith.controllers.run.kueue import observe_queue
from modelsmith.controllers.run.trust import Anchors
from modelsmith.readback import TamperError
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime


@dataclass(frozen=True)
class Observed:
    """This reconcile's observation, and what status reports beside it."""

    observation: loop.Observation
    job: loop.JobObservation | None
    progress: dict[str, Any] | None
    """The training Job's progress record, while it runs."""


@dataclass
class _Records:
    """What the run read back from the object store, and why a read failed."""

    scorecard: Scorecard | None = None
    accepted: Scorecard | None = None
    progress: dict[str, Any] | None = None
    reachable: bool = True
    refused: str | None = None
    tampered: str | None = None


def observation(
    rt: Runtime, body: dict[str, Any],
    run: IterationRun,
    state: loop.RunState,
    exec_ns: str,
    layout: RunLayout,
    readiness: loop.IntakeReadiness,
    anchors: Anchors,
    now: datetime,
) -> Observed:
    """Everything `loop.decide` weighs for a run whose intake is known. The digests a finished
    Job reported are added to `anchors`, so the records it wrote are read against them."""
    job = state.job
    owner = RunIdentity.of(body, rt.created_jobs)
    job_obs = observe_job(rt, job, exec_ns, owner, now) if job is not None else None
    if (
        job is not None
        and job_obs is not None
        and job_obs.state is loop.JobState.SUCCEEDED
        and job_obs.summary is not None
    ):
        # The Job's own word on what it wrote, as the API server holds it: the anchor.
        anchors.reported(job.phase, job.iteration, job_obs.summary.reported)
    records = _read_records(rt.store, state, job_obs, layout, anchors)
    gate_record = (body.get("status") or {}).get("gate")
    gate = (
        observe_gate(body["metadata"]["namespace"], state.gate_name, gate_record)
        if state.gate_name
        else None
    )
    annotations = body["metadata"].get("annotations") or {}
    seen = loop.Observation(
        intake=readiness,
        job=job_obs,
        scorecard=records.scorecard,
        accepted_scorecard=records.accepted,
        object_store_reachable=records.reachable,
        object_store_refusal=records.refused,
        suspended=run.spec.suspend,
        gate=gate,
        retry_request=annotations.get(loop.RETRY_ANNOTATION),
        tampered=records.tampered,
    )
    return Observed(seen, job_obs, records.progress)


def _read_records(
    store: Store,
    state: loop.RunState,
    job_obs: loop.JobObservation | None,
    layout: RunLayout,
    anchors: Anchors,
) -> _Records:
    """The scorecard of the evaluation that just finished (read only by the phase that decides
    on it: a run blocked or stopped after it decides without), the accepted iteration's
    scorecard when the loop needs it, and a running training Job's progress."""
    records = _Records()
    job = state.job
    finished = job_obs is not None and job_obs.state is loop.JobState.SUCCEEDED
    running = job_obs is not None and job_obs.state is loop.JobState.RUNNING
    try:
        if (
            job is not None
            and finished
            and job.phase is not loop.Phase.TRAINING
            and state.phase is job.phase
        ):
            records.scorecard = trust.scorecard(
                store,
                layout, job.iteration, anchors.scorecards.get(str(job.iteration))
            )
        if (wanted := loop.accepted_scorecard_wanted(state)) is not None:
            records.accepted = trust.scorecard(
                store,
                layout, wanted, anchors.scorecards.get(str(wanted))
            )
        if job is not None and running and job.phase is loop.Phase.TRAINING:
            records.progress = store.get_json_or_none(layout.progress(job.iteration))
    except s3.ObjectStoreUnavailable as exc:
        records.reachable = False
        records.refused = str(exc) if isinstance(exc, readlimits.ObjectTooLarge) else None
    except TamperError as exc:
        records.tampered = exc.tamper.message
    return records


def observe_job(
    rt: Runtime, ref: loop.JobRef, exec_ns: str, owner: RunIdentity, now: datetime
) -> loop.JobObservation:
    """The Job the run's state names, if it is the run's own (`job_guard`); the nodes are read
    only for an unschedulable Job, Kueue only for a Job without pods."""
    if (jobset := _training_jobset(rt, ref, exec_ns, cached=True)) is not None:
        return jobset_read.observe_jobset(rt, ref, exec_ns, owner, jobset, now)
    job = rt.cache.cached("jobs", exec_ns, ref.name)
    if job is None:
        try:
            job = kube.rest("GET", kube.batch_path("jobs", exec_ns, ref.name))
        except Exception as exc:
            if not kube.is_not_found(exc):
                raise
            if (jobset := _training_jobset(rt, ref, exec_ns, cached=False)) is not None:
                return jobset_read.observe_jobset(rt, ref, exec_ns, owner, jobset, now)
            return loop.JobObservation(name=ref.name, state=loop.JobState.NONE)
    if (why := owner.foreign(job)) is not None:
        # Neither its verdict nor its pods become this run's evidence.
        return loop.JobObservation(name=ref.name, state=loop.JobState.FOREIGN, reason=why)
    status = job.get("status") or {}
    finished = observe.job_outcome(status) is not None
    pods = job_pods(rt, ref.name, exec_ns, status, finished)
    seen = observe.job_observation(ref.name, job, pods, now)
    if seen.state is loop.JobState.UNSCHEDULABLE:
        nodes = kube.rest("GET", kube.core_path("nodes"))["items"]
        return seen.model_copy(
            update={"nodes_not_ready": observe.candidates_not_ready(job, nodes)}
        )
    if seen.state is loop.JobState.PENDING and not pods:
        return seen.model_copy(update={"queue": observe_queue(job, observe.gpu_resource(job))})
    return seen


def _training_jobset(
    rt: Runtime, ref: loop.JobRef, exec_ns: str, cached: bool
) -> dict[str, Any] | None:
    """The JobSet of a training step on several nodes: as the watch has it (`cached`), else
    from the API server (asked only once no Job answers to the step's name)."""
    if ref.phase is not loop.Phase.TRAINING:
        return None
    if cached:
        return jobset_read.cached(rt, exec_ns, ref.name)
    return jobset_read.read(exec_ns, ref.name)


def job_pods(
    rt: Runtime, job: str, exec_ns: str, status: dict[str, Any], finished: bool
) -> list[dict[str, Any]]:
    """The Job's pods as the watch has them. A running Job's view may be behind; the next pod
    event corrects it. A finished Job's verdict is final, and its pods' last states (exit code,
    contamination) go into it: the watch's pods serve only when they include every pod the Job
    controller counted as finished, else they are read from the API server."""
    pods = rt.cache.listed("pods", exec_ns, {"job-name": job})
    if not finished or observe.every_counted_pod_seen(pods, status):
        return pods
    items: list[dict[str, Any]] = kube.rest(
        "GET", kube.core_path("pods", exec_ns), query={"labelSelector": f"job-name={job}"}
    )["items"]
    return items


def observe_gate(
    namespace: str, gate_name: str, record: dict[str, Any] | None
) -> loop.GateObservation | None:
    """The gate the run staged. Once status records it, a gate under the name that is another
    object (deleted and made again by someone else) is not the run's to follow."""
    gate = kube.get_custom("promotiongates", namespace, gate_name)
    if gate is None:
        return None
    if record is not None and not uids.records(record, gate["metadata"]):
        return None
    return observe.gate_observation(gate_name, gate)

