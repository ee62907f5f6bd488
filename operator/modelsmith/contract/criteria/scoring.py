"""Scoring an answer against a scenario's criteria, and checking criteria before any answer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from modelsmith.api.criteria import Criterion
from modelsmith.contract.criteria.checks import PreparedCriterion, prepare
from modelsmith.contract.criteria.errors import CriterionError
from modelsmith.contract.criteria.results import CriterionResult, ScenarioResult
from modelsmith.contract.scenario import Scenario


def evaluate_criterion(criterion: Criterion, answer: str) -> CriterionResult:
    """Whether one criterion holds on the answer; raises CriterionError if it is malformed."""
    return prepare(criterion).evaluate(answer)


def validate_criterion(criterion: Criterion) -> list[str]:
    """What is wrong with a criterion (empty when it can be used): unknown kind, missing or
    misplaced fields, a regex RE2 does not compile, a schema that is not a valid JSON Schema, a
    numeric check without a target. Messages never quote the criterion."""
    try:
        prepare(criterion)
    except CriterionError as err:
        return [str(err)]
    return []


def validate_scenarios(scenarios: Iterable[Scenario]) -> list[str]:
    """validate_criterion over every criterion of every scenario, each message prefixed with
    the scenario id and the criterion's place (e.g. "scenario refund-2 fail[0] regex: ...")."""
    return [
        f"scenario {scenario.id} {role}[{index}] {problem}"
        for scenario in scenarios
        for role, criteria in (("pass", scenario.pass_criteria), ("fail", scenario.fail_criteria))
        for index, criterion in enumerate(criteria)
        for problem in validate_criterion(criterion)
    ]


def score_scenario(scenario: Scenario, answer: str) -> ScenarioResult:
    """Passes when every pass criterion holds and no fail criterion holds.

    Every criterion is prepared before any is applied, so a malformed criterion raises
    CriterionError whatever the answer is."""
    passing = _prepare_all(scenario.pass_criteria, "pass")
    failing = _prepare_all(scenario.fail_criteria, "fail")
    pass_results = [c.evaluate(answer) for c in passing]
    fail_results = [c.evaluate(answer) for c in failing]
    unmet = [f"pass[{i}] ({r.kind})" for i, r in enumerate(pass_results) if not r.holds]
    matched = [f"fail[{i}] ({r.kind})" for i, r in enumerate(fail_results) if r.holds]
    passed = not unmet and not matched
    return ScenarioResult(
        scenario_id=scenario.id,
        passed=passed,
        pass_results=pass_results,
        fail_results=fail_results,
        reason=_reason(len(pass_results), unmet, matched),
    )


def _prepare_all(criteria: Sequence[Criterion], role: str) -> list[PreparedCriterion]:
    prepared = []
    for index, criterion in enumerate(criteria):
        try:
            prepared.append(prepare(criterion))
        except CriterionError as err:
            raise CriterionError(f"{role}[{index}] {err.kind}", err.reason, err.problem) from None
    return prepared


def _reason(total_pass: int, unmet: list[str], matched: list[str]) -> str:
    if not unmet and not matched:
        return f"all {total_pass} pass criteria hold and no fail criterion holds"
    parts = []
    if unmet:
        parts.append(f"{_listing(unmet)} {'does' if len(unmet) == 1 else 'do'} not hold")
    if matched:
        parts.append(f"{_listing(matched)} {'holds' if len(matched) == 1 else 'hold'}")
    return "; ".join(parts)


def _listing(items: list[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"
