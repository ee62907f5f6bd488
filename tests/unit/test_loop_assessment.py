"""Regressions, acceptance and the staging threshold."""

from __future__ import annotations

import pytest
from loop_sim import ALL_IDS, card

from modelsmith.loop import Reason, Verdict, accept_candidate, clears_threshold, regressions


def test_regressions_are_scenarios_that_passed_before_and_fail_now() -> None:
    previous = card(1, {"r-01", "r-02", "b-01", "f-02"})
    candidate = card(2, {"r-01", "b-01", "b-02", "b-03"})
    assert regressions(previous, candidate) == ["f-02", "r-02"]
    assert regressions(candidate, previous) == ["b-02", "b-03"]
    assert regressions(previous, previous) == []


def test_a_scenario_missing_from_the_candidate_counts_as_a_regression() -> None:
    previous = card(1, {"r-01", "b-01"})
    partial = card(2, {"b-01"}, benchmark=[("b-01", "billing", "low", "train")])
    assert regressions(previous, partial) == ["r-01"]


def test_accept_requires_the_minimum_improvement() -> None:
    previous = card(1, {"r-01", "b-01", "b-02"})  # 3/9
    better = card(2, {"r-01", "b-01", "b-02", "b-03"})  # 4/9
    verdict = accept_candidate(previous, better, min_improvement=1 / 9, max_regressions=0)
    # 4/9 >= 3/9 + 1/9 holds even though the floats do not add up exactly.
    assert verdict.verdict is Verdict.ACCEPTED and verdict.accepted
    assert verdict.reason is Reason.CANDIDATE_ACCEPTED
    assert [(m.name, m.passed) for m in verdict.measurements] == [
        ("score", True),
        ("regressions", True),
    ]
    rejected = accept_candidate(previous, better, min_improvement=0.2, max_regressions=0)
    assert rejected.verdict is Verdict.REJECTED
    assert rejected.reason is Reason.CANDIDATE_REJECTED
    assert "score >= 0.533" in rejected.message


def test_regressions_past_the_failure_limit_reject_a_better_score() -> None:
    previous = card(1, {"r-01", "b-01"})
    candidate = card(2, {"b-01", "b-02", "b-03", "f-01", "f-02"})
    strict = accept_candidate(previous, candidate, min_improvement=0.05, max_regressions=0)
    assert not strict.accepted
    assert strict.regressions == ("r-01",)
    measured = {m.name: m for m in strict.measurements}
    assert measured["score"].passed and not measured["regressions"].passed
    assert measured["regressions"].value == 1
    lenient = accept_candidate(previous, candidate, min_improvement=0.05, max_regressions=1)
    assert lenient.accepted


def test_threshold_is_the_heldout_score() -> None:
    everything = card(3, ALL_IDS)
    assert clears_threshold(everything, threshold=1.0).reason is Reason.THRESHOLD_CLEARED
    two_of_three = card(3, {"r-03", "b-02"})
    verdict = clears_threshold(two_of_three, threshold=0.7)
    assert verdict.reason is Reason.THRESHOLD_NOT_MET
    assert verdict.measurements[0].value == pytest.approx(2 / 3)
    assert clears_threshold(two_of_three, threshold=2 / 3).accepted


def test_no_heldout_split_never_clears() -> None:
    train_only = card(1, {"b-01"}, benchmark=[("b-01", "billing", "low", "train")])
    assert not clears_threshold(train_only, threshold=0.0).accepted
