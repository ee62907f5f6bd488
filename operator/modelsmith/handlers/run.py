"""IterationRun reconciler: observe, call `loop.decide`, act, record.

Order matters for restart safety: the ledger entries and the Job are written (at once) before
status claims them. A crash in between replays the same decision from the old status: the ledger
entry and the Job already exist under their deterministic names, so nothing is written twice."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from modelsmith import integrity, kube, loop, metrics, objectstore, watched
from modelsmith.api.intake import ModelIntake
from modelsmith.api.run import IterationRun
from modelsmith.api.target import ExecutionTargetSpec
from modelsmith.conditions import set_condition
from modelsmith.controllers.gate import guard as gate_guard
from modelsmith.events import emit
from modelsmith.exitcodes import ExitCode
from modelsmith.handlers import run_pinning, staging, trust
from modelsmith.handlers.job_guard import RunIdentity, delete_own_job, rbac_refusal, remember
from modelsmith.handlers.run_queue import observe_queue
from modelsmith.handlers.run_state import state_from_status, status_from_state
from modelsmith.handlers.run_target import Placement, decide_checked
from modelsmith.handlers.staging import candidate_label
from modelsmith.handlers.trainingdata import write_training_material
from modelsmith.handlers.trust import Anchors, PartlyRecordedError, TamperError
from modelsmith.jobs import render_job
from modelsmith.jobspec import EvalSpec, ModelRef, TrainSpec
from modelsmith.layout import RunLayout, StoreLocation, for_run
from modelsmith.loop.queue import QueueObservation, QueueState
from modelsmith.reconciler import RECONCILER
from modelsmith.settings import OperatorSettings
from modelsmith.statusdiff import merge_patch
from modelsmith.targets.resolve import read_target

log = logging.getLogger("modelsmith.run")
PLURAL = "iterationruns"
SETTINGS = OperatorSettings()
ACTIVE_PROBLEMS = {loop.Phase.BLOCKED, loop.Phase.FAILED, loop.Phase.PLATEAUED, loop.Phase.STOPPED}
NEWS_SETTLE_SECONDS = 2.0
"""How long news of a Job on its way (started, a pod scheduled, its container created, running)
waits for the run's look. These steps follow each other within moments: one look after them
writes status once instead of once per step (each write is an API write and a watch event for
every watcher of the run). A change in the Job's conditions (its verdict) wakes the run at once.
Longer than the Job controller's one-second batching of pod updates: a Job that ends within
moments of starting has its verdict seen first, and the run writes once, not its start too."""


# A coroutine: it only records the event and queues a reconcile, which kopf would otherwise hand
# to a thread of its own for every event.
@kopf.on.event("modelsmith.io", "v1alpha1", PLURAL)
async def on_run_event(**kwargs: Any) -> None:
    type, namespace, name = kwargs["type"], kwargs["namespace"], kwargs["name"]
    watched.seen(PLURAL, kwargs["event"])
    if type == "DELETED":
        RECONCILER.forget((PLURAL, namespace, name))
        return
    RECONCILER.reconcile(PLURAL, namespace, name, kwargs["meta"].get("resourceVersion"))


def on_job_event(type: str | None, before: dict[str, Any] | None, job: dict[str, Any]) -> None:
    """A Job event from `informer` (which has put it in `watched`)."""
    was, status = _status(before), job.get("status") or {}
    if job_event_matters(type, was, status):
        verdict = type == "DELETED" or was is None or job_outcome(was) != job_outcome(status)
        _wake_run(job, after=0.0 if verdict else NEWS_SETTLE_SECONDS)


def on_pod_event(type: str | None, before: dict[str, Any] | None, pod: dict[str, Any]) -> None:
    """A pod event from `informer` (which has put it in `watched`)."""
    if pod_event_matters(type, _status(before), pod.get("status") or {}):
        _wake_run(pod, after=NEWS_SETTLE_SECONDS)


def _status(body: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if body is None else body.get("status") or {}


def job_event_matters(
    type: str | None, before: Mapping[str, Any] | None, status: Mapping[str, Any]
) -> bool:
    """Whether a Job event changes what a run observes of its Job (`_observe_job`): its outcome
    and its start. A Job just created (by the reconcile that launched it, which asked for its
    own next look) shows nothing yet; counts of active and ready pods are the pods' news, which
    their own events carry; the controller marks a finished Job twice (SuccessCriteriaMet, then
    Complete; FailureTarget, then Failed), and the first mark decides. `before` is the status
    last seen (None: not seen before, as after a restart)."""
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
    containers = [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]
    return (status.get("phase"), scheduled, tuple(_waiting_reason(cs) for cs in containers))


def _waiting_reason(container_status: Mapping[str, Any]) -> str | None:
    waiting = (container_status.get("state") or {}).get("waiting")
    return None if waiting is None else str(waiting.get("reason") or "")


def _wake_run(child: dict[str, Any], after: float = 0.0) -> None:
    meta = child["metadata"]
    labels = meta.get("labels") or {}
    run = labels.get("modelsmith.io/run")
    if not run:
        return
    namespace = labels.get("modelsmith.io/run-namespace", meta.get("namespace"))
    if after > 0:
        RECONCILER.requeue((PLURAL, namespace, run), after)
    else:
        RECONCILER.reconcile(PLURAL, namespace, run)


def reconcile(namespace: str, name: str) -> float | None:
    cached = watched.get(PLURAL, namespace, name)
    if cached is None:
        RECONCILER.forget((PLURAL, namespace, name))
        return None
    # Our own copy of what the cache holds: staging records the bundle's digest mid-reconcile
    # and moves this body's status and resourceVersion on with it.
    body = {**cached, "metadata": dict(cached["metadata"])}
    run = IterationRun.model_validate(body)
    raw_status = body.get("status") or {}
    owner = RunIdentity.of(body)
    state = state_from_status(name, loop.run_key(namespace, owner.uid), raw_status)
    intake_body = watched.get("modelintakes", namespace, run.spec.intake_ref.name)
    live = ModelIntake.model_validate(intake_body) if intake_body else None
    anchors = Anchors.of(raw_status)
    now = datetime.now(UTC)

    target = read_target(live.spec.execution_target_ref.name) if live is not None else None
    store, layout = _store_layout(raw_status, target, namespace, name, owner.uid)
    readiness = _intake_readiness(intake_body)
    inputs = run_pinning.resolve(body, intake_body, readiness.ready, layout)
    intake, pin = inputs.intake, inputs.pin
    if inputs.waiting is not None:
        readiness = loop.IntakeReadiness(ready=False, reason=inputs.waiting)
    if intake is None:
        observed = loop.Observation(intake=readiness, input_problem=inputs.problem)
        decision = loop.decide(state, observed, _config(run, None), now)
        return _record(body, run, None, None, decision, None, None, anchors)
    if intake is not live:
        # The run works on the spec it pinned (its intake is gone or changed): its target too.
        target = read_target(intake.spec.execution_target_ref.name)
    placement = Placement.of(intake, target)
    config = _config(run, intake, placement)
    exec_ns = (target.job_namespace if target else None) or namespace
    observation, job_obs, progress = _observe(body, run, state, exec_ns, layout, readiness, anchors)
    observation = observation.model_copy(update={"input_problem": inputs.problem})
    if inputs.store_down:
        observation = observation.model_copy(update={"object_store_reachable": False})
    if not _deferred_ledger_written(state, layout, anchors):
        observation = observation.model_copy(update={"object_store_reachable": False})
    observation, _ = decide_checked(state, observation, config, now, intake, target, layout.bucket)
    decision = _decide_where_permitted(state, observation, config, now, exec_ns)
    act = Acting(body, run, intake, exec_ns, layout, anchors, target, placement, pin)
    try:
        staged = act(decision)
    except objectstore.ObjectStoreUnavailable:
        if not observation.object_store_reachable:
            raise
        # The store stopped answering between the look and the act, before any of the
        # decision's ledger entries landed (else PartlyRecordedError): the run blocks on it where
        # everyone sees it instead of retrying out of sight. A Job created meanwhile is claimed
        # by the replayed launch once the store answers (its name is the same).
        observation = observation.model_copy(update={"object_store_reachable": False})
        decision = loop.decide(state, observation, config, now)
        staged = act(decision)
    except TamperError as tampered:
        # Staging found a record that is not what the cluster holds for it, after the decision
        # to stage was recorded: the run blocks from there (its ledger shows both steps).
        observation = observation.model_copy(update={"tampered": tampered.tamper.message})
        decision = loop.decide(decision.state, observation, config, now)
        staged = act(decision)
    return _record(
        body, run, intake, placement, decision, job_obs, progress, anchors, staged, store, pin
    )


def _store_layout(
    status: dict[str, Any],
    target: ExecutionTargetSpec | None,
    namespace: str,
    name: str,
    uid: str,
) -> tuple[StoreLocation | None, RunLayout]:
    """Where the run's objects live: the store it pinned, else its target's (pinned at the
    first look that finds the target: a target edited later moves no run)."""
    store = StoreLocation.pinned(status) or (
        StoreLocation.of_target(target, SETTINGS.bucket) if target else None
    )
    return store, for_run(store or StoreLocation(SETTINGS.bucket), namespace, name, uid)


def _decide_where_permitted(
    state: loop.RunState,
    observation: loop.Observation,
    config: loop.RunConfig,
    now: datetime,
    exec_ns: str,
) -> loop.Decision:
    """The decision, knowing whether the operator may create Jobs in `exec_ns`: asked while the
    run is blocked on it, and when the decision would launch one (rarely: once per Job)."""
    blocked = state.blocked_by
    if blocked is not None and blocked.reason is loop.Reason.OPERATOR_NOT_PERMITTED:
        observation = observation.model_copy(update={"rbac_refusal": rbac_refusal(exec_ns)})
    decision = loop.decide(state, observation, config, now)
    if (
        decision.launches
        and observation.rbac_refusal is None
        and (refused := rbac_refusal(exec_ns)) is not None
    ):
        observation = observation.model_copy(update={"rbac_refusal": refused})
        decision = loop.decide(state, observation, config, now)
    return decision


def _intake_readiness(intake_body: dict[str, Any] | None) -> loop.IntakeReadiness:
    if intake_body is None:
        return loop.IntakeReadiness(ready=False, reason="IntakeNotFound")
    for cond in (intake_body.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            if cond.get("status") == "True":
                return loop.IntakeReadiness(ready=True)
            return loop.IntakeReadiness(ready=False, reason=cond.get("reason") or "NotReady")
    return loop.IntakeReadiness(ready=False, reason="NotValidatedYet")


def _config(
    run: IterationRun, intake: ModelIntake | None, placement: Placement | None = None
) -> loop.RunConfig:
    spec = run.spec
    recipe = spec.recipe.model_dump()
    kwargs: dict[str, Any] = {
        "run_name": run.name,
        "run_key": loop.run_key(run.namespace, str(run.metadata.get("uid", ""))),
        "threshold": intake.spec.promotion.threshold if intake else 1.0,
        "max_iterations": spec.max_iterations,
        "plateau_patience": spec.plateau_patience,
        "gpu_hour_budget": spec.budget.gpu_hours,
        "deadline": spec.budget.deadline,
        "max_attempts": spec.retries.max_attempts,
        "cluster_dimensions": tuple(spec.cluster_dimensions),
        "failing_weight": spec.recipe.failing_weight,
        "base_recipe": loop.Recipe(
            **{k: v for k, v in recipe.items() if k in loop.Recipe.model_fields}
        ),
    }
    if intake is not None:
        kwargs |= {
            "min_improvement": intake.spec.promotion.min_improvement,
            "max_regressions": intake.spec.promotion.max_regressions,
            "gpu_count": placement.gpus if placement else 0,
            "gpu_resource": placement.resource if placement else "nvidia.com/gpu",
            "container_start_grace_seconds": SETTINGS.container_start_grace_seconds,
            "input_grace_seconds": SETTINGS.input_grace_seconds,
        }
    return loop.RunConfig(**kwargs)


def _observe(
    body: dict[str, Any],
    run: IterationRun,
    state: loop.RunState,
    exec_ns: str,
    layout: RunLayout,
    readiness: loop.IntakeReadiness,
    anchors: Anchors,
) -> tuple[loop.Observation, loop.JobObservation | None, dict[str, Any] | None]:
    reachable, refused, tampered = True, None, None
    job_obs = None
    scorecard = accepted = None
    progress = None
    if state.job is not None:
        job_obs = _observe_job(state.job, exec_ns, RunIdentity.of(body))
    job = state.job
    finished = job_obs is not None and job_obs.state is loop.JobState.SUCCEEDED
    running = job_obs is not None and job_obs.state is loop.JobState.RUNNING
    if job is not None and finished and job_obs is not None and job_obs.summary is not None:
        # The Job's own word on what it wrote, as the API server holds it: the anchor.
        anchors.reported(job.phase, job.iteration, job_obs.summary.reported)
    try:
        # Read where a decision takes it: by the evaluating phase whose Job just finished. A run
        # blocked or settled after it decides without (each reconcile used to read it again).
        if (
            job is not None
            and finished
            and job.phase is not loop.Phase.TRAINING
            and state.phase is job.phase
        ):
            scorecard = trust.scorecard(
                layout, job.iteration, anchors.scorecards.get(str(job.iteration))
            )
        if (wanted := loop.accepted_scorecard_wanted(state)) is not None:
            accepted = trust.scorecard(layout, wanted, anchors.scorecards.get(str(wanted)))
        if job is not None and running and job.phase is loop.Phase.TRAINING:
            progress = objectstore.get_json_or_none(layout.progress(job.iteration))
    except objectstore.ObjectStoreUnavailable as exc:
        reachable = False
        refused = str(exc) if isinstance(exc, objectstore.ObjectTooLarge) else None
    except TamperError as exc:
        tampered = exc.tamper.message
    record = (body.get("status") or {}).get("gate")
    gate = (
        _observe_gate(body["metadata"]["namespace"], state.gate_name, record)
        if state.gate_name
        else None
    )
    annotations = body["metadata"].get("annotations") or {}
    observation = loop.Observation(
        intake=readiness,
        job=job_obs,
        scorecard=scorecard,
        accepted_scorecard=accepted,
        object_store_reachable=reachable,
        object_store_refusal=refused,
        suspended=run.spec.suspend,
        gate=gate,
        retry_request=annotations.get(loop.RETRY_ANNOTATION),
        tampered=tampered,
    )
    return observation, job_obs, progress


def _observe_job(ref: loop.JobRef, exec_ns: str, owner: RunIdentity) -> loop.JobObservation:
    job = watched.cached("jobs", exec_ns, ref.name)
    if job is None:
        try:
            job = kube.rest("GET", f"/apis/batch/v1/namespaces/{exec_ns}/jobs/{ref.name}")
        except Exception as exc:
            if kube.is_not_found(exc):
                return loop.JobObservation(name=ref.name, state=loop.JobState.NONE)
            raise
    if (why := owner.foreign(job)) is not None:
        # Neither its verdict nor its pods become this run's evidence.
        return loop.JobObservation(name=ref.name, state=loop.JobState.FOREIGN, reason=why)
    status = job.get("status") or {}
    conditions = {
        c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"
    }
    outcome = job_outcome(status)
    pods = _job_pods(ref.name, exec_ns, status, finished=outcome is not None)
    terminated = _last_termination(pods)
    gpus = _requested_gpus(job)
    wall = 0.0
    started = _time(status.get("startTime"))
    if started is not None:
        end = _time(status.get("completionTime")) or datetime.now(UTC)
        wall = max((end - started).total_seconds(), 0.0)
    summary = loop.JobSummary(
        gpu_seconds=wall * gpus,
        contaminated=_contaminated(terminated),
        overlapping=loop.contamination_ids(terminated),
        reported=integrity.reported_digests((terminated or {}).get("message")),
        resumed_from_step=loop.resumed_from_step(terminated),
    )
    if outcome == "succeeded":
        return loop.JobObservation(name=ref.name, state=loop.JobState.SUCCEEDED, summary=summary)
    if outcome == "failed":
        cond = conditions.get("Failed") or conditions["FailureTarget"]
        container_reason = None if terminated is None else terminated.get("reason")
        reason = cond.get("reason") or container_reason
        if container_reason in loop.CONTAINER_NEVER_RAN:
            # BackoffLimitExceeded says only that it failed; the container says why.
            reason = container_reason
        return loop.JobObservation(
            name=ref.name,
            state=loop.JobState.FAILED,
            exit_code=None if terminated is None else terminated.get("exitCode"),
            reason=reason,
            attempts_exhausted=True,
            summary=summary,
        )
    for pod in pods:
        for cond in _pod_status(pod).get("conditions") or []:
            if (
                cond.get("type") == "PodScheduled"
                and cond.get("status") == "False"
                and cond.get("reason") == "Unschedulable"
            ):
                return loop.JobObservation(
                    name=ref.name,
                    state=loop.JobState.UNSCHEDULABLE,
                    scheduler_message=cond.get("message"),
                    nodes_not_ready=_candidates_not_ready(job),
                )
    reason, since = _waiting(pods)
    if any(_pod_status(p).get("phase") == "Running" for p in pods):
        return loop.JobObservation(name=ref.name, state=loop.JobState.RUNNING)
    # The GPU time of a pod that never starts counts too: it held the GPUs while it waited.
    return loop.JobObservation(
        name=ref.name,
        state=loop.JobState.PENDING,
        waiting_reason=reason,
        waiting_since=since,
        summary=summary if reason in loop.CONTAINER_NEVER_RAN else None,
        queue=None if pods else observe_queue(job, _gpu_resource(job)),
    )


def _job_pods(
    job: str, exec_ns: str, status: Mapping[str, Any], finished: bool
) -> list[dict[str, Any]]:
    """The Job's pods as the watch has them. A running Job's view may be behind; the next pod
    event corrects it. A finished Job's verdict is final, and its pods' last states (exit code,
    contamination) go into it: the watch's pods serve only when they include every pod the Job
    controller counted as finished, else they are read from the API server."""
    pods = watched.listed("pods", exec_ns, {"job-name": job})
    if not finished or every_counted_pod_seen(pods, status):
        return pods
    items: list[dict[str, Any]] = kube.rest(
        "GET", f"/api/v1/namespaces/{exec_ns}/pods", query={"labelSelector": f"job-name={job}"}
    )["items"]
    return items


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
    done = [p for p in pods if _pod_status(p).get("phase") in ("Succeeded", "Failed")]
    return counted > 0 and len(done) >= counted


def _time(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value)


def _pod_status(pod: dict[str, Any]) -> dict[str, Any]:
    status: dict[str, Any] = pod.get("status") or {}
    return status


def _created(pod: dict[str, Any]) -> str:
    # RFC 3339 in UTC with a fixed format: the strings sort as the times do.
    return str(pod["metadata"].get("creationTimestamp") or "")


def _waiting(pods: list[dict[str, Any]]) -> tuple[str | None, datetime | None]:
    """The newest unfinished pod's waiting reason (one that means the image never ran comes
    first) and when that pod was scheduled (else created)."""
    live = [p for p in pods if _pod_status(p).get("phase") in ("Pending", "Running")]
    if not live:
        return None, None
    pod = max(live, key=_created)
    status = _pod_status(pod)
    statuses = [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]
    reasons = [
        waiting.get("reason")
        for cs in statuses
        if (waiting := (cs.get("state") or {}).get("waiting")) is not None
    ]
    never_ran = [r for r in reasons if r in loop.CONTAINER_NEVER_RAN]
    reason = (never_ran or reasons or [None])[0]
    since = _time(_created(pod))
    for cond in status.get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "True"
            and cond.get("lastTransitionTime")
        ):
            since = _time(cond["lastTransitionTime"])
    return reason, since


def _last_termination(pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    found = None
    for pod in sorted(pods, key=_created):
        for cs in _pod_status(pod).get("containerStatuses") or []:
            terminated = (cs.get("state") or {}).get("terminated")
            if terminated is not None:
                found = terminated
    return found


def _contaminated(terminated: dict[str, Any] | None) -> bool:
    if terminated is None:
        return False
    if terminated.get("exitCode") == ExitCode.CONTAMINATION:
        return True
    try:
        message = json.loads(terminated.get("message") or "{}")
    except ValueError:
        return False
    return bool(isinstance(message, dict) and message.get("contaminated"))


def _requested_gpus(job: dict[str, Any]) -> int:
    return sum(_gpu_limits(job).values())


def _gpu_resource(job: dict[str, Any]) -> str:
    return next(iter(_gpu_limits(job)), "nvidia.com/gpu")


def _gpu_limits(job: dict[str, Any]) -> dict[str, int]:
    """GPU resource name -> count over the Job's containers."""
    limits: dict[str, int] = {}
    for container in job["spec"]["template"]["spec"]["containers"]:
        for key, value in ((container.get("resources") or {}).get("limits") or {}).items():
            if "/" in key and key.endswith("gpu"):
                limits[key] = limits.get(key, 0) + int(value)
    return limits


def _candidates_not_ready(job: dict[str, Any]) -> int:
    """NotReady nodes that could run `job` (see loop.nodes_not_ready)."""
    wanted = _gpu_limits(job)
    facts = []
    for node in kube.rest("GET", "/api/v1/nodes")["items"]:
        status = node.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        capacity = status.get("capacity") or {}
        gpus = sum(int(capacity.get(resource, "0") or 0) for resource in wanted)
        facts.append((ready, gpus))
    return loop.nodes_not_ready(facts, sum(wanted.values()))


def _observe_gate(
    namespace: str, gate_name: str, record: dict[str, Any] | None
) -> loop.GateObservation | None:
    """The gate the run staged. Once status records it, a gate under the name that is another
    object (deleted and made again by someone else) is not the run's to follow."""
    gate = kube.get_custom("promotiongates", namespace, gate_name)
    if gate is None:
        return None
    if record is not None and not gate_guard.records(record, gate["metadata"]):
        return None
    status = gate.get("status") or {}
    state = status.get("state") or "Pending"
    awaiting = next(
        (a.get("role") for a in status.get("approvals") or [] if a.get("decision") == "pending"),
        None,
    )
    blockers = status.get("blockers") or []
    return loop.GateObservation(
        name=gate_name,
        outcome=loop.GateOutcome(state),
        awaiting_role=awaiting,
        blocker_reason=blockers[0].get("reason")
        if blockers and isinstance(blockers[0], dict)
        else None,
    )


@dataclass(frozen=True)
class Acting:
    """What acting on a decision needs of this reconcile (one decision, or its replacement)."""

    body: dict[str, Any]
    run: IterationRun
    intake: ModelIntake
    exec_ns: str
    layout: RunLayout
    anchors: Anchors
    target: ExecutionTargetSpec | None
    placement: Placement
    pin: run_pinning.Pin | None
    """The inputs the run pinned (every launch and staging reads them); None before its start."""

    def __call__(self, decision: loop.Decision) -> dict[str, str] | None:
        """The decision's ledger entries and its Jobs are written at once: status claims neither
        before both are there, and a replay of the decision finds each under its name. Staging
        and deletions wait for the entries (staging reads the ledger). Returns the record of a
        gate it staged (status.gate)."""
        staged = None
        entries = decision.ledger_entries
        # One writer for the decision's entries: each links to the one before (a hash chain).
        writing = _LEDGER_WRITES.submit(trust.write_chain, entries, self.anchors.head, self.layout)
        try:
            for action in decision.actions:
                if isinstance(action, loop.LaunchJob):
                    # decide blocks every launch the target refuses, a missing one included.
                    assert self.target is not None
                    _launch(self, action)
        except objectstore.ObjectStoreUnavailable as exc:
            written = writing.exception()
            if isinstance(written, PartlyRecordedError):
                raise written from exc
            if written is None and entries:
                raise PartlyRecordedError(f"{decision.reason.value}: {exc}") from exc
            raise
        failure = writing.exception()
        if failure is not None and not (
            isinstance(failure, objectstore.ObjectStoreUnavailable)
            and _blocks_on_the_store(decision)
        ):
            raise failure
        if failure is None:
            self.anchors.head = writing.result()
        # A block on the store is recorded once the store answers: _deferred_ledger_written.
        for action in decision.actions:
            if isinstance(action, loop.StageGate):
                staged = self._stage(decision, action)
            elif isinstance(action, loop.DeleteJob):
                delete_own_job(RunIdentity.of(self.body), action.name, self.exec_ns)
        return staged

    def _stage(self, decision: loop.Decision, action: loop.StageGate) -> dict[str, str] | None:
        try:
            assert self.pin is not None
            return staging.stage(
                self.body,
                self.run,
                self.intake,
                decision,
                action,
                self.layout,
                self.anchors,
                self.pin,
            )
        except objectstore.ObjectStoreUnavailable as exc:
            if decision.ledger_entries:
                raise PartlyRecordedError(f"{decision.reason.value}: {exc}") from exc
            raise


def _blocks_on_the_store(decision: loop.Decision) -> bool:
    return (
        decision.phase is loop.Phase.BLOCKED
        and decision.reason is loop.Reason.OBJECT_STORE_UNAVAILABLE
        and not decision.launches
    )


def _deferred_ledger_written(state: loop.RunState, layout: RunLayout, anchors: Anchors) -> bool:
    """The ledger lives in the object store, so the decision that blocks a run on an unreachable
    store cannot write its entry first: status records the block, and its entry (the transition,
    the decision's only one) is written here, from status, once the store answers and before
    any later entry. False while the store still does not answer."""
    last = state.last_transition
    blocked = state.blocked_by
    if (
        state.phase is not loop.Phase.BLOCKED
        or blocked is None
        or blocked.reason is not loop.Reason.OBJECT_STORE_UNAVAILABLE
        or last is None
        or last.to is not loop.Phase.BLOCKED
        or state.ledger_sequence == 0
    ):
        return True
    entry = loop.LedgerEntry(
        sequence=state.ledger_sequence - 1,
        time=last.time,
        kind=loop.LedgerKind.TRANSITION,
        from_phase=last.from_phase,
        to=last.to,
        reason=last.reason,
        message=last.message,
        iteration=state.iteration,
        attempt=state.attempt,
    )
    try:
        anchors.head = trust.write_chain([entry], anchors.head, layout)
    except objectstore.ObjectStoreUnavailable:
        return False
    return True


def _launch(act: Acting, action: loop.LaunchJob) -> None:
    body, run, intake, layout = act.body, act.run, act.intake, act.layout
    exec_ns, target, placement, pin = act.exec_ns, act.target, act.placement, act.pin
    assert target is not None and pin is not None
    base = ModelRef(uri=intake.spec.base_model.job_uri(), label=intake.spec.base_model.label)
    namespace = body["metadata"]["namespace"]
    # The run's own snapshot, never the Benchmark as it is now (handlers/run_pinning.py).
    scenarios = run_pinning.scenarios(pin, layout, namespace, intake)
    spec: TrainSpec | EvalSpec
    if action.kind == "train":
        supplied = write_training_material(
            scenarios, action, layout, intake, namespace, run.spec.cluster_dimensions
        )
        recipe = action.recipe or run_recipe(run)
        spec = TrainSpec(
            iteration=action.iteration,
            seed=recipe.seed,
            base_model=base,
            init_adapter=None
            if not action.init_from_iteration
            else layout.adapter(action.init_from_iteration),
            train_data=layout.train_data(action.iteration),
            supplied_data_digest=supplied,
            heldout_fingerprint=layout.heldout_fingerprint(action.iteration),
            recipe=recipe.model_dump(),
            prompt_format=intake.spec.base_model.prompt_format,
            output=layout.candidate(action.iteration),
            label=candidate_label(run.name, action.iteration),
        )
    else:
        spec = EvalSpec(
            iteration=action.iteration,
            base_model=base,
            adapter=None if not action.model_iteration else layout.adapter(action.model_iteration),
            scenarios=run_pinning.scenarios_uri(pin, layout, namespace, intake),
            scenarios_digest=pin.scenarios_digest,
            output=layout.evaluation(action.iteration),
            batch_size=run.spec.evaluation.batch_size,
            max_new_tokens=run.spec.evaluation.max_new_tokens,
            prompt_format=intake.spec.base_model.prompt_format,
            gpu_hourly_price=target.gpu_hourly_price,
            cluster_dimensions=list(run.spec.cluster_dimensions),
        )
    # The spec travels in the Job's arguments: no object to write before the Job, or to read
    # before it starts.
    manifest = render_job(
        name=action.name,
        run_name=run.name,
        run_namespace=namespace,
        run_uid=body["metadata"]["uid"],
        kind=action.kind,
        iteration=action.iteration,
        attempt=action.attempt,
        spec_json=spec.model_dump_json(),
        target=target,
        gpu_count=placement.gpus,
        settings=SETTINGS,
    )
    try:
        created = kube.rest("POST", f"/apis/batch/v1/namespaces/{exec_ns}/jobs", manifest)
    except Exception as exc:
        if kube.is_conflict(exc):
            # Created before a restart (the deterministic name makes this a no-op), or someone
            # else's Job holds the name: the next look checks whose it is (_observe_job).
            return
        raise
    # Until status records its UID (the write after this act), the run knows it from here.
    remember(exec_ns, action.name, created["metadata"]["uid"])
    metrics.JOBS_LAUNCHED.labels(*metrics.labels(exec_ns, action.phase.value)).inc()


def run_recipe(run: IterationRun) -> loop.Recipe:
    data = run.spec.recipe.model_dump()
    return loop.Recipe(**{k: v for k, v in data.items() if k in loop.Recipe.model_fields})


def _record(
    body: dict[str, Any],
    run: IterationRun,
    intake: ModelIntake | None,
    placement: Placement | None,
    decision: loop.Decision,
    job_obs: loop.JobObservation | None,
    progress: dict[str, Any] | None,
    anchors: Anchors,
    staged: dict[str, str] | None = None,
    store: StoreLocation | None = None,
    pin: run_pinning.Pin | None = None,
) -> float | None:
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    old = body.get("status") or {}
    state = decision.state
    status = status_from_state(state)
    if state.job is not None:
        status["memory"]["job"]["uidDigest"] = RunIdentity.of(body).job_digest(state.job)
    if state.started_at is None and state.phase is not loop.Phase.PENDING:
        status["startedAt"] = old.get("startedAt")
    status["scores"]["target"] = intake.spec.promotion.threshold if intake else None
    status["nextAction"] = decision.next_action
    if pin is not None and state.started_at is not None:
        status["pinned"] = pin.wire()  # the same pin on every later look: written once
    status["observedGeneration"] = body["metadata"].get("generation")
    if store is not None:
        status["store"] = store.wire()
    status["ledger"] = {
        "entries": state.ledger_sequence,
        "lastSequence": state.ledger_sequence - 1 if state.ledger_sequence else None,
        "location": "append-only run ledger in the intake's object store "
        "(kubectl modelsmith status shows it)",
        "head": anchors.head.wire() if anchors.head else None,
    }
    status["integrity"] = anchors.wire()
    if state.accepted_iteration:
        status["candidate"] = {
            "label": candidate_label(name, state.accepted_iteration),
            "iteration": state.accepted_iteration,
        }
    status["capacity"] = capacity_status(
        placement, job_obs, old.get("capacity"), launching=bool(decision.launches)
    )
    status["training"] = _training(state, progress, old.get("training"), job_obs)
    generation = body["metadata"].get("generation")
    conditions = old.get("conditions")
    phase = state.phase
    active = not loop.is_terminal(phase) and phase not in (loop.Phase.BLOCKED, loop.Phase.SUSPENDED)
    conditions = set_condition(
        conditions, "Progressing", active, decision.reason.value, decision.message, generation
    )
    blocked = state.blocked_by
    conditions = set_condition(
        conditions,
        "Blocked",
        blocked is not None,
        blocked.reason.value if blocked else "NotBlocked",
        blocked.message if blocked else "",
        generation,
    )
    conditions = set_condition(
        conditions,
        "Staged",
        phase is loop.Phase.STAGED,
        "CandidateStaged" if phase is loop.Phase.STAGED else "NotStaged",
        decision.message if phase is loop.Phase.STAGED else "",
        generation,
    )
    status["conditions"] = conditions
    if staged is not None:
        status["gate"] = staged
    patch = merge_patch(old, status)
    if patch:
        # Decided on the body as read (perhaps from the watch): refused if it changed since.
        RECONCILER.write_status(
            PLURAL, namespace, name, patch, body["metadata"].get("resourceVersion")
        )
        if staged is not None and "gate" in patch:
            # The gate waits for this record before it acts (controllers/gate/guard.py).
            RECONCILER.requeue((staging.GATES, namespace, staged["name"]), 0)
    if _newly_waiting_for_intake(decision, old):
        # Waiting in Pending is no transition, yet whoever applied the run needs to hear why
        # nothing starts (a missing or unready intake); once per distinct message.
        emit(body, "Warning", decision.reason.value, decision.message)
    if decision.transitioned:
        prior = old.get("phase") or "Pending"
        warn = phase in ACTIVE_PROBLEMS
        emit(body, "Warning" if warn else "Normal", decision.reason.value, decision.message)
        metrics.PHASE_TRANSITIONS.labels(
            *metrics.labels(namespace, prior, phase.value, decision.reason.value)
        ).inc()
        last = old.get("lastTransition") or {}
        if last.get("time"):
            started = datetime.fromisoformat(last["time"].replace("Z", "+00:00"))
            metrics.PHASE_DURATION.labels(*metrics.labels(prior)).observe(
                (datetime.now(UTC) - started).total_seconds()
            )
    for kind, value in (
        ("current", state.scores.current),
        ("heldout", state.scores.heldout),
        ("baseline", state.scores.baseline),
        ("previous_accepted", state.scores.previous_accepted),
    ):
        if value is not None:
            metrics.SCORE.labels(*metrics.labels(namespace, name, kind)).set(value)
    if job_obs is not None and job_obs.state is loop.JobState.FAILED and decision.transitioned:
        metrics.JOBS_FAILED.labels(*metrics.labels(namespace, phase.value)).inc()
    again = decision.requeue_after_seconds
    if phase is loop.Phase.TRAINING:
        again = SETTINGS.requeue_seconds if again is None else min(again, SETTINGS.requeue_seconds)
    return again


def _newly_waiting_for_intake(decision: loop.Decision, old: dict[str, Any]) -> bool:
    if decision.transitioned or decision.reason is not loop.Reason.INTAKE_NOT_READY:
        return False
    before: dict[str, Any] = next(
        (c for c in old.get("conditions") or [] if c.get("type") == "Progressing"), {}
    )
    return bool(
        (before.get("reason"), before.get("message")) != (decision.reason.value, decision.message)
    )


def capacity_status(
    placement: Placement | None,
    job_obs: loop.JobObservation | None,
    old: Any,
    launching: bool = False,
) -> dict[str, Any] | None:
    """What the scheduler made of the run's current Job. A Job this decision launches waits for
    its pod by definition: Pending, not the previous Job's verdict, nor Unknown (which its first
    pod news would then overwrite with Pending: a status write that tells nothing new)."""
    if placement is None:
        return old if isinstance(old, dict) else None
    state, reason = "Unknown", ""
    queue = job_obs.queue if job_obs is not None and not launching else None
    if queue is not None and queue.state is not QueueState.ADMITTED:
        state, reason = queue.state.value, queue.summary()
    elif launching:
        state = "Pending"
    elif job_obs is not None:
        if job_obs.state is loop.JobState.UNSCHEDULABLE:
            state, reason = "Unschedulable", _capacity_reason(job_obs.scheduler_message, placement)
            # The scheduler reports a NotReady node only as an untolerated taint.
            if job_obs.nodes_not_ready:
                reason = f"{reason}; {job_obs.nodes_not_ready} node(s) that could run it NotReady"
        elif job_obs.state is loop.JobState.PENDING:
            state = "Pending"
        elif job_obs.state in (loop.JobState.RUNNING, loop.JobState.SUCCEEDED):
            state = "Scheduled"
    elif isinstance(old, dict):
        return old
    return {
        "gpusRequested": placement.gpus,
        "resourceName": placement.resource,
        "state": state,
        "reason": reason,
        **_queue_fields(queue),
    }


def _queue_fields(queue: QueueObservation | None) -> dict[str, Any]:
    if queue is None:
        return {}
    return {"queue": queue.queue, "queueAhead": queue.ahead, "queueQuota": queue.quota}


def _capacity_reason(message: str | None, placement: Placement) -> str:
    """The scheduler's verdict in operational words: it names node counts and resources, never
    nodes (hostnames stay off shared surfaces)."""
    text = message or ""
    # Sentences end in ". "; a bare "." also sits inside names (node.kubernetes.io/...).
    short = text.split(". ")[0].rstrip(".") if text else "no node fits the Job"
    if placement.resource in text:
        return f"{short}: no schedulable node has {placement.gpus} free {placement.resource}"
    return short


def _training(
    state: loop.RunState,
    progress: dict[str, Any] | None,
    old: Any,
    job: loop.JobObservation | None,
) -> dict[str, Any] | None:
    if state.phase is not loop.Phase.TRAINING:
        if state.phase is not loop.Phase.ASSESSING:
            return None
        # The finished training Job's own word: its last progress may predate the resume.
        summary = None if job is None else job.summary
        resumed = None if summary is None else summary.resumed_from_step
        if resumed is not None:
            return {**(old if isinstance(old, dict) else {}), "resumedFromStep": resumed}
        return old if isinstance(old, dict) else None
    if progress is None:
        return old if isinstance(old, dict) else None
    return {
        "percent": round(float(progress.get("percent", 0.0)), 1),
        "step": int(progress.get("step", 0)),
        "totalSteps": int(progress.get("total", 0)),
        "loss": None if progress.get("loss") is None else round(float(progress["loss"]), 4),
        "etaSeconds": None
        if progress.get("eta_seconds") is None
        else round(float(progress["eta_seconds"]), 1),
        "updatedAt": progress.get("updated_at"),
        "resumedFromStep": loop.step_number(progress.get("resumed_from_step")),
    }


_LEDGER_WRITES = ThreadPoolExecutor(SETTINGS.ledger_writers, thread_name_prefix="ledger")

RECONCILER.register(PLURAL, reconcile)
