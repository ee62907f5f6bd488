"""The run's memory in both directions: IterationRun status <-> the loop's RunState.

Status is the record a restarted operator resumes from; the loop keeps its own frozen model.
Field names match (both camelCase on the wire), so most of the mapping is by name."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelsmith import loop
from modelsmith.api.run_status import IterationRunStatus, RunMemory

PLURAL = "iterationruns"
"""The run's resource, as API paths and the reconciler's keys name it."""
_RECIPE_FIELDS = tuple(loop.Recipe.model_fields)


def loop_recipe(value: Any) -> loop.Recipe:
    """A recipe (the API's model or its wire dict) as the loop's Recipe: the fields it knows."""
    data = value.model_dump() if hasattr(value, "model_dump") else dict(value)
    return loop.Recipe(**{k: v for k, v in data.items() if k in _RECIPE_FIELDS})


def _recipe(value: Any) -> loop.Recipe | None:
    return None if value is None else loop_recipe(value)


def state_from_status(run_name: str, run_key: str, raw: dict[str, Any] | None) -> loop.RunState:
    """`run_key` is run_key(namespace, UID): with the run's name it gives its Job names."""
    if not raw or not raw.get("phase"):
        return loop.RunState()
    st = IterationRunStatus.model_validate(raw)
    mem = st.memory or RunMemory()
    return loop.RunState(
        phase=loop.Phase(st.phase or loop.Phase.PENDING),
        iteration=st.iteration,
        attempt=st.attempt,
        scores=loop.Scores(**st.scores.model_dump()),
        accepted_iteration=mem.accepted_iteration,
        iterations_without_improvement=mem.iterations_without_improvement,
        regression_count=st.regression_count,
        regressions=tuple(st.regressions),
        strongest_failure_cluster=_cluster(st),
        gpu_seconds_used=st.gpu_seconds_used,
        started_at=st.started_at,
        history=tuple(loop.HistoryEntry(**h.model_dump()) for h in st.history),
        last_transition=_transition(st),
        job=_job(run_name, run_key, mem),
        recipe=_recipe(mem.recipe),
        accepted_recipe=_recipe(mem.accepted_recipe),
        blocked_by=_blocked(st),
        resume_phase=loop.Phase(mem.resume_phase) if mem.resume_phase else None,
        gate_name=st.gate_name,
        ledger_sequence=mem.ledger_sequence,
        retry_token=mem.retry_token,
    )


def _job(run_name: str, run_key: str, mem: RunMemory) -> loop.JobRef | None:
    if mem.job is None:
        return None
    phase = loop.Phase(mem.job.phase)
    return loop.JobRef(
        name=loop.job_name(run_name, run_key, mem.job.iteration, phase, mem.job.attempt),
        phase=phase,
        iteration=mem.job.iteration,
        attempt=mem.job.attempt,
        launched_at=mem.job.launched_at,
        accounted=mem.job.accounted,
    )


def _cluster(st: IterationRunStatus) -> loop.Cluster | None:
    c = st.strongest_failure_cluster
    if c is None or not c.failures:
        return None
    return loop.Cluster(
        dimensions=dict(c.dimensions),
        label=c.label,
        failures=c.failures,
        scenario_ids=tuple(c.scenario_ids),
        failing_train_ids=(),
    )


def _transition(st: IterationRunStatus) -> loop.Transition | None:
    t = st.last_transition
    if t is None:
        return None
    return loop.Transition(
        from_phase=loop.Phase(t.from_phase) if t.from_phase else None,
        to=loop.Phase(t.to),
        reason=loop.Reason(t.reason),
        message=t.message,
        time=t.time,
    )


def _blocked(st: IterationRunStatus) -> loop.BlockedBy | None:
    if st.blocked_by is None:
        return None
    return loop.BlockedBy(
        kind=loop.BlockKind(st.blocked_by.kind),
        reason=loop.Reason(st.blocked_by.reason),
        message=st.blocked_by.message,
    )


def status_from_state(state: loop.RunState) -> dict[str, Any]:
    """The status fields the loop owns, camelCase, with nulls kept so a merge patch clears
    what no longer holds (a resolved blocker, a finished Job)."""
    cluster = state.strongest_failure_cluster
    job = state.job
    return {
        "phase": state.phase.value,
        "iteration": state.iteration,
        "attempt": state.attempt,
        "scores": state.scores.wire(),
        "regressionCount": state.regression_count,
        "regressions": list(state.regressions)[:40],
        "strongestFailureCluster": None
        if cluster is None
        else {
            "dimensions": cluster.dimensions,
            "failures": cluster.failures,
            "label": cluster.label,
            "scenarioIds": list(cluster.scenario_ids)[:20],
        },
        "blockedBy": None if state.blocked_by is None else state.blocked_by.wire(),
        "history": [h.wire() for h in state.history],
        "lastTransition": None if state.last_transition is None else state.last_transition.wire(),
        "gateName": state.gate_name,
        "startedAt": None if state.started_at is None else _ts(state.started_at),
        "gpuSecondsUsed": state.gpu_seconds_used,
        "memory": {
            "acceptedIteration": state.accepted_iteration,
            "iterationsWithoutImprovement": state.iterations_without_improvement,
            "job": None
            if job is None
            else {
                "phase": job.phase.value,
                "iteration": job.iteration,
                "attempt": job.attempt,
                "launchedAt": _ts(job.launched_at),
                "accounted": job.accounted,
            },
            "recipe": None if state.recipe is None else state.recipe.wire(),
            "acceptedRecipe": None
            if state.accepted_recipe is None
            else state.accepted_recipe.wire(),
            "resumePhase": None if state.resume_phase is None else state.resume_phase.value,
            "retryToken": state.retry_token,
            "ledgerSequence": state.ledger_sequence,
        },
    }


def _ts(value: datetime) -> str:
    """The same spelling pydantic uses (Z for UTC), so a status read back and written again is
    byte-identical and an idle reconcile writes nothing."""
    return value.isoformat().replace("+00:00", "Z")
