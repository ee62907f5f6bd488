"""Deterministic scoring of answers against pass and fail criteria.

Shared by the evaluator (which scores answers) and the operator (which checks a benchmark's
criteria before any Job runs). Pure: no I/O, no cluster."""

from modelsmith.contract.criteria.checks import PreparedCriterion, prepare
from modelsmith.contract.criteria.errors import CriterionError, Problem
from modelsmith.contract.criteria.regex import MAX_PATTERN_LENGTH, RegexPattern, compile_pattern
from modelsmith.contract.criteria.results import CriterionResult, ScenarioResult
from modelsmith.contract.criteria.scoring import (
    evaluate_criterion,
    score_scenario,
    validate_criterion,
    validate_scenarios,
)

__all__ = [
    "MAX_PATTERN_LENGTH",
    "CriterionError",
    "CriterionResult",
    "PreparedCriterion",
    "Problem",
    "RegexPattern",
    "ScenarioResult",
    "compile_pattern",
    "evaluate_criterion",
    "prepare",
    "score_scenario",
    "validate_criterion",
    "validate_scenarios",
]
