"""What a Benchmark's validation decides before any Job runs: held-out overlap (naming the
scenarios), criteria no answer can pass, classes nothing trains, and the readiness verdict."""

from __future__ import annotations

from typing import Any

import pytest

from modelsmith.benchmark import find_challenges
from modelsmith.benchmark.contradictions import contradiction
from modelsmith.benchmark.coverage import heldout_only
from modelsmith.benchmark.quoting import quoted
from modelsmith.benchmark.verdict import heldout_overlap, judge
from modelsmith.contract.heldout import overlap_between, overlap_sources
from modelsmith.contract.scenario import Scenario

TEMPLATE = "Triage this support ticket and name its queue."
DISTINCT = [
    "The invoice for March lists a seat we removed in January.",
    "Two factor codes stopped arriving after I changed my phone number.",
    "Please close my workspace and export every file we uploaded first.",
    "The mobile app crashes whenever I open the reports tab on a tablet.",
    "Our auditor needs the data processing agreement signed by Friday.",
    "A customer was charged twice for one order and asks for the second charge back.",
]


def scenario(index: int, split: str = "train", **overrides: Any) -> Scenario:
    doc: dict[str, Any] = {
        "id": f"ticket-{index:02d}",
        "capability": "routing",
        "risk": "low",
        "operatorLens": "frontline-agent",
        "outcomeType": "route",
        "split": split,
        "prompt": TEMPLATE,
        "inputs": {"ticket": DISTINCT[index % len(DISTINCT)]},
        "reference": "queue: billing",
        "pass": [{"kind": "contains", "value": "queue: billing"}],
        "fail": [{"kind": "contains", "value": "password"}],
    }
    doc.update(overrides)
    return Scenario.model_validate(doc)


def benchmark() -> list[Scenario]:
    return [scenario(i) for i in range(5)] + [scenario(5, "heldout")]


def with_criteria(passes: list[dict[str, Any]], fails: list[dict[str, Any]]) -> Scenario:
    return scenario(0, **{"pass": passes, "fail": fails})


# --- held-out overlap -------------------------------------------------------------------


def test_a_sound_benchmark_is_ready() -> None:
    scenarios = benchmark()
    verdict = judge(scenarios, find_challenges(scenarios))
    assert (verdict.ready, verdict.reason) == (True, "Validated")


def test_a_heldout_near_copy_of_a_train_scenario_is_invalid_naming_both() -> None:
    # The held-out scenario differs from ticket-01 by one word of its input.
    copy = scenario(1, "heldout", id="ticket-09")
    copy = copy.model_copy(update={"inputs": {"ticket": DISTINCT[1].replace("phone", "mobile")}})
    scenarios = [*benchmark(), copy]
    verdict = judge(scenarios, find_challenges(scenarios))
    assert (verdict.ready, verdict.reason) == (False, "HeldoutOverlap")
    assert verdict.message.startswith(
        "1 held-out scenario overlaps the training material: ticket-09 shares "
    )
    assert "of its prompt with train scenario ticket-01." in verdict.message
    assert "new Benchmark version" in verdict.message
    # Ids only: no prompt, input or reference text.
    assert "phone" not in verdict.message and "Triage" not in verdict.message


def test_a_copied_reference_names_the_train_scenario_it_came_from() -> None:
    reference = "Route it to billing and refund the duplicate charge within five days."
    held = scenario(5, "heldout", reference=reference)
    train = [scenario(i) for i in range(5)]
    train[3] = scenario(3, reference=reference)
    message = heldout_overlap(train, [held])
    assert message is not None
    assert "ticket-05 shares 100% of its reference with train scenario ticket-03" in message


def test_overlap_sources_rank_the_train_scenarios_that_share_most() -> None:
    held = scenario(5, "heldout")
    train = [scenario(0), scenario(1, inputs={"ticket": DISTINCT[5]}), scenario(2)]
    overlaps = overlap_between(train, [held])
    assert [o.scenario_id for o in overlaps] == ["ticket-05"]
    # Every train scenario shares the template; ticket-01 shares the whole input as well.
    assert overlap_sources(train, [held], overlaps)["ticket-05"][0] == "ticket-01"


def test_many_overlaps_are_counted_past_the_first_three() -> None:
    train = [scenario(i) for i in range(6)]
    held = [scenario(i, "heldout", id=f"held-{i}") for i in range(5)]
    message = heldout_overlap(train, held)
    assert message is not None and message.startswith("5 held-out scenarios overlap")
    assert "(and 2 more)" in message


def test_the_template_alone_is_no_overlap() -> None:
    assert heldout_overlap([scenario(i) for i in range(5)], [scenario(5, "heldout")]) is None


def test_earlier_reasons_come_first() -> None:
    only_held = [scenario(5, "heldout")]
    assert judge(only_held, []).reason == "NoTrainScenarios"
    bad = [scenario(0, **{"pass": [{"kind": "regex", "value": "(a"}]}), scenario(5, "heldout")]
    assert judge(bad, find_challenges(bad)).reason == "InvalidCriteria"


# --- criteria no answer can pass ----------------------------------------------------------

ONE_OF = {"kind": "oneOf", "values": ["approve", "deny"]}


@pytest.mark.parametrize(
    ("passes", "fails", "fragment"),
    [
        # The example: a label set on the whole answer and a text no label holds.
        ([ONE_OF, {"kind": "contains", "value": "refund"}], [], "pass[0] (oneOf) accepts only 2"),
        (
            [{"kind": "equals", "value": "approve"}, {"kind": "notContains", "value": "PROV"}],
            [],
            "pass[1] (notContains) rules it out",
        ),
        (
            [{"kind": "equals", "value": "approve"}],
            [{"kind": "contains", "value": "approve"}],
            "fail[0] (contains) rules it out",
        ),
        (
            [{"kind": "equals", "value": "approve"}, {"kind": "equals", "value": "deny"}],
            [],
            "accepts only one whole answer",
        ),
        (
            [{"kind": "oneOf", "values": ["1", "2"]}, {"kind": "numeric", "target": 3}],
            [],
            "pass[1] (numeric) rules every one out",
        ),
        (
            [{"kind": "equals", "value": "approve"}],
            [{"kind": "notContains", "value": "refund"}],
            "fail[0] (notContains) rules it out",
        ),
        (
            [{"kind": "contains", "value": "Refund"}, {"kind": "notContains", "value": "fund"}],
            [],
            "pass[0] (contains) requires text that pass[1] (notContains) rules out",
        ),
        (
            [{"kind": "contains", "value": "refund now"}],
            [{"kind": "contains", "value": "REFUND"}],
            "pass[0] (contains) requires text that fail[0] (contains) rules out",
        ),
        (
            [{"kind": "notContains", "value": "x"}],
            [{"kind": "notContains", "value": "xy"}],
            "fail[0] (notContains) holds on every answer pass[0] (notContains) admits",
        ),
        (
            [{"kind": "regex", "value": r"\d+"}],
            [{"kind": "regex", "value": r"\d+"}],
            "fail[0] (regex) is the same check as pass[0] (regex)",
        ),
        ([{"kind": "notContains", "value": ""}], [], "of empty text holds for no answer"),
        (
            [{"kind": "contains", "value": "a"}],
            [{"kind": "contains", "value": ""}],
            "of empty text holds for every answer",
        ),
        (
            [{"kind": "numeric", "target": 1}, {"kind": "numeric", "target": 3, "tolerance": 1.5}],
            [],
            "accept no common number",
        ),
        (
            [{"kind": "numeric", "target": 10, "tolerance": 1}],
            [{"kind": "numeric", "target": 10, "tolerance": 5}],
            "fail[0] (numeric) covers every number",
        ),
    ],
)
def test_unpassable_shapes(
    passes: list[dict[str, Any]], fails: list[dict[str, Any]], fragment: str
) -> None:
    why = contradiction(with_criteria(passes, fails))
    assert why is not None and fragment in why


def has(value: str, cs: bool = False) -> dict[str, Any]:
    return {"kind": "contains", "value": value, "caseSensitive": cs}


def lacks(value: str, cs: bool = False) -> dict[str, Any]:
    return {"kind": "notContains", "value": value, "caseSensitive": cs}


def num(target: float, tolerance: float = 0) -> dict[str, Any]:
    return {"kind": "numeric", "target": target, "tolerance": tolerance}


APPROVE = {"kind": "equals", "value": "approve"}


@pytest.mark.parametrize(
    ("passes", "fails"),
    [
        ([ONE_OF, has("prov")], []),
        ([ONE_OF], [has("approve")]),
        # A case-insensitive label admits "APPROVE", which a case-sensitive check may need.
        ([APPROVE, has("PROVE", cs=True)], []),
        # Text with whitespace at its edge may sit in whitespace around the label.
        ([APPROVE, has("approve\n")], []),
        ([has("fund"), lacks("refund")], []),
        ([has("refund"), lacks("Fund", cs=True)], []),
        ([num(1, 1), num(2)], []),
        ([num(10, 5)], [num(10, 1)]),
        # Regexes and schemas are never decided: they count as satisfiable.
        ([ONE_OF, {"kind": "regex", "value": r"\d{4}"}], []),
        ([ONE_OF, {"kind": "jsonSchema", "jsonSchema": {"type": "object"}}], []),
    ],
)
def test_satisfiable_sets_are_not_reported(
    passes: list[dict[str, Any]], fails: list[dict[str, Any]]
) -> None:
    assert contradiction(with_criteria(passes, fails)) is None


def test_an_unpassable_scenario_is_a_challenge_and_makes_the_benchmark_invalid() -> None:
    broken = scenario(2, **{"pass": [ONE_OF, {"kind": "contains", "value": "refund"}]})
    scenarios = [*benchmark()[:2], broken, *benchmark()[3:]]
    found = [c for c in find_challenges(scenarios) if c.reason == "ContradictoryCriteria"]
    assert [c.scenario_id for c in found] == ["ticket-02"]
    verdict = judge(scenarios, find_challenges(scenarios))
    assert (verdict.ready, verdict.reason) == (False, "ContradictoryCriteria")
    assert verdict.message.startswith("1 scenario can never pass, whatever the answer: ticket-02: ")
    assert "refund" not in verdict.message  # criterion text stays out of the status


def test_unusable_criteria_are_left_to_invalid_criteria() -> None:
    broken = {"kind": "regex", "value": "(a"}
    assert contradiction(with_criteria([broken], [broken])) is None


# --- classes nothing trains ---------------------------------------------------------------


def test_outcome_types_and_capabilities_only_held_out_are_challenges() -> None:
    scenarios = [
        *(scenario(i) for i in range(4)),
        scenario(4, "heldout", outcomeType="escalate"),
        scenario(5, "heldout", outcomeType="escalate", capability="refunds"),
    ]
    assert heldout_only(scenarios) == [
        ("capability", "refunds", ["ticket-05"]),
        ("outcomeType", "escalate", ["ticket-04", "ticket-05"]),
    ]
    details = [c.detail for c in find_challenges(scenarios) if c.reason == "NoTrainingScenario"]
    assert details == [
        'capability "refunds" appears only in held-out scenarios (ticket-05): nothing trains '
        "it; add a train scenario for it",
        'outcomeType "escalate" appears only in held-out scenarios (ticket-04, ticket-05): '
        "nothing trains it; add a train scenario for it",
    ]
    # A class is a challenge to review, not a defect: the benchmark stays usable.
    assert judge(scenarios, find_challenges(scenarios)).ready


def test_a_trailing_space_makes_a_separate_class_and_shows() -> None:
    scenarios = [*(scenario(i) for i in range(4)), scenario(4, "heldout", outcomeType="route ")]
    (found,) = [c for c in find_challenges(scenarios) if c.reason == "NoTrainingScenario"]
    assert found.detail.startswith('outcomeType "route " appears only in held-out')


def test_risk_and_lens_are_not_training_targets() -> None:
    scenarios = [scenario(0), scenario(1, "heldout", risk="critical", operatorLens="compliance")]
    assert heldout_only(scenarios) == []


# --- quoting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("route", '"route"'),
        ("route ", '"route "'),
        ("a\tb\n", '"a\\tb\\n"'),
        ("no\u00a0break", '"no\\u00a0break"'),
        ("zero\u200bwidth", '"zero\\u200bwidth"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("caf\u00e9", '"caf\u00e9"'),
    ],
)
def test_quoted_shows_what_cannot_be_seen(value: str, shown: str) -> None:
    assert quoted(value) == shown
