"""Phases, limits, names, history, blockers and next actions."""

# ruff: noqa: RUF001  (cluster labels join their cells with a multiplication sign)

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from loop_sim import T0

from modelsmith.contract.layout import run_key
from modelsmith.loop import (
    HISTORY_LIMIT,
    TERMINAL,
    TRANSITIONS,
    AdviceContext,
    BlockKind,
    Cluster,
    GateObservation,
    GateOutcome,
    HistoryEntry,
    Phase,
    Reason,
    Recipe,
    append_history,
    blocked_by,
    budget_exhausted,
    can_transition,
    deadline_passed,
    is_terminal,
    job_name,
    next_action,
    plateau_near,
    plateaued,
)
from modelsmith.loop.naming import DNS_LABEL, MAX_NAME

# --- phases ---------------------------------------------------------------------------------


def test_terminal_phases_lead_nowhere() -> None:
    assert {Phase.PLATEAUED, Phase.STOPPED, Phase.FAILED} == TERMINAL
    for phase in Phase:
        assert is_terminal(phase) == (not TRANSITIONS[phase])
        assert can_transition(phase, phase)
    assert not can_transition(Phase.STOPPED, Phase.TRAINING)


def test_every_phase_but_the_first_is_reachable() -> None:
    reached = {Phase.PENDING}
    for targets in TRANSITIONS.values():
        reached |= targets
    assert reached == set(Phase)


def test_staged_only_blocks() -> None:
    assert TRANSITIONS[Phase.STAGED] == {Phase.BLOCKED}
    assert can_transition(Phase.BLOCKED, Phase.STAGED)
    assert not can_transition(Phase.SUSPENDED, Phase.STAGED)


# --- limits ---------------------------------------------------------------------------------


def test_budget() -> None:
    assert not budget_exhausted(10_000.0, None)
    assert not budget_exhausted(3599.0, 1.0)
    assert budget_exhausted(3600.0, 1.0)
    assert budget_exhausted(0.0, 0.0)


def test_deadline() -> None:
    assert not deadline_passed(T0, None)
    assert not deadline_passed(T0, T0 + timedelta(seconds=1))
    assert deadline_passed(T0, T0)


def _entry(iteration: int, decision: str) -> HistoryEntry:
    return HistoryEntry(iteration=iteration, decision=decision)


def test_plateaued_counts_trailing_rejections() -> None:
    history = [_entry(0, "Baseline"), _entry(1, "Accept"), _entry(2, "Reject"), _entry(3, "Reject")]
    assert plateaued(history, 2)
    assert not plateaued(history, 3)
    assert not plateaued(history[:3], 2)
    assert not plateaued([_entry(0, "Baseline")], 1)
    with pytest.raises(ValueError, match="patience"):
        plateaued(history, 0)


def test_plateau_near() -> None:
    assert not plateau_near(0, 1)
    assert not plateau_near(0, 2)
    assert plateau_near(1, 2)
    assert not plateau_near(1, 3)
    assert plateau_near(2, 3)


def test_history_is_bounded_and_keyed_by_iteration() -> None:
    history: tuple[HistoryEntry, ...] = ()
    for i in range(14):
        history = append_history(history, _entry(i, "Reject"))
    assert len(history) == HISTORY_LIMIT
    assert [h.iteration for h in history] == list(range(4, 14))
    replayed = append_history(history, _entry(13, "Accept"))
    assert [h.iteration for h in replayed] == list(range(4, 14))
    assert replayed[-1].decision == "Accept"


# --- names ----------------------------------------------------------------------------------


K = "0a1b2c3d"


def test_job_names() -> None:
    assert job_name("support-run", K, 1, Phase.TRAINING, 1) == f"support-run-{K}-i1-train-a1"
    assert job_name("support-run", K, 0, Phase.EVALUATING_BASELINE, 2) == (
        f"support-run-{K}-i0-eval-a2"
    )
    assert job_name("support-run", K, 3, Phase.ASSESSING, 1) == f"support-run-{K}-i3-eval-a1"
    with pytest.raises(ValueError, match="runs no Job"):
        job_name("support-run", K, 1, Phase.STAGED, 1)
    with pytest.raises(ValueError, match="attempt"):
        job_name("support-run", K, 1, Phase.TRAINING, 0)
    with pytest.raises(ValueError, match="8 hex"):
        job_name("support-run", "not-hex!", 1, Phase.TRAINING, 1)


def test_job_names_are_the_runs_own() -> None:
    """The same run name in two namespaces, or again after the run was deleted and created
    anew (a new UID), gets other Job names; the same run always the same ones."""
    a = run_key("team-a", "11111111-2222")
    b = run_key("team-b", "11111111-2222")
    again = run_key("team-a", "33333333-4444")
    assert len({a, b, again}) == 3
    assert a == hashlib.sha256(b"team-a/11111111-2222").hexdigest()[:8]
    names = {job_name("run", k, 1, Phase.TRAINING, 1) for k in (a, b, again)}
    assert len(names) == 3
    assert job_name("run", a, 1, Phase.TRAINING, 1) == job_name("run", a, 1, Phase.TRAINING, 1)
    with pytest.raises(ValueError):
        run_key("", "uid")


@pytest.mark.parametrize(
    "run",
    ["x" * 63, "a" * 200, "team.support.run-1", "Run_With_Caps", "-.-", "r" * 40, "r" * 41],
)
def test_job_names_are_dns_labels_for_any_run_name(run: str) -> None:
    name = job_name(run, K, 123, Phase.TRAINING, 10)
    assert len(name) <= MAX_NAME
    assert DNS_LABEL.match(name), name
    assert name.endswith(f"-{K}-i123-train-a10")
    assert job_name(run, K, 123, Phase.TRAINING, 10) == name


def test_long_names_that_share_a_prefix_stay_distinct() -> None:
    a = job_name("p" * 70 + "a", K, 1, Phase.TRAINING, 1)
    b = job_name("p" * 70 + "b", K, 1, Phase.TRAINING, 1)
    assert a != b
    assert job_name("team.run", K, 1, Phase.TRAINING, 1) != job_name(
        "team-run", K, 1, Phase.TRAINING, 1
    )


# --- blockers and advice ----------------------------------------------------------------------


def test_blocked_by_derives_the_kind() -> None:
    assert blocked_by(Reason.UNSCHEDULABLE, "m").kind is BlockKind.INFRASTRUCTURE
    assert blocked_by(Reason.RETRY_BUDGET_EXHAUSTED, "m").kind is BlockKind.INFRASTRUCTURE
    assert blocked_by(Reason.OBJECT_STORE_UNAVAILABLE, "m").kind is BlockKind.INFRASTRUCTURE
    assert blocked_by(Reason.CONTAMINATION, "m").kind is BlockKind.QUALITY
    assert blocked_by(Reason.GATE_REJECTED, "m").kind is BlockKind.GOVERNANCE
    with pytest.raises(ValueError, match="not a reason"):
        blocked_by(Reason.PLATEAU, "m")


ROUTING = Cluster(
    dimensions={"capability": "routing", "risk": "high"},
    label="capability=routing × risk=high",
    failures=7,
    scenario_ids=("r-01", "r-02", "r-03", "r-04", "r-05", "r-06", "r-07"),
    failing_train_ids=("r-01", "r-03"),
)


def _advice(reason: Reason, phase: Phase = Phase.BLOCKED, **kw: object) -> str:
    return next_action(AdviceContext(phase=phase, reason=reason, work_phase=Phase.TRAINING, **kw))  # type: ignore[arg-type]


def test_plateau_advice() -> None:
    text = _advice(Reason.PLATEAU, Phase.PLATEAUED, cluster=ROUTING, recipe=Recipe(rank=8))
    assert text == (
        "Add training material for capability=routing × risk=high (7 failing scenarios: "
        "r-01, r-02, r-03, r-04, r-05, ...) as intake spec.trainingData records carrying those "
        "values; or review the rubric of scenarios r-01, r-03; "
        "or raise adapter rank from 8 to 16"
    )
    assert _advice(Reason.PLATEAU, Phase.PLATEAUED).startswith("Review the threshold")


def test_operational_advice() -> None:
    gate = GateObservation(
        name="support-triage-run-1", outcome=GateOutcome.PENDING, awaiting_role="domain-owner"
    )
    assert _advice(Reason.GATE_PENDING, Phase.STAGED, gate=gate) == (
        "Approve the PromotionGate support-triage-run-1 as domain-owner"
    )
    assert _advice(
        Reason.UNSCHEDULABLE, gpu_count=4, scheduler_message="3 Insufficient nvidia.com/gpu."
    ) == ("Free 4 nvidia.com/gpu on a schedulable node or lower executionTargetRef.gpuCount")
    assert "training of iteration 2 failed 2 times" in _advice(
        Reason.RETRY_BUDGET_EXHAUSTED, iteration=2, attempt=2
    )
    waiting = _advice(Reason.JOB_RUNNING, Phase.TRAINING, iteration=3)
    assert waiting == "None: wait for training of iteration 3 to finish"
