"""Weak-rubric challenges: findings a domain owner should review before trusting a score.

Each challenge names a scenario id, a CamelCase reason code and a detail made of criterion
positions, kinds and ids only: the Benchmark status is a shared surface, so no prompt, input,
reference or criterion text appears. Singleton classes are reported by the balance report.

Codes:
- InvalidCriterion / InvalidRegex: the criterion cannot be used (the benchmark is Invalid; the
  reconciler learns the same from validate_criterion). InvalidRegex covers a pattern RE2 cannot
  compile, including one that uses backreferences or lookaround.
- NoFailCriteria: nothing fails an answer for what it must not say.
- TriviallySatisfiable: a pass criterion holds on every probe answer ("", "x", lorem ipsum...),
  e.g. an empty `contains` or a regex such as `.*`. notContains pass criteria are exempt: they
  hold on neutral text by design.
- PassesAnyAnswer: the scenario passes on every probe answer although no single criterion is
  trivially satisfiable (e.g. its only pass criteria are notContains).
- Unpassable: a fail criterion (other than notContains) holds on every probe answer, so no
  answer can pass.
- CopiedFromPrompt: a contains/equals pass value appears in the rendered prompt, so echoing
  the prompt passes.
- DuplicateScenario: the same normalised prompt and inputs as an earlier scenario.
- ContradictoryCriteria: no answer can satisfy the scenario's criteria, proven rather than
  probed (contradictions.py); the benchmark is Invalid.
- NoTrainingScenario: a capability or outcome type only held-out scenarios exercise, so nothing
  teaches it (no scenario id: the detail names the class and its scenarios).
"""

from __future__ import annotations

from collections.abc import Sequence

from modelsmith.api.benchmark import Challenge
from modelsmith.api.criteria import Criterion, CriterionKind
from modelsmith.benchmark.contradictions import contradictions
from modelsmith.benchmark.coverage import heldout_only
from modelsmith.benchmark.quoting import quoted
from modelsmith.contract.criteria import CriterionError, PreparedCriterion, prepare
from modelsmith.contract.heldout import normalise
from modelsmith.contract.prompting import render_prompt
from modelsmith.contract.scenario import Scenario

PROBE_ANSWERS: tuple[str, ...] = (
    "",
    "x",
    "lorem ipsum dolor sit amet",
    "0",
    "{}",
    "I cannot help with that.",
)
_PROBLEM_CODES = {
    "invalid-regex": "InvalidRegex",
    "unknown-kind": "InvalidCriterion",
    "malformed-criterion": "InvalidCriterion",
}
_COPYABLE = (CriterionKind.CONTAINS, CriterionKind.EQUALS)


def find_challenges(
    scenarios: Sequence[Scenario], probes: Sequence[str] = PROBE_ANSWERS
) -> list[Challenge]:
    """Every challenge, unusable criteria first, then in scenario order."""
    unusable: list[Challenge] = []
    weak: list[Challenge] = []
    first_seen: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
    for scenario in scenarios:
        passing = _prepared(scenario, scenario.pass_criteria, "pass", unusable)
        failing = _prepared(scenario, scenario.fail_criteria, "fail", unusable)
        if not scenario.fail_criteria:
            weak.append(_challenge(scenario, "NoFailCriteria", "no fail criteria"))
        weak.extend(_probe_findings(scenario, passing, failing, probes))
        weak.extend(_copied(scenario))
        key = _content_key(scenario)
        if key in first_seen:
            weak.append(
                _challenge(
                    scenario,
                    "DuplicateScenario",
                    f"same prompt and inputs as scenario {first_seen[key]}",
                )
            )
        else:
            first_seen[key] = scenario.id
    proven = [
        Challenge(scenario_id=sid, reason="ContradictoryCriteria", detail=why)
        for sid, why in contradictions(scenarios)
    ]
    return unusable + proven + weak + untrained(scenarios)


def untrained(scenarios: Sequence[Scenario]) -> list[Challenge]:
    """A NoTrainingScenario challenge per capability or outcome type that only held-out
    scenarios exercise. The value is quoted: "route " and "route" are different classes."""
    found = []
    for dimension, value, ids in heldout_only(scenarios):
        shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
        detail = (
            f"{dimension} {quoted(value)[:80]} appears only in held-out scenarios ({shown}): "
            "nothing trains it; add a train scenario for it"
        )
        found.append(Challenge(reason="NoTrainingScenario", detail=detail[:512]))
    return found


def _challenge(scenario: Scenario, reason: str, detail: str) -> Challenge:
    return Challenge(scenario_id=scenario.id, reason=reason, detail=detail)


def _prepared(
    scenario: Scenario,
    criteria: Sequence[Criterion],
    role: str,
    unusable: list[Challenge],
) -> list[tuple[int, PreparedCriterion]]:
    prepared = []
    for index, criterion in enumerate(criteria):
        try:
            prepared.append((index, prepare(criterion)))
        except CriterionError as err:
            unusable.append(
                _challenge(scenario, _PROBLEM_CODES[err.problem], f"{role}[{index}] {err}")
            )
    return prepared


def _probe_findings(
    scenario: Scenario,
    passing: Sequence[tuple[int, PreparedCriterion]],
    failing: Sequence[tuple[int, PreparedCriterion]],
    probes: Sequence[str],
) -> list[Challenge]:
    def always(criterion: PreparedCriterion) -> bool:
        return all(criterion.evaluate(p).holds for p in probes)

    found = [
        _challenge(scenario, "TriviallySatisfiable", f"pass[{i}] ({c.kind}) holds for any answer")
        for i, c in passing
        if c.kind != CriterionKind.NOT_CONTAINS and always(c)
    ]
    found.extend(
        _challenge(
            scenario, "Unpassable", f"fail[{i}] ({c.kind}) holds for any answer, so none passes"
        )
        for i, c in failing
        if c.kind != CriterionKind.NOT_CONTAINS and always(c)
    )
    complete = len(passing) == len(scenario.pass_criteria) and len(failing) == len(
        scenario.fail_criteria
    )
    passes_all = all(
        all(c.evaluate(p).holds for _, c in passing)
        and not any(c.evaluate(p).holds for _, c in failing)
        for p in probes
    )
    if complete and passes_all and not found:
        found.append(_challenge(scenario, "PassesAnyAnswer", "the scenario passes for any answer"))
    return found


def _copied(scenario: Scenario) -> list[Challenge]:
    rendered = render_prompt(scenario)
    found = []
    for index, criterion in enumerate(scenario.pass_criteria):
        if criterion.kind not in _COPYABLE or not criterion.value or not criterion.value.strip():
            continue
        value = criterion.value.strip()
        text = rendered
        if not criterion.case_sensitive:
            value, text = value.casefold(), text.casefold()
        if value in text:
            found.append(
                _challenge(
                    scenario,
                    "CopiedFromPrompt",
                    f"pass[{index}] ({criterion.kind}) value appears in the prompt or inputs, "
                    "so echoing the prompt passes",
                )
            )
    return found


def _content_key(scenario: Scenario) -> tuple[str, tuple[tuple[str, str], ...]]:
    inputs = tuple(sorted((normalise(k), normalise(v)) for k, v in scenario.inputs.items()))
    return normalise(scenario.prompt), inputs
