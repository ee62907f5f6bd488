"""Acting on a run's decision: its ledger entries, the Jobs it launches, the gate it stages and
the Jobs it deletes.

Order matters for restart safety: the ledger entries and the Job are written (at once) before
status claims them. A crash in between replays the same decision from the old status: the ledger
entry and the Job already exist under their deterministic names, so nothing is written twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelsmith import loop
from modelsmith.api.intake import ModelIntake
from modelsmith.api.run import IterationRun
from modelsmith.api.target import ExecutionTargetSpec
from modelsmith.contract import s3
from modelsmith.contract.jobspec import EvalSpec, ModelRef, TrainSpec
from modelsmith.contract.layout import RunLayout
from modelsmith.contract.objectstore import Store
from modelsmith.controllers.run import jobcredentials, jobset_read, pinning, staging, trust
from modelsmith.controllers.run.job_guard import RunIdentity, delete_own_job
from modelsmith.controllers.run.job_manifest import render_job
from modelsmith.controllers.run.jobset_manifest import render_jobset
from modelsmith.controllers.run.staging import candidate_label
from modelsmith.controllers.run.state import loop_recipe
from modelsmith.controllers.run.target import Placement
from modelsmith.controllers.run.trainingdata import write_training_material
from modelsmith.controllers.run.trust import Anchors, PartlyRecordedError
from modelsmith.runtime import kube
from modelsmith.runtime.core import Runtime
from modelsmith.runtime.surface import ObjectName


@dataclass(frozen=True)
class Acting:
    """What acting on a decision needs of this reconcile (one decision, or its replacement)."""

    rt: Runtime
    body: dict[str, Any]
    run: IterationRun
    intake: ModelIntake
    exec_ns: str
    layout: RunLayout
    anchors: Anchors
    target: ExecutionTargetSpec | None
    placement: Placement
    pin: pinning.Pin | None
    """The inputs the run pinned (every launch and staging reads them); None before its start."""

    def __call__(self, decision: loop.Decision) -> dict[str, str] | None:
        """The decision's ledger entries and its Jobs are written at once: status claims neither
        before both are there, and a replay of the decision finds each under its name. Staging
        and deletions wait for the entries (staging reads the ledger). Returns the record of a
        gate it staged (status.gate)."""
        self._record_and_launch(decision)
        staged = None
        for action in decision.actions:
            if isinstance(action, loop.StageGate):
                staged = self._stage(decision, action)
            elif isinstance(action, loop.DeleteJob):
                identity = RunIdentity.of(self.body, self.rt.created_jobs)
                delete_own_job(identity, action.name, self.exec_ns)
                jobset_read.delete_own(identity, action.name, self.exec_ns)
        return staged

    def _record_and_launch(self, decision: loop.Decision) -> None:
        rt = self.rt
        entries = decision.ledger_entries
        # One writer for the decision's entries: each links to the one before (a hash chain).
        head, layout = self.anchors.head, self.layout
        writing = rt.ledger_writes.submit(trust.write_chain, rt.store, entries, head, layout)
        try:
            for action in decision.actions:
                if isinstance(action, loop.LaunchJob):
                    # decide blocks every launch the target refuses, a missing one included.
                    assert self.target is not None
                    _launch(rt, self, action)
        except s3.ObjectStoreUnavailable as exc:
            written = writing.exception()
            if isinstance(written, PartlyRecordedError):
                raise written from exc
            if written is None and entries:
                raise PartlyRecordedError(f"{decision.reason.value}: {exc}") from exc
            raise
        failure = writing.exception()
        if failure is not None and not (
            isinstance(failure, s3.ObjectStoreUnavailable)
            and _blocks_on_the_store(decision)
        ):
            raise failure
        if failure is None:
            self.anchors.head = writing.result()
        # A block on the store is written to the ledger once the store answers:
        # deferred_ledger_written.

    def _stage(self, decision: loop.Decision, action: loop.StageGate) -> dict[str, str] | None:
        rt = self.rt
        try:
            assert self.pin is not None
            return staging.stage(rt,
                self.body,
                self.run,
                self.intake,
                decision,
                action,
                self.layout,
                self.anchors,
                self.pin,
            )
        except s3.ObjectStoreUnavailable as exc:
            if decision.ledger_entries:
                raise PartlyRecordedError(f"{decision.reason.value}: {exc}") from exc
            raise


def _blocks_on_the_store(decision: loop.Decision) -> bool:
    return (
        decision.phase is loop.Phase.BLOCKED
        and decision.reason is loop.Reason.OBJECT_STORE_UNAVAILABLE
        and not decision.launches
    )


def deferred_ledger_written(
    store: Store, state: loop.RunState, layout: RunLayout, anchors: Anchors
) -> bool:
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
        anchors.head = trust.write_chain(store, [entry], anchors.head, layout)
    except s3.ObjectStoreUnavailable:
        return False
    return True


def _launch(rt: Runtime, act: Acting, action: loop.LaunchJob) -> None:
    """Creates the action's Job, after its own store credential where the target names a role
    for its Jobs; a Job already under its name is left for the next reconcile to check
    (`read.observe_job`)."""
    assert act.target is not None
    namespace = act.body["metadata"]["namespace"]
    spec = _train_spec(rt, act, action) if action.kind == "train" else _eval_spec(rt, act, action)
    # The spec travels in the Job's arguments: no object to write before the Job, or to read
    # before it starts.
    manifest = render_job(
        name=action.name,
        run_name=act.run.name,
        run_namespace=namespace,
        run_uid=act.body["metadata"]["uid"],
        kind=action.kind,
        iteration=action.iteration,
        attempt=action.attempt,
        spec_json=spec.model_dump_json(),
        target=act.target,
        gpu_count=act.placement.gpus,
        settings=rt.settings,
    )
    if role := act.target.object_store.job_role_arn:
        # The Job's own credential exists before the Job does (`jobcredentials`).
        manifest = jobcredentials.give(manifest, role, act.layout, (action.kind, action.iteration))
    if act.placement.spans(action.phase) > 1:
        _launch_jobset(rt, act, action, manifest)
        return
    try:
        created = kube.rest("POST", kube.batch_path("jobs", act.exec_ns), manifest)
    except Exception as exc:
        if kube.is_conflict(exc):
            # Created before a restart (the deterministic name makes this a no-op), or someone
            # else's Job holds the name: the next reconcile checks whose it is.
            return
        if kube.is_forbidden(exc):
            # The permission asked before the launch is gone: the next reconcile asks again
            # and blocks the run saying so (job_guard.rbac_refusal).
            rt.jobs_permitted.drop(act.exec_ns)
        raise
    _launched(rt, act, action, created)


def _launch_jobset(
    rt: Runtime, act: Acting, action: loop.LaunchJob, job: dict[str, Any]
) -> None:
    """A training step over several nodes: the JobSet made from the training Job `job`."""
    created = jobset_read.create(act.exec_ns, render_jobset(job, act.placement.nodes))
    if created is None:
        return
    _launched(rt, act, action, created)


def _launched(
    rt: Runtime, act: Acting, action: loop.LaunchJob, created: dict[str, Any]
) -> None:
    """Until status records the UID of the step's Job (or JobSet: the run knows it by the
    step's name too), the write after this act, the run knows it from here."""
    rt.created_jobs.put(action.name, (act.exec_ns, created["metadata"]["uid"]))
    namespace = ObjectName(act.exec_ns)
    rt.metrics.JOBS_LAUNCHED.labels(*rt.metrics.labels(namespace, action.phase.value)).inc()


def _base_model(intake: ModelIntake) -> ModelRef:
    return ModelRef(uri=intake.spec.base_model.job_uri(), label=intake.spec.base_model.label)


def _train_spec(rt: Runtime, act: Acting, action: loop.LaunchJob) -> TrainSpec:
    """The training Job's spec, after writing its training material from the run's own
    scenario and training data snapshots, never the sources as they are now (`pinning`)."""
    run, intake, layout, pin = act.run, act.intake, act.layout, act.pin
    assert pin is not None
    namespace = act.body["metadata"]["namespace"]
    scenarios = pinning.scenarios(rt, pin, layout, namespace, intake)
    pinned_data = pinning.training_data(rt.store, pin, layout, intake)
    supplied = write_training_material(
        rt.store, scenarios, action, layout, pinned_data, run.spec.cluster_dimensions
    )
    recipe = action.recipe or loop_recipe(run.spec.recipe)
    return TrainSpec(
        iteration=action.iteration,
        seed=recipe.seed,
        base_model=_base_model(intake),
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


def _eval_spec(rt: Runtime, act: Acting, action: loop.LaunchJob) -> EvalSpec:
    """The evaluation Job's spec: it reads the scenario snapshot the run pinned."""
    run, intake, layout, pin, target = act.run, act.intake, act.layout, act.pin, act.target
    assert pin is not None and target is not None
    namespace = act.body["metadata"]["namespace"]
    # Checked against the pinned digest before a Job is pointed at it (PinMismatchError).
    pinning.scenarios(rt, pin, layout, namespace, intake)
    return EvalSpec(
        iteration=action.iteration,
        base_model=_base_model(intake),
        adapter=None if not action.model_iteration else layout.adapter(action.model_iteration),
        scenarios=pinning.scenarios_uri(pin, layout, namespace, intake),
        scenarios_digest=pin.scenarios_digest,
        output=layout.evaluation(action.iteration),
        batch_size=run.spec.evaluation.batch_size,
        max_new_tokens=run.spec.evaluation.max_new_tokens,
        prompt_format=intake.spec.base_model.prompt_format,
        gpu_hourly_price=target.gpu_hourly_price,
        cluster_dimensions=list(run.spec.cluster_dimensions),
    )

