"""Writing what a reconcile found and decided: the run's status (one merge patch, only when
something changed, its transitions announced by the status writer), the Event of a run waiting
for its intake, its metrics, and when to reconcile it again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelsmith import loop
from modelsmith.api.intake import ModelIntake
from modelsmith.contract.layout import StoreLocation
from modelsmith.controllers.run import staging
from modelsmith.controllers.run.capacity import capacity_status
from modelsmith.controllers.run.job_guard import CreatedJobs, RunIdentity
from modelsmith.controllers.run.pinning import Pin
from modelsmith.controllers.run.staging import candidate_label
from modelsmith.controllers.run.state import PLURAL, status_from_state
from modelsmith.controllers.run.target import Placement
from modelsmith.controllers.run.trust import Anchors
from modelsmith.runtime.conditions import set_condition
from modelsmith.runtime.core import Runtime
from modelsmith.runtime.surface import ObjectName
from modelsmith.runtime.transitions import Transitions

ACTIVE_PROBLEMS = {loop.Phase.BLOCKED, loop.Phase.FAILED, loop.Phase.PLATEAUED, loop.Phase.STOPPED}
PROBLEMS = {p.value for p in ACTIVE_PROBLEMS}
TRANSITIONS = Transitions(
    headline="Progressing",
    # Progressing's reason also follows the Job within a phase (pending, running, queued):
    # only a new phase is a transition, announced with the reason and message that led to it.
    conditions=(),
    warning=lambda status, _: status.get("phase") in PROBLEMS,
    phase="phase",
    record="lastTransition",
)
LEDGER_LOCATION = (
    "append-only run ledger in the intake's object store (kubectl modelsmith status shows it)"
)


@dataclass(frozen=True)
class Outcome:
    """What one reconcile found and decided, as status records it."""

    decision: loop.Decision
    anchors: Anchors
    intake: ModelIntake | None = None
    placement: Placement | None = None
    job: loop.JobObservation | None = None
    progress: dict[str, Any] | None = None
    """The training Job's progress record, while it runs."""
    staged: dict[str, str] | None = None
    """The record of the gate this reconcile staged (status.gate)."""
    store: StoreLocation | None = None
    pin: Pin | None = None


def record(rt: Runtime, body: dict[str, Any], outcome: Outcome) -> float | None:
    """Writes status when it changed, tells what happened (Events, metrics) and returns when to
    reconcile the run again (None: on its next event)."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    old = body.get("status") or {}
    # Decided on the body as read (perhaps from the watch): refused if it changed since.
    desired = render(body, outcome, rt.created_jobs)
    written = rt.status.patch(PLURAL, body, desired, old=old, transitions=TRANSITIONS)
    if written is not None:
        staged = outcome.staged
        if staged is not None and "gate" in written.patch:
            # The gate waits for this record before it acts (controllers/gate/guard.py).
            rt.queue.requeue((staging.GATES, namespace, staged["name"]), 0)
    if _newly_waiting_for_intake(outcome.decision, old):
        # Waiting in Pending is no transition, so the status writer announces nothing, yet
        # whoever applied the run needs to hear why nothing starts (a missing or unready
        # intake); once per distinct message.
        rt.events.emit(body, "Warning", outcome.decision.reason.value, outcome.decision.message)
    _count(rt, namespace, name, outcome, old)
    return requeue_after(rt, outcome.decision)


def render(body: dict[str, Any], outcome: Outcome, created: CreatedJobs) -> dict[str, Any]:
    """The run's status from the decision's state and what this reconcile found, with nulls
    kept so that a merge patch clears what no longer holds; `created` names the Jobs this
    process created, whose UIDs it records."""
    meta, old = body["metadata"], body.get("status") or {}
    decision, anchors = outcome.decision, outcome.anchors
    state = decision.state
    status = status_from_state(state)
    if state.job is not None:
        status["memory"]["job"]["uidDigest"] = RunIdentity.of(body, created).job_digest(state.job)
    if state.started_at is None and state.phase is not loop.Phase.PENDING:
        status["startedAt"] = old.get("startedAt")
    status["scores"]["target"] = outcome.intake.spec.promotion.threshold if outcome.intake else None
    status["nextAction"] = decision.next_action
    if outcome.pin is not None and state.started_at is not None:
        status["pinned"] = outcome.pin.wire()  # the same pin every later reconcile: written once
    status["observedGeneration"] = meta.get("generation")
    if outcome.store is not None:
        status["store"] = outcome.store.wire()
    status["ledger"] = {
        "entries": state.ledger_sequence,
        "lastSequence": state.ledger_sequence - 1 if state.ledger_sequence else None,
        "location": LEDGER_LOCATION,
        "head": anchors.head.wire() if anchors.head else None,
    }
    status["integrity"] = anchors.wire()
    if state.accepted_iteration:
        status["candidate"] = {
            "label": candidate_label(meta["name"], state.accepted_iteration),
            "iteration": state.accepted_iteration,
        }
    status["capacity"] = capacity_status(
        outcome.placement,
        outcome.job,
        old.get("capacity"),
        launching=bool(decision.launches),
        phase=state.job.phase if state.job is not None else None,
    )
    status["training"] = _training(state, outcome.progress, old.get("training"), outcome.job)
    status["conditions"] = _conditions(old.get("conditions"), decision, meta.get("generation"))
    if outcome.staged is not None:
        status["gate"] = outcome.staged
    return status


def _conditions(
    conditions: Any, decision: loop.Decision, generation: int | None
) -> list[dict[str, Any]]:
    """Progressing, Blocked and Staged, from the decision."""
    phase, blocked = decision.state.phase, decision.state.blocked_by
    active = not loop.is_terminal(phase) and phase not in (loop.Phase.BLOCKED, loop.Phase.SUSPENDED)
    conditions = set_condition(
        conditions, "Progressing", active, decision.reason.value, decision.message, generation
    )
    conditions = set_condition(
        conditions,
        "Blocked",
        blocked is not None,
        blocked.reason.value if blocked else "NotBlocked",
        blocked.message if blocked else "",
        generation,
    )
    staged = phase is loop.Phase.STAGED
    return set_condition(
        conditions,
        "Staged",
        staged,
        "CandidateStaged" if staged else "NotStaged",
        decision.message if staged else "",
        generation,
    )


def _training(
    state: loop.RunState,
    progress: dict[str, Any] | None,
    old: Any,
    job: loop.JobObservation | None,
) -> dict[str, Any] | None:
    """status.training: the running training Job's progress; kept while the run assesses it,
    with the checkpoint step the finished Job says it resumed from."""
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


def _newly_waiting_for_intake(decision: loop.Decision, old: dict[str, Any]) -> bool:
    if decision.transitioned or decision.reason is not loop.Reason.INTAKE_NOT_READY:
        return False
    before: dict[str, Any] = next(
        (c for c in old.get("conditions") or [] if c.get("type") == "Progressing"), {}
    )
    return bool(
        (before.get("reason"), before.get("message")) != (decision.reason.value, decision.message)
    )


def _count(rt: Runtime, namespace: str, name: str, outcome: Outcome, old: dict[str, Any]) -> None:
    """Transitions and their phases' durations, scores, and failed Jobs."""
    decision = outcome.decision
    state, phase = decision.state, decision.state.phase
    if decision.transitioned:
        prior = old.get("phase") or "Pending"
        rt.metrics.PHASE_TRANSITIONS.labels(
            *rt.metrics.labels(ObjectName(namespace), prior, phase.value, decision.reason.value)
        ).inc()
        last = old.get("lastTransition") or {}
        if last.get("time"):
            started = datetime.fromisoformat(last["time"].replace("Z", "+00:00"))
            rt.metrics.PHASE_DURATION.labels(*rt.metrics.labels(prior)).observe(
                (datetime.now(UTC) - started).total_seconds()
            )
    for kind, value in (
        ("current", state.scores.current),
        ("heldout", state.scores.heldout),
        ("baseline", state.scores.baseline),
        ("previous_accepted", state.scores.previous_accepted),
    ):
        if value is not None:
            names = (ObjectName(namespace), ObjectName(name))
            rt.metrics.SCORE.labels(*rt.metrics.labels(*names, kind)).set(value)
    job = outcome.job
    if job is not None and job.state is loop.JobState.FAILED and decision.transitioned:
        rt.metrics.JOBS_FAILED.labels(*rt.metrics.labels(ObjectName(namespace), phase.value)).inc()


def requeue_after(rt: Runtime, decision: loop.Decision) -> float | None:
    """The decision's own requeue; a training run is reconciled at least every
    requeue_seconds, to report its Job's progress."""
    again = decision.requeue_after_seconds
    if decision.state.phase is loop.Phase.TRAINING:
        every = rt.settings.requeue_seconds
        again = every if again is None else min(again, every)
    return again
