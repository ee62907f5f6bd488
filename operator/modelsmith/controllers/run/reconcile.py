"""The IterationRun's reconcile: read the run and its inputs, observe its Job and records
(`read`, `observe`), call `loop.decide`, act (`act`), write status (`status`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from modelsmith import loop
from modelsmith.api.intake import ModelIntake
from modelsmith.api.run import IterationRun
from modelsmith.api.target import ExecutionTargetSpec
from modelsmith.contract import s3
from modelsmith.contract.layout import RunLayout, StoreLocation, for_run, run_key
from modelsmith.contract.objectstore import Store
from modelsmith.controllers.run import pinning, read
from modelsmith.controllers.run.act import Acting, deferred_ledger_written
from modelsmith.controllers.run.job_guard import RunIdentity, rbac_refusal
from modelsmith.controllers.run.observe import intake_readiness
from modelsmith.controllers.run.state import PLURAL, loop_recipe, state_from_status
from modelsmith.controllers.run.status import Outcome, record
from modelsmith.controllers.run.target import (
    TARGET_BLOCKS,
    Placement,
    blocked_by_target,
    decide_checked,
    read_target,
)
from modelsmith.controllers.run.trust import Anchors
from modelsmith.readback import TamperError
from modelsmith.runtime.core import Runtime


@dataclass(frozen=True)
class Reading:
    """What a reconcile reads of the run and its inputs before it observes the run's Job."""

    body: dict[str, Any]
    run: IterationRun
    state: loop.RunState
    anchors: Anchors
    now: datetime
    readiness: loop.IntakeReadiness
    inputs: pinning.Inputs
    target: ExecutionTargetSpec | None
    """The ExecutionTarget of the intake spec the run works on (None: not found)."""
    target_live: bool
    """`target` was read from the API server this reconcile (not one read a moment ago)."""
    store: StoreLocation | None
    layout: RunLayout


def reconcile(rt: Runtime, namespace: str, name: str) -> float | None:
    """One reconcile of the run `namespace/name`; returns when to reconcile it again (None: on
    its next event)."""
    cached = rt.cache.get(PLURAL, namespace, name)
    if cached is None:
        rt.queue.forget((PLURAL, namespace, name))
        return None
    # Our own copy of what the cache holds: staging records the bundle's digest mid-reconcile
    # and moves this body's status and resourceVersion on with it.
    body = {**cached, "metadata": dict(cached["metadata"])}
    reading = _read(rt, body, namespace, name)
    intake = reading.inputs.intake
    if intake is None:
        observed = loop.Observation(intake=reading.readiness, input_problem=reading.inputs.problem)
        config = _config(rt, reading.run, None)
        decision = loop.decide(reading.state, observed, config, reading.now)
        return record(rt, body, Outcome(decision, reading.anchors))
    return _reconcile_with_intake(rt, reading, intake)


def _read(rt: Runtime, body: dict[str, Any], namespace: str, name: str) -> Reading:
    run = IterationRun.model_validate(body)
    raw_status = body.get("status") or {}
    owner = RunIdentity.of(body, rt.created_jobs)
    state = state_from_status(name, run_key(namespace, owner.uid), raw_status)
    intake_body = rt.cache.get("modelintakes", namespace, run.spec.intake_ref.name)
    live = ModelIntake.model_validate(intake_body) if intake_body else None
    anchors = Anchors.of(raw_status)
    now = datetime.now(UTC)
    # A run blocked by its target sees it restored (or still refusing) as it is now.
    fresh = blocked_by_target(state)
    target, target_live = (
        read_target(rt, live.spec.execution_target_ref.name, fresh) if live else (None, False)
    )
    store, layout = _store_layout(rt, raw_status, target, namespace, name, owner.uid)
    readiness = intake_readiness(intake_body)
    inputs = pinning.resolve(rt, body, intake_body, live, readiness.ready, layout)
    if inputs.waiting is not None:
        readiness = loop.IntakeReadiness(ready=False, reason=inputs.waiting)
    if inputs.intake is not None and inputs.intake is not live:
        # The run works on the spec it pinned (its intake is gone or changed): its target too.
        target, target_live = read_target(rt, inputs.intake.spec.execution_target_ref.name, fresh)
    return Reading(
        body, run, state, anchors, now, readiness, inputs, target, target_live, store, layout
    )


def _reconcile_with_intake(rt: Runtime, reading: Reading, intake: ModelIntake) -> float | None:
    r = reading
    placement = Placement.of(intake, r.target)
    config = _config(rt, r.run, intake, placement)
    exec_ns = (r.target.job_namespace if r.target else None) or r.body["metadata"]["namespace"]
    observed = read.observation(
        rt, r.body, r.run, r.state, exec_ns, r.layout, r.readiness, r.anchors, r.now
    )
    observation = _with_input_facts(rt.store, observed.observation, r)
    observation, target, live = decide_checked(
        rt, r.state, observation, config, r.now, intake, r.target, r.layout.bucket, r.target_live
    )
    decision = _decide_where_permitted(rt, r.state, observation, config, r.now, exec_ns)
    if (decision.launches or decision.reason in TARGET_BLOCKS) and not r.target_live:
        # A Job is launched, and a run blocked by its target, only on the target as the API
        # server has it now: one read a moment ago that has changed since means deciding again.
        if not live:
            target, _ = read_target(rt, intake.spec.execution_target_ref.name, live=True)
        if target != r.target:
            return _reconcile_with_intake(rt, replace(r, target=target, target_live=True), intake)
    acting = Acting(
        rt, r.body, r.run, intake, exec_ns, r.layout, r.anchors, r.target, placement, r.inputs.pin
    )
    decision, staged = _act(acting, decision, observation, r.state, config, r.now)
    outcome = Outcome(
        decision,
        r.anchors,
        intake,
        placement,
        observed.job,
        observed.progress,
        staged,
        r.store,
        r.inputs.pin,
    )
    return record(rt, r.body, outcome)


def _with_input_facts(
    store: Store, observation: loop.Observation, reading: Reading
) -> loop.Observation:
    """The observation with what is wrong with the run's inputs, and with the store counted
    unreachable while the run's pins or its deferred ledger entry cannot be written."""
    observation = observation.model_copy(update={"input_problem": reading.inputs.problem})
    if reading.inputs.store_down:
        observation = observation.model_copy(update={"object_store_reachable": False})
    if not deferred_ledger_written(store, reading.state, reading.layout, reading.anchors):
        observation = observation.model_copy(update={"object_store_reachable": False})
    return observation


def _act(
    acting: Acting,
    decision: loop.Decision,
    observation: loop.Observation,
    state: loop.RunState,
    config: loop.RunConfig,
    now: datetime,
) -> tuple[loop.Decision, dict[str, str] | None]:
    """Acts on the decision; returns the decision acted on (a replacement when acting found the
    store gone or a record tampered with) and the record of a gate it staged."""
    try:
        return decision, acting(decision)
    except s3.ObjectStoreUnavailable:
        if not observation.object_store_reachable:
            raise
        # The store stopped answering after the reads and before any of the decision's ledger
        # entries landed (else PartlyRecordedError): the run blocks on it where everyone sees
        # it instead of retrying out of sight. A Job created meanwhile is claimed by the
        # replayed launch once the store answers (its name is the same).
        observation = observation.model_copy(update={"object_store_reachable": False})
        decision = loop.decide(state, observation, config, now)
        return decision, acting(decision)
    except TamperError as tampered:
        # Staging found a record that is not what the cluster holds for it, after the decision
        # to stage was recorded: the run blocks from there (its ledger shows both steps).
        observation = observation.model_copy(update={"tampered": tampered.tamper.message})
        decision = loop.decide(decision.state, observation, config, now)
        return decision, acting(decision)


def _store_layout(
    rt: Runtime,
    status: dict[str, Any],
    target: ExecutionTargetSpec | None,
    namespace: str,
    name: str,
    uid: str,
) -> tuple[StoreLocation | None, RunLayout]:
    """Where the run's objects live: the store it pinned, else its target's (pinned by the
    first reconcile that finds the target: a target edited later moves no run)."""
    store = StoreLocation.pinned(status) or (
        StoreLocation.of_target(target, rt.settings.bucket) if target else None
    )
    return store, for_run(store or StoreLocation(rt.settings.bucket), namespace, name, uid)


def _decide_where_permitted(
    rt: Runtime,
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
        observation = observation.model_copy(update={"rbac_refusal": rbac_refusal(rt, exec_ns)})
    decision = loop.decide(state, observation, config, now)
    if (
        decision.launches
        and observation.rbac_refusal is None
        and (refused := rbac_refusal(rt, exec_ns)) is not None
    ):
        observation = observation.model_copy(update={"rbac_refusal": refused})
        decision = loop.decide(state, observation, config, now)
    return decision


def _config(
    rt: Runtime, run: IterationRun, intake: ModelIntake | None, placement: Placement | None = None
) -> loop.RunConfig:
    """The loop's configuration from the run's spec, and from the intake once one is known."""
    spec = run.spec
    kwargs: dict[str, Any] = {
        "run_name": run.name,
        "run_key": run_key(run.namespace, str(run.metadata.get("uid", ""))),
        "threshold": intake.spec.promotion.threshold if intake else 1.0,
        "max_iterations": spec.max_iterations,
        "plateau_patience": spec.plateau_patience,
        "gpu_hour_budget": spec.budget.gpu_hours,
        "deadline": spec.budget.deadline,
        "max_attempts": spec.retries.max_attempts,
        "cluster_dimensions": tuple(spec.cluster_dimensions),
        "failing_weight": spec.recipe.failing_weight,
        "base_recipe": loop_recipe(spec.recipe),
    }
    if intake is not None:
        kwargs |= {
            "min_improvement": intake.spec.promotion.min_improvement,
            "max_regressions": intake.spec.promotion.max_regressions,
            "gpu_count": placement.gpus if placement else 0,
            "gpu_resource": placement.resource if placement else "nvidia.com/gpu",
            "container_start_grace_seconds": rt.settings.container_start_grace_seconds,
            "input_grace_seconds": rt.settings.input_grace_seconds,
        }
    return loop.RunConfig(**kwargs)
