"""Which Event the status writer records for a status write (runtime/transitions.py), for each
kind's transitions, without a cluster: one Event per transition, none for a write that moves
nothing the kind names, and none when the transition is already stored (a restart, an echo)."""

from __future__ import annotations

from typing import Any

from modelsmith.controllers.benchmark.decide import TRANSITIONS as BENCHMARK
from modelsmith.controllers.gate.guard import AUTHENTICITY
from modelsmith.controllers.gate.status import TRANSITIONS as GATE
from modelsmith.controllers.intake.decide import TRANSITIONS as INTAKE
from modelsmith.controllers.run.status import TRANSITIONS as RUN
from modelsmith.runtime.conditions import set_condition
from modelsmith.runtime.events import Event
from modelsmith.runtime.transitions import Transitions, announcement, merged


def status(phase: str | None = None, **conditions: tuple[bool, str, str]) -> dict[str, Any]:
    found: list[dict[str, Any]] = []
    for type_, (value, reason, message) in conditions.items():
        found = set_condition(found, type_, value, reason, message, 1)
    out: dict[str, Any] = {"conditions": found}
    if phase is not None:
        out["phase"] = out["state"] = phase
    return out


def event(old: dict[str, Any], new: dict[str, Any], kind: Transitions) -> Event | None:
    return announcement(old, new, kind)


def test_a_run_announces_a_new_phase_with_its_progressing_reason() -> None:
    pending = status("Pending", Progressing=(True, "IntakeReady", "starting"))
    baseline = status("EvaluatingBaseline", Progressing=(True, "AwaitingJob", "evaluating"))
    assert event(pending, baseline, RUN) == Event("Normal", "AwaitingJob", "evaluating")
    failed = status("Failed", Progressing=(False, "RetryBudgetExhausted", "gave up"))
    assert event(baseline, failed, RUN) == Event("Warning", "RetryBudgetExhausted", "gave up")
    staged = status("Staged", Progressing=(False, "GateCreated", "staged"))
    assert event(baseline, staged, RUN) == Event("Normal", "GateCreated", "staged")


def test_a_run_announces_a_new_phase_with_the_reason_its_transition_recorded() -> None:
    """The ledger's reason for the transition (status.lastTransition), not what Progressing
    already says about the new phase: an Event for every transition the ledger holds."""
    assessing = status("Assessing", Progressing=(True, "JobSucceeded", "assessed"))
    staged = status("Staged", Progressing=(True, "GatePending", "awaits approval"))
    staged["lastTransition"] = {
        "from": "PromotionStaging", "to": "Staged", "reason": "GateCreated", "message": "staged"
    }
    assert event(assessing, staged, RUN) == Event("Normal", "GateCreated", "staged")
    # A record of an earlier transition is not this one's.
    staged["lastTransition"]["to"] = "PromotionStaging"
    assert event(assessing, staged, RUN) == Event("Normal", "GatePending", "awaits approval")


def test_a_run_within_one_phase_announces_nothing() -> None:
    """Progressing follows the Job inside a phase (pending, running): no transition."""
    pending = status("Training", Progressing=(True, "JobPending", "waiting for a node"))
    running = status("Training", Progressing=(True, "JobRunning", "step 3 of 10"))
    assert event(pending, running, RUN) is None


def test_the_same_status_again_announces_nothing() -> None:
    """After a restart the transition is already stored: comparing with it finds nothing."""
    for kind, value in (
        (RUN, status("Failed", Progressing=(False, "BadSpec", "no"))),
        (BENCHMARK, status(Ready=(False, "NoHeldout", "no held-out scenario"))),
        (INTAKE, status(Ready=(True, "Validated", "all checks passed"))),
        (GATE, status("Pending", Approved=(False, "AwaitingApproval", "awaiting x (0/1)"))),
    ):
        assert event(value, value, kind) is None


def test_readiness_announces_its_status_and_reason() -> None:
    ready = status(Ready=(True, "Validated", "ok"))
    assert event({}, ready, BENCHMARK) == Event("Normal", "Validated", "ok")
    broken = status(Ready=(False, "ContentChanged", "bump the version"))
    assert event(ready, broken, BENCHMARK) == Event("Warning", "ContentChanged", "bump the version")
    reworded = status(Ready=(False, "ContentChanged", "bump the version, please"))
    assert event(broken, reworded, BENCHMARK) is None


def test_an_intake_announces_a_new_cause_under_the_same_reason() -> None:
    waiting = status(Ready=(False, "BenchmarkResolvedFailed", "not Ready (Validating)"))
    invalid = status(Ready=(False, "BenchmarkResolvedFailed", "not Ready (NoHeldout)"))
    assert event(waiting, invalid, INTAKE) == Event(
        "Warning", "BenchmarkResolvedFailed", "not Ready (NoHeldout)"
    )


def test_a_gate_announces_the_first_condition_that_moved() -> None:
    pending = status(
        "Pending",
        Approved=(False, "AwaitingApproval", "awaiting a, b (0/2)"),
        Promoted=(False, "AwaitingApproval", "0/2 approvals"),
    )
    assert event({}, pending, GATE) == Event("Normal", "AwaitingApproval", "awaiting a, b (0/2)")
    signed = merged(
        pending,
        {
            "conditions": set_condition(
                pending["conditions"], "Approved", False, "AwaitingApproval", "awaiting b (1/2)", 1
            )
        },
    )
    # A sign-off is a new message under the same reason: one Event.
    assert event(pending, signed, GATE) == Event("Normal", "AwaitingApproval", "awaiting b (1/2)")
    blocked = status(
        "Blocked",
        Approved=(False, "OutOfOrder", "b signed before a"),
        Promoted=(False, "OutOfOrder", "b signed before a"),
    )
    assert event(signed, blocked, GATE) == Event("Warning", "OutOfOrder", "b signed before a")


def test_a_gate_flag_is_a_warning_and_its_clearing_is_normal() -> None:
    flagged = status(Authentic=(False, "NotStagedByOperator", "not staged"))
    assert event({}, flagged, AUTHENTICITY) == Event("Warning", "NotStagedByOperator", "not staged")
    cleared = status(Authentic=(True, "StagedByOperator", "staged"))
    assert event(flagged, cleared, AUTHENTICITY) == Event("Normal", "StagedByOperator", "staged")


def test_merged_applies_a_json_merge_patch() -> None:
    old = {"phase": "Training", "training": {"step": 3, "loss": 1.0}, "gate": {"name": "g"}}
    patch = {"phase": "Assessing", "training": {"step": 4, "loss": None}, "gate": None}
    assert merged(old, patch) == {"phase": "Assessing", "training": {"step": 4}}
    assert old["training"] == {"step": 3, "loss": 1.0}  # left as it was
